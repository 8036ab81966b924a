"""The ``recovery`` checker: after every fault was healed and every worker
restarted, the final reads (operations whose invoke value has
``"final": true``, ``docs/history.md``) must succeed: an engine that cannot
reopen its own data after a crash has lost it, even if no read shows which
write is gone.

In the ``corruption`` category (runs with media faults) a final read that
fails with a corruption error is allowed: refusing damaged data is the
required behaviour. Pure: a history in, a :class:`Result` out.
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
        bad = []
        for op in finals:
            if op.type == "ok":
                continue
            if self.category == "corruption" and op.error and "Corrupt" in op.error:
                continue
            bad.append(op)
        if not bad:
            return Result(self.name, True, stats={"final_reads": len(finals)}, category=self.category)
        anomalies = [Anomaly("not-recovered",
                             f"final {op.f} {op.value} ended {op.type} ({op.error or 'no error given'}) after every "
                             "fault was healed: the engine did not recover its data", [op.index]) for op in bad]
        return Result(self.name, False, anomalies, category=self.category)
