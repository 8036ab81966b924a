"""Turning a domain checker's findings into a :class:`Result`.

Rules shared by every domain checker:

* ``valid`` is False iff at least one anomaly was found; otherwise
  ``"unknown"`` when the checker had nothing to judge (``unknown_reason``),
  else True.
* At most ``MAX_ANOMALIES`` anomalies are kept, in history order of their
  first operation; ``stats["anomalies"]`` counts all of them.
* A run with media-corruption faults (a nemesis event with ``f ==
  "corrupt"``) is judged in its own category, ``Result.category ==
  "corruption"``: operations that failed with a corruption error are
  determinate failures like any other (fine), wrong data is not.
"""

from __future__ import annotations

from typing import Any

from checker.domain.append import AppendHistory
from checker.history import History
from checker.result import UNKNOWN, Anomaly, Result

MAX_ANOMALIES = 100
CORRUPTION = "corruption"


def corruption_run(history: History) -> bool:
    """The run had media-corruption faults (a nemesis event ``f == "corrupt"``)."""
    return any(e.get("f") == "corrupt" for e in history.nemesis)


def finish(
    name: str,
    ah: AppendHistory | History,
    anomalies: list[Anomaly],
    stats: dict[str, Any] | None = None,
    unknown_reason: str | None = None,
) -> Result:
    stats = dict(stats or {})
    stats["anomalies"] = len(anomalies)
    anomalies = sorted(anomalies, key=lambda a: (a.ops[0] if a.ops else -1))[:MAX_ANOMALIES]
    if anomalies:
        valid: Any = False
        reason = None
    elif unknown_reason:
        valid, reason = UNKNOWN, unknown_reason
    else:
        valid, reason = True, None
    corrupt = ah.corruption if isinstance(ah, AppendHistory) else corruption_run(ah)
    return Result(name, valid, anomalies, reason=reason, stats=stats, category=CORRUPTION if corrupt else None)


def ops_of(*groups: Any) -> list[int]:
    """Unique invoke indices, first-seen order."""
    out: list[int] = []
    seen: set[int] = set()
    for g in groups:
        for i in g:
            if i not in seen:
                seen.add(i)
                out.append(i)
    return out
