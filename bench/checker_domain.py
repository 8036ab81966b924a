"""Benchmark: the append workload's domain checkers on generated histories.

For each size (client operations; final reads add a few more), in a fresh
subprocess so that peak memory is per size:

1. generate a valid history in-process with the simulated correct store
   (:mod:`checker.domain.simulate`) and stream it to a temporary JSON Lines
   file (not timed);
2. parse it: ``checker.history.read_jsonl`` (timed: "parse");
3. check it: ``checker.workloads.check_workload("append", h)`` — all seven
   domain checkers (timed: "check", wall and CPU).

Prints one table: events, snapshot rows, parse and check time (wall and
CPU), check CPU time per operation, the ratio of check CPU time to the
previous size's (10x the operations should cost ~10x: linear), the memory of
the parsed History and what the checks add to it at their peak. CPU time is
the steadier figure on a shared machine.

    python bench/checker_domain.py                 # 10k, 100k, 1M
    python bench/checker_domain.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


# writes, seals, compaction, snapshots and frontier reads; streams retire
# after 50 writes (with final reads), so snapshots stay small and the
# history grows linearly (about 3 snapshot rows per operation).
MIX = {"write": 0.6, "seal": 0.15, "compact": 0.05, "snapshot": 0.05, "frontiers": 0.15}


def one(n: int, seed: int) -> dict:
    from checker.domain.simulate import simulate
    from checker.history import read_jsonl
    from checker.result import combine
    from checker.workloads import check_workload

    fd, path = tempfile.mkstemp(suffix=".jsonl", prefix="bench-domain-")
    try:
        events = rows = 0
        with os.fdopen(fd, "w") as fh:
            dumps = json.dumps
            for e in simulate(seed, n, processes=8, streams=4, p_info=0.05, p_fail=0.03, writes_per_stream=50, mix=MIX):
                events += 1
                if e["f"] == "snapshot" and e["type"] == "ok":
                    rows += len(e["value"]["rows"])
                fh.write(dumps(e))
                fh.write("\n")
        size = os.path.getsize(path)
        m0 = _rss()
        t0, c0 = time.perf_counter(), time.process_time()
        h = read_jsonl(path)
        t1, c1 = time.perf_counter(), time.process_time()
        m1 = _rss()
        results = check_workload("append", h)
        t2, c2 = time.perf_counter(), time.process_time()
        m2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # peak, MB
    finally:
        os.unlink(path)
    return {
        "ops": len(h.ops),
        "events": events,
        "rows": rows,
        "mb": size / 1e6,
        "parse": t1 - t0,
        "parse_cpu": c1 - c0,
        "check": t2 - t1,
        "check_cpu": c2 - c1,
        "valid": combine([r.valid for r in results]),
        "per_checker": {r.checker: r.valid for r in results},
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "history_mb": m1 - m0,  # the parsed History in memory
        "checker_mb": max(0.0, m2 - m1),  # what the checks add on top, at their peak
    }


def _rss() -> float:
    """Resident set size now, in MB (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.seed)))
        return
    print(f"{'ops':>9} {'events':>9} {'rows':>10} {'file MB':>8} {'parse s':>8} {'parse cpu':>9} {'check s':>8} "
          f"{'check cpu':>9} {'us/op cpu':>9} {'ratio cpu':>9} {'history MB':>10} {'checks +MB':>10}  valid")
    prev = None
    for n in a.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--seed", str(a.seed)], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = f"{r['check_cpu'] / prev:.1f}x" if prev else "-"
        prev = r["check_cpu"]
        print(
            f"{r['ops']:>9} {r['events']:>9} {r['rows']:>10} {r['mb']:>8.1f} {r['parse']:>8.2f} {r['parse_cpu']:>9.2f} "
            f"{r['check']:>8.2f} {r['check_cpu']:>9.2f} {1e6 * r['check_cpu'] / r['ops']:>9.1f} {ratio:>9} "
            f"{r['history_mb']:>10.0f} {r['checker_mb']:>10.0f}  {r['valid']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
