"""The write path: the Wal payload codec (both versions), group commits
converted by their leader, and one bad request failing alone."""

import threading
import time

import hypothesis.strategies as st
import pyarrow as pa
import pytest
from hypothesis import given, settings

import persist
from persist import errors, walcodec

rows_st = st.lists(
    st.tuples(
        st.integers(0, 2**32 - 1),
        st.binary(max_size=40),
        st.binary(max_size=40),
        st.integers(0, 2**64 - 1),
        st.integers(-(2**63), 2**63 - 1).filter(bool),
    ),
    max_size=40,
)


def columns(rows):
    return [list(c) for c in zip(*rows)] if rows else [[], [], [], [], []]


@settings(max_examples=200, deadline=None)
@given(rows_st, st.integers(0, 7))
def test_columnar_payload_round_trips_and_matches_arrow_ipc(rows, shift):
    cols = columns(rows)
    expected = walcodec.rows_table(*cols)
    v2 = walcodec.encode_rows(*cols)
    v1 = walcodec.encode([expected])
    assert v2[4:6] == b"\x02\x00" and v1[4:6] == b"\x01\x00"
    # at any alignment (a Wal segment hands out slices of its buffer)
    view = memoryview(bytes(shift) + v2)[shift:]
    for payload in (v2, view):
        t = walcodec.decode(payload, "test")
        t.validate(full=True)
        assert t.schema == walcodec.WAL_SCHEMA and t.equals(expected)
    assert walcodec.decode(v1, "test").equals(expected)
    assert walcodec.decode(v2).to_pylist() == [dict(zip(walcodec.WAL_SCHEMA.names, r)) for r in rows]


@settings(max_examples=100, deadline=None)
@given(rows_st.filter(bool), st.data())
def test_columnar_payload_cut_or_extended_is_refused(rows, data):
    v2 = walcodec.encode_rows(*columns(rows))
    cut = data.draw(st.integers(0, len(v2) - 1))
    with pytest.raises(errors.CorruptionError, match="rec 7"):
        walcodec.decode(v2[:cut], "rec 7")
    with pytest.raises(errors.CorruptionError, match="rec 7"):
        walcodec.decode(v2 + data.draw(st.binary(min_size=1, max_size=9)), "rec 7")


def test_bad_offsets_and_unknown_version_are_refused_with_the_reason():
    v2 = bytearray(walcodec.encode_rows([1, 1], [b"ab", b"c"], [b"x", b"y"], [1, 2], [1, 1]))
    # key offsets start after header (16) + ts (16) + diff (16) + sid (8): 0, 2, 3
    assert v2[56:68] == bytes([0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])
    bad = bytearray(v2)
    bad[60] = 9  # an offset beyond the last one
    with pytest.raises(errors.CorruptionError, match="offsets"):
        walcodec.decode(bytes(bad), "r")
    shifted = bytearray(v2)
    shifted[56] = 1  # the first key offset
    with pytest.raises(errors.CorruptionError, match="start at"):
        walcodec.decode(bytes(shifted), "r")
    newer = bytearray(v2)
    newer[4] = 3
    with pytest.raises(errors.CorruptionError, match=r"known version \(1, 2\)"):
        walcodec.decode(bytes(newer), "r")


def wal_versions(p):
    return [payload[4] for _, payload in p._wal.records(0)]


def test_records_of_both_versions_replay_identically(loc):
    p = persist.open(loc, background=False, debug=True, drain_bytes=1 << 40)
    a, b = p.stream("a"), p.stream("b")
    rows = [(b"k%d" % i, b"v" * i, i, i % 3 + 1) for i in range(50)]
    a.write(rows)  # Python tuples: columnar record
    b.write(pa.table({"key": [r[0] for r in rows], "val": [r[1] for r in rows],
                      "ts": pa.array([r[2] for r in rows], pa.uint64()), "diff": [r[3] for r in rows]}))
    p.write_multi({"a": [(b"m", b"", 60, -1)], "b": [(b"m", b"", 60, -1)]})
    assert wal_versions(p)[-3:] == [2, 1, 2]
    p.crash()
    p = persist.open(loc, background=False, debug=True)
    assert p.pending_count() == 3  # replayed, not yet drained
    a, b = p.stream("a"), p.stream("b")
    a.seal(100)
    b.seal(100)
    assert a.snapshot(99).to_list() == b.snapshot(99).to_list()
    expected = sorted((k, v, d) for k, v, _, d in rows) + [(b"m", b"", -1)]
    assert a.snapshot(99).to_list() == sorted(expected)
    p.close()


def test_write_multi_of_tuples_is_one_record(writer):
    writer.stream("a"), writer.stream("b")
    n = len(list(writer._wal.records(0)))
    seqno = writer.write_multi({"a": [(b"x", b"1", 0, 1)], "b": [(b"y", b"2", 0, 1), (b"z", b"3", 1, 1)]})
    recs = list(writer._wal.records(0))
    assert len(recs) == n + 1 and recs[-1][0] == seqno
    t = walcodec.decode(recs[-1][1])
    assert sorted(t.column("key").to_pylist()) == [b"x", b"y", b"z"]


def queue_behind_held_lock(p, calls):
    """Run ``calls`` in threads while the commit lock is held (as a seal
    holds it), so that they all queue, then let one leader take them as one
    group. Returns each call's result or exception."""
    out = [None] * len(calls)

    def run(i):
        try:
            out[i] = calls[i]()
        except Exception as e:  # noqa: BLE001  (the test inspects it)
            out[i] = e

    with p._commit_lock:
        ts = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for t in ts:
            t.start()
        deadline = time.monotonic() + 30
        while len(p._queue) + sum(isinstance(o, Exception) for o in out) < len(calls):
            assert time.monotonic() < deadline, "writers never queued"
            time.sleep(0.001)
    for t in ts:
        t.join()
    return out


def test_a_group_where_one_request_is_bad_fails_alone(writer):
    s, t = writer.stream("s"), writer.stream("t")
    s.seal(10)
    out = queue_behind_held_lock(writer, [
        lambda: s.write([(b"a", b"1", 10, 1)]),
        lambda: s.write([(b"below", b"x", 3, 1)]),  # below upper: refused by the leader
        lambda: t.write([(b"b", b"2", 0, 1), (b"c", b"3", 5, 2)]),
        lambda: s.write([(b"bad", "not bytes", 11, 1)]),  # refused in its own thread
        lambda: writer.write_multi({"s": [(b"d", b"4", 12, 1)], "t": [(b"e", b"5", 1, -1)]}),
    ])
    assert isinstance(out[1], errors.WriteBelowUpperError) and "ts=3 below its upper=10" in str(out[1])
    assert isinstance(out[3], errors.InvalidArgumentError) and "'not bytes'" in str(out[3])
    good = [out[0], out[2], out[4]]
    assert all(isinstance(x, int) for x in good) and len(set(good)) == 1  # one group, one Wal record
    s.seal(20)
    t.seal(20)
    assert s.snapshot(19).to_list() == [(b"a", b"1", 1), (b"d", b"4", 1)]
    assert t.snapshot(19).to_list() == [(b"b", b"2", 1), (b"c", b"3", 2), (b"e", b"5", -1)]


def test_a_group_mixing_arrow_and_tuples_is_one_arrow_ipc_record(writer):
    s = writer.stream("s")
    tbl = pa.table({"key": [b"t1", b"t2"], "val": [b"", b""], "ts": pa.array([1, 2], pa.uint64()), "diff": [1, 1]})
    out = queue_behind_held_lock(writer, [lambda: s.write(tbl), lambda: s.write([(b"p", b"", 3, 1)])])
    assert out[0] == out[1]
    assert wal_versions(writer)[-1] == 1
    s.seal(4)
    assert [k for k, _, _ in s.snapshot(3)] == [b"p", b"t1", b"t2"]


def test_a_request_that_does_not_convert_fails_alone(writer, monkeypatch):
    """Should the group's conversion fail after every writer's own checks
    passed, the leader converts each request apart and fails only those
    that do not convert; nothing of the others is lost."""
    s = writer.stream("s")
    real = walcodec.encode_rows

    def encode_rows(sids, keys, *rest):
        if b"poison" in keys:
            raise ValueError("planted")
        return real(sids, keys, *rest)

    monkeypatch.setattr(walcodec, "encode_rows", encode_rows)
    out = queue_behind_held_lock(writer, [
        lambda: s.write([(b"ok1", b"", 0, 1)]),
        lambda: s.write([(b"poison", b"", 0, 1)]),
        lambda: s.write([(b"ok2", b"", 0, 1)]),
    ])
    assert isinstance(out[1], errors.InvalidArgumentError) and "planted" in str(out[1])
    assert isinstance(out[0], int) and out[0] == out[2]
    s.seal(1)
    assert [k for k, _, _ in s.snapshot(0)] == [b"ok1", b"ok2"]


@pytest.mark.parametrize("bad, msg", [
    ([(b"k", b"v", -1, 1)], "ts=-1"),
    ([(b"k", b"v", 2**64, 1)], "ts=18446744073709551616"),
    ([(b"k", b"v", 0, 2**63)], "diff=9223372036854775808"),
    ([(b"k", b"v", 0, 0)], "diff=0"),
    ([(b"k", b"v", True, 1)], "ts=True"),
    ([(b"k", b"v", 0)], "(key, val, ts, diff)"),
])
def test_values_that_do_not_fit_are_refused_before_queueing(writer, bad, msg):
    s = writer.stream("s")
    n = len(list(writer._wal.records(0)))
    with pytest.raises(errors.InvalidArgumentError) as e:
        s.write(bad)
    assert msg in str(e.value)
    assert len(list(writer._wal.records(0))) == n


def test_gathering_waits_for_recent_writers_only_and_forgets_those_that_stop(writer):
    """A leader waits for as many writers as took part in the last two
    groups; a lone writer never waits for itself, and writers that stopped
    are forgotten after two groups (the wait is bounded, so the lone write
    still completes)."""
    s = writer.stream("s")
    s.write([(b"a", b"", 0, 1)])
    s.write([(b"b", b"", 0, 1)])
    assert writer._gather_for == 1
    out = queue_behind_held_lock(writer, [lambda i=i: s.write([(b"c%d" % i, b"", 0, 1)]) for i in range(3)])
    assert len(set(out)) == 1 and writer._gather_for == 4  # this thread's last group + the 3
    s.write([(b"d", b"", 0, 1)])  # waits (bounded) for the 3 others, then goes alone
    assert writer._gather_for == 4  # the 3 were still in the last two groups
    s.write([(b"e", b"", 0, 1)])
    assert writer._gather_for == 1
    s.seal(1)
    assert [k for k, _, _ in s.snapshot(0)] == [b"a", b"b", b"c0", b"c1", b"c2", b"d", b"e"]
