"""Jepsen's ``history.edn`` under Knossos's conventions.

The file is either one vector (or list) of operation maps, or one map a line.
Each map has ``:process``, ``:type`` (``:invoke :ok :fail :info``), ``:f``
and usually ``:value``; ``:index`` and ``:time`` are used when every event
has them (otherwise the position in the file is both). A separate ``:key``
(as in Porcupine's kv histories) is folded into the value as Jepsen's
independent-key pair ``[key value]``.

Conventions (Knossos):
- ``:fail``: the operation did not happen.
- ``:info``, or an invoke never completed: indeterminate.
- a read (``:f`` read/get) completing ``:ok`` with ``nil`` (or ``[k nil]``)
  has an unknown result: it constrains nothing.
- ``:process :nemesis`` events are faults, not operations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checker.edn import EdnError, fast_flat_maps, iter_items
from checker.history import TYPES, History, HistoryError, pair

READS = frozenset({"read", "get", "r"})


def _plain(v: Any) -> Any:
    """Keywords and symbols to plain str (they are str subclasses)."""
    return str(v) if isinstance(v, str) and type(v) is not str else v


def events_from_edn(text: str, name: str = "<edn>") -> tuple[list[dict[str, Any]], list[int]]:
    """The events of an EDN history, in the project's event shape, and the
    line each came from."""
    events: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        items = fast_flat_maps(text)
        for line, m in items if items is not None else iter_items(text):
            if not isinstance(m, dict):
                raise HistoryError(f"{name}:{line}: expected an operation map {{:process .., :type .., :f ..}}; got {type(m).__name__}")
            e: dict[str, Any] = {}
            for k, v in m.items():
                e[_plain(k)] = v
            for k in ("process", "type", "f"):
                if k not in e:
                    raise HistoryError(f"{name}:{line}: operation map lacks :{k}; expected :process, :type and :f")
            e["process"] = _plain(e["process"])
            e["type"] = _plain(e["type"])
            e["f"] = _plain(e["f"])
            if e["type"] not in TYPES:
                raise HistoryError(f"{name}:{line}: :type {e['type']!r} is not one of :invoke :ok :fail :info")
            if "key" in e:
                e["value"] = [e.pop("key"), e.get("value")]
            events.append(e)
            lines.append(line)
    except EdnError as ex:
        raise HistoryError(f"{name}:{ex.line}: malformed EDN: {ex.detail}") from None
    if not all("time" in e for e in events):
        for pos, e in enumerate(events):
            e["time"] = pos
    if not all("index" in e for e in events):
        for pos, e in enumerate(events):
            e["index"] = pos
    return events, lines


def history_from_edn(text: str, name: str = "<edn>") -> History:
    events, lines = events_from_edn(text, name)
    h = pair(events, where=lambda pos, e: f"{name}:{lines[pos]}", lines=lines)
    for op in h.ops:
        if op.type == "ok" and op.f in READS:
            r = op.result
            if r is None or (isinstance(r, list) and len(r) == 2 and r[1] is None and isinstance(op.value, list)):
                op.unknown_result = True
    return h


def read_edn_history(path: str | Path) -> History:
    text = Path(path).read_text(encoding="utf-8")
    return history_from_edn(text, str(path))
