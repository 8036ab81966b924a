"""The append workload's halves without the harness: the seeded generator
reaches every path (time travel, listen, drain, merge, gc, compaction
close to the upper seen), ``APPEND_WITHOUT`` switches each off, and the
client runs every operation against a real persist location in this
process, its results judged by the append checkers."""

from __future__ import annotations

from collections import Counter

import pytest

from checker.history import pair
from checker.workloads import check_workload
from workloads import append
from workloads.base import WorkerSpec, take


def ops_of(role: str, seed: int = 7, n: int = 3000, off: frozenset[str] = frozenset()) -> list[dict]:
    g = append.AppendGenerator(0 if role == append.WRITER else 3, role, seed, off=off)
    return list(take(g, n))


def test_the_generator_reaches_every_path_and_is_deterministic():
    w, r = ops_of(append.WRITER), ops_of(append.READER)
    fs = Counter(op["f"] for op in w) + Counter(op["f"] for op in r)
    for f in ("write", "seal", "compact", "drain", "merge", "gc", "snapshot", "listen", "frontiers"):
        assert fs[f] > 0, (f, fs)
    assert any("at" in op["value"] for op in w + r if op["f"] == "snapshot")  # time travel
    assert any("at" not in op["value"] for op in w + r if op["f"] == "snapshot")  # and at upper - 1
    assert all(0 <= op["value"]["at"] < 1 for op in w + r if "at" in op["value"])
    assert w == ops_of(append.WRITER) and w != ops_of(append.WRITER, seed=8)


def test_compaction_follows_the_upper_this_process_saw():
    g = append.AppendGenerator(0, append.WRITER, 1, off=frozenset())
    g.completed({"f": "seal"}, "ok", {"stream": "s1", "ts": 500, "upper": 500, "since": 0})
    sinces = []
    for _ in range(5000):
        op = g.next_op()
        if op["f"] == "compact" and op["value"]["stream"] == "s1":
            sinces.append(op["value"]["since"])
    assert sinces and all(498 <= s <= 500 for s in sinces), sinces


def test_writes_and_seals_fall_at_the_same_counts_with_or_without_the_new_paths():
    # a recorded fault schedule (a regression seed) meets the same writes and seals
    for role in (append.WRITER, append.READER):
        new, old = ops_of(role), ops_of(role, off=frozenset(append.PATHS))
        assert len(new) == len(old)
        for a, b in zip(new, old):
            if a["f"] in ("write", "seal") or b["f"] in ("write", "seal"):
                assert a == b


def test_append_without_switches_each_path_off(monkeypatch):
    off = frozenset(append.PATHS)
    w, r = ops_of(append.WRITER, off=off), ops_of(append.READER, off=off)
    fs = Counter(op["f"] for op in w + r)
    assert not fs["drain"] and not fs["merge"] and not fs["gc"] and not fs["listen"]
    assert not any("at" in op["value"] for op in w + r if op["f"] == "snapshot")
    monkeypatch.setenv(append.WITHOUT_VAR, "listen, gc")
    assert append.without() == {"listen", "gc"}
    monkeypatch.setenv(append.WITHOUT_VAR, "lisen")
    with pytest.raises(ValueError, match="unknown path.*lisen.*known: time-travel"):
        append.without()


@pytest.mark.parametrize("at,upper,since,want", [(0.0, 10, 2, 2), (0.999, 10, 2, 9), (0.5, 10, 2, 6), (0.5, 3, 3, 2),
                                                  (None, 10, 2, 9)])
def test_pick_as_of_stays_in_since_upper(at, upper, since, want):
    v = {"stream": "s0", "as_of": None}
    if at is not None:
        v["at"] = at
    assert append.pick_as_of(v, upper, since) == want
    assert append.pick_as_of({"as_of": 4, "at": 0.9}, upper, since) == 4


def test_every_operation_against_a_real_location_is_judged_valid(tmp_path):
    url = f"file://{tmp_path}/loc"
    w = append.AppendClient()
    w.open(url, {"persist": {"background": False}})
    r = append.AppendReader()
    events: list[dict] = []
    t = [0]

    def run(client, p, f, value):
        t[0] += 1
        events.append({"process": p, "type": "invoke", "f": f, "value": value, "time": t[0]})
        out = client.invoke(f, value)
        t[0] += 1
        events.append({"process": p, "type": "ok", "f": f, "value": out, "time": t[0]})
        return out

    try:
        run(w, 0, "write", {"writes": {"s0": [["a", "v", 1, 1], ["b", "v", 3, 1]]}})
        r.open(url, {})
        assert run(w, 0, "drain", {})["pending"] == 1
        run(w, 0, "seal", {"stream": "s0", "ts": 2})
        run(w, 0, "frontiers", {"stream": "s1"})  # registers s1 (first use), for the write_multi
        run(w, 0, "write", {"writes": {"s0": [["c", "v", 4, 1]], "s1": [["d", "v", 4, 1]]}})
        run(w, 0, "seal", {"stream": "s0", "ts": 5})
        run(w, 0, "seal", {"stream": "s0", "ts": 6})  # an empty range: [2, 5) grows to [2, 6)
        run(w, 0, "write", {"writes": {"s0": [["e", "v", 6, 1]]}})
        run(w, 0, "seal", {"stream": "s0", "ts": 8})
        run(w, 0, "compact", {"stream": "s0", "since": 6})  # [0, 2) and [2, 6) below since: mergeable
        assert run(w, 0, "merge", {})["merges"] >= 1
        assert run(w, 0, "gc", {}) == {"deleted": 0}
        snap = run(r, 1, "snapshot", {"stream": "s0", "as_of": None, "at": 0.0})
        assert snap["as_of"] == 6 and [k for k, _, _ in snap["rows"]] == ["a", "b", "c", "e"]
        lis = run(r, 1, "listen", {"stream": "s0", "as_of": 6, "for": 0.05})
        assert lis["events"] == [{"progress": 8}]  # sealed to 8, nothing written in (6, 8)
        lis = run(r, 1, "listen", {"stream": "s0", "as_of": None, "at": 0.0, "for": 0.05})
        assert lis["as_of"] == 6
        run(w, 0, "write", {"writes": {"s0": [["f", "v", 8, 1]]}})
        run(w, 0, "seal", {"stream": "s0", "ts": 9})
        lis = run(r, 1, "listen", {"stream": "s0", "as_of": 7, "for": 0.05})
        assert lis["events"] == [{"data": [["f", "v", 8, 1]]}, {"progress": 9}]
        with pytest.raises(ValueError, match="reader process cannot gc"):
            r.invoke("gc", {})
    finally:
        w.close()
        r.close()
    results = check_workload("append", pair([dict(e, index=i) for i, e in enumerate(events)]))
    assert all(x.valid is True for x in results), [x.summary() for x in results if x.valid is not True]
    assert next(x for x in results if x.checker == "listen").stats["delivered"] == 1


def test_the_workload_registers_its_processes_and_checkers():
    wl = append.WORKLOAD
    assert [s.role for s in wl.workers(4)] == [append.WRITER, append.READER]
    assert isinstance(wl.generator(0, WorkerSpec(0, append.WRITER), 1), append.AppendGenerator)
