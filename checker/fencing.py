"""No ``FencedError`` where there is one writer.

A writer is fenced only when another writer, with another Wal directory,
took the location over (``docs/semantics.md``, Fencing and takeover). The
``append``, ``rehydrate`` and ``upsert`` workloads have one writer process
per location, restarted on the same Wal after a crash, and nothing in them
opens the location with another Wal: so any operation that failed (or
ended indeterminate) with a ``FencedError`` is an engine bug, even when a
later restart made the writer work again and every read looks right (the
fenced writer refused everything; the set checks only see fewer
acknowledged writes). ``multi-writer`` fences on purpose and does not use
this checker.

One anomaly per client process that was fenced, naming its first fenced
operation and counting all of them. Linear in the history.
"""

from __future__ import annotations

from checker.domain.report import finish
from checker.history import History
from checker.result import Anomaly, Result

#: the workloads with one writer per location (this checker is part of theirs)
SINGLE_WRITER = ("append", "rehydrate", "upsert")


class NoFencing:
    name = "no-fencing"

    def check(self, history: History) -> Result:
        first: dict[object, tuple[int, int, str]] = {}  # process -> (first op index, count, error)
        total = 0
        for op in history.ops:
            if op.type in ("fail", "info") and op.error and "FencedError" in op.error:
                total += 1
                i, n, err = first.get(op.process, (op.index, 0, op.error))
                first[op.process] = (i, n + 1, err)
        anomalies = [
            Anomaly("fenced-single-writer",
                    f"op {i} (process {p}) failed with {err!r}{f' and {n - 1} more of its operations too' if n > 1 else ''}: "
                    f"this workload has one writer, which nobody took over, so it must never be fenced",
                    [i])
            for p, (i, n, err) in first.items()
        ]
        return finish(self.name, history, anomalies, {"fenced_operations": total})
