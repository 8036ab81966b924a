"""Duplicates: a row with more copies than its writes can produce.

A row ``(key, val, diff)`` of a successful snapshot ``S`` is a
**duplicate** when some update to ``(stream, key, val)`` may be in ``S``
(:mod:`checker.domain.contents`: its write is ``ok`` or ``info``, with
``ts <= as_of``, invoked before ``S`` completed) but ``diff`` is beyond what
all of them together could produce: more than the sum of their positive
diffs (or less than the sum of their negative ones). A row short of a
retraction is a lost write, not a duplicate. With the append workload's unique updates of diff 1 that is
any diff above 1: a write applied twice — replayed from the Wal after it was
drained, a retried indeterminate write committed twice, a batch named twice
in the metadata.

One anomaly per ``(stream, key, val)``: the first snapshot, how many show it,
and the writes that could produce it.
"""

from __future__ import annotations

from checker.domain.append import AppendHistory, paused
from checker.domain.contents import analyse
from checker.domain.report import finish, ops_of
from checker.history import History
from checker.result import Anomaly, Result


class Duplicates:
    name = "duplicates"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        c = analyse(ah)
        found: dict[tuple[str, str, str], list] = {}
        for d in c.discrepancies:
            if not (d.must or d.maybe):
                continue
            writers = d.must + d.maybe
            pos = sum(u.diff for u in writers if u.diff > 0)
            neg = sum(u.diff for u in writers if u.diff < 0)
            if d.observed > pos or d.observed < neg:
                found.setdefault((d.snap.stream, d.key, d.val), []).append(d)
        anomalies = []
        for (stream, key, val), ds in found.items():
            ds.sort(key=lambda d: d.snap.op.index)
            d = ds[0]
            writers = d.must + d.maybe
            ws = ", ".join(f"op {u.op.index} ({u.op.type}, ts {u.ts}, diff {u.diff})" for u in writers[:5])
            bound = f"at most {sum(u.diff for u in writers if u.diff > 0)}" if d.observed > 0 else (
                f"at least {sum(u.diff for u in writers if u.diff < 0)}"
            )
            more = f" (and {len(ds) - 1} later snapshot(s))" if len(ds) > 1 else ""
            anomalies.append(
                Anomaly(
                    "duplicate",
                    f"snapshot op {d.snap.op.index} ({stream} at as_of {d.snap.as_of}) shows row "
                    f"[{key!r}, {val!r}] with diff {d.observed}, but its writes ({ws}) give {bound}: "
                    f"applied more than once{more}",
                    ops_of([d.snap.op.index], [u.op.index for u in writers[:5]]),
                )
            )
        return finish(self.name, ah, anomalies, {"snapshots": c.snapshots, "rows": c.rows})
