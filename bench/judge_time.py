"""Judging time against the run's length: the delta-driven model comparison
(``checker/domain/contents.py`` ``_analyse``) against the whole one (the
anchor, ``analyse_reference``: every row of every read, what judged runs
before), on the same stored runs.

Each measurement runs in a fresh process (its peak RSS is its own): load the
run's ``history.jsonl`` (JSON + deltas put back), then
:func:`nemesis.judge.judge_history` (every checker of the workload). Prints
per run: operations, reads, rows held by all reads, load s, judging s with
each comparison, their ratio, peak RSS, and whether the two verdicts (every
checker's JSON) are identical.

    python bench/judge_time.py RUN_DIR [RUN_DIR ...] [--workload append]
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
sys.path.insert(0, ROOT)


def one(run_dir: str, workload: str, path: str) -> dict:
    import checker.domain.contents as contents
    from checker.domain.append import AppendHistory
    from checker.history import read_jsonl
    from nemesis.judge import judge_history

    if path == "reference":
        contents._analyse = contents.analyse_reference
    t = time.perf_counter()
    h = read_jsonl(os.path.join(run_dir, "history.jsonl"))
    load = time.perf_counter() - t
    ah = AppendHistory.of(h)
    reads, rows = len(ah.snapshots), sum(len(s.rows) for s in ah.snapshots)
    t = time.perf_counter()
    res = judge_history(h, workload)
    secs = time.perf_counter() - t
    ops = sum(1 for op in h.ops if isinstance(op.process, int)) if hasattr(h, "ops") else None
    return {"ops": ops, "reads": reads, "rows": rows, "load_s": load, "judge_s": secs,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "verdict": json.dumps(res, sort_keys=True, default=str)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--workload", default="append")
    ap.add_argument("--one", choices=["fast", "reference"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.runs[0], a.workload, a.one)))
        return
    print(f"{'run':>40} {'ops':>7} {'reads':>6} {'rows held':>10} {'load s':>7} {'ref judge s':>11} {'ref MB':>7} "
          f"{'judge s':>8} {'MB':>6} {'ratio':>6} same")
    for d in a.runs:
        m = {}
        for path in ("reference", "fast"):
            out = subprocess.run([sys.executable, __file__, d, "--workload", a.workload, "--one", path],
                                 capture_output=True, text=True, check=True).stdout
            m[path] = json.loads(out.strip().splitlines()[-1])
            print(f"{os.path.basename(d.rstrip('/'))} {path}: { {k: v for k, v in m[path].items() if k != 'verdict'} }",
                  file=sys.stderr, flush=True)
        r, f = m["reference"], m["fast"]
        print(f"{os.path.basename(d.rstrip('/'))[:40]:>40} {f['ops'] or 0:>7} {f['reads']:>6} {f['rows']:>10} "
              f"{f['load_s']:>7.2f} {r['judge_s']:>11.2f} {r['rss_mb']:>7.0f} {f['judge_s']:>8.2f} {f['rss_mb']:>6.0f} "
              f"{r['judge_s'] / max(f['judge_s'], 1e-9):>6.1f} {r['verdict'] == f['verdict']}", flush=True)


if __name__ == "__main__":
    main()
