"""Tiny builder of hand-written histories for checker unit tests."""

from __future__ import annotations

from typing import Any

from checker.history import History, pair


class H:
    """``h.op(process, f, invoke_value, type, result, t0, t1)`` appends an
    invoke at ``t0`` and its completion at ``t1`` (none for type None);
    events are sorted by time when built."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0

    def _add(self, t: int, e: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append((t, self.seq, e))

    def op(self, p, f, value, type_="ok", result=None, t0=0, t1=1, error=None) -> "H":
        self._add(t0, {"time": t0, "process": p, "type": "invoke", "f": f, "value": value})
        if type_ is not None:
            out = result if type_ == "ok" else value
            self._add(t1, {"time": t1, "process": p, "type": type_, "f": f, "value": out,
                           **({"error": error} if error else {})})
        return self

    def nemesis(self, f, value, t) -> "H":
        self._add(t, {"time": t, "process": "nemesis", "type": "info", "f": f, "value": value})
        return self

    def harness(self, f, value, t) -> "H":
        self._add(t, {"time": t, "process": "harness", "type": "info", "f": f, "value": value})
        return self

    def build(self) -> History:
        evs = [dict(e, index=i) for i, (_, _, e) in enumerate(sorted(self.events, key=lambda x: (x[0], x[1])))]
        return pair(evs)
