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
        rows = list(updates)
        if not rows:
            return EMPTY_UPDATES
        try:
            keys, vals, ts, diffs = zip(*rows)
        except (TypeError, ValueError):
            bad = next((r for r in rows if not (isinstance(r, (tuple, list)) and len(r) == 4)), rows[0])
            raise InvalidArgumentError(f"an update must be (key, val, ts, diff); got {bad!r}") from None
        for name, col in (("key", keys), ("val", vals)):
            if not all(type(x) is bytes for x in col):
                bad = next(x for x in col if type(x) is not bytes)
                raise InvalidArgumentError(f"update {name}s must be bytes; got {bad!r}")
        for name, col in (("ts", ts), ("diff", diffs)):
            if not all(type(x) is int for x in col):
                bad = next(x for x in col if type(x) is not int)
                raise InvalidArgumentError(f"update {'times' if name == 'ts' else 'diffs'} must be ints; got {name}={bad!r}")
        try:
            ts_arr = pa.array(ts, type=pa.uint64())
        except (pa.ArrowInvalid, OverflowError, TypeError):
            bad = next((t for t in ts if not (isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 2**64)), ts[0])
            raise InvalidArgumentError(f"update times must be integers in [0, 2**64); got ts={bad!r}") from None
        try:
            diff_arr = pa.array(diffs, type=pa.int64())
        except (pa.ArrowInvalid, OverflowError, TypeError):
            bad = next((d for d in diffs if not isinstance(d, int)), diffs[0])
            raise InvalidArgumentError(f"update diffs must be 64-bit integers; got diff={bad!r}") from None
        table = pa.Table.from_arrays(
            [pa.array(keys, type=pa.binary()), pa.array(vals, type=pa.binary()), ts_arr, diff_arr],
            schema=UPDATE_SCHEMA,
        )
    if len(table) and not pc.all(pc.not_equal(table.column("diff"), 0)).as_py():
        idx = pc.index(table.column("diff"), 0).as_py()
        row = table.slice(idx, 1).to_pylist()[0]
        raise InvalidArgumentError(f"update diffs must be != 0; got diff=0 in {(row['key'], row['val'], row['ts'], row['diff'])!r}")
    return table


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
    g = table.group_by(["key", "val", "ts"], use_threads=False).aggregate([("diff", "sum")])
    g = g.filter(pc.not_equal(g.column("diff_sum"), 0))
    g = g.sort_by([("key", "ascending"), ("val", "ascending"), ("ts", "ascending")])
    return pa.Table.from_arrays(
        [g.column("key"), g.column("val"), g.column("ts"), g.column("diff_sum")], schema=UPDATE_SCHEMA
    )


def snapshot_of(tables: list[pa.Table], as_of: int) -> pa.Table:
    """Contents at ``as_of`` of the given update tables: rows with ts <= as_of,
    diffs summed per (key, val), zeros dropped, sorted by (key, val)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return SNAPSHOT_SCHEMA.empty_table()
    t = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    t = t.filter(pc.less_equal(t.column("ts"), pa.scalar(as_of, pa.uint64())))
    if not len(t):
        return SNAPSHOT_SCHEMA.empty_table()
    g = t.group_by(["key", "val"], use_threads=False).aggregate([("diff", "sum")])
    g = g.filter(pc.not_equal(g.column("diff_sum"), 0))
    g = g.take(pc.sort_indices(g, sort_keys=[("key", "ascending"), ("val", "ascending")]))
    return pa.Table.from_arrays([g.column("key"), g.column("val"), g.column("diff_sum")], schema=SNAPSHOT_SCHEMA)
