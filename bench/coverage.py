"""The cost of coverage (issue 14), two tables.

1. *engine*: one process writes to a ``file://`` location (batches of 100
   updates, a seal every 10 writes, a snapshot every 50), timed as is
   in CPU seconds (anchor), with failpoint hit counting on, and with the function-coverage
   profile hook on (``sys.setprofile``/``threading.setprofile``, what a
   worker installs with ``PERSIST_NEMESIS_FUNCTIONS=1``); modes interleave
   (ABCABC...), medians of ``--repeats``. CPU-bound, so load noise hits the
   three alike.
2. *harness* (``--runs``): acknowledged operations per second of ``append``
   runs without faults, failpoint counting only (anchor) against function
   coverage on too, alternating; on a loaded machine these are noisy.

    python bench/coverage.py [--repeats 5] [--n 300] [--runs 0] [--time-limit 4] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def one(store: str, seed: int, secs: float, conc: int, functions: bool) -> float:
    from nemesis.runner import build_config, run_one
    from nemesis.coverage import FUNCTIONS_ENV

    if functions:
        os.environ[FUNCTIONS_ENV] = "1"
    else:
        os.environ.pop(FUNCTIONS_ENV, None)
    cfg = build_config("append", "none", seed, secs, conc, 0, None, False)
    r = run_one(cfg, store, quiet=True, reports=False)
    with open(os.path.join(r["run_dir"], "history.jsonl"), encoding="utf-8") as f:
        ok = sum(1 for line in f if json.loads(line).get("type") == "ok")
    return ok / r["elapsed"]


def engine(n: int, mode: str) -> float:
    """CPU seconds (every thread of the process) for ``n`` writes of 100 updates (seal every 10, snapshot every 50) under ``mode``."""
    import threading
    import time

    import persist
    from nemesis import coverage
    from persist import failpoints

    with tempfile.TemporaryDirectory() as d:
        if mode != "plain":
            failpoints.count_hits()
        if mode == "functions":
            threading.setprofile(coverage._profile)
            sys.setprofile(coverage._profile)
        try:
            t0 = time.process_time()  # CPU seconds of this process: what a hook costs, less of the load
            p = persist.open("file://" + d)
            s = p.stream("s")
            for i in range(n):
                s.write([(b"k%d" % (i * 100 + j), b"v", i, 1) for j in range(100)])
                if i % 10 == 9:
                    s.seal(i + 1)
                if i % 50 == 49:
                    s.snapshot(i).to_arrow()
            p.close()
            return time.process_time() - t0
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
            failpoints.count_hits(False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--runs", type=int, default=0, help="pairs of harness runs (0: skip)")
    ap.add_argument("--time-limit", type=float, default=4.0)
    ap.add_argument("--concurrency", type=int, default=4)
    a = ap.parse_args()
    modes = ("plain", "failpoints", "functions")
    secs: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(a.repeats):
        for m in modes:
            secs[m].append(engine(a.n, m))
    base = statistics.median(secs["plain"])
    print(f"load average: {os.getloadavg()[0]:.1f}; engine: {a.n} writes of 100 updates, {a.repeats} repeats")
    print(f"{'mode':<38} {'median CPU s':>13} {'slowdown':>9}")
    for m, label in zip(modes, ("no coverage (anchor)", "failpoint hit counting",
                                "+ function coverage (setprofile)")):
        med = statistics.median(secs[m])
        print(f"{label:<38} {med:>13.3f} {med / base:>9.2f}")
    if a.runs <= 0:
        return 0
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as store:
        for i in range(a.runs):
            for functions in ((False, True) if i % 2 == 0 else (True, False)):
                rates[functions].append(one(store, i + 1, a.time_limit, a.concurrency, functions))
    base = statistics.median(rates[False])
    print(f"load average: {os.getloadavg()[0]:.1f}; {a.runs} pairs of append/none {a.time_limit:g} s "
          f"c{a.concurrency}")
    print(f"{'mode':<38} {'median ok/s':>12} {'ratio':>7}  runs")
    for functions, label in ((False, "failpoint counts (anchor)"), (True, "+ function coverage (setprofile)")):
        med = statistics.median(rates[functions])
        print(f"{label:<38} {med:>12.0f} {med / base:>7.2f}  {', '.join(f'{x:.0f}' for x in rates[functions])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
