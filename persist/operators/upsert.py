"""Upsert: one value per key, on top of the persisted-stream operator.

Input events: ``("upsert", [(key, val_or_None, ts), ...])`` (None deletes)
and ``("progress", t)``. Each key has at most one upsert per timestamp and
its upserts arrive in time order; the source is replayable from a time, as
for :mod:`persist.operators.persisted`.

The operator keeps the current value of every key. An upsert ``(k, v, ts)``
with a different value becomes ``(k, old, ts, -1)`` and ``(k, v, ts, +1)``,
written in one write (one Wal record: atomic). Hence the stream's contents
at any time hold at most one value per key, each with diff 1.

Restart: the state is rebuilt from the durable stream (sealed contents plus
unsealed updates), remembering per key the time of its last durable upsert;
re-sent upserts at or before that time are skipped, so none is applied
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from persist.columnar import consolidate_updates
from persist.operators.persisted import PersistedStream


class Upsert:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.persisted = PersistedStream(stream)
        self.state: dict[bytes, bytes] = {}
        self._last_ts: dict[bytes, int] = {}

    def rehydrate(self) -> list[tuple]:
        events = self.persisted.rehydrate()
        upper = self.stream.upper
        tables = []
        if upper > 0:
            tables.append(self.stream.read_updates(upper - 1))
        unsealed = self.stream.unsealed()
        tables.append(unsealed)
        t = consolidate_updates(pa.concat_tables(tables))
        g = t.group_by(["key", "val"], use_threads=False).aggregate([("diff", "sum")])
        g = g.filter(pc.greater(g.column("diff_sum"), 0))
        for k, v, d in zip(g.column("key").to_pylist(), g.column("val").to_pylist(), g.column("diff_sum").to_pylist()):
            if k in self.state or d != 1:
                raise AssertionError(f"upsert stream holds key {k!r} more than once: a bug, not a user error")
            self.state[k] = v
        if len(unsealed):
            u = unsealed.group_by(["key"], use_threads=False).aggregate([("ts", "max")])
            self._last_ts = dict(zip(u.column("key").to_pylist(), u.column("ts_max").to_pylist()))
        self.persisted._replayed.clear()  # upsert dedupes by time instead
        return events

    def upsert(self, items: Iterable[tuple]) -> tuple | None:
        """Apply upserts; the state changes only once their write is durable."""
        updates, changes = [], {}
        for key, val, ts in items:
            if ts <= self._last_ts.get(key, -1):
                continue  # durable before the restart
            old = changes[key] if key in changes else self.state.get(key)
            if old == val:
                continue
            if old is not None:
                updates.append((key, old, ts, -1))
            if val is not None:
                updates.append((key, val, ts, 1))
            changes[key] = val
        if not updates:
            return None
        ev = self.persisted.push(updates)
        for key, val in changes.items():
            if val is None:
                self.state.pop(key, None)
            else:
                self.state[key] = val
        return ev

    def advance(self, t: int) -> tuple | None:
        return self.persisted.advance(t)


def upsert_stream(stream, source: Callable[[int], Iterable[tuple]]) -> Iterator[tuple]:
    op = Upsert(stream)
    yield from op.rehydrate()
    for kind, arg in source(op.persisted.resume_from):
        if kind == "upsert":
            ev = op.upsert(arg)
        elif kind == "progress":
            ev = op.advance(arg)
        else:
            raise ValueError(f"unknown source event kind {kind!r}; expected 'upsert' or 'progress'")
        if ev is not None:
            yield ev
