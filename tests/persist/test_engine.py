"""The engine's contract on one location, in one process (file:// storage)."""

import os
import shutil
import threading
import time

import pyarrow as pa
import pytest

import persist
from persist import errors, failpoints
from persist import metadata as md
from persist.cache import BatchCache
from persist.location import parse
from persist.persister import Persister
from persist.storage.batch import updates_table


def reopen(p, loc, **kw):
    p.crash()
    return persist.open(loc, background=False, debug=True, **kw)


def test_snapshot_is_sorted_consolidated_and_zero_copy(writer):
    s = writer.stream("s")
    s.write([(b"b", b"x", 1, 1), (b"a", b"y", 2, 2), (b"a", b"y", 3, -2), (b"a", b"x", 0, 5), (b"b", b"x", 4, 1)])
    s.seal(5)
    snap = s.snapshot(3)
    assert list(snap) == [(b"a", b"x", 5), (b"b", b"x", 1)]
    assert s.snapshot(4).to_list() == [(b"a", b"x", 5), (b"b", b"x", 2)]
    assert s.snapshot(2).to_list() == [(b"a", b"x", 5), (b"a", b"y", 2), (b"b", b"x", 1)]
    t = snap.to_arrow()
    assert t is snap.to_arrow() and t.column_names == ["key", "val", "diff"]


def test_write_accepts_arrow_tables(writer):
    s = writer.stream("s")
    n = 10_000
    t = pa.table({"key": pa.array([b"%05d" % i for i in range(n)]), "val": pa.array([b"v"] * n),
                  "ts": pa.array([i % 7 for i in range(n)], pa.int64()), "diff": pa.array([1] * n)})
    s.write(t)
    s.seal(7)
    assert len(s.snapshot(6)) == n
    assert len(s.snapshot(0)) == len(range(0, n, 7))


def test_unsealed_writes_survive_restart_and_become_visible_on_seal(writer, loc):
    s = writer.stream("s")
    s.write([(b"k", b"v", 10, 1)])
    p = reopen(writer, loc)
    s = p.stream("s")
    assert p.pending_count() == 1
    s.seal(11)
    assert s.snapshot(10).to_list() == [(b"k", b"v", 1)]
    p = reopen(p, loc)
    assert p.stream("s").snapshot(10).to_list() == [(b"k", b"v", 1)]
    assert persist.check(loc).problems == []
    p.close()


@pytest.mark.parametrize("point", ["drain.after_metadata", "drain.before_metadata", "drain.after_truncate"])
def test_replay_never_twice(writer, loc, point):
    s = writer.stream("s")
    s.write([(b"k", b"v", 3, 1)])
    s.write([(b"j", b"v", 4, 1)])
    with failpoints.armed(point, "error"):
        with pytest.raises(errors.FailpointError):
            writer.drain()
    p = reopen(writer, loc)
    p.stream("s").seal(5)
    assert p.stream("s").snapshot(4).to_list() == [(b"j", b"v", 1), (b"k", b"v", 1)]
    p.close()


def test_seqnos_never_go_back_after_the_wal_is_lost(writer, loc, tmp_path):
    s = writer.stream("s")
    for i in range(3):
        s.write([(b"a%d" % i, b"", 5, 1)])
    writer.drain()
    absorbed = writer.current_meta().wal_absorbed
    writer.crash()
    shutil.rmtree(tmp_path / "loc" / "wal")  # the Wal directory is gone entirely
    p = persist.open(loc, background=False, debug=True)
    seqno = p.stream("s").write([(b"b", b"", 6, 1)])
    assert seqno > absorbed
    p = reopen(p, loc)  # replay must not skip b as "already absorbed"
    p.stream("s").seal(7)
    assert [r[0] for r in p.stream("s").snapshot(6)] == [b"a0", b"a1", b"a2", b"b"]
    p.close()


def test_write_multi_is_one_wal_record(writer, loc, tmp_path):
    a, b = writer.stream("a"), writer.stream("b")
    writer.write_multi({"a": [(b"x", b"", 1, 1)], "b": [(b"y", b"", 1, 1)]})
    writer.write_multi({"a": [(b"x2", b"", 1, 1)], "b": [(b"y2", b"", 1, 1)]})
    writer.crash()
    seg = max((tmp_path / "loc" / "wal").glob("*.wal"))
    size = seg.stat().st_size
    os.truncate(seg, size - 30)  # tear the last record (a torn, unacknowledged write)
    p = persist.open(loc, background=False, debug=True)
    for name in "ab":
        p.stream(name).seal(2)
    assert [r[0] for r in p.stream("a").snapshot(1)] == [b"x"]
    assert [r[0] for r in p.stream("b").snapshot(1)] == [b"y"]
    p.close()


def test_listen_follows_seals(writer):
    s = writer.stream("s")
    s.write([(b"a", b"", 0, 1)])
    s.seal(1)
    assert s.snapshot(0).to_list() == [(b"a", b"", 1)]
    lis = s.listen(0)
    assert lis.poll() == []
    s.write([(b"b", b"", 1, 1), (b"c", b"", 3, 1)])
    s.seal(2)
    ev = lis.poll()
    assert [e.kind for e in ev] == ["data", "progress"]
    assert ev[0].rows() == [(b"b", b"", 1, 1)] and ev[1].upper == 2
    s.seal(3)
    assert [(e.kind, e.upper) for e in lis.poll()] == [("progress", 3)]
    s.seal(5)
    ev = lis.poll()
    assert ev[0].rows() == [(b"c", b"", 3, 1)] and ev[1].upper == 5


def test_listen_wakes_on_seal_from_another_thread(writer):
    s = writer.stream("s")
    lis = s.listen()
    t = threading.Thread(target=lambda: (s.write([(b"z", b"", 0, 1)]), s.seal(1)))
    t.start()
    got = []
    while not any(e.kind == "progress" for e in got):
        got += lis.poll(timeout=None)
    t.join()
    assert got[0].rows() == [(b"z", b"", 0, 1)]


def test_arrangement(writer):
    s = writer.stream("s")
    s.write([(b"k2", b"b", 0, 1), (b"k1", b"a", 0, 1), (b"k1", b"c", 0, 2), (b"k3", b"x", 0, 1), (b"k3", b"x", 1, -1)])
    s.seal(2)
    arr = s.arrange(1)
    assert arr.get(b"k1") == [(b"a", 1), (b"c", 2)]
    assert arr.get(b"k3") == [] and b"k3" not in arr and b"k2" in arr
    assert list(arr) == [(b"k1", b"a", 1), (b"k1", b"c", 2), (b"k2", b"b", 1)]
    assert arr.keys() == [b"k1", b"k2"]


def test_compaction_keeps_reads_at_or_after_since(writer, loc):
    s = writer.stream("s")
    for t in range(40):
        s.write([(b"k%d" % (t % 5), b"v", t, 1 if t % 3 else -1), (b"c", b"", t, 1)])
        s.seal(t + 1)
    s.allow_compaction(30)
    before = {a: s.snapshot(a) for a in range(30, 40)}
    n_before = len(writer.current_meta().streams["s"].trace)
    assert writer.compact() > 0
    n_after = len(writer.current_meta().streams["s"].trace)
    assert n_after < n_before
    for a, snap in before.items():
        assert s.snapshot(a) == snap, a
    assert writer.gc() == []  # compaction deleted its inputs itself
    assert persist.check(loc).problems == []


def test_cache_counts_hits_and_misses(loc):
    cache = BatchCache(capacity_bytes=10 * 2**20)
    p = persist.open(loc, background=False, cache=cache)
    s = p.stream("s")
    s.write([(b"a", b"", 0, 1)])
    s.seal(1)
    s.snapshot(0)
    s.snapshot(0)
    assert cache.stats()["hits"] >= 2
    r = persist.open(loc, read_only=True, cache=BatchCache())
    r.stream("s").snapshot(0)
    assert r.cache.stats()["misses"] == 1
    r.stream("s").snapshot(0)
    assert r.cache.stats()["hits"] == 1
    tiny = BatchCache(capacity_bytes=1)
    tiny.put("l", "k", updates_table([b"a"], [b""], [0], [1]))
    assert tiny.stats()["entries"] == 0
    p.close()
    r.close()


def test_reader_sees_sealed_not_unsealed(writer, loc):
    s = writer.stream("s")
    s.write([(b"a", b"", 0, 1), (b"b", b"", 5, 1)])
    s.seal(1)
    r = persist.open_reader(loc)
    rs = r.stream("s")
    assert rs.upper == 1 and rs.snapshot(0).to_list() == [(b"a", b"", 1)]
    s.seal(6)
    assert rs.upper == 6 and rs.snapshot(5).to_list() == [(b"a", b"", 1), (b"b", b"", 1)]
    r.close()


def test_destroy_removes_blobs(writer, loc):
    s = writer.stream("s")
    s.write([(b"a", b"", 0, 1)])
    s.seal(1)
    writer.destroy("s")
    assert writer.blob.list_keys(md.BATCH_PREFIX) == []
    s2 = writer.stream("s")
    assert s2.sid != s.sid and s2.upper == 0


def test_takeover_from_another_wal_dir_fences_the_old_writer(loc, tmp_path):
    old = persist.open(loc, wal_dir=tmp_path / "w1", background=False)
    s = old.stream("s")
    s.write([(b"before", b"", 0, 1)])
    s.seal(1)
    s.write([(b"undrained", b"", 1, 1)])  # lost with the old machine's Wal
    new = persist.open(loc, wal_dir=tmp_path / "w2", background=False)
    assert new.epoch == old.epoch + 1
    s.write([(b"after", b"", 2, 1)])  # only reaches the old Wal
    with pytest.raises(errors.FencedError, match=r"fenced.*epoch"):
        s.seal(3)
    for call in (lambda: s.write([(b"x", b"", 5, 1)]), lambda: s.upper, lambda: old.stream("t"), old.drain):
        with pytest.raises(errors.FencedError):
            call()
    ns = new.stream("s")
    ns.seal(4)
    assert ns.snapshot(3).to_list() == [(b"before", b"", 1)]
    old.close()
    new.close()
    # the old Wal is never replayed into the location, even if reopened there
    again = persist.open(loc, wal_dir=tmp_path / "w1", background=False)
    again.stream("s").seal(10)
    assert again.stream("s").snapshot(9).to_list() == [(b"before", b"", 1)]
    again.close()


class FlakyBlob:
    """A Blob wrapper whose next compare_and_set fails in a chosen way."""

    def __init__(self, inner):
        self.inner = inner
        self.mode = None  # "before": fail without applying; "after": apply, then fail
        self.cas_calls = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def compare_and_set(self, key, expected, value):
        self.cas_calls += 1
        mode, self.mode = self.mode, None
        if mode == "before":
            raise errors.StorageIndeterminateError("timed out (not applied)")
        if mode == "unavailable":
            raise errors.StorageUnavailableError("refused before sending")
        token = self.inner.compare_and_set(key, expected, value)
        if mode == "after":
            raise errors.StorageIndeterminateError("timed out (applied)")
        return token


def _flaky(loc):
    from persist.location import open_blob

    l = parse(loc)
    blob = FlakyBlob(open_blob(l))
    return Persister(l, background=False, debug=True, blob=blob), blob


def test_indeterminate_cas_that_landed_is_recognised_not_redone(loc):
    p, blob = _flaky(loc)
    s = p.stream("s")
    s.write([(b"a", b"", 0, 1)])
    blob.mode = "after"
    s.seal(1)  # resolved by re-reading: our nonce is there
    assert s.upper == 1
    v = p.current_meta().version
    s.seal(2)
    assert p.current_meta().version == v + 1
    assert s.snapshot(1).to_list() == [(b"a", b"", 1)]
    p.close()


def test_indeterminate_cas_that_did_not_land_leaves_memory_unchanged(loc):
    p, blob = _flaky(loc)
    s = p.stream("s")
    s.write([(b"a", b"", 0, 1)])
    before = p.current_meta()
    blob.mode = "before"
    with pytest.raises(errors.StorageIndeterminateError):
        s.seal(1)
    assert p.current_meta() is before and s.upper == 0
    blob.mode = "unavailable"
    with pytest.raises(errors.StorageUnavailableError):
        s.seal(1)
    assert s.upper == 0
    s.seal(1)
    assert s.snapshot(0).to_list() == [(b"a", b"", 1)]
    p.close()
    assert persist.check(loc).ok


def test_indeterminate_cas_that_lands_late_is_adopted(loc):
    p, blob = _flaky(loc)
    s = p.stream("s")
    s.write([(b"a", b"", 0, 1)])
    blob.mode = "before"
    with pytest.raises(errors.StorageIndeterminateError):
        s.seal(1)
    # the "timed-out" request is applied by the store after all:
    late = next(iter(p._outstanding.values()))
    blob.inner.compare_and_set(md.META_KEY, p._token, md.encode(late))
    s.seal(2)  # re-reads first, adopts the late record, commits on top of it
    assert s.upper == 2 and s.snapshot(1).to_list() == [(b"a", b"", 1)]
    p.close()
    assert persist.check(loc).problems == []


def test_gc_spares_a_batch_being_written(loc):
    p = persist.open(loc, background=False)
    s = p.stream("s")
    s.write([(b"a", b"", 5, 1)])
    failpoints.arm("drain.before_metadata", "wait")
    try:
        t = threading.Thread(target=p.drain)
        t.start()
        assert failpoints.wait_reached("drain.before_metadata")
        assert len(p.blob.list_keys(md.BATCH_PREFIX)) == 1
        assert p.gc() == []  # the held drain's batch is in flight, not garbage
    finally:
        failpoints.disarm_all()
        t.join()
    s.seal(6)
    assert s.snapshot(5).to_list() == [(b"a", b"", 1)]
    p.close()
    assert persist.check(loc).problems == []


def test_failpoint_env_syntax():
    assert failpoints.parse("drain.before_metadata=crash@3; write.after_wal=stall:0.5;gc.after_delete=error@2+") == [
        ("drain.before_metadata", "crash", 3, False, None),
        ("write.after_wal", "stall", 0, False, 0.5),
        ("gc.after_delete", "error", 2, True, None),
    ]
    with pytest.raises(errors.InvalidArgumentError, match="unknown failpoint 'nope'"):
        failpoints.arm("nope", "crash")


def test_failpoint_error_at_nth_hit(writer):
    s = writer.stream("s")
    with failpoints.armed("write.before_wal", "error", at=2):
        s.write([(b"a", b"", 0, 1)])
        with pytest.raises(errors.FailpointError, match="hit 2"):
            s.write([(b"b", b"", 0, 1)])
        s.write([(b"c", b"", 0, 1)])
    s.seal(1)
    assert [r[0] for r in s.snapshot(0)] == [b"a", b"c"]


def test_background_thread_drains_and_compacts(loc):
    p = persist.open(loc, drain_bytes=1)
    s = p.stream("s")
    for t in range(30):
        s.write([(b"k", b"", t, 1)])
        s.seal(t + 1)
    s.allow_compaction(29)
    while len(p.current_meta().streams["s"].trace) > 3 or p.pending_count():
        time.sleep(0.01)
    assert s.snapshot(29).to_list() == [(b"k", b"", 30)]
    p.close()
    assert persist.check(loc).problems == []


def test_concurrent_writers_share_fsyncs(loc):
    fsyncs = []
    p = persist.open(loc, background=False, wal_options={"on_fsync": lambda path, n: fsyncs.append(n)})
    s = p.stream("s")
    before = len(fsyncs)
    seqnos = []

    def worker(i):
        for j in range(50):
            seqnos.append(s.write([(b"%d-%d" % (i, j), b"", 0, 1)]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.seal(1)
    assert len(s.snapshot(0)) == 400
    assert len(fsyncs) - before <= 400 and len(set(seqnos)) <= 400
    p.close()


def test_writer_stopped_between_batch_blob_and_metadata_is_fenced_and_its_batch_is_an_orphan(loc, tmp_path):
    old = persist.open(loc, wal_dir=tmp_path / "w1", background=False)
    s = old.stream("s")
    s.write([(b"early", b"", 0, 1)])
    s.seal(1)
    s.write([(b"stalled", b"", 1, 1)])
    failpoints.arm("seal.before_metadata", "wait")
    outcome = []

    def sealer():
        try:
            s.seal(2)
            outcome.append("sealed")
        except errors.FencedError as e:
            outcome.append(e)

    t = threading.Thread(target=sealer)
    t.start()
    try:
        assert failpoints.wait_reached("seal.before_metadata")
        stray = set(old.blob.list_keys(md.BATCH_PREFIX)) - old.current_meta().batch_keys()
        assert stray  # the old writer's trace batch is written, not yet named
        new = persist.open(loc, wal_dir=tmp_path / "w2", background=False)
    finally:
        failpoints.disarm_all()
        t.join()
    assert isinstance(outcome[0], errors.FencedError)
    assert set(new.gc()) == stray
    ns = new.stream("s")
    ns.seal(5)
    assert ns.snapshot(4).to_list() == [(b"early", b"", 1)]
    new.close()
    old.close()
    assert persist.check(loc).problems == []


def test_a_lost_seal_is_superseded_before_the_next_write_so_it_can_never_land(loc):
    p, blob = _flaky(loc)
    s = p.stream("s")
    s.write([(b"a", b"", 0, 1)])
    blob.mode = "before"
    with pytest.raises(errors.StorageIndeterminateError):
        s.seal(5)
    attempt, stale_token = next(iter(p._outstanding.values())), p._token
    s.write([(b"b", b"", 2, 1)])  # accepted only after the attempt was made unable to land
    with pytest.raises(errors.ConflictError):
        blob.inner.compare_and_set(md.META_KEY, stale_token, md.encode(attempt))
    s.seal(3)
    assert s.snapshot(2).to_list() == [(b"a", b"", 1), (b"b", b"", 1)]
    assert len(p.gc()) == 1  # the lost seal's trace batch is garbage once settled
    p.close()
    assert persist.check(loc).problems == []


def test_frontiers_are_read_from_one_metadata_version(writer):
    """``Stream.frontiers()`` gives ``since <= upper`` even while another
    thread seals and compacts as fast as it can; the two properties read one
    after the other need not (a campaign's s3 run showed since 102 beyond
    upper 97 through them)."""
    s = writer.stream("f")

    def advance():
        for t in range(1, 201):
            s.seal(t)
            s.allow_compaction(t)

    th = threading.Thread(target=advance)
    th.start()
    seen = []
    try:
        while th.is_alive():
            seen.append(s.frontiers())
    finally:
        th.join()
    assert all(fr.since <= fr.upper for fr in seen), [fr for fr in seen if fr.since > fr.upper][:3]
    assert len({fr.upper for fr in seen}) > 10, "the frontiers moved while they were read"
    upper, since = s.frontiers()
    assert (upper, since) == (s.upper, s.since)
