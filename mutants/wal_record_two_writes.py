"""Wal: a record is written with two writes (header, then payload) and recovery checks the payload checksum of the last record only, believing a crash tears nothing but the write in flight; a disk that keeps a later write and loses an earlier one leaves a record with a lost payload in the middle, which recovery accepts; exposed by lose-unsynced on the fault filesystem (a torn or reordered power loss)."""

# On the tracer the damage is always a prefix (plus a few garbage bytes at
# the very end), where "only the last record can be torn" holds, so this
# mutant is valid on ``--fs tracer`` (seeds 1, 2, 3:
#     persist-nemesis run --workload append --nemesis lose-unsynced --seed SEED --time-limit 6 --concurrency 8 \
#         --mutant mutants/wal_record_two_writes.py --fs tracer).
# The fault filesystem exposes it when a power loss keeps a later record
# while the payload write of an earlier one is lost (the reorder model, or a
# mixed one choosing it for the Wal segment) -- which needs two or more
# records unsynced at the moment of the loss. Not yet caught: 13 runs on
# --fs fuse (seeds 1-6 at concurrency 8, 1-4 at 16, 1-3 at 16 for 8 s), under
# a load average near 30, never had more than 3 unsynced Wal writes when the
# power went (see the issue-11 report).

import os
import struct
import zlib

from persist.errors import InvalidArgumentError, StorageIndeterminateError, StorageUnavailableError
from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 6, "concurrency": 8,
              "fs": "fuse"}

_scan = file_wal.scan_segment


def _header_only(buf, off):
    """The record at ``off`` if its *header* verifies (bug: the payload crc is not checked here)."""
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


def scan_segment(path, data, base, newest):
    out, good_end, seal = _scan(path, data, base, newest)
    if newest and out:  # bug: only the last record's payload is verified ("only the last write can be torn")
        seqno, start, end = out[-1]
        (pcrc,) = struct.unpack_from("<I", data, start - file_wal.HEADER_SIZE + 20)
        if zlib.crc32(data[start:end]) != pcrc:
            out, good_end = out[:-1], start - file_wal.HEADER_SIZE
    return out, good_end, seal


def append(self, payload):
    if len(payload) > file_wal.MAX_PAYLOAD:
        raise InvalidArgumentError(f"Wal payload of {len(payload)} bytes exceeds the {file_wal.MAX_PAYLOAD}-byte limit")
    must_roll = getattr(self, "_must_roll", None) or (lambda: self._segments[-1].size >= self._segment_bytes)
    if must_roll():
        with self._sync_lock, self._write_lock:
            self._check()
            if must_roll():
                self._roll(self._next)
    pcrc = zlib.crc32(payload)
    with self._write_lock:
        self._check()
        seqno = self._next
        frame = file_wal.encode_record(seqno, payload, payload_crc=pcrc)
        active = self._segments[-1]
        try:
            head, body = frame[:file_wal.HEADER_SIZE], frame[file_wal.HEADER_SIZE:]
            n = os.write(self._fd, head)  # bug (with the scan above): two writes, a disk may keep either
            n += os.write(self._fd, body)
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
file_wal.scan_segment = scan_segment
file_wal.FileWal.append = append
