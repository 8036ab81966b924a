"""The same seed gives the same generated operations and the same nemesis
schedule; another seed gives others."""

from __future__ import annotations

from nemesis.generator import schedule
from workloads.base import load, take


def ops(workload: str, seed: int, concurrency: int = 4, n: int = 200):
    wl = load(workload).WORKLOAD
    specs = {s.slot: s for s in wl.workers(concurrency)}
    assign = wl.assign(concurrency)
    return [list(take(wl.generator(p, specs[assign[p]], seed), n)) for p in range(concurrency)]


def test_same_seed_same_operations():
    for workload in ("append", "rehydrate"):
        assert ops(workload, 7) == ops(workload, 7)
        assert ops(workload, 7) != ops(workload, 8)


def test_same_seed_same_schedule():
    names = ["kill", "pause", "lose-unsynced", "corrupt"]
    a = schedule(7, names, 30.0, [0, 1])
    assert a == schedule(7, names, 30.0, [0, 1])
    assert a != schedule(8, names, 30.0, [0, 1])
    assert {f.nemesis for f in a} == set(names)
    assert sum(f.nemesis == "corrupt" for f in a) == 1
    for f, g in zip(a, a[1:]):
        assert g.at >= f.at + f.duration, "faults do not overlap"


def test_no_nemesis_no_schedule():
    assert schedule(1, ["none"], 30.0, [0, 1]) == []


def test_final_reads_cover_every_written_time():
    wl = load("append").WORKLOAD
    specs = {s.slot: s for s in wl.workers(4)}
    gens = [wl.generator(p, specs[s], 3) for p, s in enumerate(wl.assign(4))]
    for g in gens:
        list(take(g, 100))
    top = max(g.max_ts for g in gens)
    seals = [op for slot, op in wl.final_ops(gens) if op["f"] == "seal"]
    assert seals and all(op["value"]["ts"] == top + 1 and op["value"]["final"] for op in seals)
