"""Harness throughput: acknowledged operations per second through the whole
harness (controller -> pipe -> worker process -> persist -> pipe -> history),
without faults and under ``kill``, and the time a worker takes to restart.

The anchor, measured in the same run: the same persist writes issued by
threads of one plain process (no harness, no pipes, no history), with as many
writer threads as the harness run has writer client processes. The ratio
says what the harness costs on top of the engine.

    python bench/harness.py [--time 8] [--concurrency 16] [--store /tmp/bench-runs]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def raw_writes(threads: int, secs: float) -> float:
    """Acked single-update writes/s of ``threads`` threads on one Persister."""
    import persist

    d = tempfile.mkdtemp(prefix="bench-raw-")
    try:
        p = persist.open("file://" + d)
        streams = [p.stream(f"s{i}") for i in range(3)]
        done = [0] * threads
        stop = time.monotonic() + secs

        def loop(i: int) -> None:
            n = 0
            while time.monotonic() < stop:
                streams[n % 3].write([(f"t{i}.{n}".encode(), b"v", n + 10, 1)])
                n += 1
            done[i] = n

        ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        el = time.monotonic() - t0
        p.close()
        return sum(done) / el
    finally:
        shutil.rmtree(d, ignore_errors=True)


def writes_only():
    """Make the writers' generators yield single-stream writes only (the
    controller runs the generators, so patching here is enough); returns undo."""
    from workloads import append as A

    orig = A.AppendGenerator.next_op

    def next_op(self):
        if self.role != A.WRITER:
            return orig(self)
        while True:
            op = orig(self)
            if op["f"] == "write" and len(op["value"]["writes"]) == 1:
                return op

    A.AppendGenerator.next_op = next_op
    return lambda: setattr(A.AppendGenerator, "next_op", orig)


def harness_run(store: str, nemesis: str, secs: float, concurrency: int, seed: int = 1) -> dict:
    from nemesis.runner import build_config, execute

    cfg = build_config("append", nemesis, seed, secs, concurrency, 0, None, False)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        code = execute(cfg, store, quiet=True, reports=False)
    run = os.path.realpath(os.path.join(store, "latest"))
    with open(os.path.join(run, "results.json")) as f:
        res = json.load(f)
    acked = writes = 0
    with open(os.path.join(run, "history.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            if e["process"] != "nemesis" and e["type"] == "ok" and not (
                    isinstance(e["value"], dict) and e["value"].get("final")):
                acked += 1
                writes += e["f"] == "write"
    return {"code": code, "valid": res["valid"], "acked_s": acked / res["elapsed"], "writes_s": writes / res["elapsed"],
            "restarts": res.get("restart_seconds", []), "kills": res.get("faults", {}).get("kill", 0), "run": run}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--store", default=None)
    a = ap.parse_args()
    store = a.store or tempfile.mkdtemp(prefix="bench-harness-")
    from workloads.append import WORKLOAD

    writers = WORKLOAD.assign(a.concurrency).count(0)
    anchor = raw_writes(writers, a.time)
    none = harness_run(store, "none", a.time, a.concurrency)
    kill = harness_run(store, "kill", a.time, a.concurrency)
    undo = writes_only()
    wonly = harness_run(store, "none", a.time, a.concurrency)
    undo()
    anchor2 = raw_writes(writers, a.time)
    anc = (anchor + anchor2) / 2
    rows = [
        (f"raw persist writes, {writers} threads, one process (anchor, mean of before/after)", f"{anc:,.0f}/s",
         "1.00"),
        ("harness, append, no faults: acked ops (all kinds)", f"{none['acked_s']:,.0f}/s", f"{none['acked_s'] / anc:.2f}"),
        ("harness, append, no faults: acked writes", f"{none['writes_s']:,.0f}/s", f"{none['writes_s'] / anc:.2f}"),
        ("harness, writers only write (no seals/compaction/snapshots), no faults: acked ops",
         f"{wonly['acked_s']:,.0f}/s", f"{wonly['acked_s'] / anc:.2f}"),
        ("harness, writers only write, no faults: acked writes", f"{wonly['writes_s']:,.0f}/s",
         f"{wonly['writes_s'] / anc:.2f}"),
        (f"harness, append, kill ({kill['kills']} kills): acked ops", f"{kill['acked_s']:,.0f}/s",
         f"{kill['acked_s'] / anc:.2f}"),
        ("harness, append, kill: acked writes", f"{kill['writes_s']:,.0f}/s", f"{kill['writes_s'] / anc:.2f}"),
    ]
    if kill["restarts"]:
        rs = sorted(kill["restarts"])
        rows.append((f"worker restart to ready (median of {len(rs)}; max)",
                     f"{statistics.median(rs) * 1000:.0f} ms; {rs[-1] * 1000:.0f} ms", ""))
    w = max(len(r[0]) for r in rows)
    print(f"concurrency {a.concurrency} ({writers} writer processes), {a.time:g} s per run, load {os.getloadavg()[0]:.1f}")
    print(f"{'measurement':<{w}}  {'rate':>18}  ratio")
    for name, rate, ratio in rows:
        print(f"{name:<{w}}  {rate:>18}  {ratio}")
    print(f"verdicts: none={none['valid']} kill={kill['valid']} writes-only={wonly['valid']}; runs in {store}")


if __name__ == "__main__":
    main()
