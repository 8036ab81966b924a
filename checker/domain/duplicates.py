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

One anomaly per write whose rows are doubled (a replayed write doubles all
its rows): the first snapshot and row, the writes that could produce it, and
how many rows and snapshots are affected.
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
        # per write (the first that could produce the row): its doubled rows
        found: dict[int, list] = {}
        for d in c.discrepancies:
            if not (d.must or d.maybe):
                continue
            writers = d.must + d.maybe
            pos = sum(u.diff for u in writers if u.diff > 0)
            neg = sum(u.diff for u in writers if u.diff < 0)
            if d.observed > pos or d.observed < neg:
                found.setdefault(min(u.op.index for u in writers), []).append((d, pos, neg))
        anomalies = []
        for _w, ds in found.items():
            ds.sort(key=lambda x: x[0].snap.op.index)
            d, pos, neg = ds[0]
            writers = d.must + d.maybe
            ws = ", ".join(f"op {u.op.index} ({u.op.type}, ts {u.ts}, diff {u.diff})" for u in writers[:5])
            bound = f"at most {pos}" if d.observed > pos else f"at least {neg}"
            rows = {(x.snap.stream, x.key, x.val) for x, _p, _n in ds}
            snaps = {x.snap.op.index for x, _p, _n in ds}
            more = ""
            if len(rows) > 1 or len(snaps) > 1:
                more = f" ({len(rows)} row(s) of this write doubled, in {len(snaps)} snapshot(s))"
            anomalies.append(
                Anomaly(
                    "duplicate",
                    f"snapshot op {d.snap.op.index} ({d.snap.stream} at as_of {d.snap.as_of}) shows row "
                    f"[{d.key!r}, {d.val!r}] with diff {d.observed}, but its writes ({ws}) give {bound}: "
                    f"applied more than once{more}",
                    ops_of([d.snap.op.index], [u.op.index for u in writers[:5]]),
                )
            )
        return finish(self.name, ah, anomalies, {"snapshots": c.snapshots, "rows": c.rows})
