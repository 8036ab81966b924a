"""The cost of coverage (issue 14): acknowledged operations per second of an
``append`` run without faults, with failpoint counting only (always on) and
with function coverage on too (``PERSIST_NEMESIS_FUNCTIONS=1``: a profile
hook on every Python call of the worker). The anchor is the failpoint-only
run; runs alternate so that load drifts hit both alike; it prints one row per
mode (median ok/s over the pairs) and the ratio.

    python bench/coverage.py [--pairs 3] [--time-limit 4] [--concurrency 4]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=4.0)
    ap.add_argument("--concurrency", type=int, default=4)
    a = ap.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as store:
        for i in range(a.pairs):
            for functions in ((False, True) if i % 2 == 0 else (True, False)):
                rates[functions].append(one(store, i + 1, a.time_limit, a.concurrency, functions))
    base = statistics.median(rates[False])
    print(f"load average: {os.getloadavg()[0]:.1f}; {a.pairs} pairs of append/none {a.time_limit:g} s "
          f"c{a.concurrency}")
    print(f"{'mode':<38} {'median ok/s':>12} {'ratio':>7}  runs")
    for functions, label in ((False, "failpoint counts (anchor)"), (True, "+ function coverage (setprofile)")):
        med = statistics.median(rates[functions])
        print(f"{label:<38} {med:>12.0f} {med / base:>7.2f}  {', '.join(f'{x:.0f}' for x in rates[functions])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
