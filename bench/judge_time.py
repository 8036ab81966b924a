"""Loading and judging a run's history: time and memory against the run's length.

Each measurement runs in a fresh process (its peak RSS is its own): load the
run's ``history.jsonl`` (``checker.history.read_jsonl``: JSON, reads kept as
their deltas, ``checker/formats/rows_delta.py``), then
:func:`nemesis.judge.judge_history` (every checker of the workload). Printed
per run: the history file's size, operations, reads, rows the reads hold
(what materialising every read would hold), load s, RSS after the load,
judge s, peak RSS, verdict; with ``--before DIR`` (a checkout of older code,
e.g. ``git worktree add /tmp/before <commit>``) the same measured with that
code, their ratios, and whether every checker's JSON result is identical.
``--reference`` adds the whole model comparison (``analyse_reference``:
every row of every read) with this code.

The older code may not fit: ``--before-limit-gb`` caps its address space
(``RLIMIT_AS``) and ``--before-timeout`` its time; a run it cannot judge
within them is reported as such.

    python bench/judge_time.py RUN_DIR [RUN_DIR ...] [--workload append] [--before DIR] [--reference] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def one(run_dir: str, workload: str, path: str) -> dict:
    """Measured in this process with the code first on ``sys.path``."""
    import checker.domain.contents as contents
    from checker.domain.append import AppendHistory, gc_paused
    from checker.history import read_jsonl
    from nemesis.judge import judge_history

    if path == "reference":
        contents._analyse = contents.analyse_reference
    hist = os.path.join(run_dir, "history.jsonl")
    with gc_paused():  # as nemesis.judge.judge does
        t, c = time.perf_counter(), time.process_time()
        h = read_jsonl(hist)
        load, load_cpu = time.perf_counter() - t, time.process_time() - c
        rss_loaded = _rss_mb()
        ah = AppendHistory.of(h) if workload == "append" else None
        reads = len(ah.snapshots) if ah else None
        rows = sum(len(s.rows) for s in ah.snapshots) if ah else None
        # row pointers the reads keep: a delta's rows and checkpoint (this code), or every row (older code)
        kept = sum(len(r.add) + len(r.remove) + len(r.full or ()) if hasattr(r, "full") else len(r)
                   for r in (s.rows for s in ah.snapshots)) if ah else None
        del ah
        t, c = time.perf_counter(), time.process_time()
        res = judge_history(h, workload)
        secs, secs_cpu = time.perf_counter() - t, time.process_time() - c
    ops = sum(1 for op in h.ops if isinstance(op.process, int))
    return {"bytes": os.path.getsize(hist), "ops": ops, "reads": reads, "rows": rows, "kept": kept, "load_s": load, "load_cpu": load_cpu, "judge_cpu": secs_cpu,
            "loaded_mb": rss_loaded, "judge_s": secs, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "valid": res["valid"], "verdict": json.dumps(res, sort_keys=True, default=str)}


def measure(run_dir: str, workload: str, code: str, path: str, limit_gb: float | None, timeout: float | None) -> dict:
    env = {**os.environ, "PYTHONPATH": code}

    def cap() -> None:
        if limit_gb:
            lim = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, __file__, run_dir, "--workload", workload, "--one", path, "--code", code],
                           capture_output=True, text=True, env=env, preexec_fn=cap, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"still judging after {timeout:.0f} s"}
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": f"exit {p.returncode} after {time.perf_counter() - t:.0f} s: {last[:160]}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--workload", default="append")
    ap.add_argument("--before", help="a checkout of the older code to compare with")
    ap.add_argument("--before-limit-gb", type=float, default=6.0)
    ap.add_argument("--before-timeout", type=float, default=1800.0)
    ap.add_argument("--reference", action="store_true", help="also judge with analyse_reference (this code)")
    ap.add_argument("--repeat", type=int, default=1, help="measure this code N times; the table shows the median")
    ap.add_argument("--one", choices=["fast", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--code", default=ROOT, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        sys.path.insert(0, a.code)
        print(json.dumps(one(a.runs[0], a.workload, a.one)))
        return
    import platform

    print(f"# {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f} at start, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| run | history MB | operations | reads | rows held by all reads | row pointers kept | load s (CPU s) | "
          "RSS after load MB | "
          "judge s (CPU s) | **load + judge s** (CPU s) | **peak RSS MB** | valid | before: load + judge s (CPU s), peak MB | "
          "ratio load+judge CPU | ratio peak RSS | identical |")
    print("|" + "---|" * 16)
    for d in a.runs:
        name = os.path.basename(d.rstrip("/"))
        tries = [measure(d, a.workload, ROOT, "fast", None, None) for _ in range(a.repeat)]
        tries.sort(key=lambda x: x["load_s"] + x["judge_s"])
        m = {"after": tries[len(tries) // 2]}  # the median run by load + judge
        if a.repeat > 1:
            each = ", ".join(f"{x['load_s'] + x['judge_s']:.1f} ({x['load_cpu'] + x['judge_cpu']:.1f} CPU)" for x in tries)
            print(f"# {name}: load + judge s of {a.repeat} measurements: {each}")
        if a.before:
            m["before"] = measure(d, a.workload, a.before, "fast", a.before_limit_gb, a.before_timeout)
        if a.reference:
            m["reference"] = measure(d, a.workload, ROOT, "reference", None, a.before_timeout)
        for k, v in m.items():
            print(f"{name} {k}: { {x: y for x, y in v.items() if x != 'verdict'} }", file=sys.stderr, flush=True)
        f = m["after"]
        b = m.get("before")
        if b is None:
            bcol, r1, r2, same = "-", "-", "-", "-"
        elif "failed" in b:
            bcol, r1, r2, same = f"did not finish ({b['failed']})", "-", "-", "-"
        else:
            bcol = f"{b['load_s'] + b['judge_s']:.1f} ({b['load_cpu'] + b['judge_cpu']:.1f}), {b['rss_mb']:.0f} MB"
            r1 = f"{(b['load_cpu'] + b['judge_cpu']) / max(f['load_cpu'] + f['judge_cpu'], 1e-9):.1f}"
            r2 = f"{b['rss_mb'] / max(f['rss_mb'], 1e-9):.1f}"
            same = "yes" if b["verdict"] == f["verdict"] else "NO"
        if "reference" in m and "failed" not in m["reference"]:
            same += f" (reference: {'yes' if m['reference']['verdict'] == f['verdict'] else 'NO'}, " \
                    f"judge {m['reference']['judge_s']:.2f} s)"
        print(f"| {name} | {f['bytes'] / 1e6:.1f} | {f['ops']:,} | {f['reads'] or 0:,} | {(f['rows'] or 0) / 1e6:.2f} M | "
              f"{(f['kept'] or 0) / 1e6:.2f} M | "
              f"{f['load_s']:.1f} ({f['load_cpu']:.1f}) | {f['loaded_mb']:.0f} | {f['judge_s']:.1f} ({f['judge_cpu']:.1f}) | "
              f"**{f['load_s'] + f['judge_s']:.1f}** ({f['load_cpu'] + f['judge_cpu']:.1f}) | "
              f"**{f['rss_mb']:.0f}** | {f['valid']} | {bcol} | {r1} | {r2} | {same} |", flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
