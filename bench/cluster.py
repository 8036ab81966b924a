"""Campaigns on a dask cluster against the local executor (issue 16, must-show 2).

The same small campaign (``--workloads append,upsert --nemeses kill --seeds N
--time-limit T``, timeline and plots as the command line makes them) through
``nemesis.campaign``: the local executor with ``jobs`` 1 and 2, and the
cluster executor on a ``LocalCluster`` of 1 and 2 worker processes
(``cluster="local:N"``). Rounds interleave the four (the order rotates each
round, so that load from other jobs on the shared machine hits them alike);
every figure is the median over the rounds. Runs per minute are over the
campaign's own wall time (first run started to last run judged and, on the
cluster, shipped back and unpacked); the cluster's start-up (a LocalCluster:
scheduler, worker processes, the probe of each worker) is its own column.

Then the cost of shipping one run directory back, per run of the cluster
campaigns (``Outcome.shipping``): the gzipped tar's size, the seconds to
archive it on the worker, to get it to the campaign (task end to result in
hand: the scheduler's notice and the transfer) and to unpack it into the
store; and the same three measured directly, without a campaign around them:
a finished run directory archived, sent through a one-worker LocalCluster
(a task that returns the bytes) and unpacked, ``--ship-reps`` times.

    python bench/cluster.py [--rounds 3] [--seeds 2] [--time-limit 2] [--ship-reps 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

EXECUTORS = [("local executor, jobs 1", {"jobs": 1}), ("local executor, jobs 2", {"jobs": 2}),
             ("cluster, 1 worker (local:1)", {"cluster": "local:1"}),
             ("cluster, 2 workers (local:2)", {"cluster": "local:2"})]


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def campaign_round(name: str, kw: dict, a: argparse.Namespace, root: str) -> dict:
    import nemesis

    store = tempfile.mkdtemp(prefix="store-", dir=root)
    t0 = time.monotonic()
    res = nemesis.campaign(workloads=["append", "upsert"], nemeses=["kill"], seeds=a.seeds, time_limit=a.time_limit,
                           store=store, **kw)
    total = time.monotonic() - t0
    o = res.outcome
    verdicts = {v: sum(1 for r in res.runs if r.verdict == v) for v in ("valid", "invalid", "unknown", "error")}
    out = {"runs": len(res.runs), "wall": o.wall, "per_min": len(res.runs) / (o.wall / 60), "startup": total - o.wall,
           "run_seconds": med([r.seconds for r in res.runs if r.seconds is not None]), "verdicts": verdicts,
           "shipping": list(o.shipping)}
    shutil.rmtree(store, ignore_errors=True)
    print(f"  {name}: {out['runs']} runs in {o.wall:.1f} s ({out['per_min']:.1f}/min), start-up {out['startup']:.1f} s,"
          f" {', '.join(f'{n} {v}' for v, n in verdicts.items() if n)}", flush=True)
    return out


def ship_direct(a: argparse.Namespace, root: str) -> dict:
    """Archive + transfer + unpack of a real run directory, outside a campaign."""
    from distributed import Client, LocalCluster

    import nemesis
    from nemesis import cluster as cl

    store = tempfile.mkdtemp(prefix="ship-src-", dir=root)
    r = nemesis.run(workload="append", nemesis="kill", seed=1, time_limit=a.time_limit, store=store)
    rel = os.path.relpath(r.run_dir, store)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(r.run_dir) for f in fs)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                           memory_limit=0, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        arch, xfer, unp, nbytes = [], [], [], 0
        for i in range(a.ship_reps):
            t0 = time.perf_counter()
            data = cl.archive(r.run_dir, rel)
            arch.append(time.perf_counter() - t0)
            nbytes = len(data)
            fut = client.submit(_echo, data, pure=False)  # to the worker and back: two transfers
            t0 = time.perf_counter()
            back = fut.result()
            xfer.append((time.perf_counter() - t0) / 2)
            dest = tempfile.mkdtemp(prefix="ship-dst-", dir=root)
            t0 = time.perf_counter()
            cl.unpack(back, rel, dest)
            unp.append(time.perf_counter() - t0)
            shutil.rmtree(dest, ignore_errors=True)
            del fut
    finally:
        client.close()
        cluster.close()
    return {"dir_bytes": size, "bytes": nbytes, "archive": med(arch), "transfer": med(xfer), "unpack": med(unp)}


def _echo(data: bytes) -> bytes:
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2, help="seeds per campaign (4 runs a seed)")
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--ship-reps", type=int, default=10)
    a = ap.parse_args()
    a.seeds = max(1, a.seeds)
    root = tempfile.mkdtemp(prefix="bench-cluster-")
    load0 = os.getloadavg()
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load {load0[0]:.1f}")
    print(f"campaign: append,upsert x kill x seeds 1-{a.seeds} = {2 * a.seeds} runs, --time-limit {a.time_limit:g}; "
          f"{a.rounds} rounds")
    got: dict[str, list[dict]] = {name: [] for name, _ in EXECUTORS}
    try:
        for rnd in range(a.rounds):
            print(f"round {rnd + 1}", flush=True)
            order = EXECUTORS[rnd % len(EXECUTORS):] + EXECUTORS[:rnd % len(EXECUTORS)]
            for name, kw in order:
                got[name].append(campaign_round(name, kw, a, root))
        print("shipping a run directory directly ...", flush=True)
        direct = ship_direct(a, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load1 = os.getloadavg()
    base = {k: med([r["per_min"] for r in got[EXECUTORS[k][0]]]) for k in (0, 1)}
    print()
    print("| executor | runs/min (median) | per round | vs local, same parallelism | median s/run | "
          "start-up s | verdicts (all rounds) |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, _) in enumerate(EXECUTORS):
        rs = got[name]
        pm = med([r["per_min"] for r in rs])
        anchor = base[0] if i in (0, 2) else base[1]
        tally: dict[str, int] = {}
        for r in rs:
            for v, n in r["verdicts"].items():
                tally[v] = tally.get(v, 0) + n
        rounds = ", ".join(f"{r['per_min']:.1f}" for r in rs)
        print(f"| {name} | {pm:.1f} | {rounds} | {pm / anchor:.2f} | "
              f"{med([r['run_seconds'] for r in rs]):.1f} | {med([r['startup'] for r in rs]):.1f} | "
              f"{', '.join(f'{n} {v}' for v, n in tally.items() if n)} |")
    ships = [s for name, _ in EXECUTORS[2:] for r in got[name] for s in r["shipping"]]
    print()
    print(f"shipping one run directory ({len(ships)} runs shipped in the cluster campaigns; medians):")
    print("| measured | archive bytes | archive s (worker) | to the campaign s | unpack s | total s |")
    print("|---|---|---|---|---|---|")
    if ships:
        ar = med([s["archive_seconds"] for s in ships])
        tr = med([s["transfer_seconds"] for s in ships if s.get("transfer_seconds") is not None])
        un = med([s["unpack_seconds"] for s in ships])
        print(f"| in the campaigns | {med([s['bytes'] for s in ships]) / 1e3:.0f} KB | {ar:.3f} | {tr:.3f} | "
              f"{un:.3f} | {ar + tr + un:.3f} |")
    print(f"| directly, {a.ship_reps} reps (run dir {direct['dir_bytes'] / 1e3:.0f} KB) | {direct['bytes'] / 1e3:.0f} KB"
          f" | {direct['archive']:.3f} | {direct['transfer']:.3f} | {direct['unpack']:.3f} | "
          f"{direct['archive'] + direct['transfer'] + direct['unpack']:.3f} |")
    print()
    print("where a run's time goes (medians, s): the local executor's run process against the cluster's")
    print("| executor | submitted -> task starts | run process | archive + transfer + unpack | run as counted |")
    print("|---|---|---|---|---|")
    for name, _ in EXECUTORS:
        rs = got[name]
        sh = [x for r in rs for x in r["shipping"]]
        counted = med([r["run_seconds"] for r in rs])
        if not sh:
            print(f"| {name} | - | {counted:.2f} (forkserver) | - | {counted:.2f} |")
            continue
        to_task = med([x["to_task_seconds"] for x in sh if x.get("to_task_seconds") is not None])
        run = med([x["run_seconds"] for x in sh if x.get("run_seconds") is not None])
        ship = med([x["archive_seconds"] + x["transfer_seconds"] + x["unpack_seconds"] for x in sh
                    if x.get("transfer_seconds") is not None])
        how = "/".join(sorted({x.get("how") or "?" for x in sh}))
        print(f"| {name} | {to_task:.2f} | {run:.2f} ({how}) | {ship:.3f} | {counted:.2f} |")
    print(f"\nload average before / after: {load0[0]:.1f} / {load1[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
