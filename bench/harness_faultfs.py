"""What the fault filesystem costs a run: acknowledged operations per second
of ``append`` through the whole harness on the tracer (the anchor: the data
directory is a plain directory, the tracer inside the workers) and on the
fault filesystem (every call of the workers goes through FUSE and the
filesystem's Python server), same seed, same time, no faults, runs
alternating tracer/fuse so that the machine's load hits both alike. Prints
the median of each and the ratio.

    python bench/harness_faultfs.py [--time 8] [--concurrency 8] [--runs 3] [--nemesis none]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(store: str, fs: str, nemesis: str, secs: float, concurrency: int, seed: int) -> dict:
    import contextlib
    import io
    import json

    from nemesis.runner import build_config, execute

    cfg = build_config("append", nemesis, seed, secs, concurrency, 0, None, False, fs=fs)
    with contextlib.redirect_stdout(io.StringIO()):
        code = execute(cfg, store, quiet=True, reports=False)
    rd = os.path.realpath(os.path.join(store, "latest"))
    with open(os.path.join(rd, "results.json")) as f:
        res = json.load(f)
    acked = writes = 0
    with open(os.path.join(rd, "history.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            if e["process"] != "nemesis" and e["type"] == "ok" and not (
                    isinstance(e["value"], dict) and e["value"].get("final")):
                acked += 1
                writes += e["f"] == "write"
    return {"code": code, "valid": res["valid"], "model": res.get("fault_model"), "acked_s": acked / res["elapsed"],
            "writes_s": writes / res["elapsed"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nemesis", default="none")
    ap.add_argument("--store", default=None)
    a = ap.parse_args()
    store = a.store or tempfile.mkdtemp(prefix="bench-faultfs-")
    got: dict[str, list[dict]] = {"tracer": [], "fuse": []}
    for _ in range(a.runs):
        for fs in ("tracer", "fuse"):
            got[fs].append(run(store, fs, a.nemesis, a.time, a.concurrency, a.seed))
    med = {fs: (statistics.median(r["acked_s"] for r in rs), statistics.median(r["writes_s"] for r in rs))
           for fs, rs in got.items()}
    print(f"append, --nemesis {a.nemesis}, seed {a.seed}, {a.time:g} s, concurrency {a.concurrency}, "
          f"{a.runs} runs each (alternating), load {os.getloadavg()[0]:.1f}")
    print(f"{'fault model':<28} {'acked ops/s (median)':>22} {'acked writes/s':>16} {'ratio':>6}  runs (acked ops/s)")
    for fs, label in (("tracer", "tracer (anchor)"), ("fuse", "fault filesystem (FUSE)")):
        ops, wr = med[fs]
        each = ", ".join(f"{r['acked_s']:,.0f}" for r in got[fs])
        print(f"{label:<28} {ops:>22,.0f} {wr:>16,.0f} {ops / med['tracer'][0]:>6.2f}  {each}")
    print("verdicts: " + ", ".join(f"{fs}={[r['valid'] for r in rs]}" for fs, rs in got.items())
          + f"; models {sorted({r['model'] for rs in got.values() for r in rs})}; runs in {store}")


if __name__ == "__main__":
    main()
