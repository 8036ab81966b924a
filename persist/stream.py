"""Stream handles and what reads return: snapshots, listeners, arrangements.

Visibility: a read sees the *trace* only, i.e. the updates with
``ts < upper``. Writes with ``ts >= upper`` are durable (Wal or unsealed
batches) but invisible until a seal passes them. Every read names the
metadata version it was answered from, so a reader in another process sees
exactly what was sealed when it read the record.

- ``snapshot(as_of)``: requires ``since <= as_of < upper``; the consolidated
  contents at ``as_of`` (diffs summed over ``ts <= as_of`` per ``(key, val)``,
  zeros dropped), sorted by ``(key, val)``. Compaction never changes it.
- ``listen(as_of)``: the updates with ``ts > as_of`` as seals reveal them, in
  ``data`` events, each followed by a ``progress`` event carrying the new
  upper: everything with ``ts < upper`` has then been delivered. A listener
  that falls behind ``since`` may get times advanced to ``since``; one whose
  frontier lies inside a batch compacted past it gets AsOfError.
- ``arrange(as_of)``: the snapshot indexed by key.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from persist import metadata as md
from persist.columnar import snapshot_of
from persist.errors import AsOfError, InvalidArgumentError


def _check_as_of(name: str, as_of, sm: md.StreamMeta) -> None:
    if not isinstance(as_of, int) or isinstance(as_of, bool):
        raise InvalidArgumentError(f"as_of for stream {name!r} must be an int; got {as_of!r}")
    if not sm.since <= as_of < sm.upper:
        why = "nothing is sealed yet" if sm.upper == 0 else f"valid: {sm.since} <= as_of < {sm.upper}"
        raise AsOfError(
            f"read of stream {name!r} at as_of={as_of} is outside [since={sm.since}, upper={sm.upper}) ({why})"
        )


class Frontiers(NamedTuple):
    """A stream's frontiers as of one metadata version (``since <= upper``)."""

    upper: int
    since: int


class Stream:
    """A handle on one named stream of a Persister. Cheap; holds no data."""

    def __init__(self, persister, name: str, sid: int) -> None:
        self.persister = persister
        self.name = name
        self.sid = sid

    def _sm(self) -> md.StreamMeta:
        return self.persister._stream_meta(self.name, self.sid)

    @property
    def upper(self) -> int:
        """Every update with ``ts < upper`` is final (sealed)."""
        return self._sm().upper

    @property
    def since(self) -> int:
        """Reads at ``as_of < since`` are refused; times below may be advanced."""
        return self._sm().since

    def frontiers(self) -> Frontiers:
        """``(upper, since)`` read together from one metadata version, so
        ``since <= upper`` holds between them. Reading the two properties
        one after the other may not give that: both can move in between
        (a seal and a compaction commit), and ``since`` read after ``upper``
        may be beyond it."""
        sm = self._sm()
        return Frontiers(sm.upper, sm.since)

    def write(self, updates) -> int:
        """Append ``updates`` (``(key, val, ts, diff)`` tuples or a pyarrow
        Table); returns once durable. Refuses any ``ts < upper``."""
        self.persister._check_writer(f"write to {self.name!r}")
        # An early refusal of a destroyed stream, from memory (no wait on a
        # commit in flight): the group commit validates again on the settled record.
        self.persister._stream_meta(self.name, self.sid, self.persister._meta_now())
        return self.persister._write([(self.name, self.sid, updates)])

    def seal(self, t: int) -> None:
        """Advance ``upper`` to ``t`` (``t < upper`` refused, ``t == upper`` no-op)."""
        self.persister.seal(self.name, self.sid, t)

    def allow_compaction(self, s: int) -> None:
        """Advance ``since`` to ``s``; requires ``since <= s <= upper``."""
        self.persister.allow_compaction(self.name, self.sid, s)

    def snapshot(self, as_of: int) -> Snapshot:
        def pick(meta):
            sm = self.persister._stream_meta(self.name, self.sid, meta)
            _check_as_of(self.name, as_of, sm)
            return [b.key for b in sm.trace if b.key and b.lower <= as_of]

        meta, tables = self.persister.read_tables(pick)
        return Snapshot(snapshot_of(tables, as_of), as_of, meta.version)

    def arrange(self, as_of: int) -> Arrangement:
        return Arrangement(self.snapshot(as_of))

    def listen(self, as_of: int | None = None, *, poll_interval: float = 0.05) -> Listener:
        """Follow the stream: updates with ``ts > as_of`` (default: from the
        current upper on) as they are sealed."""
        sm = self._sm()
        if as_of is None:
            frontier = sm.upper
        else:
            _check_as_of(self.name, as_of, sm)
            frontier = as_of + 1
        return Listener(self, frontier, poll_interval)

    def unsealed(self) -> pa.Table:
        """Writer only: durable updates with ``ts >= upper`` (not yet visible)."""
        return self.persister.unsealed_updates(self.name, self.sid)

    def read_updates(self, as_of: int) -> pa.Table:
        """The trace's updates with ``ts <= as_of`` as stored (consolidated per
        ``(key, val, ts)`` within a batch; times below ``since`` may be advanced)."""

        def pick(meta):
            sm = self.persister._stream_meta(self.name, self.sid, meta)
            _check_as_of(self.name, as_of, sm)
            return [b.key for b in sm.trace if b.key and b.lower <= as_of]

        _, tables = self.persister.read_tables(pick)
        if not tables:
            from persist.columnar import EMPTY_UPDATES

            return EMPTY_UPDATES
        t = pa.concat_tables(tables)
        return t.filter(pc.less_equal(t.column("ts"), pa.scalar(as_of, pa.uint64())))

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} of {self.persister.url}>"


class Snapshot:
    """The consolidated contents of a stream at ``as_of``: rows ``(key, val,
    diff)`` sorted by ``(key, val)``. ``to_arrow()`` is the table itself
    (zero-copy); iterating converts to Python per row."""

    def __init__(self, table: pa.Table, as_of: int, meta_version: int) -> None:
        self._table = table
        self.as_of = as_of
        self.meta_version = meta_version

    def to_arrow(self) -> pa.Table:
        return self._table

    def __len__(self) -> int:
        return self._table.num_rows

    def __iter__(self) -> Iterator[tuple[bytes, bytes, int]]:
        for batch in self._table.to_batches(max_chunksize=65536):
            d = batch.to_pydict()
            yield from zip(d["key"], d["val"], d["diff"])

    def to_list(self) -> list[tuple[bytes, bytes, int]]:
        return list(self)

    def __eq__(self, other) -> bool:
        if isinstance(other, Snapshot):
            return self._table.equals(other._table)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<Snapshot as_of={self.as_of} rows={len(self)}>"


@dataclass(frozen=True)
class ListenEvent:
    """``kind`` is "data" (``updates``: a table key, val, ts, diff) or
    "progress" (``upper``: every update with ts < upper was delivered)."""

    kind: str
    updates: pa.Table | None = None
    upper: int | None = None

    def rows(self) -> list[tuple[bytes, bytes, int, int]]:
        if self.updates is None:
            return []
        d = self.updates.to_pydict()
        return list(zip(d["key"], d["val"], d["ts"], d["diff"]))


class Listener:
    def __init__(self, stream: Stream, frontier: int, poll_interval: float) -> None:
        self.stream = stream
        self.frontier = frontier
        self._interval = poll_interval

    def poll(self, timeout: float | None = 0) -> list[ListenEvent]:
        """Events since the last poll; waits up to ``timeout`` seconds (None:
        until some arrive) when there are none yet."""
        deadline = None if timeout is None else time.monotonic() + timeout
        p = self.stream.persister
        while True:
            meta = p.current_meta()
            sm = p._stream_meta(self.stream.name, self.stream.sid, meta)
            if sm.upper > self.frontier:
                return self._events(meta, sm)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return []
            if p.read_only:
                time.sleep(self._interval if left is None else min(self._interval, left))
            else:
                p.wait_for_change(meta.version, self._interval if left is None else min(left, self._interval))

    def _events(self, meta, sm) -> list[ListenEvent]:
        f = self.frontier
        seen = {}

        def pick(m):
            sm_ = m.streams.get(self.stream.name, sm) if m.version != meta.version else sm
            chosen = []
            for b in sm_.trace:
                if b.upper <= f:
                    continue
                if b.lower < f and b.since > f:
                    raise AsOfError(
                        f"listener on stream {self.stream.name!r} at frontier {f} fell behind compaction: batch "
                        f"[{b.lower}, {b.upper}) has times advanced to {b.since}; snapshot again at "
                        f"as_of >= since={sm_.since}"
                    )
                if b.key:
                    chosen.append(b.key)
            seen["upper"] = sm_.upper
            return chosen

        _, tables = self.stream.persister.read_tables(pick)
        upper = seen["upper"]
        events = []
        if tables:
            t = pa.concat_tables(tables)
            t = t.filter(pc.greater_equal(t.column("ts"), pa.scalar(f, pa.uint64())))
            if len(t):
                events.append(ListenEvent("data", updates=t))
        events.append(ListenEvent("progress", upper=upper))
        self.frontier = upper
        return events

    def __iter__(self) -> Iterator[ListenEvent]:
        while True:
            yield from self.poll(timeout=None)


class _Keys:
    """A sequence view of a sorted binary column for bisect."""

    def __init__(self, col: pa.ChunkedArray) -> None:
        self._col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)

    def __len__(self) -> int:
        return len(self._col)

    def __getitem__(self, i: int) -> bytes:
        return self._col[i].as_py()


class Arrangement:
    """A snapshot indexed by key: ``get(key)`` -> ``[(val, diff), ...]``
    (by val), ordered iteration of ``(key, val, diff)``, ``keys()``. Built on
    the snapshot's key-sorted table; lookups are a binary search."""

    def __init__(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.as_of = snap.as_of
        self._table = snap.to_arrow()
        self._keys = _Keys(self._table.column("key"))

    def get(self, key: bytes) -> list[tuple[bytes, int]]:
        lo = bisect.bisect_left(self._keys, key)
        hi = bisect.bisect_right(self._keys, key, lo)
        if lo == hi:
            return []
        part = self._table.slice(lo, hi - lo).to_pydict()
        return list(zip(part["val"], part["diff"]))

    def __contains__(self, key: bytes) -> bool:
        i = bisect.bisect_left(self._keys, key)
        return i < len(self._keys) and self._keys[i] == key

    def keys(self) -> list[bytes]:
        return pc.unique(self._table.column("key")).to_pylist()

    def __iter__(self) -> Iterator[tuple[bytes, bytes, int]]:
        return iter(self.snapshot)

    def __len__(self) -> int:
        return len(self.snapshot)

    def to_arrow(self) -> pa.Table:
        return self._table
