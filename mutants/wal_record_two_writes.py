"""Wal: a record's space is reserved (ftruncate) and then filled by two writes (header, then payload), and recovery trusts a record whose header crc verifies and whose length fits in the file without checking the payload crc (believing a header on disk means its record is); a power loss that keeps the size and the header but loses or tears the payload leaves a record of zeros that recovery accepts (the writer then never opens again, or replays rows of zeros); exposed by lose-unsynced on the fault filesystem (a prefix or torn power loss)."""

# Why the fault filesystem and not the tracer: the bytes of a record are all
# in the file by the time anything could be cut (the record is written before
# its fsync is waited for), and the tracer cuts *bytes*, a prefix at or after
# the fsynced length: a cut inside the record leaves its length past the end
# of the file, which this recovery still refuses. The fault filesystem loses
# *writes*: the size change, the header and the payload are three unsynced
# ops, and a power loss that keeps the first two (``prefix``) or tears or
# drops the payload (``torn``, also per file under ``mixed``) leaves the full
# size, a good header and zeros where the payload was. Recovery accepts it:
# either the payload's own header is zeros (walcodec refuses it, every open
# fails with CorruptionError: the acknowledged writes behind it are out of
# reach -- recovery: not-recovered) or zeros land inside the rows (rows with
# zero keys and values are replayed: integrity: phantom). The correct engine
# (one write, payload crc checked) is valid on seeds 2, 5, 6, 7, 8 of the same command.
#
# Measured (2026-12-02, load average near 10; 17 runs):
#     persist-nemesis run --workload append --nemesis lose-unsynced --seed SEED --time-limit 6 --concurrency 8 \
#         --mutant mutants/wal_record_two_writes.py --fs fuse
#         INVALID in 12 of 17 runs: seed 2 3/3 runs (its second loss is a prefix keeping size and header),
#         7 2/2, 8 2/3, 9 1/1, 3, 5, 6 1/2 each (timing moves the losses and what they catch in flight);
#         VALID for seeds 1, 4, 10 (1 run each: no loss kept the header without the payload)
#     ... the same with --fs tracer: VALID for seeds 1-10 (1 run each; seeds 1-5: 23 power losses, 16 cutting the Wal)

import os
import struct
import zlib

from persist.errors import InvalidArgumentError, StorageIndeterminateError, StorageUnavailableError
from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 6, "concurrency": 8,
              "fs": "fuse", "seeds": [2, 7, 8]}


def _header_only(buf, off):
    """The record at ``off`` if its *header* verifies and its length fits the
    file (bug: the payload crc is never checked -- "a crash only cuts the end
    of the file, so a record whose bytes are all there is whole")."""
    if len(buf) - off < file_wal.HEADER_SIZE:
        return None
    magic, version, kind, seqno, length, pcrc = file_wal.HEADER.unpack_from(buf, off)
    if magic != file_wal.MAGIC:
        return None
    (hcrc,) = struct.unpack_from("<I", buf, off + file_wal.HEADER.size)
    if zlib.crc32(buf[off:off + file_wal.HEADER.size]) != hcrc:
        return None
    end = off + file_wal.HEADER_SIZE + length
    if end > len(buf):
        return None
    return version, kind, seqno, end


def _pfd(self, path):
    """A positioned-write descriptor of ``path`` (the Wal's own is O_APPEND, where pwrite ignores the offset)."""
    fds = self.__dict__.setdefault("_mutant_pfds", {})
    if path not in fds:
        fds[path] = os.open(path, os.O_WRONLY)
    return fds[path]


def append(self, payload):
    if len(payload) > file_wal.MAX_PAYLOAD:
        raise InvalidArgumentError(f"Wal payload of {len(payload)} bytes exceeds the {file_wal.MAX_PAYLOAD}-byte limit")
    must_roll = getattr(self, "_must_roll", None) or (lambda: self._segments[-1].size >= self._segment_bytes)
    if must_roll():
        with self._sync_lock, self._write_lock:
            self._check()
            if must_roll():
                self._roll(self._next)
    with self._write_lock:
        self._check()
        seqno = self._next
        frame = file_wal.encode_record(seqno, payload)
        active = self._segments[-1]
        at = active.size
        try:
            # bug (with the check above): the record's space is reserved first
            # (the size is set once), then header and payload are written by
            # two writes; a disk may keep the size and the header without the payload
            os.ftruncate(self._fd, at + len(frame))
            fd = _pfd(self, active.path)
            n = os.pwrite(fd, frame[:file_wal.HEADER_SIZE], at)
            n += os.pwrite(fd, frame[file_wal.HEADER_SIZE:], at + file_wal.HEADER_SIZE)
            if n != len(frame):
                raise OSError(f"short write of {n} of {len(frame)} bytes")
        except OSError as e:
            if hasattr(self, "_undo_write"):
                self._undo_write(active, e, "append")
            else:
                try:
                    os.ftruncate(self._fd, active.size)
                except OSError as e2:
                    self._broken = f"write failed ({e}) and could not be undone ({e2})"
                    raise StorageIndeterminateError(f"Wal append to {active.path} failed: {e}") from e
                raise StorageUnavailableError(f"Wal append to {active.path} failed and was undone: {e}") from e
        self._next = seqno + 1
        self._written = seqno
        active.count += 1
        active.size += len(frame)
    self._sync_to(seqno)
    return seqno


file_wal._record_at = _header_only
file_wal.FileWal.append = append
