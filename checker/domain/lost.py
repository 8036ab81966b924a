"""Lost acknowledged writes (Jepsen's set-full "lost").

An update ``u = (key, val, ts, diff)`` of an ``ok`` write ``w`` on stream
``s`` is **lost** when a successful snapshot ``S`` of ``s`` with
``u.ts <= S.as_of``, invoked after ``w`` completed (``ret(w) < call(S)``:
intervals are closed, so touching ones are concurrent and do not count),
shows ``(key, val)`` with a smaller diff than the model's least possible
value (:mod:`checker.domain.contents`) — for the append workload: the row is
absent. (Symmetrically, an acknowledged retraction, ``diff < 0``, is lost
when the row shows more than the model's greatest possible value.) Final snapshots (``"final": true``) are ordinary snapshots here; a
write lost at a crash shows as missing from them.

One anomaly per write that lost updates (the write is the unit of
acknowledgement): it names the write and the first snapshot that misses any
of them (and the last one, if different, e.g. the final read), lists the
missing updates and says how many snapshots miss them. A write concurrent with a snapshot that misses it
is reported by the snapshot-model checker, not here.

Unknown when there are acknowledged writes but no successful snapshot
invoked after any of them covers its ``ts`` (nothing was checked).
"""

from __future__ import annotations

import bisect

from checker.domain.append import AppendHistory, Snap, Update, gc_paused, paused
from checker.domain.contents import analyse
from checker.domain.report import finish
from checker.history import History, Op
from checker.result import Anomaly, Result


class LostWrites:
    name = "lost-writes"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        c = analyse(ah)
        # per lost write: its missing updates and the snapshots missing them
        lost: dict[int, tuple[Op, dict[tuple[str, str, str, int], Update], dict[int, Snap]]] = {}
        for d in c.discrepancies:
            if d.lo <= d.observed <= d.hi:
                continue
            # too little: an addition is missing; too much: a retraction is
            sign = 1 if d.observed < d.lo else -1
            call = d.snap.op.call
            for u in d.must:
                if u.diff * sign > 0 and u.op.ret is not None and u.op.ret < call:
                    e = lost.get(u.op.index)
                    if e is None:
                        e = lost[u.op.index] = (u.op, {}, {})
                    e[1][(d.snap.stream, d.key, d.val, u.ts)] = u
                    e[2][d.snap.op.index] = d.snap
        anomalies = []
        for op, ups, snaps_by in lost.values():
            snaps = sorted(snaps_by.values(), key=lambda s: s.op.index)
            first, last = snaps[0], snaps[-1]
            ops = [op.index, first.op.index] + ([last.op.index] if last is not first else [])
            finals = [s for s in snaps if s.final]
            more = f" and from {len(snaps) - 1} later snapshot(s)" if len(snaps) > 1 else ""
            fin = f", including the final read op {finals[-1].op.index}" if finals else ""
            items = list(ups.items())
            what = ", ".join(f"[{k!r}, {v!r}] ts {ts} diff {u.diff} on {s}" for (s, k, v, ts), u in items[:3])
            if len(items) > 3:
                what += f" and {len(items) - 3} more"
            n = f"{len(items)} update(s)" if len(items) > 1 else "update"
            anomalies.append(
                Anomaly(
                    "lost-write",
                    f"acknowledged write op {op.index} lost {n} ({what}): missing from snapshot op {first.op.index} "
                    f"({first.stream} at as_of {first.as_of}, invoked after the write completed){more}{fin}",
                    ops,
                )
            )
        with gc_paused():
            covered, total = _coverage(ah)
        stats = {"acknowledged_updates": total, "checked_updates": covered, "snapshots": len(ah.snapshots)}
        if c.truncated:
            stats["truncated"] = True
        reason = None
        if total and not covered:
            reason = "no successful snapshot invoked after an acknowledged write covers its ts"
        elif c.truncated:
            reason = "scan budget exhausted: some snapshots were not searched for missing rows"
        return finish(self.name, ah, anomalies, stats, reason)


def _coverage(ah: AppendHistory) -> tuple[int, int]:
    """(acknowledged updates that some snapshot invoked after their write
    completed covers, all acknowledged updates)."""
    per: dict[str, tuple[list[int], list[int]]] = {}
    by_stream: dict[str, list] = {}
    for s in ah.snapshots:
        by_stream.setdefault(s.stream, []).append(s)
    for stream, snaps in by_stream.items():
        snaps.sort(key=lambda s: s.op.call)
        calls = [s.op.call for s in snaps]
        suffix = [0] * len(snaps)
        m = -1
        for i in range(len(snaps) - 1, -1, -1):
            m = max(m, snaps[i].as_of)
            suffix[i] = m
        per[stream] = (calls, suffix)
    covered = total = 0
    for (stream, _k, _v), ups in ah.groups.items():
        p = per.get(stream)
        for u in ups:
            if u.op.type != "ok":
                continue
            total += 1
            if p is None:
                continue
            i = bisect.bisect_right(p[0], u.op.ret)
            if i < len(p[1]) and p[1][i] >= u.ts:
                covered += 1
    return covered, total
