"""Batches (and every other read): checksums are not verified (blob entries, batch frames, the metadata body, Wal record payloads), so flipped bits in fsynced data reach the decoders and are served as data or fail as whatever the decoder raises; exposed by corrupt."""

import struct
import zlib

from persist import metadata, persister
from persist.storage import batch, file_blob, file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "corrupt", "blob": "file", "time_limit": 3}

# The bug is the same everywhere: the checksum is recomputed from the bytes
# read instead of compared with the one stored, so every other check (magic,
# version, lengths) and every decoder runs as in the correct engine.

_decode_parts = file_blob._decode_parts


def decode_parts(head, value, name):
    if len(head) < file_blob.HEADER_SIZE:
        return _decode_parts(head, value, name)
    magic, version, reserved, token, length, _ = file_blob.HEADER.unpack_from(head, 0)
    h = file_blob.HEADER.pack(magic, version, reserved, token, length, zlib.crc32(value))
    return _decode_parts(h + struct.pack("<I", zlib.crc32(h)), value, name)


_decode_batch = batch.decode_batch


def decode_batch(data, name="<batch>"):
    view = memoryview(data)
    if len(view) < batch.HEADER_SIZE:
        return _decode_batch(data, name)
    magic, version, reserved, length, _, _ = batch.HEADER.unpack_from(view, 0)
    h = struct.pack("<4sHHQI", magic, version, reserved, length, zlib.crc32(view[batch.HEADER_SIZE:]))
    return _decode_batch(h + struct.pack("<I", zlib.crc32(h)) + bytes(view[batch.HEADER_SIZE:]), name)


_decode_metadata = metadata.decode


def decode_metadata(data, name=metadata.META_KEY):
    view = memoryview(data)
    if len(view) < metadata.HEADER_SIZE:
        return _decode_metadata(data, name)
    magic, version, reserved, length, _, _ = metadata.HEADER.unpack_from(view, 0)
    h = struct.pack("<4sHHQI", magic, version, reserved, length, zlib.crc32(view[metadata.HEADER_SIZE:]))
    return _decode_metadata(h + struct.pack("<I", zlib.crc32(h)) + bytes(view[metadata.HEADER_SIZE:]), name)


def _record_at(buf, off):
    if len(buf) - off < file_wal.HEADER_SIZE:
        return None
    magic, version, kind, seqno, length, _ = file_wal.HEADER.unpack_from(buf, off)
    if magic != file_wal.MAGIC:
        return None
    (hcrc,) = struct.unpack_from("<I", buf, off + file_wal.HEADER.size)
    if zlib.crc32(buf[off : off + file_wal.HEADER.size]) != hcrc:
        return None
    end = off + file_wal.HEADER_SIZE + length
    if end > len(buf):  # the payload's crc is not compared
        return None
    return version, kind, seqno, end


file_blob._decode_parts = decode_parts
batch.decode_batch = persister.decode_batch = decode_batch
metadata.decode = decode_metadata
file_wal._record_at = _record_at
