"""Shrinking three planted bugs: original run -> shrunk run (BENCHMARKS.md, "Shrinking").

    python bench/shrink.py [--budget 45] [--tries 1] [--store /tmp/bench-shrink]

For each mutant: a short seeded run that fails (as in
tests/nemesis/test_shrink.py), then ``persist-nemesis shrink`` on it (no
regression saved); prints one row per mutant: original operations,
processes and faults -> shrunk ones, candidates run, seconds spent, and the
replayed faults. Real processes; timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = [  # mutant, workload, nemesis, seed, seconds
    ("replay_twice.py", "append", "kill", 1, 6),
    ("ack_before_fsync.py", "append", "lose-unsynced", 1, 6),
    ("lose_seal.py", "append", "kill", 1, 8),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=45.0)
    ap.add_argument("--tries", type=int, default=1)
    ap.add_argument("--store", default="/tmp/bench-shrink")
    a = ap.parse_args()
    from nemesis import api
    from tests.nemesis.harness import run_test

    shutil.rmtree(a.store, ignore_errors=True)
    rows = []
    for mutant, workload, nemesis, seed, secs in CASES:
        store = os.path.join(a.store, mutant[:-3])
        code, run = run_test(store, workload=workload, nemesis=nemesis, seed=seed, time_limit=secs, mutant=mutant,
                             concurrency=4, interval=(0.2, 0.6))
        if code != 1:
            rows.append((mutant, f"original run not invalid (exit {code}): {run}"))
            continue
        t = time.monotonic()
        res = api.shrink(run, store=store, budget=a.budget, tries=a.tries)
        if not res.found:
            rows.append((mutant, "no smaller failing run found"))
            continue
        s = {"candidates": res.candidates}
        o, r = res.original, res.shrunk
        faults = ", ".join(f"{f['nemesis']}@op{n}" for f, n in zip(res.entry["overrides"]["faults"],
                                                                   res.entry["overrides"]["fault_ops"]))
        rows.append((mutant, f"{o['ops']:>5} -> {r['ops']:>4} ops ({o['ops'] / max(1, r['ops']):.0f}x)  "
                             f"processes {o['processes']} -> {r['processes']}  faults {o['faults']} -> {r['faults']} "
                             f"[{faults}]  {s['candidates']} candidates, {time.monotonic() - t:.0f} s  "
                             f"checkers {','.join(r['failing'])}"))
        print(f"{mutant:<24}{rows[-1][1]}", flush=True)


if __name__ == "__main__":
    main()
