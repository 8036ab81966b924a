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
                  version 2 (columns, for rows handed in as Python tuples):
    8       4       row count n    u32
    12      4       reserved       u32, must be 0
    16      8n      ts             u64 each
            8n      diff           i64 each
            4n      sid            u32 each, then zero padding to a multiple of 8
            4(n+1)  key offsets    i32 each, 0 first, non-decreasing, then padding
            4(n+1)  val offsets    i32 each, likewise
            K       key bytes      K = last key offset, then padding
            V       val bytes      V = last val offset; the payload ends here
                  (all little-endian; offsets and padding as in Arrow's binary
                  arrays, so the columns are read without a copy)

Version 1 costs tens of microseconds to write and read for a one-update
write and carries its schema (~800 bytes); version 2 is built from the Python
values with ``array``/``bytes.join`` (loops in C, no ``pa.array`` call) and
is 28 bytes a row plus keys, values and padding. Writes of Python tuples use
version 2 (version 1 when keys or values exceed 2 GiB in one record); Arrow
tables handed in are written as version 1. Both versions are read; a version
this code does not know is refused with an error naming it.

Stream ids (``sid``) are assigned in the metadata and never reused, so a
record for a destroyed stream is recognised and skipped on replay.
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import accumulate

import pyarrow as pa
import pyarrow.ipc as ipc

from persist.errors import CorruptionError
from persist.storage.batch import UPDATE_SCHEMA

MAGIC = b"PWRT"
VERSION = 1  # Arrow IPC
VERSION_COLUMNS = 2
VERSIONS = (VERSION, VERSION_COLUMNS)
HEADER = struct.Struct("<4sHH")
COUNT = struct.Struct("<II")  # row count, reserved
_LITTLE = sys.byteorder == "little"

WAL_SCHEMA = pa.schema([pa.field("sid", pa.uint32(), nullable=False)] + list(UPDATE_SCHEMA))
#: made once: ``ipc.new_stream`` would build them (reading the environment) on every call
_WRITE_OPTIONS = ipc.IpcWriteOptions()
_COLUMNS_HEADER = HEADER.pack(MAGIC, VERSION_COLUMNS, 0)
_PAD = bytes(8)


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
    them; ``OverflowError`` otherwise, also when the keys or the values
    together exceed 2 GiB: use :func:`encode` then)."""
    n = len(keys)
    koff = array("i", [0])
    koff.extend(accumulate(map(len, keys)))
    voff = array("i", [0])
    voff.extend(accumulate(map(len, vals)))
    cols = [array("Q", ts), array("q", diffs), array("I", sids), koff, voff]
    if not _LITTLE:
        for c in cols:
            c.byteswap()
    parts = [_COLUMNS_HEADER, COUNT.pack(n, 0)]
    for c in cols:
        parts += (c, _PAD[: -(len(c) * c.itemsize) % 8])
    kdata = b"".join(keys)
    parts += (kdata, _PAD[: -len(kdata) % 8], b"".join(vals))
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
    if version == VERSION_COLUMNS:
        return _decode_columns(payload, view, name)
    try:
        return ipc.open_stream(pa.py_buffer(view[HEADER.size:])).read_all()
    except (pa.ArrowInvalid, pa.ArrowException) as e:
        raise CorruptionError(f"{name}: Wal payload is not a valid Arrow IPC stream: {e}") from e


def _pad8(x: int) -> int:
    return x + -x % 8


def _decode_columns(payload, view: memoryview, name: str) -> pa.Table:
    """Version 2: the columns are slices of the payload (copied once if the
    payload does not start on an 8-byte boundary); every size and offset is
    checked, CorruptionError otherwise."""
    end = len(view)
    if end < HEADER.size + COUNT.size:
        raise CorruptionError(f"{name}: {end}-byte columnar Wal payload has no row count")
    n, reserved = COUNT.unpack_from(view, HEADER.size)
    if reserved:
        raise CorruptionError(f"{name}: columnar Wal payload has reserved field {reserved}, not 0")
    pos = HEADER.size + COUNT.size
    spans = []
    for width in (8 * n, 8 * n, 4 * n, 4 * (n + 1), 4 * (n + 1)):
        spans.append((pos, width))
        pos += _pad8(width)
    if pos > end:
        raise CorruptionError(f"{name}: columnar Wal payload of {end} bytes is too short for {n} rows")
    klen = int.from_bytes(view[spans[3][0] + 4 * n : spans[3][0] + 4 * n + 4], "little", signed=True)
    vlen = int.from_bytes(view[spans[4][0] + 4 * n : spans[4][0] + 4 * n + 4], "little", signed=True)
    firsts = (int.from_bytes(view[spans[3][0] : spans[3][0] + 4], "little"),
              int.from_bytes(view[spans[4][0] : spans[4][0] + 4], "little"))
    if firsts != (0, 0):
        raise CorruptionError(f"{name}: columnar Wal payload's key/value offsets start at {firsts}, not (0, 0)")
    if klen < 0 or vlen < 0 or pos + _pad8(klen) + vlen != end:
        raise CorruptionError(
            f"{name}: columnar Wal payload of {end} bytes does not match its {n} rows "
            f"({klen} key bytes, {vlen} value bytes)"
        )
    buf = pa.py_buffer(payload)
    if buf.address % 8 or not _LITTLE:
        buf = pa.py_buffer(_swapped(bytes(view), spans) if not _LITTLE else bytes(view))
    kpos = pos
    vpos = pos + _pad8(klen)
    sl = buf.slice
    try:
        keys = pa.Array.from_buffers(pa.binary(), n, [None, sl(*spans[3]), sl(kpos, klen)])
        vals = pa.Array.from_buffers(pa.binary(), n, [None, sl(*spans[4]), sl(vpos, vlen)])
        keys.validate(full=True)
        vals.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowException) as e:
        raise CorruptionError(f"{name}: columnar Wal payload has bad key or value offsets: {e}") from e
    return pa.Table.from_arrays(
        [
            pa.Array.from_buffers(pa.uint32(), n, [None, sl(*spans[2])]),
            keys,
            vals,
            pa.Array.from_buffers(pa.uint64(), n, [None, sl(*spans[0])]),
            pa.Array.from_buffers(pa.int64(), n, [None, sl(*spans[1])]),
        ],
        schema=WAL_SCHEMA,
    )


def _swapped(data: bytes, spans) -> bytes:  # big-endian hosts only
    out = bytearray(data)
    for (pos, width), code in zip(spans, "QqIii"):
        a = array(code, out[pos : pos + width])
        a.byteswap()
        out[pos : pos + width] = a.tobytes()
    return bytes(out)
