"""Batches (and every other read): checksums are not verified (blob entries, batch frames, the metadata body, Wal record payloads), so flipped bits in fsynced data are served as data; exposed by corrupt."""

import struct
import zlib

import pyarrow as pa
import pyarrow.ipc as ipc

from persist import metadata, persister
from persist.errors import CorruptionError
from persist.storage import batch, file_blob, file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "corrupt", "blob": "file", "time_limit": 3}


def _decode_parts(head, value, name):
    if len(head) < file_blob.HEADER_SIZE:
        raise CorruptionError(f"blob file {name}: shorter than the header")
    magic, version, reserved, token, length, vcrc = file_blob.HEADER.unpack_from(head, 0)
    if magic != file_blob.MAGIC:
        raise CorruptionError(f"blob file {name}: bad magic")
    # bug: neither the header crc nor the value crc is checked
    return (value if isinstance(value, bytes) else bytes(value)), bytes(token).hex()


def decode_batch(data, name="<batch>"):
    view = memoryview(data)
    if len(view) < batch.HEADER_SIZE:
        raise CorruptionError(f"{name}: shorter than the batch header")
    magic, version, reserved, length, payload_crc, header_crc = batch.HEADER.unpack_from(view, 0)
    if magic != batch.MAGIC:
        raise CorruptionError(f"{name}: bad magic")
    payload = view[batch.HEADER_SIZE:]  # bug: no header or payload crc check
    try:
        return ipc.open_stream(pa.py_buffer(payload)).read_all()
    except Exception as e:  # what Arrow itself refuses is still reported as corruption
        raise CorruptionError(f"{name}: payload is not a valid Arrow IPC stream: {e}") from e


_decode_metadata = metadata.decode


def decode_metadata(data, name=metadata.META_KEY):
    view = memoryview(data)
    if len(view) < metadata.HEADER_SIZE:
        return _decode_metadata(data, name)
    magic, version, reserved, length, _, _ = metadata.HEADER.unpack_from(view, 0)
    # bug: the checksums are recomputed from the bytes read instead of compared with them
    head = struct.pack("<4sHHQI", magic, version, reserved, length, zlib.crc32(view[metadata.HEADER_SIZE:]))
    return _decode_metadata(head + struct.pack("<I", zlib.crc32(head)) + bytes(view[metadata.HEADER_SIZE:]), name)


def _record_at(buf, off):
    if len(buf) - off < file_wal.HEADER_SIZE:
        return None
    magic, version, kind, seqno, length, pcrc = file_wal.HEADER.unpack_from(buf, off)
    if magic != file_wal.MAGIC:
        return None
    (hcrc,) = struct.unpack_from("<I", buf, off + file_wal.HEADER.size)
    if zlib.crc32(buf[off : off + file_wal.HEADER.size]) != hcrc:
        return None
    end = off + file_wal.HEADER_SIZE + length
    if end > len(buf):  # bug: the payload's crc is not checked
        return None
    return version, kind, seqno, end


file_blob._decode_parts = _decode_parts
metadata.decode = decode_metadata
file_wal._record_at = _record_at
batch.decode_batch = decode_batch
persister.decode_batch = decode_batch
