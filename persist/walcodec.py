"""The Wal payload of a write: what one Wal record holds.

One record is one group commit: the updates of one or more ``write`` /
``write_multi`` calls, tagged by the id of the stream they go to. The Wal
frames the payload with its own length and checksum, so the payload carries
only a tag and Arrow IPC::

    offset  size  field
    0       4     magic            b"PWRT"
    4       2     format version   u16 little-endian, currently 1
    6       2     reserved         u16, must be 0
    8       n     one Arrow IPC stream, schema WAL_SCHEMA:
                  sid: uint32, key: binary, val: binary, ts: uint64, diff: int64

Stream ids (``sid``) are assigned in the metadata and never reused, so a
record for a destroyed stream is recognised and skipped on replay.
"""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.ipc as ipc

from persist.errors import CorruptionError
from persist.storage.batch import UPDATE_SCHEMA

MAGIC = b"PWRT"
VERSION = 1
HEADER = struct.Struct("<4sHH")

WAL_SCHEMA = pa.schema([pa.field("sid", pa.uint32(), nullable=False)] + list(UPDATE_SCHEMA))
#: made once: ``ipc.new_stream`` would build them (reading the environment) on every call
_WRITE_OPTIONS = ipc.IpcWriteOptions()


def tag(sid: int, table: pa.Table) -> pa.Table:
    """``table`` (UPDATE_SCHEMA) with a leading ``sid`` column."""
    n = len(table)
    sids = pa.array([sid] * n, type=pa.uint32()) if n <= 64 else pa.repeat(pa.scalar(sid, pa.uint32()), n)
    return pa.Table.from_arrays([sids] + table.columns, schema=WAL_SCHEMA)


def encode(tables: list[pa.Table]) -> bytes:
    """Encode tagged tables (WAL_SCHEMA) as one payload."""
    sink = pa.BufferOutputStream()
    with ipc.RecordBatchStreamWriter(sink, WAL_SCHEMA, options=_WRITE_OPTIONS) as w:
        for t in tables:
            w.write_table(t)
    return HEADER.pack(MAGIC, VERSION, 0) + sink.getvalue().to_pybytes()


def decode(payload: bytes, name: str = "<wal record>") -> pa.Table:
    view = memoryview(payload)
    if len(view) < HEADER.size:
        raise CorruptionError(f"{name}: {len(view)}-byte Wal payload is shorter than its {HEADER.size}-byte header")
    magic, version, reserved = HEADER.unpack_from(view, 0)
    if magic != MAGIC or version != VERSION or reserved != 0:
        raise CorruptionError(f"{name}: Wal payload header {bytes(view[:8])!r} is not {MAGIC!r} version {VERSION}")
    try:
        return ipc.open_stream(pa.py_buffer(view[HEADER.size:])).read_all()
    except (pa.ArrowInvalid, pa.ArrowException) as e:
        raise CorruptionError(f"{name}: Wal payload is not a valid Arrow IPC stream: {e}") from e
