"""The Jepsen log-line format of the etcd histories (Porcupine's test data).

Each line::

    INFO  jepsen.util - <process>  :<invoke|ok|fail|info>  :<f>  <value>

with tabs or spaces between fields; ``<value>`` is an EDN form (``nil``, an
int, ``[from to]``, ``:timed-out``). Real-time order is the line order.

Conventions (as ``../shared/data/jepsen-histories/README.md`` states them,
which differ from Knossos's):
- ``nil`` is a value: the register is absent.
- ``:ok :cas`` succeeded: result ``True``. ``:fail :cas [a b]`` *ran* and
  found a value other than ``a``: it becomes an ``ok`` op with result
  ``False`` (it constrains the state).
- ``:fail :read`` (``:timed-out``): a read that happened within its interval
  with an unknown result (``ok`` with ``unknown_result``).
- ``:info``, or an invoke never completed: indeterminate.
"""

from __future__ import annotations

import re
from pathlib import Path

from checker.edn import EdnError, loads
from checker.formats.jepsen_edn import _plain
from checker.history import History, HistoryError, pair

_INT = re.compile(r"-?\d+\Z")
_PAIR = re.compile(r"\[\s*(-?\d+|nil)\s+(-?\d+|nil)\s*\]\Z")
_LINE = re.compile(r"^\s*(?:\S+\s+)?jepsen\.util\s+-\s+(\S+)\s+:(\S+)\s+:(\S+)(?:\s+(.*?))?\s*$")
EXPECTED = "expected 'INFO jepsen.util - <process> :<invoke|ok|fail|info> :<f> <value>'"


def _value(s: str | None) -> object:
    """The value field: the shapes the etcd logs hold without the general
    EDN reader (nil, ints, [a b]), anything else through it."""
    if not s or s == "nil":
        return None
    if _INT.match(s):
        return int(s)
    m = _PAIR.match(s)
    if m:
        return [None if x == "nil" else int(x) for x in m.groups()]
    return _plain(loads(s))


def history_from_log(text: str, name: str = "<log>") -> History:
    events = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _LINE.match(raw)
        if not m:
            raise HistoryError(f"{name}:{lineno}: not an operation line; {EXPECTED}")
        proc_s, kind, f, val_s = m.groups()
        try:
            proc = int(proc_s)
        except ValueError:
            proc = proc_s
        if kind not in ("invoke", "ok", "fail", "info"):
            raise HistoryError(f"{name}:{lineno}: type :{kind} is not one of :invoke :ok :fail :info")
        try:
            value = _value(val_s)
        except EdnError as ex:
            raise HistoryError(f"{name}:{lineno}: value {val_s!r} is not EDN ({ex.detail}); {EXPECTED}") from None
        pos = len(events)
        events.append({"index": pos, "time": pos, "process": proc, "type": kind, "f": f, "value": value})
        lines.append(lineno)
    h = pair(events, where=lambda pos, e: f"{name}:{lines[pos]}", lines=lines)
    for op in h.ops:
        if op.f == "cas":
            if op.type == "ok":
                op.result = True
            elif op.type == "fail":
                op.type, op.result = "ok", False
        elif op.f == "read" and op.type == "fail":
            op.type, op.unknown_result = "ok", True
    return h


def read_log_history(path: str | Path) -> History:
    return history_from_log(Path(path).read_text(encoding="utf-8"), str(path))
