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

One anomaly per lost update: it names the write and the first snapshot that
misses it (and the last one, if different, e.g. the final read), and says
how many snapshots miss it. A write concurrent with a snapshot that misses it
is reported by the snapshot-model checker, not here.

Unknown when there are acknowledged writes but no successful snapshot
invoked after any of them covers its ``ts`` (nothing was checked).
"""

from __future__ import annotations

import bisect

from checker.domain.append import AppendHistory, gc_paused, paused
from checker.domain.contents import analyse
from checker.domain.report import finish, upd
from checker.history import History
from checker.result import Anomaly, Result


class LostWrites:
    name = "lost-writes"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        c = analyse(ah)
        lost: dict[tuple[int, str, str, int], list] = {}
        for d in c.discrepancies:
            if d.lo <= d.observed <= d.hi:
                continue
            # too little: an addition is missing; too much: a retraction is
            sign = 1 if d.observed < d.lo else -1
            call = d.snap.op.call
            for u in d.must:
                if u.diff * sign > 0 and u.op.ret is not None and u.op.ret < call:
                    k = (u.op.index, d.key, d.val, u.ts)
                    e = lost.get(k)
                    if e is None:
                        lost[k] = [u, d.key, d.val, [d.snap]]
                    else:
                        e[3].append(d.snap)
        anomalies = []
        for u, key, val, snaps in lost.values():
            snaps.sort(key=lambda s: s.op.index)
            first, last = snaps[0], snaps[-1]
            ops = [u.op.index, first.op.index] + ([last.op.index] if last is not first else [])
            finals = [s for s in snaps if s.final]
            more = f" and from {len(snaps) - 1} later snapshot(s)" if len(snaps) > 1 else ""
            fin = f", including the final read op {finals[-1].op.index}" if finals else ""
            anomalies.append(
                Anomaly(
                    "lost-write",
                    f"acknowledged write {upd(key, val, u)} is missing from snapshot op {first.op.index} "
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
