"""History size per operation against the run's length, and judging time.

For each ``--times`` T it runs ``persist-nemesis run --time-limit T`` (the
workload and nemeses given; no reports) and measures the run's
``history.jsonl``: bytes per operation as written (reads recorded as deltas,
``checker/formats/rows_delta.py``) and, the anchor, the same history with
every read written whole (what the recorder wrote before: each decoded event
serialised as the recorder serialises it), their ratio, and the seconds
``judge`` takes (load + every checker). Linear histories keep bytes/op flat
as T grows; whole reads make it grow with T.

    python bench/history_size.py [--times 10,60] [--workload append] [--nemesis pause] [--store DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def measure(run_dir: str, workload: str) -> dict:
    from checker.formats.rows_delta import json_default
    from checker.history import iter_jsonl
    from nemesis.judge import judge

    path = os.path.join(run_dir, "history.jsonl")
    written = os.path.getsize(path)
    whole = 0
    ops = events = deltas = 0
    for e in iter_jsonl(path):  # decoded: every read whole
        events += 1
        ops += e["type"] == "invoke" and isinstance(e["process"], int)
        whole += len(json.dumps(e, separators=(",", ":"), default=json_default)) + 1
    with open(path, encoding="utf-8") as f:
        deltas = sum('"rows_delta"' in line for line in f)
    t = time.perf_counter()
    res = judge(run_dir, workload)
    secs = time.perf_counter() - t
    return {"ops": ops, "events": events, "deltas": deltas, "bytes": written, "whole_bytes": whole,
            "judge_s": secs, "valid": res["valid"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", default="10,60")
    ap.add_argument("--workload", default="append")
    ap.add_argument("--nemesis", default="pause")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--store", default=None)
    a = ap.parse_args()
    store = a.store or tempfile.mkdtemp(prefix="bench-history-")
    rows = []
    for t in [float(x) for x in a.times.split(",")]:
        subprocess.run([sys.executable, "-m", "nemesis.cli", "run", "--workload", a.workload, "--nemesis", a.nemesis,
                        "--seed", "1", "--time-limit", f"{t:g}", "--concurrency", str(a.concurrency), "--store", store,
                        "--quiet", "--no-report"], cwd=ROOT, stdout=subprocess.DEVNULL)
        run_dir = os.path.realpath(os.path.join(store, "latest"))
        m = measure(run_dir, a.workload)
        rows.append((t, m))
        print(f"T={t:g}s: {json.dumps(m)}", file=sys.stderr, flush=True)
    print(f"{a.workload} / {a.nemesis}, concurrency {a.concurrency}, seed 1")
    print(f"{'T (s)':>6} {'ops':>7} {'deltas':>7} {'MB':>8} {'B/op':>8} {'whole MB':>9} {'whole B/op':>10} "
          f"{'ratio':>6} {'judge s':>8} valid")
    for t, m in rows:
        print(f"{t:>6g} {m['ops']:>7} {m['deltas']:>7} {m['bytes'] / 1e6:>8.2f} {m['bytes'] / max(m['ops'], 1):>8.0f} "
              f"{m['whole_bytes'] / 1e6:>9.2f} {m['whole_bytes'] / max(m['ops'], 1):>10.0f} "
              f"{m['whole_bytes'] / max(m['bytes'], 1):>6.1f} {m['judge_s']:>8.2f} {m['valid']}")


if __name__ == "__main__":
    main()
