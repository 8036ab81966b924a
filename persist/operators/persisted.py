"""The persisted-stream operator: persist what passes, rehydrate after a restart.

Contract. The operator wraps a *replayable* source of events
``("data", updates)`` / ``("progress", t)``: started at a time ``r`` the
source emits every update with ``ts >= r`` again, in the same way each time
(a Kafka topic read from an offset, a deterministic generator). The
operator:

1. on start, emits what the stream already holds durably: the sealed trace
   (updates with ``ts < upper``, consolidated) and a progress event
   ``upper``, then the durable-but-unsealed updates (``ts >= upper``) that
   the previous incarnation acknowledged before it died;
2. asks the source to resume at ``resume_from == upper``;
3. for each data event, drops the updates that step 1 already emitted
   (multiset difference: the source re-sends them), writes the rest to the
   stream (durable on return) and only then emits them downstream;
4. for each progress event ``t``, seals the stream to ``t`` and then emits
   ``("progress", t)``.

Hence, within every incarnation, downstream sees each durable update exactly
once and nothing that is not durable; the last incarnation's downstream sees
the complete stream exactly once. A crash between a durable write and its
emission only moves that update from step 3 to step 1 of the next
incarnation. The stream must not be compacted past data the operator has not
emitted (the operator never calls ``allow_compaction``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa

from persist.columnar import consolidate_updates


def _rows(table: pa.Table) -> list[tuple[bytes, bytes, int, int]]:
    d = table.to_pydict()
    return list(zip(d["key"], d["val"], d["ts"], d["diff"]))


class PersistedStream:
    def __init__(self, stream) -> None:
        self.stream = stream
        self._replayed: Counter = Counter()
        self.resume_from = stream.upper

    def rehydrate(self) -> list[tuple]:
        """Step 1: the events for what is already durable."""
        upper = self.stream.upper
        self.resume_from = upper
        events: list[tuple] = []
        if upper > 0:
            sealed = consolidate_updates(self.stream.read_updates(upper - 1))
            if len(sealed):
                events.append(("data", _rows(sealed)))
        events.append(("progress", upper))
        unsealed = _rows(consolidate_updates(self.stream.unsealed()))
        self._replayed = Counter(unsealed)
        if unsealed:
            events.append(("data", unsealed))
        return events

    def push(self, updates: Iterable[tuple]) -> tuple | None:
        """Step 3: persist ``updates`` (minus re-sent durable ones); return the
        data event to emit, or None when nothing was new."""
        fresh = []
        for u in updates:
            u = tuple(u)
            if self._replayed[u] > 0:
                self._replayed[u] -= 1
                continue
            fresh.append(u)
        if not fresh:
            return None
        self.stream.write(fresh)
        return ("data", fresh)

    def advance(self, t: int) -> tuple | None:
        """Step 4: seal to ``t``; the progress event (None if not forward)."""
        if t <= self.stream.upper:
            return None
        self.stream.seal(t)
        return ("progress", t)


def persisted_stream(stream, source: Callable[[int], Iterable[tuple]]) -> Iterator[tuple]:
    """Run the operator: ``source(resume_from)`` gives the source's events;
    yields the downstream events."""
    op = PersistedStream(stream)
    yield from op.rehydrate()
    for kind, arg in source(op.resume_from):
        if kind == "data":
            ev = op.push(arg)
        elif kind == "progress":
            ev = op.advance(arg)
        else:
            raise ValueError(f"unknown source event kind {kind!r}; expected 'data' or 'progress'")
        if ev is not None:
            yield ev
