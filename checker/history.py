"""Histories: events as recorded, and operations paired from them.

An *event* is one line of a history (``docs/history.md``): ``index``,
``time``, ``process``, ``type`` (invoke/ok/fail/info), ``f``, ``value``.
An :class:`Op` pairs an ``invoke`` with the next event of the same process:
its completion. ``[call, ret]`` is a closed interval; an operation whose
completion is ``info`` or missing is *indeterminate*: it may have taken effect
at any point after ``call``, or never, so its ``ret`` is ``None`` (infinity).

Nemesis events (``process == "nemesis"``) are not operations; they are kept in
``History.nemesis`` in order. Harness events (``process == "harness"``: what
the harness itself observed of the system, e.g. the ``fsck`` of the location
after the run) are not operations either; they are kept in ``History.harness``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from checker.errors import HistoryError  # re-exported
from checker.record import Record

TYPES = ("invoke", "ok", "fail", "info")


class Op(Record):
    """One operation: an invoke paired with its completion."""

    __slots__ = ("index", "process", "f", "value", "type", "call", "ret", "result", "ret_index", "error", "unknown_result")

    def __init__(
        self,
        index: int,  # index of the invoke event: the operation's name in reports
        process: Any,
        f: str,
        value: Any,  # the invoke's argument
        type: str,  # "ok", "fail" or "info" (a missing completion is "info")
        call: int,  # invoke time
        ret: int | None,  # completion time; None when indeterminate
        result: Any = None,  # the ok completion's value
        ret_index: int | None = None,
        error: str | None = None,
        unknown_result: bool = False,
    ):
        self.index, self.process, self.f, self.value, self.type = index, process, f, value, type
        self.call, self.ret, self.result, self.ret_index, self.error = call, ret, result, ret_index, error
        #: an ``ok`` operation whose result is unknown (Knossos: a read that
        #: completed with ``nil``; the etcd logs: a read that timed out). It
        #: took effect within ``[call, ret]`` but its result constrains nothing.
        self.unknown_result = unknown_result

    @property
    def ok(self) -> bool:
        return self.type == "ok"

    @property
    def indeterminate(self) -> bool:
        return self.type == "info"

    def describe(self) -> str:
        return f"op {self.index} (process {self.process}, {self.f} {json.dumps(self.value, default=str)[:120]} -> {self.type})"


class History(Record):
    """The operations of a history, in invoke order, and the events that are
    not operations. ``lines`` maps an op's ``index`` to the line of the
    input file its invoke came from (for readers that know it)."""

    __slots__ = ("ops", "nemesis", "harness", "events", "lines")

    def __init__(
        self,
        ops: list[Op] | None = None,
        nemesis: list[dict[str, Any]] | None = None,
        harness: list[dict[str, Any]] | None = None,
        events: int = 0,  # number of events read
        lines: dict[Any, int] | None = None,
    ):
        self.ops = [] if ops is None else ops
        self.nemesis = [] if nemesis is None else nemesis
        self.harness = [] if harness is None else harness
        self.events = events
        self.lines = {} if lines is None else lines

    def by_index(self) -> dict[int, Op]:
        return {op.index: op for op in self.ops}

    def nemesis_faults(self) -> set[str]:
        return {e.get("f") for e in self.nemesis}


def check_event(e: Any, where: str) -> dict[str, Any]:
    if not isinstance(e, dict):
        raise HistoryError(f"{where}: expected a JSON object with index, time, process, type, f; got {type(e).__name__}")
    for k in ("process", "type", "f"):
        if k not in e:
            raise HistoryError(f"{where}: missing field {k!r} (expected index, time, process, type, f, value)")
    if e["type"] not in TYPES:
        raise HistoryError(f"{where}: type {e['type']!r} is not one of {', '.join(TYPES)}")
    return e


def pair(events: Iterable[dict[str, Any]], where: Callable[[int, dict[str, Any]], str] | None = None, lines: list[int] | None = None) -> History:
    """Pair invokes with completions per process (Jepsen's rule: a process
    has at most one operation outstanding).

    Events without ``index`` get their position; without ``time`` their
    position too (so real-time order is the file order). A completion with no
    invoke, or a second invoke while one is outstanding, is a HistoryError;
    ``where(position, event)`` names the event in that error (by default
    ``"event <index>"``; readers of other formats pass one naming the line).
    ``lines``, if given, holds the input line of each event (by position,
    filled as events are read); ``History.lines`` then maps each op's index
    to the line of its invoke.
    """
    h = History()
    open_: dict[Any, Op] = {}
    for pos, e in enumerate(events):
        h.events += 1
        idx = e.get("index", pos)
        t = e.get("time", pos)
        p = e["process"]
        if p == "nemesis":
            h.nemesis.append(e)
            continue
        if p == "harness":
            h.harness.append(e)
            continue
        kind = e["type"]
        if kind == "invoke":
            if p in open_:
                prev = open_[p]
                raise HistoryError(
                    f"{where(pos, e) if where else f'event {idx}'}: process {p} invokes {e['f']!r} while op {prev.index} ({prev.f}) is still outstanding"
                )
            op = Op(idx, p, e["f"], e.get("value"), "info", t, None)
            if lines is not None:
                h.lines[idx] = lines[pos]
            open_[p] = op
            h.ops.append(op)
        else:
            op = open_.pop(p, None)
            if op is None:
                raise HistoryError(f"{where(pos, e) if where else f'event {idx}'}: process {p} completes {e['f']!r} ({kind}) with no invoke before it")
            op.type = kind
            op.ret_index = idx
            op.error = e.get("error")
            if kind == "info":
                op.ret = None
            else:
                op.ret = t
                if kind == "ok":
                    r = e.get("value")
                    # a result equal to the argument (a write's) is the argument's
                    # object: half the memory of a loaded history of writes
                    op.result = op.value if r.__class__ is dict and r == op.value else r
    return h


def iter_jsonl(path: Path, lines: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The events of a JSON Lines history; ``lines``, if given, receives the
    line number of each event yielded (before it is yielded).

    A last line that has no newline and does not parse is a torn tail (the
    recorder died while writing it: a run that stopped half-way) and is left
    out: it holds no complete event. Any other line that does not parse is a
    HistoryError naming it.

    Reads recorded as a delta (``rows_delta``, :mod:`checker.formats.rows_delta`)
    are yielded with their ``rows`` put back, as a
    :class:`~checker.formats.rows_delta.DeltaRows` (the delta, kept lazily;
    a sequence equal to the whole rows); every delta is checked against its
    base by the time the last event is yielded."""
    from checker.formats.rows_delta import Decoder

    decoder = Decoder()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if lines is not None:
                lines.append(lineno)
            try:
                e = json.loads(line)
            except json.JSONDecodeError as ex:
                if not line.endswith("\n") and not fh.read(1):  # the torn last line of a run that died
                    if lines is not None:
                        lines.pop()
                    break
                raise HistoryError(f"{path}:{lineno}: not JSON ({ex.msg} at column {ex.colno}); expected one event object per line") from None
            yield decoder.decode(check_event(e, f"{path}:{lineno}"), f"{path}:{lineno}")
    decoder.finish()


def read_jsonl(path: str | Path) -> History:
    """Read the project's own history format (``docs/history.md``); errors
    name ``path:line``. The cyclic GC is paused meanwhile (it would rescan
    the growing history again and again: a third of the load's time)."""
    lines: list[int] = []
    with gc_paused():
        return pair(iter_jsonl(Path(path), lines), where=lambda pos, e: f"{path}:{lines[pos]}", lines=lines)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic
    structures (it would rescan the whole history again and again: a third
    of the parse time at 100k operations); restores the previous state."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
