"""Snapshots equal the model replayed at their ``as_of``.

For every successful snapshot ``S`` and every ``(key, val)``, the diff ``S``
shows must lie in ``[lo, hi]`` computed from the updates that must / may /
cannot be in ``S`` (the model and its justification are in
:mod:`checker.domain.contents`: acknowledged writes with ``ts <= as_of``
must be there even when concurrent with ``S``, because a successful read at
``as_of`` reads sealed, final data; failed writes must not; indeterminate
ones may; writes invoked after ``S`` completed cannot). The rows must also
keep the format contract: sorted by ``(key, val)``, consolidated (each
``(key, val)`` once, no zero diff).

This is the complete comparison; the lost-writes, phantoms and duplicates
checkers report named parts of it. One anomaly per snapshot that differs,
showing up to three of its differing rows.
"""

from __future__ import annotations

from checker.domain.append import AppendHistory, paused
from checker.domain.contents import Discrepancy, analyse
from checker.domain.report import finish, ops_of
from checker.history import History
from checker.result import Anomaly, Result


def _row(d: Discrepancy) -> str:
    want = str(d.lo) if d.lo == d.hi else f"{d.lo}..{d.hi}"
    why = ""
    if d.must:
        why = " (acknowledged: " + ", ".join(f"op {u.op.index}" for u in d.must[:3]) + ")"
        if d.observed < d.lo and any(u.op.ret is not None and u.op.ret >= d.snap.op.call for u in d.must):
            why += (
                " — concurrent with the snapshot, but a successful read at as_of < upper sees final data,"
                " so an acknowledged write at ts <= as_of must be in it"
            )
    elif d.maybe:
        why = " (indeterminate: " + ", ".join(f"op {u.op.index}" for u in d.maybe[:3]) + ")"
    return f"[{d.key!r}, {d.val!r}] has diff {d.observed}, the model {want}{why}"


class SnapshotModel:
    name = "snapshot-model"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        c = analyse(ah)
        per: dict[int, list[Discrepancy]] = {}
        for d in c.discrepancies:
            per.setdefault(d.snap.op.index, []).append(d)
        anomalies = []
        for _i, ds in per.items():
            s = ds[0].snap
            rows = "; ".join(_row(d) for d in ds[:3])
            more = f" (+{len(ds) - 3} more rows)" if len(ds) > 3 else ""
            anomalies.append(
                Anomaly(
                    "snapshot-mismatch",
                    f"snapshot op {s.op.index} ({s.stream} at as_of {s.as_of}) differs from the model replayed "
                    f"at as_of {s.as_of} in {len(ds)} row(s): {rows}{more}",
                    ops_of([s.op.index], [u.op.index for d in ds[:3] for u in (d.must + d.maybe)[:3]]),
                )
            )
        for ri in c.row_issues:
            anomalies.append(
                Anomaly(
                    "snapshot-format",
                    f"snapshot op {ri.snap.op.index} ({ri.snap.stream} at as_of {ri.snap.as_of}): {ri.message}",
                    [ri.snap.op.index],
                )
            )
        stats = {"snapshots": c.snapshots, "rows": c.rows, "groups": len(ah.groups)}
        reason = None
        if c.truncated:
            stats["truncated"] = True
            reason = "scan budget exhausted: some snapshots were not searched for missing rows"
        elif not ah.snapshots and ah.ok_writes:
            reason = "acknowledged writes but no successful snapshot"
        return finish(self.name, ah, anomalies, stats, reason)
