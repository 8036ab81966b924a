"""The ``recovery`` checker: after every fault was healed and every worker
restarted, the final reads (operations whose invoke value has
``"final": true``, ``docs/history.md``) must succeed: an engine that cannot
reopen its own data after a crash has lost it, even if no read shows which
write is gone.

In the ``corruption`` category (runs with media faults), once persist has
reported corruption (some operation failed with a ``Corrupt...`` error),
final reads may fail (``fail``, not ``info``): refusing damaged data, and
what can no longer be done without it, is the required behaviour. Pure: a history in, a :class:`Result` out.
"""

from __future__ import annotations

from checker.history import History
from checker.result import Anomaly, Result


class Recovery:
    name = "recovery"

    def __init__(self, category: str | None = None) -> None:
        self.category = category

    def check(self, history: History) -> Result:
        finals = [op for op in history.ops if isinstance(op.value, dict) and op.value.get("final")]
        if not finals:
            return Result(self.name, "unknown", reason="no final reads in the history (the run stopped early?)",
                          category=self.category)
        reported = self.category == "corruption" and any(op.error and "Corrupt" in op.error for op in history.ops)
        bad = []
        for op in finals:
            if op.type == "ok":
                continue
            if reported and op.type == "fail":
                continue  # persist refused damaged data (and what depends on it): required behaviour
            bad.append(op)
        if not bad:
            return Result(self.name, True, stats={"final_reads": len(finals)}, category=self.category)
        anomalies = [Anomaly("not-recovered",
                             f"final {op.f} {op.value} ended {op.type} ({op.error or 'no error given'}) after every "
                             "fault was healed: the engine did not recover its data", [op.index]) for op in bad]
        return Result(self.name, False, anomalies, category=self.category)
