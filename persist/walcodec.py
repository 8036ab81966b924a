"""The Wal payload of a write: what one Wal record holds.

One record is one group commit: the updates of one or more ``write`` /
``write_multi`` calls, tagged by the id of the stream they go to. The Wal
frames the payload with its own length and checksum, so the payload carries
only a header and the rows, in one of two encodings (the version says which;
both decode to the same ``WAL_SCHEMA`` table)::

    offset  size  field
    0       4     magic            b"PWRT"
    4       2     format version   u16 little-endian, 1 or 2
    6       2     reserved         u16, must be 0
    8       n     version 1: one Arrow IPC stream, schema WAL_SCHEMA:
                    sid: uint32, key: binary, val: binary, ts: uint64, diff: int64
                  version 2 (rows): u32 row count, then per row
                    sid u32, ts u64, diff i64, key length u32, val length u32,
                    key bytes, val bytes   (all little-endian)

Version 2 is for small records (at most ``SMALL_ROWS`` rows): an Arrow IPC
stream carries its schema, ~1 KB for a one-update write, and costs tens of
microseconds to write and read; a row record is 28 bytes plus the key and
value. Larger records stay Arrow IPC, which decodes without a per-row loop.
Both versions are read; a version this code does not know is refused with
an error naming it.

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
VERSION = 1  # Arrow IPC
VERSION_ROWS = 2
VERSIONS = (VERSION, VERSION_ROWS)
HEADER = struct.Struct("<4sHH")
COUNT = struct.Struct("<I")
ROW = struct.Struct("<IQqII")  # sid, ts, diff, key length, val length
#: records with at most this many rows are written as rows (version 2)
SMALL_ROWS = 64

WAL_SCHEMA = pa.schema([pa.field("sid", pa.uint32(), nullable=False)] + list(UPDATE_SCHEMA))
#: made once: ``ipc.new_stream`` would build them (reading the environment) on every call
_WRITE_OPTIONS = ipc.IpcWriteOptions()
_ROWS_HEADER = HEADER.pack(MAGIC, VERSION_ROWS, 0)


def tag(sid: int, table: pa.Table) -> pa.Table:
    """``table`` (UPDATE_SCHEMA) with a leading ``sid`` column."""
    n = len(table)
    sids = pa.array([sid] * n, type=pa.uint32()) if n <= 64 else pa.repeat(pa.scalar(sid, pa.uint32()), n)
    return pa.Table.from_arrays([sids] + table.columns, schema=WAL_SCHEMA)


def encode(tables: list[pa.Table]) -> bytes:
    """Encode tagged tables (WAL_SCHEMA) as one payload (version 1, Arrow IPC)."""
    sink = pa.BufferOutputStream()
    with ipc.RecordBatchStreamWriter(sink, WAL_SCHEMA, options=_WRITE_OPTIONS) as w:
        for t in tables:
            w.write_table(t)
    return HEADER.pack(MAGIC, VERSION, 0) + sink.getvalue().to_pybytes()


def encode_rows(sids, keys, vals, ts, diffs) -> bytes:
    """Encode rows given as equally long columns as one payload (version 2).

    The values must fit their fields (``persist.columnar.check_rows`` checks
    them); ``struct.error`` otherwise."""
    pack = ROW.pack
    parts = [_ROWS_HEADER, COUNT.pack(len(keys))]
    for s, k, v, t, d in zip(sids, keys, vals, ts, diffs):
        parts += (pack(s, t, d, len(k), len(v)), k, v)
    return b"".join(parts)


def rows_table(sids, keys, vals, ts, diffs) -> pa.Table:
    """A WAL_SCHEMA table of rows given as columns (one Arrow array each)."""
    return pa.Table.from_arrays(
        [pa.array(sids, type=pa.uint32()), pa.array(keys, type=pa.binary()), pa.array(vals, type=pa.binary()),
         pa.array(ts, type=pa.uint64()), pa.array(diffs, type=pa.int64())],
        schema=WAL_SCHEMA,
    )


def decode(payload: bytes, name: str = "<wal record>") -> pa.Table:
    """The WAL_SCHEMA table of a payload of either version; CorruptionError
    (naming ``name``) for anything else."""
    view = memoryview(payload)
    if len(view) < HEADER.size:
        raise CorruptionError(f"{name}: {len(view)}-byte Wal payload is shorter than its {HEADER.size}-byte header")
    magic, version, reserved = HEADER.unpack_from(view, 0)
    if magic != MAGIC or version not in VERSIONS or reserved != 0:
        raise CorruptionError(
            f"{name}: Wal payload header {bytes(view[:8])!r} is not {MAGIC!r} with a known version {VERSIONS} "
            f"(a newer persist may have written it; open it with that version)"
        )
    if version == VERSION_ROWS:
        return _decode_rows(view, name)
    try:
        return ipc.open_stream(pa.py_buffer(view[HEADER.size:])).read_all()
    except (pa.ArrowInvalid, pa.ArrowException) as e:
        raise CorruptionError(f"{name}: Wal payload is not a valid Arrow IPC stream: {e}") from e


def _decode_rows(view: memoryview, name: str) -> pa.Table:
    end = len(view)
    pos = HEADER.size
    if end < pos + COUNT.size:
        raise CorruptionError(f"{name}: row-format Wal payload of {end} bytes has no row count")
    (n,) = COUNT.unpack_from(view, pos)
    pos += COUNT.size
    sids, keys, vals, ts, diffs = [], [], [], [], []
    unpack, size = ROW.unpack_from, ROW.size
    for i in range(n):
        if pos + size > end:
            raise CorruptionError(f"{name}: row-format Wal payload ends inside the header of row {i} of {n}")
        s, t, d, kl, vl = unpack(view, pos)
        pos += size
        if pos + kl + vl > end:
            raise CorruptionError(f"{name}: row-format Wal payload ends inside row {i} of {n} (key {kl}, val {vl} bytes)")
        keys.append(bytes(view[pos:pos + kl]))
        pos += kl
        vals.append(bytes(view[pos:pos + vl]))
        pos += vl
        sids.append(s)
        ts.append(t)
        diffs.append(d)
    if pos != end:
        raise CorruptionError(f"{name}: row-format Wal payload has {end - pos} bytes after its {n} rows")
    return rows_table(sids, keys, vals, ts, diffs)
