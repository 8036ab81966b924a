"""Phantom updates: a row that nobody could have written.

A row ``(key, val, diff)`` with ``diff != 0`` in a successful snapshot ``S``
of stream ``s`` at ``as_of`` is a **phantom** when no update to
``(s, key, val)`` may be in ``S`` (:mod:`checker.domain.contents`): there is
none at all, or every one is excluded — its write failed (``fail`` means it
certainly did not happen), its ``ts > as_of``, or its write was invoked
after ``S`` completed. Updates of ``ok`` and ``info`` writes with
``ts <= as_of`` invoked before ``S`` completed may be in it, so their rows
are never phantoms (a row seen with too large a diff is a duplicate).

One anomaly per phantom ``(stream, key, val)``: the first snapshot showing
it, how many do, and the writes that were excluded and why.
"""

from __future__ import annotations

from checker.domain.append import AppendHistory, paused
from checker.domain.contents import AFTER, FAILED, LATER, analyse
from checker.domain.report import finish, ops_of
from checker.history import History
from checker.result import Anomaly, Result

_WHY = {FAILED: "failed", LATER: "has a later ts", AFTER: "was invoked after the snapshot completed"}


class Phantoms:
    name = "phantoms"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        c = analyse(ah)
        found: dict[tuple[str, str, str], list] = {}
        for d in c.discrepancies:
            if d.observed == 0 or d.must or d.maybe:
                continue
            g = (d.snap.stream, d.key, d.val)
            found.setdefault(g, []).append(d)
        anomalies = []
        for (stream, key, val), ds in found.items():
            ds.sort(key=lambda d: d.snap.op.index)
            d = ds[0]
            if d.excluded:
                why = "; ".join(f"op {u.op.index} (ts {u.ts}) {_WHY[w]}" for u, w in d.excluded[:5])
                whose = f"whose writes cannot be in it: {why}"
            else:
                whose = "that no operation wrote"
            more = f" (and {len(ds) - 1} later snapshot(s))" if len(ds) > 1 else ""
            anomalies.append(
                Anomaly(
                    "phantom",
                    f"snapshot op {d.snap.op.index} ({stream} at as_of {d.snap.as_of}) shows row "
                    f"[{key!r}, {val!r}, {d.observed}] {whose}{more}",
                    ops_of([d.snap.op.index], [u.op.index for u, _w in d.excluded[:5]]),
                )
            )
        return finish(self.name, ah, anomalies, {"snapshots": c.snapshots, "rows": c.rows})
