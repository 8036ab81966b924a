"""Verdicts.

A :class:`Result` is what every checker returns: ``valid`` is ``True``,
``False`` or ``"unknown"`` (the checker gave up: time limit, search-space
limit, or no evidence either way, e.g. an empty history). An invalid result
carries at least one :class:`Anomaly` naming the operations involved (by the
``index`` of their invoke event) and saying in a sentence what went wrong; an
unknown one says why in ``reason``.
"""

from __future__ import annotations

from typing import Any, Literal

from checker.record import Record

Valid = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"


class Anomaly(Record):
    __slots__ = ("kind", "message", "ops")

    def __init__(self, kind: str, message: str, ops: list[int] | None = None):
        self.kind = kind  # short machine-readable name, e.g. "lost-write"
        self.message = message  # one sentence for a human
        self.ops = [] if ops is None else ops  # invoke indices of the operations involved

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "ops": self.ops}


class Result(Record):
    __slots__ = ("checker", "valid", "anomalies", "reason", "stats", "category", "__dict__")

    def __init__(
        self,
        checker: str,
        valid: Valid,
        anomalies: list[Anomaly] | None = None,
        reason: str | None = None,  # why unknown (or a short summary)
        stats: dict[str, Any] | None = None,
        category: str | None = None,  # e.g. "corruption" for runs with media faults
    ):
        self.checker, self.valid, self.reason, self.category = checker, valid, reason, category
        self.anomalies = [] if anomalies is None else anomalies
        self.stats = {} if stats is None else stats

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"checker": self.checker, "valid": self.valid}
        if self.anomalies:
            d["anomalies"] = [a.to_json() for a in self.anomalies]
        if self.reason:
            d["reason"] = self.reason
        if self.stats:
            d["stats"] = self.stats
        if self.category:
            d["category"] = self.category
        return d

    def summary(self) -> str:
        if self.valid is True:
            return f"{self.checker}: valid"
        if self.valid == UNKNOWN:
            return f"{self.checker}: unknown ({self.reason or 'no reason given'})"
        first = self.anomalies[0].message if self.anomalies else (self.reason or "")
        more = f" (+{len(self.anomalies) - 1} more)" if len(self.anomalies) > 1 else ""
        return f"{self.checker}: INVALID: {first}{more}"


def combine(valids: list[Valid]) -> Valid:
    """False if any is False; else unknown if any is unknown; else True.
    An empty list is unknown (no checker said anything)."""
    if not valids:
        return UNKNOWN
    if any(v is False for v in valids):
        return False
    if any(v == UNKNOWN for v in valids):
        return UNKNOWN
    return True


def exit_code(valid: Valid) -> int:
    """Jepsen's convention: 0 valid, 1 invalid, 2 unknown."""
    return 0 if valid is True else 1 if valid is False else 2
