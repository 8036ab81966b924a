"""Columnar helpers: user updates into Arrow tables, and consolidation.

Everything here works on whole columns (pyarrow compute); nothing loops over
rows in Python except ``to_table`` when the caller hands in Python tuples
(one ``zip`` to transpose them).

Update tables have ``UPDATE_SCHEMA`` (``key: binary, val: binary,
ts: uint64, diff: int64``); a consolidated table has no two rows with the
same ``(key, val, ts)`` (or ``(key, val)`` for snapshots) and no zero diff.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from persist.errors import InvalidArgumentError
from persist.storage.batch import UPDATE_SCHEMA

SNAPSHOT_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary(), nullable=False),
        pa.field("val", pa.binary(), nullable=False),
        pa.field("diff", pa.int64(), nullable=False),
    ]
)
EMPTY_UPDATES = UPDATE_SCHEMA.empty_table()
_BYTES, _INT = {bytes}, {int}


def to_table(updates) -> pa.Table:
    """``updates`` (a pyarrow Table/RecordBatch with columns key, val, ts, diff,
    or an iterable of ``(key, val, ts, diff)``) as an ``UPDATE_SCHEMA`` table.

    Refuses (InvalidArgumentError, naming the values) negative or non-integer
    times, zero diffs, nulls and non-bytes keys/values."""
    if isinstance(updates, pa.RecordBatch):
        updates = pa.Table.from_batches([updates])
    if isinstance(updates, pa.Table):
        missing = [c for c in UPDATE_SCHEMA.names if c not in updates.column_names]
        if missing:
            raise InvalidArgumentError(f"update table lacks columns {missing}; it has {updates.column_names}")
        cols = []
        for f in UPDATE_SCHEMA:
            col = updates.column(f.name)
            if col.null_count:
                raise InvalidArgumentError(f"update column {f.name!r} has {col.null_count} nulls")
            if f.name == "ts" and pa.types.is_signed_integer(col.type) and len(col) and pc.min(col).as_py() < 0:
                raise InvalidArgumentError(f"update times must be >= 0; got ts={pc.min(col).as_py()}")
            try:
                cols.append(col.cast(f.type) if col.type != f.type else col)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise InvalidArgumentError(f"update column {f.name!r} of type {col.type} does not convert to {f.type}: {e}") from None
        table = pa.Table.from_arrays(cols, schema=UPDATE_SCHEMA)
    else:
        cols = check_rows(updates)
        if cols is None:
            return EMPTY_UPDATES
        keys, vals, ts, diffs = cols
        return pa.Table.from_arrays(
            [pa.array(keys, type=pa.binary()), pa.array(vals, type=pa.binary()),
             pa.array(ts, type=pa.uint64()), pa.array(diffs, type=pa.int64())],
            schema=UPDATE_SCHEMA,
        )
    if len(table) and not pc.all(pc.not_equal(table.column("diff"), 0)).as_py():
        idx = pc.index(table.column("diff"), 0).as_py()
        row = table.slice(idx, 1).to_pylist()[0]
        raise InvalidArgumentError(f"update diffs must be != 0; got diff=0 in {(row['key'], row['val'], row['ts'], row['diff'])!r}")
    return table


_TS_END, _DIFF_MIN, _DIFF_END = 2**64, -(2**63), 2**63


def check_rows(updates) -> tuple[tuple, tuple, tuple, tuple] | None:
    """The columns ``(keys, vals, ts, diffs)`` of Python updates (an iterable
    of ``(key, val, ts, diff)``), every value checked as ``to_table`` checks
    it, so that building Arrow arrays from them cannot fail; None if empty.

    Plain Python (``set(map(type, ...))``, ``min``, ``max`` run in C): no
    Arrow call, so a small write costs a few microseconds here and its
    conversion can be done later, for a whole group of writes at once."""
    rows = updates if isinstance(updates, list) else list(updates)
    if not rows:
        return None
    try:
        keys, vals, ts, diffs = zip(*rows)
    except (TypeError, ValueError):
        bad = next((r for r in rows if not (isinstance(r, (tuple, list)) and len(r) == 4)), rows[0])
        raise InvalidArgumentError(f"an update must be (key, val, ts, diff); got {bad!r}") from None
    for name, col in (("key", keys), ("val", vals)):
        if set(map(type, col)) != _BYTES:  # map(type) runs in C: no per-row Python frame
            bad = next(x for x in col if type(x) is not bytes)
            raise InvalidArgumentError(f"update {name}s must be bytes; got {bad!r}")
    for name, col in (("ts", ts), ("diff", diffs)):
        if set(map(type, col)) != _INT:
            bad = next(x for x in col if type(x) is not int)
            raise InvalidArgumentError(f"update {'times' if name == 'ts' else 'diffs'} must be ints; got {name}={bad!r}")
    if min(ts) < 0 or max(ts) >= _TS_END:
        bad = next(t for t in ts if not 0 <= t < _TS_END)
        raise InvalidArgumentError(f"update times must be integers in [0, 2**64); got ts={bad!r}")
    if min(diffs) < _DIFF_MIN or max(diffs) >= _DIFF_END:
        bad = next(d for d in diffs if not _DIFF_MIN <= d < _DIFF_END)
        raise InvalidArgumentError(f"update diffs must be 64-bit integers; got diff={bad!r}")
    if 0 in diffs:  # a scan of the tuple: no compute call for small writes
        i = diffs.index(0)
        raise InvalidArgumentError(f"update diffs must be != 0; got diff=0 in {(keys[i], vals[i], ts[i], diffs[i])!r}")
    return keys, vals, ts, diffs


def min_ts(table: pa.Table) -> int | None:
    if not len(table):
        return None
    return pc.min(table.column("ts")).as_py()


def consolidate_updates(table: pa.Table, advance_to: int = 0) -> pa.Table:
    """Advance times below ``advance_to`` to it, sum diffs per (key, val, ts),
    drop zeros, sort by (key, val, ts). Result has ``UPDATE_SCHEMA``."""
    if not len(table):
        return EMPTY_UPDATES
    if advance_to:
        ts = table.column("ts")
        table = table.set_column(2, "ts", pc.max_element_wise(ts, pa.scalar(advance_to, pa.uint64())))
    cols = _consolidate_sorted(table, ["key", "val", "ts"])
    return pa.Table.from_arrays(cols, schema=UPDATE_SCHEMA)


def snapshot_of(tables: list[pa.Table], as_of: int) -> pa.Table:
    """Contents at ``as_of`` of the given update tables: rows with ts <= as_of,
    diffs summed per (key, val), zeros dropped, sorted by (key, val)."""
    parts = []
    for t in tables:
        if not len(t):
            continue
        ts = t.column("ts")
        if pc.max(ts).as_py() > as_of:  # most batches lie wholly at or below as_of: no copy
            t = t.filter(pc.less_equal(ts, pa.scalar(as_of, pa.uint64())))
        if len(t):
            parts.append(t.select(["key", "val", "diff"]))
    if not parts:
        return SNAPSHOT_SCHEMA.empty_table()
    t = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return pa.Table.from_arrays(_consolidate_sorted(t, ["key", "val"]), schema=SNAPSHOT_SCHEMA)


def _consolidate_sorted(table: pa.Table, by: list[str]) -> list[pa.Array]:
    """``by`` columns and the summed ``diff`` of ``table``, one row per
    distinct ``by`` tuple with a non-zero sum, sorted by ``by``.

    Sort first, then sum runs of equal neighbours: a sort plus a linear pass,
    instead of a hash aggregation followed by a sort of its (unordered)
    output. Input that is already sorted (a single consolidated batch) is not
    sorted again; input without repeated tuples is not aggregated at all."""
    chunked = [table.column(c) for c in by] + [table.column("diff")]
    if all(c.num_chunks == 1 for c in chunked):
        arrays = [c.chunk(0) for c in chunked]
        presorted = _is_sorted(arrays[:-1])
    else:  # several batches: never taken as sorted
        arrays, presorted = None, False
    n = len(table)
    if n > 1 and not presorted:
        # Sort on contiguous copies of the sort columns (about twice as fast
        # as on chunks), drop them, then gather each column from the input:
        # peak memory stays near one copy of the data.
        keys = pa.Table.from_arrays([c.combine_chunks() for c in chunked[:-1]], names=by)
        idx = pc.sort_indices(keys, sort_keys=[(c, "ascending") for c in by])
        del keys
        arrays = [_one_chunk(c.take(idx)) for c in chunked]
        del idx
    elif arrays is None:
        arrays = [_one_chunk(c) for c in chunked]
    cols, diff = arrays[:-1], arrays[-1]
    if n > 1:
        same = pc.equal(cols[0][1:], cols[0][:-1])
        for c in cols[1:]:
            same = pc.and_(same, pc.equal(c[1:], c[:-1]))
        if pc.any(same).as_py():
            import numpy as np

            starts = np.flatnonzero(np.concatenate([[True], ~same.to_numpy(zero_copy_only=False)]))
            sums = np.add.reduceat(diff.to_numpy(zero_copy_only=False), starts)
            take = pa.array(starts, type=pa.int64())
            cols = [c.take(take) for c in cols]
            diff = pa.array(sums, type=pa.int64())
    nonzero = pc.not_equal(diff, 0)
    if not pc.all(nonzero).as_py():
        cols = [c.filter(nonzero) for c in cols]
        diff = diff.filter(nonzero)
    return cols + [diff]


def _one_chunk(c: pa.ChunkedArray) -> pa.Array:
    return c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()


def _is_sorted(cols: list[pa.Array]) -> bool:
    """Whether the rows of ``cols`` are in ascending lexicographic order."""
    ok = None  # rows i, i+1 in order, decided by the columns seen so far
    tied = None  # rows i, i+1 equal in the columns seen so far
    for c in cols:
        a, b = c[:-1], c[1:]
        lt, eq = pc.less(a, b), pc.equal(a, b)
        ok = lt if ok is None else pc.or_(ok, pc.and_(tied, lt))
        tied = eq if tied is None else pc.and_(tied, eq)
    return pc.all(pc.or_(ok, tied)).as_py()
