"""FileWal: append/read/truncate, the seqno floor, segments, group commit,
locking, and recovery of a torn tail versus corruption in the middle."""

from __future__ import annotations

import errno
import os
import struct
import threading
import zlib

import pytest

from persist.errors import ClosedError, CorruptionError, LockedError, StorageUnavailableError
from persist.storage import FileWal, MemWal, Wal
from persist.storage.file_wal import HEADER_SIZE, encode_record, segment_name


def seg_files(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".wal"))


@pytest.fixture(params=["file", "mem"])
def any_wal(request, tmp_path):
    w = FileWal(tmp_path / "wal") if request.param == "file" else MemWal()
    yield w
    w.close()


def test_protocol_contract(any_wal):
    w = any_wal
    assert isinstance(w, Wal)
    first = w.next_seqno
    seqnos = [w.append(f"p{i}".encode()) for i in range(5)]
    assert seqnos == list(range(first, first + 5))
    assert list(w.records()) == [(s, f"p{i}".encode()) for i, s in enumerate(seqnos)]
    assert [s for s, _ in w.records(seqnos[3])] == seqnos[3:]
    w.truncate(seqnos[2])
    assert [s for s, _ in w.records(seqnos[2])] == seqnos[2:]
    w.truncate(w.next_seqno)
    assert [s for s, _ in w.records(seqnos[2])] == []
    w.ensure_next_seqno(100)
    w.ensure_next_seqno(50)  # never goes back
    assert w.append(b"x") == 100
    w.close()
    with pytest.raises(ClosedError):
        w.append(b"y")


def test_reopen_keeps_records_and_floor(tmp_path):
    d = tmp_path / "wal"
    with FileWal(d) as w:
        for i in range(10):
            w.append(b"r%d" % i)
    with FileWal(d) as w:
        assert [p for _, p in w.records()] == [b"r%d" % i for i in range(10)]
        assert w.next_seqno == 11
        w.truncate(11)  # everything absorbed: only an empty segment named 11 remains
        assert seg_files(d) == [segment_name(11)]
    with FileWal(d) as w:
        assert list(w.records()) == []
        assert w.next_seqno == 11  # the floor survived truncating everything
        w.ensure_next_seqno(500)
    with FileWal(d) as w:
        assert w.next_seqno == 500
        assert w.append(b"z") == 500


def test_segments_roll_and_truncate(tmp_path):
    d = tmp_path / "wal"
    with FileWal(d, segment_bytes=200) as w:
        for i in range(20):
            w.append(bytes(60))
        names = seg_files(d)
        assert len(names) > 3
        assert [s for s, _ in w.records()] == list(range(1, 21))
        w.truncate(12)
        remaining = seg_files(d)
        assert len(remaining) < len(names)
        assert int(remaining[0][:20]) <= 12  # whole segments only: 12 is still there
        assert [s for s, _ in w.records(12)] == list(range(12, 21))
    with FileWal(d, segment_bytes=200) as w:
        assert [s for s, _ in w.records(12)] == list(range(12, 21))
        assert w.append(b"more") == 21


def test_group_commit_shares_fsyncs(tmp_path):
    """While one appender's fsync is in progress, 7 others write; the next
    fsync covers all 7 of them: 8 appends, 2 fsyncs."""
    synced = []
    gate = threading.Event()

    def on_fsync(path, size):
        synced.append(size)
        if len(synced) == 1:
            gate.wait(10)

    w = FileWal(tmp_path / "wal", on_fsync=on_fsync)
    first = threading.Thread(target=w.append, args=(b"a",))
    first.start()
    while not synced:
        pass
    others = [threading.Thread(target=w.append, args=(b"b",)) for _ in range(7)]
    for t in others:
        t.start()
    while w.next_seqno < 9:  # all 7 records written, waiting for the sync lock
        pass
    gate.set()
    for t in [first, *others]:
        t.join()
    assert len(synced) == 2
    assert len(list(w.records())) == 8
    w.close()


def test_on_fsync_reports_before_ack(tmp_path):
    reported = []
    w = FileWal(tmp_path / "wal", on_fsync=lambda p, n: reported.append((p, n)))
    w.append(b"abc")
    assert reported and reported[-1][1] == HEADER_SIZE + 3 == os.path.getsize(reported[-1][0])
    w.close()


def test_second_open_in_same_process_is_refused(tmp_path):
    d = tmp_path / "wal"
    w = FileWal(d)
    with pytest.raises(LockedError, match=f"pid={os.getpid()}"):
        FileWal(d)
    w.append(b"still mine")
    w.close()
    with FileWal(d) as w2:  # released on close
        assert [p for _, p in w2.records()] == [b"still mine"]


def write_wal(d, payloads, **kw):
    with FileWal(d, **kw) as w:
        for p in payloads:
            w.append(p)
    return [os.path.join(d, n) for n in seg_files(d)]


def test_torn_tail_is_cut_durably(tmp_path):
    d = tmp_path / "wal"
    (seg,) = write_wal(d, [b"one", b"two", b"three"])
    good = os.path.getsize(seg)
    with open(seg, "ab") as f:
        f.write(encode_record(4, b"four-and-more")[:20])  # half a header
    with FileWal(d) as w:
        assert [p for _, p in w.records()] == [b"one", b"two", b"three"]
        assert w.recovered_cut == (seg, good, good + 20)
        assert os.path.getsize(seg) == good
        assert w.append(b"four") == 4
    with FileWal(d) as w:
        assert [p for _, p in w.records()] == [b"one", b"two", b"three", b"four"]


def test_garbage_tail_is_cut(tmp_path):
    d = tmp_path / "wal"
    (seg,) = write_wal(d, [b"one", b"two"])
    good = os.path.getsize(seg)
    with open(seg, "ab") as f:
        f.write(os.urandom(37))
    with FileWal(d) as w:
        assert [p for _, p in w.records()] == [b"one", b"two"]
    assert os.path.getsize(seg) == good


def test_corruption_in_the_middle_raises_and_rewrites_nothing(tmp_path):
    d = tmp_path / "wal"
    (seg,) = write_wal(d, [b"one", b"two", b"three"])
    data = bytearray(open(seg, "rb").read())
    off = HEADER_SIZE + 3  # second record
    data[off + HEADER_SIZE] ^= 0x40  # a payload byte of record 2
    open(seg, "wb").write(data)
    with pytest.raises(CorruptionError) as e:
        FileWal(d)
    msg = str(e.value)
    assert seg in msg and f"offset {off}" in msg and "\n" not in msg
    assert open(seg, "rb").read() == bytes(data)
    with pytest.raises(CorruptionError):  # and the lock was released on the way out
        FileWal(d)


def test_unknown_version_is_refused(tmp_path):
    d = tmp_path / "wal"
    (seg,) = write_wal(d, [b"one"])
    rec = bytearray(encode_record(2, b"two"))
    rec[4:6] = struct.pack("<H", 2)
    rec[24:28] = struct.pack("<I", zlib.crc32(bytes(rec[:24])))
    with open(seg, "ab") as f:
        f.write(bytes(rec))
    before = open(seg, "rb").read()
    with pytest.raises(CorruptionError, match="version 2"):
        FileWal(d)
    assert open(seg, "rb").read() == before


def test_damage_in_an_older_segment_is_corruption(tmp_path):
    d = tmp_path / "wal"
    segs = write_wal(d, [bytes(50)] * 6, segment_bytes=100)
    assert len(segs) >= 3
    data = bytearray(open(segs[0], "rb").read())
    data = data[:-5]  # cut the end of a fully fsynced segment
    open(segs[0], "wb").write(data)
    with pytest.raises(CorruptionError, match=segs[0]):
        FileWal(d)
    assert open(segs[0], "rb").read() == bytes(data)


def test_crash_between_seal_and_new_segment(tmp_path):
    """The newest segment ends in a seal (the roll crashed before creating
    its successor): open creates the successor the seal names."""
    from persist.storage.file_wal import KIND_SEAL

    d = tmp_path / "wal"
    (seg,) = write_wal(d, [b"one", b"two"])
    with open(seg, "ab") as f:
        f.write(encode_record(40, b"", KIND_SEAL))
    with FileWal(d) as w:
        assert seg_files(d) == [segment_name(1), segment_name(40)]
        assert [p for _, p in w.records()] == [b"one", b"two"]
        assert w.append(b"three") == 40
    with FileWal(d) as w:
        assert [s for s, _ in w.records()] == [1, 2, 40]


def test_a_sealed_newest_segment_is_fsynced_before_its_successor_exists(tmp_path, monkeypatch):
    """The roll crashed after writing the seal but maybe before its fsync: open
    must make the seal durable before creating the successor (a power loss
    would otherwise leave an older segment without its seal; a soak found it:
    rehydrate under kill+lose-unsynced+pause)."""
    import persist.storage.file_wal as fw
    from persist.storage.file_wal import KIND_SEAL

    d = tmp_path / "wal"
    (seg,) = write_wal(d, [b"one", b"two"])
    with open(seg, "ab") as f:
        f.write(encode_record(40, b"", KIND_SEAL))
    log = []
    real_fsync = os.fsync
    monkeypatch.setattr(fw.os, "fsync", lambda fd: (log.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    reported = []
    with FileWal(d, on_fsync=lambda path, n: reported.append((path, n))) as w:
        assert [p for _, p in w.records()] == [b"one", b"two"]
    succ = str(d / segment_name(40))
    assert str(seg) in log and log.index(str(seg)) < log.index(succ), log
    assert (str(seg), os.path.getsize(seg)) in reported


def test_a_lost_older_segment_tail_at_a_record_boundary_is_detected(tmp_path):
    """Cutting an older segment exactly after a whole record leaves valid
    records only; the missing seal still gives it away."""
    d = tmp_path / "wal"
    segs = write_wal(d, [bytes(50)] * 6, segment_bytes=100)
    data = open(segs[0], "rb").read()
    open(segs[0], "wb").write(data[: HEADER_SIZE + 50])  # first record only, no seal
    with pytest.raises(CorruptionError, match="without its seal"):
        FileWal(d)


def test_recovery_makes_an_adopted_segment_durable(tmp_path, monkeypatch):
    """Issue 14: a writer that died between creating a new segment and
    fsyncing the Wal directory left a segment whose *name* is not durable.
    The next writer must not acknowledge appends into it before recovery has
    fsynced the directory: a power loss (seen from outside by the tracer)
    must keep every acknowledged record."""
    from persist.storage import file_wal
    from tests.persist.durable import Tracer

    class Died(BaseException):
        pass

    d = tmp_path / "wal"
    with Tracer(tmp_path) as tracer:
        w = FileWal(d, segment_bytes=10)
        assert w.append(b"first") == 1
        real = file_wal.fsync_dir

        def die(path):
            raise Died()  # the process dies right after creating the segment file

        monkeypatch.setattr(file_wal, "fsync_dir", die)
        with pytest.raises(Died):
            w.append(b"never acknowledged")
        monkeypatch.setattr(file_wal, "fsync_dir", real)
        w._lock.release()  # the kernel drops the dead process's lock
        w2 = FileWal(d, segment_bytes=10**6)
        acked = [w2.append(b"acked %d" % i) for i in range(3)]
        w2._lock.release()
        tracer.power_loss(lambda low, size, path: low)
    with FileWal(d) as w3:
        got = dict(w3.records())
    assert got.get(1) == b"first"
    for s in acked:
        assert s in got, f"acknowledged record {s} lost by a power loss: recovery did not fsync the Wal directory"


def _enospc_on_segment_create(monkeypatch):
    real_open = os.open

    def failing_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.fspath(path).endswith(".wal"):
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)


def test_a_failed_roll_leaves_the_wal_openable_with_every_acknowledged_record(tmp_path, monkeypatch):
    """Issue 11 defect (2): ENOSPC while creating the next segment. The
    append that needed the roll fails determinately (nothing written), so do
    the next ones while the disk is full, and none of them writes into the
    sealed segment; the Wal reopens with every acknowledged record, and once
    there is room the same handle goes on."""
    d = tmp_path / "wal"
    w = FileWal(d, segment_bytes=10)
    assert w.append(b"a") == 1
    _enospc_on_segment_create(monkeypatch)
    for payload in (b"b", b"c"):
        with pytest.raises(StorageUnavailableError, match="No space left") as exc:
            w.append(payload)
        assert exc.value.determinate
    monkeypatch.undo()
    assert w.append(b"d") == 2  # room again: the roll completes, nothing was handed out twice
    w.close()
    with FileWal(d) as w2:
        assert list(w2.records()) == [(1, b"a"), (2, b"d")]


def test_a_wal_closed_after_a_failed_roll_reopens(tmp_path, monkeypatch):
    d = tmp_path / "wal"
    w = FileWal(d, segment_bytes=10)
    acked = [w.append(b"a"), w.append(b"b")]
    _enospc_on_segment_create(monkeypatch)
    for _ in range(2):
        with pytest.raises(StorageUnavailableError):
            w.append(b"never")
    monkeypatch.undo()
    w.close()
    with FileWal(d) as w2:
        assert [s for s, _ in w2.records()] == acked
        assert w2.append(b"c") == acked[-1] + 1


def test_a_failed_fsync_cuts_back_every_record_it_covered_and_the_wal_goes_on(tmp_path, monkeypatch):
    """Group commit with a failed fdatasync (fsyncgate: the records stay in
    the page cache, so a restart would read them back): the segment is cut
    back to its last durable record and the cut fsynced, every appender the
    failed fsync covered fails determinately (its record is certainly gone),
    none is acknowledged, the seqnos are handed out again, and the Wal goes
    on: a later append lands right after the durable record and a reopen
    reads exactly the acknowledged records."""
    from persist.storage import file_wal

    synced = []
    gate = threading.Event()
    calls = {"n": 0}

    class _Os:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fdatasync(fd):
            calls["n"] += 1
            if calls["n"] == 2:  # the group fsync of the 7 waiting appenders
                raise OSError(errno.EIO, "Input/output error")
            return os.fdatasync(fd)

    def on_fsync(path, size):
        synced.append(size)
        if len(synced) == 1:
            gate.wait(10)

    monkeypatch.setattr(file_wal, "os", _Os())
    w = FileWal(tmp_path / "wal", on_fsync=on_fsync)
    results = {}

    def append(name, payload):
        try:
            results[name] = w.append(payload)
        except Exception as e:  # noqa: BLE001 - the test inspects it
            results[name] = e

    first = threading.Thread(target=append, args=("first", b"a"))
    first.start()
    while not synced:
        pass
    others = [threading.Thread(target=append, args=(f"o{i}", b"b")) for i in range(7)]
    for t in others:
        t.start()
    while w.next_seqno < 9:  # all 7 records written, waiting for the sync lock
        pass
    gate.set()
    for t in [first, *others]:
        t.join()
    assert results["first"] == 1
    failed = [results[f"o{i}"] for i in range(7)]
    assert all(isinstance(e, StorageUnavailableError) for e in failed), failed
    assert calls["n"] == 2, "a failed fsync is never retried"
    durable = HEADER_SIZE + 1
    assert os.path.getsize(tmp_path / "wal" / segment_name(1)) == durable
    assert synced[-1] == durable
    assert w.next_seqno == 2
    assert w.append(b"c") == 2
    assert list(w.records()) == [(1, b"a"), (2, b"c")]
    w.close()
    monkeypatch.undo()
    with FileWal(tmp_path / "wal") as w2:
        assert w2.recovered_cut is None
        assert list(w2.records()) == [(1, b"a"), (2, b"c")]


def test_a_failed_fsync_whose_cut_back_fails_poisons_the_wal(tmp_path, monkeypatch):
    """If cutting back fails too, the record may survive: the append is
    indeterminate and names the seqno it has in the file; every later append
    is refused determinately (nothing written) until the Wal is reopened,
    which reads the record back."""
    from persist.errors import StorageIndeterminateError
    from persist.storage import file_wal

    class _Os:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fdatasync(fd):
            raise OSError(errno.EIO, "Input/output error")

        @staticmethod
        def ftruncate(fd, length):
            raise OSError(errno.EIO, "Input/output error")

    w = FileWal(tmp_path / "wal")
    w.append(b"a")
    monkeypatch.setattr(file_wal, "os", _Os())
    with pytest.raises(StorageIndeterminateError) as info:
        w.append(b"b")
    assert info.value.wal_seqno == 2
    with pytest.raises(StorageUnavailableError, match="nothing was written"):
        w.append(b"c")
    w.close()
    monkeypatch.undo()
    with FileWal(tmp_path / "wal") as w2:
        assert list(w2.records()) == [(1, b"a"), (2, b"b")]
