"""The append workload's history, parsed once for all domain checkers.

Shapes read (``docs/history.md``, "Values for persist workloads"):

==============  ==========================================  =====================================
``f``           invoke ``value``                            ok ``value``
==============  ==========================================  =====================================
``write``       ``{"writes": {stream: [[k, v, ts, diff]]}}``  same
``seal``        ``{"stream", "ts"}``                        same + ``upper``, ``since`` after the call
``compact``     ``{"stream", "since"}``                     same + ``upper``, ``since`` after the call
``snapshot``    ``{"stream", "as_of"}`` (``"final": true``)  ``{.., "upper", "since", "rows": [[k, v, diff]]}``
``frontiers``   ``{"stream"}``                              ``{"stream", "upper", "since"}``
==============  ==========================================  =====================================

Other ``f`` (``listen``, ``drain``, ``merge``, ``gc``, ...) are ignored here
(:mod:`.listen` reads listens itself). A write of several streams is one
atomic ``write_multi``. Updates are grouped by ``(stream, key, val)``: the
append workload writes each such triple once with diff 1, which makes a row
of a snapshot name the write behind it; the checkers stay sound (never a
false positive) when a triple is written more than once or with other diffs,
they only get less precise.

An operation's *arguments* are its invoke value, its *result* the ok value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from checker.formats.rows_delta import DeltaRows
from checker.history import History, HistoryError, Op, gc_paused

GroupKey = tuple[str, str, str]  # (stream, key, val)


@dataclass(slots=True)
class Update:
    """One update ``(key, val, ts, diff)`` of a write operation ``op``."""

    ts: int
    diff: int
    op: Op


@dataclass(slots=True)
class Snap:
    """A successful snapshot: its stream, ``as_of`` and what it returned.
    ``upper``/``since`` were read just before the snapshot (None if absent).
    ``lower`` (not None for what a listen delivered, :mod:`.listen`): only
    updates with ``lower < ts <= as_of`` belong in ``rows``."""

    op: Op
    stream: str
    as_of: int
    rows: Sequence[Any]  # a list, or the read's delta (DeltaRows: materialise only when needed)
    upper: int | None
    since: int | None
    final: bool
    lower: int | None = None


@dataclass
class AppendHistory:
    history: History
    groups: dict[GroupKey, list[Update]] = field(default_factory=dict)
    snapshots: list[Snap] = field(default_factory=list)
    writes: list[Op] = field(default_factory=list)  # every write op, whatever its outcome
    ok_writes: int = 0
    corruption: bool = False  # the run had media-corruption faults (nemesis f "corrupt")

    @staticmethod
    def of(history: History) -> AppendHistory:
        """Parse ``history``. Inside :func:`shared` (as
        :func:`checker.workloads.check_workload` runs the checkers) the parse
        is done once and shared; outside it every call parses afresh, so a
        History changed in place is never judged from a stale parse."""
        entry = _shared.get(id(history))
        if entry is None or entry[0] is not history:
            return parse(history)
        if entry[1] is None:
            entry[1] = parse(history)
        return entry[1]


_shared: dict[int, list[Any]] = {}


@contextmanager
def shared(history: History) -> Iterator[None]:
    """Let the checkers run inside this block share one parse of ``history``
    (and one comparison of its snapshots with the model); dropped on exit."""
    key = id(history)
    outer = key in _shared
    if not outer:
        _shared[key] = [history, None]
    try:
        yield
    finally:
        if not outer:
            _shared.pop(key, None)


def _shape(op: Op, what: str) -> HistoryError:
    return HistoryError(f"op {op.index} ({op.f}): {what}; see docs/history.md, 'Values for persist workloads'")


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def paused(check: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run a checker's ``check`` with the GC paused (see
    :func:`gc_paused`); otherwise the collection deferred by an earlier
    pause lands on whichever check allocates next."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        with gc_paused():
            return check(*args, **kwargs)

    return run


def parse(history: History) -> AppendHistory:
    with gc_paused():
        return _parse(history)


def _parse(history: History) -> AppendHistory:
    ah = AppendHistory(history)
    ah.corruption = any(e.get("f") == "corrupt" for e in history.nemesis)
    groups = ah.groups
    for op in history.ops:
        f = op.f
        if f == "write":
            ah.writes.append(op)
            if op.ok:
                ah.ok_writes += 1
            v = op.value
            w = v.get("writes") if isinstance(v, dict) else None
            if not isinstance(w, dict):
                raise _shape(op, 'expected value {"writes": {stream: [[key, val, ts, diff], ...]}}')
            for stream, ups in w.items():
                for u in ups:
                    try:
                        k, val, ts, diff = u
                    except (TypeError, ValueError):
                        raise _shape(op, f"expected an update [key, val, ts, diff], got {u!r}") from None
                    if ts.__class__ is not int or diff.__class__ is not int:
                        raise _shape(op, f"expected an update [key, val, ts, diff] with integer ts and diff, got {u!r}")
                    g = (stream, k, val)
                    lst = groups.get(g)
                    if lst is None:
                        groups[g] = [Update(ts, diff, op)]
                    else:
                        lst.append(Update(ts, diff, op))
        elif f == "snapshot" and op.ok:
            r = op.result if isinstance(op.result, dict) else {}
            a = op.value if isinstance(op.value, dict) else {}
            stream = r.get("stream", a.get("stream"))
            as_of = _int(r.get("as_of", a.get("as_of")))
            rows = r.get("rows")
            if stream is None or as_of is None or not isinstance(rows, (list, DeltaRows)):
                raise _shape(op, 'expected an ok value {"stream", "as_of", "upper", "since", "rows": [[key, val, diff], ...]}')
            ah.snapshots.append(
                Snap(op, stream, as_of, rows, _int(r.get("upper")), _int(r.get("since")), bool(a.get("final") or r.get("final")))
            )
    return ah
