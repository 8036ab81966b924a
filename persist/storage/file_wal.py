"""FileWal: the Wal role on local files, with group commit and torn-tail recovery.

Directory layout::

    <dir>/LOCK                      flock'ed by the open FileWal; holds "pid=.. host=.. since=.."
    <dir>/ID                        "persist-wal <identity>\n": the Wal's identity ("wal-" and 32 hex
                                    digits), written once (temp file, fsync, rename, directory
                                    fsync) and never changed
    <dir>/00000000000000000001.wal  segment: records with seqno >= 1 (20-digit decimal name)
    <dir>/00000000000000000742.wal  the newest segment is the only one appended to

A segment's name is its *base*: the seqno of its first record, or, for a
segment without records, the next seqno to hand out. Data records in a
segment carry consecutive seqnos starting at the base. Every segment except
the newest ends with a *seal* record whose seqno field is the next segment's
base: the seal proves the segment is complete (a lost tail of an older
segment, even one cut exactly at a record boundary, is detected), and the
next segment's base may be higher than the last record + 1 (that is how
``ensure_next_seqno`` leaves a durable gap). Because a segment file always
exists, the seqno floor survives truncating every record.

The identity (``FileWal.identity``, ``wal-<hex>``) is what a location's
metadata records as the writer's Wal: it travels with the directory (a
container restarted under a new hostname, a volume mounted at a new path)
and tells a restarted writer that the records are its own. ``ID.tmp`` is a
write of it in progress (replaced on the next open). A directory with
segments but no ``ID`` gets its made-up identity written only by
``write_identity`` (see there). ``adopt_identity=`` writes a given identity
into a directory that has none (a Wal of an older
build, or one whose ``ID`` was lost, that the location's metadata names).

Record layout (all integers little-endian)::

    offset  size  field
    0       4     magic            b"PWAL"
    4       2     format version   u16, currently 1
    6       2     kind             u16: 0 = data, 1 = seal (length 0)
    8       8     seqno            u64 (for a seal: the next segment's base)
    16      4     payload length   u32 (n)
    20      4     payload crc32    u32, zlib.crc32 of the payload
    24      4     header crc32     u32, zlib.crc32 of bytes 0..24
    28      n     payload          the bytes given to append(), stored as is

Records follow each other with no padding; a segment is nothing but records.

Writing: ``append`` writes the record with one ``write`` at the end of the
newest segment, then waits until an ``fdatasync`` covering it has finished
(group commit: whichever appender finds the sync lock free fsyncs everything
written so far, so concurrent appenders share one fsync). Rolling to a new
segment writes and fsyncs the seal, then creates the new file and fsyncs the
directory; deleting segments is followed by an fsync of the directory.

A failed fdatasync (fsyncgate: the kernel may keep the records readable,
so a restart would read them back, while no later fsync makes them
durable) cuts the newest segment back to the end of its last durable
record and fsyncs the cut: the records it covered are certainly gone,
their appends fail determinately and their seqnos are handed out again.
Nothing is ever appended behind bytes a failed fsync covered. If the cut
fails too, the Wal refuses every call until reopened, and the appends in
doubt raise StorageIndeterminateError carrying ``wal_seqno``.

Recovery on open (the only place that ever cuts a file): segments are
scanned oldest first. In the newest segment, the first record that does not
verify (short header, bad magic, header crc, length past end of file, payload
crc) starts the *tail*. If no valid record follows anywhere in the tail, the
tail is a torn write: the file is cut back to the end of the last good record
and the cut is fsynced. If a valid record does follow; or an older (sealed,
fully fsynced) segment has any damage or lacks its seal; or a record
verifies but has the wrong seqno, an unknown kind or version, open raises
:class:`~persist.errors.CorruptionError` naming the file and offset, and
nothing is rewritten. A newest segment that ends in a seal (a crash in the
middle of a roll) gets its successor created. Then every segment adopted is
fsynced, and the directory (and its parent) too, before the open returns: a
writer that died between creating a segment and fsyncing the directory, or
between a write and its fsync, left state a power loss could still undo,
and nothing may be acknowledged on top of it until it is durable.
"""

from __future__ import annotations

import os
import re
import secrets
import struct
import threading
import zlib
from collections.abc import Callable, Iterator

from persist.errors import (
    ClosedError,
    CorruptionError,
    InvalidArgumentError,
    StorageIndeterminateError,
    StorageUnavailableError,
)
from persist.storage.fsutil import DirLock, ensure_dir, fsync_dir, write_durable

MAGIC = b"PWAL"
VERSION = 1
HEADER = struct.Struct("<4sHHQII")  # magic, version, kind, seqno, length, payload crc
KIND_DATA = 0
KIND_SEAL = 1
HEADER_SIZE = HEADER.size + 4  # + header crc = 28
MAX_PAYLOAD = 2**32 - 1
SEGMENT_RE = re.compile(r"^(\d{20})\.wal$")
LOCK_NAME = "LOCK"
ID_NAME = "ID"
ID_PREFIX = "persist-wal "
DEFAULT_SEGMENT_BYTES = 64 * 2**20


def segment_name(base: int) -> str:
    return f"{base:020d}.wal"


def encode_record(seqno: int, payload: bytes, kind: int = KIND_DATA, payload_crc: int | None = None) -> bytes:
    """The framed bytes of one record (see the layout above)."""
    pcrc = zlib.crc32(payload) if payload_crc is None else payload_crc
    head = HEADER.pack(MAGIC, VERSION, kind, seqno, len(payload), pcrc)
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def _record_at(buf: memoryview, off: int) -> tuple[int, int, int, int] | None:
    """Parse and verify the record at ``off``; return (version, kind, seqno, end)
    or None when the bytes there are not a whole, checksummed record."""
    if len(buf) - off < HEADER_SIZE:
        return None
    magic, version, kind, seqno, length, pcrc = HEADER.unpack_from(buf, off)
    if magic != MAGIC:
        return None
    (hcrc,) = struct.unpack_from("<I", buf, off + HEADER.size)
    if zlib.crc32(buf[off : off + HEADER.size]) != hcrc:
        return None
    end = off + HEADER_SIZE + length
    if end > len(buf) or zlib.crc32(buf[off + HEADER_SIZE : end]) != pcrc:
        return None
    return version, kind, seqno, end


def _valid_record_after(raw: bytes, start: int) -> int | None:
    """Offset of the first whole, checksummed record at or after ``start``, if any."""
    buf = memoryview(raw)
    pos = raw.find(MAGIC, start)
    while pos != -1:
        if _record_at(buf, pos) is not None:
            return pos
        pos = raw.find(MAGIC, pos + 1)
    return None


def scan_segment(
    path: str, data: bytes, base: int, newest: bool
) -> tuple[list[tuple[int, int, int]], int, int | None]:
    """Verify a segment's bytes.

    Returns ``([(seqno, payload_off, payload_end)], good_end, seal)`` where
    ``good_end`` is the end of the last good record and ``seal`` the next base
    named by the segment's seal record (None if unsealed). Bytes after
    ``good_end`` are a torn tail, allowed only in the ``newest`` segment;
    anything else raises CorruptionError naming ``path`` and the offset."""
    buf = memoryview(data)
    out: list[tuple[int, int, int]] = []
    off = 0
    expect = base
    seal = None
    while off < len(buf):
        rec = _record_at(buf, off)
        if rec is None:
            later = _valid_record_after(data, off + 1)
            if later is not None:
                raise CorruptionError(
                    f"Wal segment {path}: bad record at offset {off} with a valid record after it at offset "
                    f"{later}; corruption in the middle of the log, nothing was rewritten (restore the file or "
                    f"move it aside to recover what precedes offset {off})"
                )
            if not newest:
                raise CorruptionError(
                    f"Wal segment {path}: bad record at offset {off} in a segment that was sealed and fsynced "
                    f"before a newer one was created; nothing was rewritten"
                )
            break
        version, kind, seqno, end = rec
        if version != VERSION or kind not in (KIND_DATA, KIND_SEAL):
            raise CorruptionError(
                f"Wal segment {path}: record at offset {off} has format version {version}, kind {kind}; "
                f"this build reads version {VERSION}, kinds 0-1 only; nothing was rewritten"
            )
        if seal is not None:
            raise CorruptionError(f"Wal segment {path}: record at offset {off} follows the seal; nothing was rewritten")
        if kind == KIND_SEAL:
            if seqno < expect or end != off + HEADER_SIZE:
                raise CorruptionError(
                    f"Wal segment {path}: seal at offset {off} names next base {seqno} below {expect}; nothing was rewritten"
                )
            seal = seqno
        elif seqno != expect:
            raise CorruptionError(
                f"Wal segment {path}: record at offset {off} has seqno {seqno}, expected {expect}; nothing was rewritten"
            )
        else:
            out.append((seqno, off + HEADER_SIZE, end))
            expect += 1
        off = end
    if not newest and seal is None:
        raise CorruptionError(
            f"Wal segment {path}: ends at offset {off} without its seal record although a newer segment exists "
            "(its tail was lost); nothing was rewritten"
        )
    return out, off, seal


class _FsyncFailed(StorageIndeterminateError):
    """Internal: ``FileWal._fsync`` failed with ``error``; its caller cuts the
    segment back (``FileWal._cut_back``), which raises the public error."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"fdatasync failed: {error}")
        self.error = error


class _Segment:
    __slots__ = ("base", "path", "count", "size", "sealed")

    def __init__(self, base: int, path: str, count: int, size: int) -> None:
        self.base, self.path, self.count, self.size = base, path, count, size
        self.sealed: int | None = None  # the next base its durable seal names, once written


class FileWal:
    """A durable, segmented, group-committed Wal in one directory.

    ``FileWal(dir)`` creates the directory if needed, takes an exclusive
    ``flock`` on ``dir/LOCK`` (a second opener, in this process or another,
    gets :class:`~persist.errors.LockedError` naming the holder), and
    recovers the segments (see the module docstring).

    Thread-safe: any number of threads may ``append`` at once; they share
    fsyncs. ``on_fsync(path, length)``, when given, is called after every
    fsync of a segment with the length now durable, before any append the
    fsync covers returns (a harness uses it to know what a power loss may
    cut). A failed fsync is never retried (after it the kernel may have
    dropped the dirty pages, or kept them readable but clean): the segment
    is cut back to its last durable record and the cut fsynced, and every
    append the failed fsync covered fails determinately; if the cut fails
    too, the Wal is poisoned until reopened (see ``_fsync``).

    ``recovered_cut`` is ``(path, kept_length, old_length)`` when opening cut
    a torn tail, else None. The lock's file descriptor is close-on-exec, so
    children started with ``subprocess`` do not hold the lock; a child made
    by a bare ``fork`` does, until it exits.
    """

    def __init__(
        self,
        dir: str | os.PathLike,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        on_fsync: Callable[[str, int], None] | None = None,
        adopt_identity: str | None = None,
    ) -> None:
        self.dir = ensure_dir(os.fspath(dir), "Wal directory")
        self._segment_bytes = segment_bytes
        self._on_fsync = on_fsync
        try:
            self._lock = DirLock(self.dir, LOCK_NAME, "Wal directory")
        except OSError as e:
            raise StorageUnavailableError(f"cannot open the Wal directory {self.dir}: {e}; check the disk") from e
        #: True when this open wrote the identity file (a new Wal, or one from
        #: an older build, or one whose identity file was lost)
        self.identity_created = False
        self._id_unwritten = False
        self._write_lock = threading.Lock()  # order: _sync_lock before _write_lock
        self._sync_lock = threading.Lock()
        self._closed = False
        self._broken: str | None = None
        # A failed fsync cuts the segment back to its last durable record
        # (``_cut_back``): the records written since are gone and their
        # seqnos are handed out again. ``_gen`` counts the cuts; an appender
        # remembers the generation it wrote in, and ``_cut_from[gen]`` is the
        # first seqno the cut that ended generation ``gen`` removed.
        self._gen = 0
        self._cut_from: dict[int, int] = {}
        self._fd = -1
        try:
            self.identity = self._identity(adopt_identity)
            self._segments = self._recover()
            active = self._segments[-1]
            self._fd = os.open(active.path, os.O_WRONLY | os.O_APPEND)
            self._next = active.base + active.count
            self._written = self._synced = self._next - 1
            self._synced_size = active.size
        except OSError as e:
            self._lock.release()
            raise StorageUnavailableError(
                f"cannot open the Wal {self.dir}: {e}; nothing acknowledged was changed, check the disk and open again"
            ) from e
        except BaseException:
            self._lock.release()
            raise

    # --- identity, recovery -------------------------------------------------

    def _identity(self, adopt: str | None) -> str:
        """Read the directory's identity; write one if it has none (``adopt``,
        or a fresh ``wal-<32 hex>``)."""
        path = os.path.join(self.dir, ID_NAME)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = None
        if text is not None:
            ident = text[len(ID_PREFIX) : -1]
            if not (text.startswith(ID_PREFIX) and text.endswith("\n") and ident and "\n" not in ident):
                raise CorruptionError(
                    f"Wal identity file {path} holds {text[:60]!r}, not '{ID_PREFIX}<identity>'; nothing was "
                    "rewritten (restore it, or move the Wal directory aside if its records are not wanted)"
                )
            if adopt is not None and adopt != ident:
                raise InvalidArgumentError(
                    f"the Wal {self.dir} already has the identity {ident!r}; adopt_identity={adopt!r} is only for "
                    "a Wal directory without one"
                )
            return ident
        if adopt is not None and (not adopt or "\n" in adopt):
            raise InvalidArgumentError(f"adopt_identity must be a non-empty one-line string; got {adopt!r}")
        ident = adopt if adopt is not None else "wal-" + secrets.token_hex(16)
        self.identity_created = adopt is None
        self._id_unwritten = True
        if adopt is not None or not self._list_segments():  # nothing here could be mistaken for another's
            self.write_identity(ident)
        return ident

    def write_identity(self, ident: str | None = None) -> None:
        """Make the identity durable if this open made it up for a directory
        that already held segments. The engine calls it only once the
        location's metadata names this identity: written earlier, a crash
        before that would leave a directory that looks like another writer's
        Wal (whose records a takeover drops), not an unidentified one (whose
        records are never dropped)."""
        if not self._id_unwritten:
            return
        ident = ident if ident is not None else self.identity
        write_durable(self.dir, ID_NAME, f"{ID_PREFIX}{ident}\n".encode(), ID_NAME + ".tmp", replace_tmp=True)
        self._id_unwritten = False

    def _list_segments(self) -> list[tuple[int, str]]:
        found = []
        for name in os.listdir(self.dir):
            m = SEGMENT_RE.match(name)
            if m:
                found.append((int(m.group(1)), os.path.join(self.dir, name)))
        return sorted(found)

    def _recover(self) -> list[_Segment]:
        #: (path, good length, length before) of a torn tail cut on open, or None
        self.recovered_cut: tuple[str, int, int] | None = None
        found = self._list_segments()
        if not found:
            self._create_segment(1)
            return [_Segment(1, os.path.join(self.dir, segment_name(1)), 0, 0)]
        segments: list[_Segment] = []
        cut: tuple[str, int, int] | None = None
        for i, (base, path) in enumerate(found):
            with open(path, "rb") as f:
                data = f.read()
            newest = i == len(found) - 1
            recs, good_end, seal = scan_segment(path, data, base, newest=newest)
            if not newest and seal != found[i + 1][0]:
                raise CorruptionError(
                    f"Wal segment {path}: its seal names the next base {seal} but the next segment is "
                    f"{segment_name(found[i + 1][0])}; a segment is missing, nothing was rewritten"
                )
            if good_end < len(data):
                cut = (path, good_end, len(data))
            segments.append(_Segment(base, path, len(recs), good_end))
        self.recovered_cut = cut
        if cut is not None:  # only the newest segment, and only after everything verified
            path, good_end, _ = cut
            fd = os.open(path, os.O_WRONLY)
            try:
                os.ftruncate(fd, good_end)
                os.fsync(fd)
            finally:
                os.close(fd)
            if self._on_fsync is not None:
                self._on_fsync(path, good_end)
        if seal is not None:  # crashed between sealing the newest segment and creating its successor
            # The seal (and the records before it) may be in the page cache only: the crashed
            # writer can have died between writing it and its fsync. Once a successor exists the
            # segment counts as sealed and fsynced, so make it so first (a power loss would
            # otherwise leave an older segment without its seal: CorruptionError on the next open).
            newest = segments[-1]
            fd = os.open(newest.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if self._on_fsync is not None:
                self._on_fsync(newest.path, newest.size)
            path = self._create_segment(seal)
            segments.append(_Segment(seal, path, 0, 0))
        # What a dead writer left may not be durable: it may have died between
        # creating a segment and fsyncing the directory, or between writing
        # records and their fsync. Everything adopted is made durable before
        # anything is acknowledged on top of it (issue 14).
        for seg in segments:
            self._sync_file(seg.path, seg.size)
        fsync_dir(self.dir)
        fsync_dir(os.path.dirname(self.dir))
        return segments

    def _sync_file(self, path: str, size: int) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._on_fsync is not None:
            self._on_fsync(path, size)

    def _create_segment(self, base: int) -> str:
        """Create the empty segment ``base`` durably (file and name). An
        empty file of that name left by an earlier failed attempt is reused."""
        path = os.path.join(self.dir, segment_name(base))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if os.path.getsize(path) != 0:
                raise
            fd = os.open(path, os.O_WRONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.dir)
        return path

    # --- writing ----------------------------------------------------------

    def _check(self, written: bool = True) -> None:
        """Raise if the Wal is closed or poisoned. ``written=False``: the
        caller has not written anything yet, so a poisoned Wal refuses it
        determinately (nothing of it can be on disk)."""
        if self._closed:
            raise ClosedError(f"the Wal {self.dir} was closed")
        if self._broken is not None:
            cls = StorageIndeterminateError if written else StorageUnavailableError
            raise cls(
                f"the Wal {self.dir} is unusable after an earlier failure ({self._broken}); "
                + ("reopen it to recover" if written else "nothing was written; reopen it to recover")
            )

    def append(self, payload: bytes) -> int:
        """Append one record; return its seqno once it is durable."""
        if len(payload) > MAX_PAYLOAD:
            raise InvalidArgumentError(f"Wal payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
        if self._must_roll():
            with self._sync_lock, self._write_lock:
                self._check(written=False)
                if self._must_roll():
                    self._roll(self._next)
        pcrc = zlib.crc32(payload)  # outside the lock: appenders checksum in parallel
        with self._write_lock:
            self._check(written=False)
            gen = self._gen
            seqno = self._next
            frame = encode_record(seqno, payload, payload_crc=pcrc)
            active = self._segments[-1]
            try:
                try:
                    n = os.write(self._fd, frame)
                    if n != len(frame):
                        raise OSError(f"short write of {n} of {len(frame)} bytes")
                except OSError as e:
                    self._undo_write(active, e, "append")  # leave no torn record behind good ones that follow
            except StorageIndeterminateError as e:
                e.wal_seqno = seqno  # not undone: the record may be in the file, whole
                raise
            self._next = seqno + 1
            self._written = seqno
            active.count += 1
            active.size += len(frame)
        try:
            self._sync_to(seqno, gen)
        except StorageIndeterminateError as e:
            # The record is in the file (the page cache at least): a restart
            # reads it back. The caller must treat it as possibly written
            # under this seqno (see ``Wal.append``).
            e.wal_seqno = seqno
            raise
        if self._was_cut(gen, seqno):  # another appender's fsync failed and cut this record back
            raise StorageUnavailableError(
                f"Wal fsync of {self._segments[-1].path} failed (another appender's); this record was cut back "
                f"with the others it covered and the cut fsynced: nothing of it was written; fix the disk"
            )
        return seqno

    def _was_cut(self, gen: int, seqno: int) -> bool:
        """Was record ``seqno``, written in generation ``gen``, cut back?"""
        with self._write_lock:
            cut = self._cut_from.get(gen)
        return cut is not None and seqno >= cut

    def _sync_to(self, seqno: int, gen: int | None = None) -> None:
        with self._sync_lock:
            if self._synced >= seqno or (gen is not None and self._was_cut(gen, seqno)):
                return  # durable, or cut back (the caller asks ``_was_cut``)
            with self._write_lock:
                self._check()
                target, fd = self._written, self._fd
                active = self._segments[-1]
                path, size = active.path, active.size
            try:
                self._fsync(fd, path, size)
            except _FsyncFailed as f:
                with self._write_lock:
                    self._cut_back(path, f.error)
            self._synced = target
            with self._write_lock:
                if self._segments[-1].path == path:
                    self._synced_size = size

    def _fsync(self, fd: int, path: str, size: int) -> None:
        """fdatasync the active segment (the caller holds ``_sync_lock``);
        a failure raises ``_FsyncFailed`` and the caller, holding both locks,
        calls ``_cut_back``.

        A failure is never retried (PostgreSQL's fsyncgate: after a failed
        fsync the kernel may have dropped the dirty pages, or marked them
        clean while keeping them readable, and a second fsync succeeds
        without writing them; a restart reads them back, a power loss may
        keep or lose them). Instead the segment is cut back to the end of its
        last durable record and the cut fsynced (``_cut_back``): the records
        written since are then certainly gone, their appends fail
        determinately and the Wal goes on. If the cut fails too, the Wal is
        poisoned: every call raises until it is reopened (determinately for
        a new append, indeterminately for one whose record was written, and
        that error carries ``wal_seqno``), and reopening recovers what the
        files hold and fsyncs them again before anything is acknowledged on
        top (docs/semantics.md, "I/O errors")."""
        try:
            os.fdatasync(fd)
        except OSError as e:
            raise _FsyncFailed(e) from e
        if self._on_fsync is not None:
            self._on_fsync(path, size)

    def _cut_back(self, path: str, e: OSError) -> None:
        """An fsync of the active segment ``path`` failed with ``e``: cut it
        back to its last durable size and fsync the cut; raise
        StorageUnavailableError (nothing of the records since was written)
        or, if that fails, poison the Wal and raise StorageIndeterminateError.
        Caller holds both locks."""
        active = self._segments[-1]
        keep = self._synced_size
        assert active.path == path, (active.path, path)  # a roll needs _sync_lock, which the fsync's caller holds
        try:
            os.ftruncate(self._fd, keep)
            os.fsync(self._fd)  # not fdatasync: the size is what must be durable
        except OSError as e2:
            self._broken = (
                f"fsync of {path} failed ({e}) and cutting it back to its last durable record at offset {keep} "
                f"failed too ({e2})"
            )
            raise StorageIndeterminateError(
                f"Wal {self._broken}; the records written since may or may not survive"
            ) from e
        first_cut = max(self._synced + 1, active.base)  # a roll may have left a gap below the base
        active.count = first_cut - active.base
        active.size = keep
        self._cut_from[self._gen] = self._next = first_cut
        self._gen += 1
        self._written = self._synced
        if self._on_fsync is not None:
            self._on_fsync(path, keep)
        raise StorageUnavailableError(
            f"Wal fsync of {path} failed: {e}; the records it covered were cut back to the last durable one at "
            f"offset {keep} and the cut fsynced: nothing of them was written; fix the disk"
        ) from e

    def _must_roll(self) -> bool:
        active = self._segments[-1]
        return active.size >= self._segment_bytes or active.sealed is not None

    def _roll(self, base: int) -> None:
        """Start a new segment at ``base``. Caller holds both locks.

        The old segment gets its seal record (naming ``base``) and is fsynced
        before the new file is created and the directory fsynced. A roll that
        fails after the seal is durable leaves the sealed segment the newest
        (what recovery also handles: it creates the successor) and marks it
        ``sealed``: nothing is ever appended after a seal; every later append
        first retries creating the successor, and fails determinately
        (StorageUnavailableError, nothing written) while it cannot. A failed
        write of the seal is undone; a failed fsync poisons the Wal (see
        ``_fsync``)."""
        active = self._segments[-1]
        if active.sealed is None:
            seal = encode_record(base, b"", KIND_SEAL)
            try:
                n = os.write(self._fd, seal)
                if n != len(seal):
                    raise OSError(f"short write of {n} of {len(seal)} bytes")
            except OSError as e:
                self._undo_write(active, e, "sealing")
            active.size += len(seal)
            try:
                self._fsync(self._fd, active.path, active.size)
            except _FsyncFailed as f:
                self._cut_back(active.path, f.error)
            self._synced = self._written
            active.sealed = base
        succ = active.sealed
        try:
            path = self._create_segment(succ)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as e:
            raise StorageUnavailableError(
                f"Wal {self.dir}: could not create the next segment {segment_name(succ)}: {e}; nothing was "
                f"written (every acknowledged record is durable in {os.path.basename(active.path)}); free space "
                f"or fix the disk"
            ) from e
        os.close(self._fd)
        self._fd = fd
        self._segments.append(_Segment(succ, path, 0, 0))
        self._synced_size = 0
        self._next = succ
        if base > succ:  # the seal of an earlier failed roll named a lower base
            self._roll(base)

    def _undo_write(self, active: _Segment, e: OSError, what: str) -> None:
        """A write to ``active`` failed: cut what it may have left, so that no
        torn record sits before good ones; raise (determinate if undone)."""
        try:
            os.ftruncate(self._fd, active.size)
        except OSError as e2:
            self._broken = f"{what} failed ({e}) and could not be undone ({e2})"
            raise StorageIndeterminateError(f"Wal {what} of {active.path} failed: {e}; {self._broken}") from e
        raise StorageUnavailableError(
            f"Wal {what} of {active.path} failed and was undone: {e}; nothing was written, free space or fix the disk"
        ) from e

    # --- reading, truncating ----------------------------------------------

    def records(self, from_seqno: int = 0) -> Iterator[tuple[int, bytes]]:
        """Yield ``(seqno, payload)`` for durable records with ``seqno >= from_seqno``.

        The set of records is fixed when iteration starts (later appends are
        not included); every record is verified again as it is read."""
        with self._sync_lock, self._write_lock:
            self._check()
            plan = [(s.base, s.path, s.size) for s in self._segments]
            plan[-1] = (plan[-1][0], plan[-1][1], self._synced_size)
        return self._iter(plan, from_seqno)

    def _iter(self, plan, from_seqno: int) -> Iterator[tuple[int, bytes]]:
        for i, (base, path, size) in enumerate(plan):
            if i + 1 < len(plan) and plan[i + 1][0] <= from_seqno:
                continue
            try:
                with open(path, "rb") as f:
                    data = f.read(size)
            except FileNotFoundError:  # truncated away meanwhile
                continue
            except OSError as e:
                raise StorageUnavailableError(f"reading the Wal segment {path} failed: {e}; nothing changed") from e
            buf = memoryview(data)
            recs, good_end, _ = scan_segment(path, data, base, newest=i == len(plan) - 1)
            if good_end != size:
                raise CorruptionError(f"Wal segment {path}: ends at offset {good_end}, expected {size} bytes")
            for seqno, start, end in recs:
                if seqno >= from_seqno:
                    yield seqno, bytes(buf[start:end])

    def truncate(self, before_seqno: int) -> None:
        """Drop whole segments whose records are all below ``before_seqno``.

        When that includes the newest segment's records, a new empty segment
        named after the next seqno is created first, so the floor survives."""
        with self._sync_lock, self._write_lock:
            self._check()
            active = self._segments[-1]
            if active.count and self._next <= before_seqno:
                self._roll(self._next)
            # Oldest first, and a segment leaves the list only once its file is
            # gone: what remains on disk is always a chain of whole, sealed
            # segments ending in the newest (a gap would be corruption).
            removed = 0
            try:
                while len(self._segments) > 1 and self._segments[1].base <= before_seqno:
                    try:
                        os.unlink(self._segments[0].path)
                    except FileNotFoundError:  # an earlier attempt removed it and then reported an error
                        pass
                    self._segments.pop(0)
                    removed += 1
                if removed:
                    fsync_dir(self.dir)
            except OSError as e:  # what is left is whole, sealed segments: recovery reads them, readers filter
                raise StorageIndeterminateError(
                    f"Wal {self.dir}: removing absorbed segments failed: {e}; some may remain (harmless)"
                ) from e

    @property
    def next_seqno(self) -> int:
        return self._next

    def ensure_next_seqno(self, seqno: int) -> None:
        """Raise the seqno floor to ``seqno`` durably (a new segment named after it)."""
        with self._sync_lock, self._write_lock:
            self._check()
            if seqno > self._next:
                self._roll(seqno)

    def segments(self) -> list[tuple[str, int]]:
        """``(path, length)`` of every segment, oldest first (for tools and harnesses)."""
        with self._write_lock:
            return [(s.path, s.size) for s in self._segments]

    def close(self) -> None:
        """Release the directory lock. Idempotent; appends already returned are durable."""
        with self._sync_lock, self._write_lock:
            if self._closed:
                return
            self._closed = True
            if self._fd >= 0:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = -1
            self._lock.release()

    def __enter__(self) -> FileWal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileWal({self.dir!r}, next_seqno={self._next})"
