"""The upsert and multi-writer workloads' halves without the harness: seeded
generators are deterministic, the multi-writer retargeting swaps worker 0 and
the holder, and the clients run against a real persist location in this
process (the Wal's flock also excludes a second open in one process)."""

from __future__ import annotations

import pytest

from nemesis.faults.base import Fault
from workloads import multi_writer, upsert
from workloads.base import WorkerSpec, load, take


@pytest.mark.parametrize("name", ["upsert", "multi-writer"])
def test_generators_are_deterministic_and_registered(name):
    wl = load(name).WORKLOAD
    specs = wl.workers(4)
    assign = wl.assign(4)
    assert len(assign) == 4 and set(assign) == {s.slot for s in specs}
    by = {s.slot: s for s in specs}
    ops = [list(take(wl.generator(i, by[assign[i]], 7), 50)) for i in range(4)]
    again = [list(take(wl.generator(i, by[assign[i]], 7), 50)) for i in range(4)]
    other = [list(take(wl.generator(i, by[assign[i]], 8), 50)) for i in range(4)]
    assert ops == again and ops != other
    finals = wl.final_ops([wl.generator(i, by[assign[i]], 7) for i in range(4)])
    assert finals and finals[-1][1]["value"] == {"final": True}
    assert wl.checkers() == [name]


def test_multi_writer_workers_and_final_ops():
    wl = multi_writer.WORKLOAD
    assert [s.slot for s in wl.workers(8)] == [0, 1, 2] and wl.assign(5) == [0, 1, 2, 0, 1]
    assert [s.slot for s in wl.workers(1)] == [0]
    gens = [wl.generator(i, WorkerSpec(i % 3, "contender"), 1) for i in range(3)]
    finals = wl.final_ops(gens)
    assert [f for _, f in finals] == [{"f": "release", "value": {}}] * 3 + [{"f": "read", "value": {"final": True}}]


def test_retarget_aims_at_the_holder():
    wl = multi_writer.WORKLOAD
    gens = [wl.generator(i, WorkerSpec(i, "contender"), 1) for i in range(3)]
    f0, f1, f2, fall = (Fault(1.0, "kill", t, 0.1, 5) for t in (0, 1, 2, -1))
    assert wl.retarget(f0, gens) == (f0, 0)  # nobody known to hold: unchanged
    op = {"f": "write", "value": {"key": "x"}}
    gens[2].completed(op, "ok", {"holder": "9.1"})
    assert wl.retarget(f0, gens)[0].target == 2 and wl.retarget(f0, gens)[1] == 2
    assert wl.retarget(f2, gens)[0].target == 0
    assert wl.retarget(f1, gens)[0].target == 1 and wl.retarget(fall, gens)[0].target == -1
    gens[1].completed(op, "ok", {"holder": "8.1"})  # the newest acknowledgement wins
    assert wl.holder(gens) == 1
    gens[1].completed({"f": "release", "value": {}}, "ok", {"released": "8.1"})
    assert wl.holder(gens) == 2


def test_contenders_in_one_process(tmp_path, monkeypatch):
    from persist.errors import LockedError

    monkeypatch.setattr(multi_writer, "RETRY_GAP", 0.0)
    url = f"file://{tmp_path}/loc"
    a, b = multi_writer.Contender(), multi_writer.Contender()
    a.open(url, {})
    b.open(url, {})
    try:
        ra = a.invoke("write", {"key": "a1"})
        assert ra["acquired"] and ra["holder"] and ra["epoch"] == 1
        with pytest.raises(LockedError):
            b.invoke("write", {"key": "b1"})
        assert a.invoke("seal", {})["upper"] == 1
        assert a.invoke("write", {"key": "a2"})["ts"] == 1
        assert a.invoke("release", {})["released"] == ra["holder"]
        rb = b.invoke("write", {"key": "b2"})
        assert rb["acquired"] and rb["epoch"] == 2 and rb["holder"] != ra["holder"]
        fin = b.invoke("read", {"final": True})
        assert sorted(k for k, _, _ in fin["rows"]) == ["a1", "a2", "b2"]
        assert all(d == 1 for _, _, d in fin["rows"])
    finally:
        a.close()
        b.close()


def test_upsert_client_survives_a_reopen(tmp_path):
    url = f"file://{tmp_path}/loc"
    c = upsert.UpsertClient()
    c.open(url, {})
    assert c.invoke("get", {"key": "k0"})["value"] is None
    r = c.invoke("upsert", {"key": "k0", "value": "a"})
    assert r["upper"] == r["ts"] + 1
    c.invoke("upsert", {"key": "k1", "value": "b"})
    c.invoke("upsert", {"key": "k0", "value": "c"})
    c.invoke("delete", {"key": "k1"})
    got = c.invoke("get", {"key": "k0"})
    assert got["value"] == "c" and got["rows"] == [["c", 1]]
    c.close()
    r = upsert.UpsertReader()
    r.open(url, {})
    assert r.invoke("read_all", {})["rows"] == [["k0", "c", 1]]
    r.close()
    c = upsert.UpsertClient()
    c.open(url, {})  # a new process: the operator is rebuilt from the durable stream
    c.invoke("upsert", {"key": "k2", "value": "d"})
    assert c.invoke("read_all", {"final": True})["rows"] == [["k0", "c", 1], ["k2", "d", 1]]
    c.close()


def test_standby_takes_over_a_stalled_holder_which_is_then_fenced(tmp_path, monkeypatch):
    """The standby (its own Wal) opens only once the upper stood still for
    LEASE; the old holder's next Wal write is still acknowledged, its seal is
    fenced, and that write never reaches the stream."""
    import time

    from persist.errors import ClosedError, FencedError

    monkeypatch.setattr(multi_writer, "RETRY_GAP", 0.0)
    monkeypatch.setattr(multi_writer, "LEASE", 0.05)
    url = f"file://{tmp_path}/loc"
    a, s, c = multi_writer.Contender(), multi_writer.Standby(), multi_writer.Contender()
    for x in (a, s, c):
        x.open(url, {})
    try:
        a.invoke("write", {"key": "a1"})
        a.invoke("seal", {})
        with pytest.raises(ClosedError):
            s.invoke("write", {"key": "s0"})  # the standby opens only by a takeover
        first = s.invoke("takeover", {})
        assert first["acquired"] is False and first["upper"] == 1
        time.sleep(0.06)
        took = s.invoke("takeover", {})
        assert took["acquired"] and took["wal"] == "own" and took["epoch"] == 2
        s.invoke("write", {"key": "s1"})
        s.invoke("seal", {})
        late = a.invoke("write", {"key": "a2"})  # a does not know yet: its own Wal acknowledges
        assert late["holder"] and late["epoch"] == 1
        with pytest.raises(FencedError):
            a.invoke("seal", {})
        fin = c.invoke("read", {"final": True})  # the shared Wal again: fences the standby
        assert fin["acquired"] and fin["epoch"] == 3
        assert sorted(k for k, _, _ in fin["rows"]) == ["a1", "s1"]
    finally:
        for x in (a, s, c):
            x.close()


def test_a_contender_started_with_a_failpoint_armed_at_open_meets_it_or_disarms_it(tmp_path, monkeypatch):
    """The failpoint nemesis restarts a holder with ``open.after_epoch``
    armed; a contender opens lazily, so it opens already at start (the
    failpoint meets its open), or, if the lock stays taken, disarms it rather
    than let it fire in the final read's open."""
    from persist import failpoints

    monkeypatch.setattr(multi_writer, "RETRY_GAP", 0.0)
    monkeypatch.setattr(multi_writer.Contender, "ARMED_OPEN_WAIT", 0.2)
    url = f"file://{tmp_path}/loc"
    a = multi_writer.Contender()
    a.open(url, {})
    a.invoke("write", {"key": "a1"})  # a holds the lock
    monkeypatch.setenv(failpoints.ENV_VAR, "open.after_epoch=error@1")
    failpoints.arm("open.after_epoch", "error", at=1)
    b = multi_writer.Contender()
    try:
        b.open(url, {})  # cannot open within 0.2 s: disarmed
        a.invoke("release", {})
        assert b.invoke("write", {"key": "b1"})["acquired"]  # an armed error would have failed this open
        b.invoke("release", {})
        failpoints.arm("open.after_epoch", "stall", at=1, arg=0.01)
        c = multi_writer.Contender()
        c.open(url, {})  # the lock is free: the open meets the failpoint at start, then lets go
        assert failpoints.hits("open.after_epoch") == 1 and c.p is None
        c.close()
    finally:
        failpoints.disarm_all()
        a.close()
        b.close()
