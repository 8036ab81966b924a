"""The batch byte format: Arrow IPC inside a checked frame.

Arrow IPC carries no checksum, and a stream cut at a message boundary reads
back without error, so every batch blob is framed::

    offset  size  field
    0       4     magic            b"PBAT"
    4       2     format version   u16 little-endian, currently 1
    6       2     reserved         u16, must be 0
    8       8     payload length   u64 little-endian (bytes of Arrow IPC)
    16      4     payload crc32    u32 little-endian, zlib.crc32 of the payload
    20      4     header crc32     u32 little-endian, zlib.crc32 of bytes 0..20
    24      n     payload          one Arrow IPC *stream* (schema + batches + EOS)

Nothing may follow the payload. Decoding checks, in order: total size >= 24,
magic, header crc, version, reserved, exact length, payload crc; any failure
raises :class:`~persist.errors.CorruptionError` naming the blob and what was
wrong, and no row is returned.

The update schema (``UPDATE_SCHEMA``): ``key: binary, val: binary,
ts: uint64, diff: int64``. Batch-level facts (lower, upper, since, counts) live
in the metadata record, not here; optional string key/value metadata on the
Arrow schema is preserved but not interpreted by this module.

Decoding is zero-copy: the returned table's buffers point into the given
bytes (kept alive by the table).
"""

from __future__ import annotations

import struct
import zlib

import pyarrow as pa
import pyarrow.ipc as ipc

from persist.errors import CorruptionError

MAGIC = b"PBAT"
VERSION = 1
HEADER = struct.Struct("<4sHHQII")
HEADER_SIZE = HEADER.size  # 24

UPDATE_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary(), nullable=False),
        pa.field("val", pa.binary(), nullable=False),
        pa.field("ts", pa.uint64(), nullable=False),
        pa.field("diff", pa.int64(), nullable=False),
    ]
)


def encode_batch(table: pa.Table) -> bytes:
    """Frame ``table`` (any Arrow table; usually ``UPDATE_SCHEMA``) as bytes."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue()
    head = struct.pack("<4sHHQI", MAGIC, VERSION, 0, payload.size, zlib.crc32(payload))
    header = head + struct.pack("<I", zlib.crc32(head))
    return b"".join((header, payload))  # one copy of the payload, straight from Arrow's buffer


def decode_batch(data: bytes | memoryview, name: str = "<batch>") -> pa.Table:
    """Check the frame and return the table. ``name`` goes into error messages."""
    view = memoryview(data)
    if len(view) < HEADER_SIZE:
        raise CorruptionError(f"{name}: {len(view)} bytes, shorter than the {HEADER_SIZE}-byte batch header")
    magic, version, reserved, length, payload_crc, header_crc = HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise CorruptionError(f"{name}: bad magic {bytes(magic)!r} at offset 0 (expected {MAGIC!r}); not a persist batch")
    if zlib.crc32(view[:20]) != header_crc:
        raise CorruptionError(f"{name}: header checksum mismatch at offset 20")
    if version != VERSION:
        raise CorruptionError(
            f"{name}: batch format version {version} at offset 4 is not supported (this build reads version {VERSION})"
        )
    if reserved != 0:
        raise CorruptionError(f"{name}: reserved field at offset 6 is {reserved}, expected 0")
    if len(view) - HEADER_SIZE != length:
        raise CorruptionError(
            f"{name}: payload is {len(view) - HEADER_SIZE} bytes but the header at offset 8 says {length}"
        )
    payload = view[HEADER_SIZE:]
    if zlib.crc32(payload) != payload_crc:
        raise CorruptionError(f"{name}: payload checksum mismatch (bytes {HEADER_SIZE}..{len(view)})")
    try:
        return ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, pa.ArrowException) as e:  # checksum passed but Arrow disagrees
        raise CorruptionError(f"{name}: payload is not a valid Arrow IPC stream: {e}") from e


def updates_table(keys, vals, ts, diffs) -> pa.Table:
    """Build an ``UPDATE_SCHEMA`` table from four columns (lists or arrays)."""
    return pa.Table.from_arrays(
        [
            pa.array(keys, type=pa.binary()),
            pa.array(vals, type=pa.binary()),
            pa.array(ts, type=pa.uint64()),
            pa.array(diffs, type=pa.int64()),
        ],
        schema=UPDATE_SCHEMA,
    )
