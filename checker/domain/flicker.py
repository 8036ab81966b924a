"""An indeterminate write, once seen, stays seen (and once finally absent,
stays absent).

Consider an update ``u`` at ``ts`` on stream ``s`` that is the only update
ever written to its ``(s, key, val)``, by a write that is indeterminate
(``info`` or never completed). Every successful snapshot of ``s`` at an
``as_of >= ts`` reads sealed, final contents (it succeeded, so
``as_of < upper``), so all of them must agree on whether ``u`` took effect.
``u`` **flickers** when one such snapshot shows its row and another does
not. The message says which came first in real time:

* *seen, then unseen*: the unseen snapshot was invoked after the seeing one
  completed (Jepsen's "an indeterminate write, once seen, stays seen");
* *unseen, then seen*: the write surfaced after a snapshot covering its
  ``ts`` had shown the final contents without it (a write accepted below
  ``upper``, or the Wal replayed into sealed time);
* otherwise the two snapshots were concurrent, and still disagree about
  final data.

A write is atomic (``write`` and ``write_multi`` alike), so the same holds
for the write as a whole: once any of its updates is seen, every one of them
must be in every snapshot covering its ``ts``. A snapshot that shows one
update of an indeterminate write but not another it covers, or a write seen
on one stream and missing on another, is a **torn write**
(``torn-write``).

Acknowledged updates missing from a snapshot are lost writes, failed ones
seen are phantoms; those are other checkers' business. Cost: linear in the
rows plus, per indeterminate write seen, a bisection per update; a pass
over the snapshots only for a write in error.
"""

from __future__ import annotations

import bisect

from checker.domain.append import AppendHistory, GroupKey, Snap, paused
from checker.domain.contents import analyse
from checker.domain.report import finish
from checker.history import History, Op
from checker.result import Anomaly, Result


class Flicker:
    name = "flicker"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        c = analyse(ah)
        by_stream: dict[str, list[Snap]] = {}
        for s in ah.snapshots:
            by_stream.setdefault(s.stream, []).append(s)
        keys: dict[str, list[int]] = {}
        for stream, snaps in by_stream.items():
            snaps.sort(key=lambda s: s.as_of)
            keys[stream] = [s.as_of for s in snaps]

        def covering(g: GroupKey, ts: int) -> list[Snap]:
            snaps = by_stream.get(g[0], [])
            return snaps[bisect.bisect_left(keys[g[0]], ts) :] if snaps else []

        def n_covering(g: GroupKey, ts: int) -> int:
            k = keys.get(g[0])
            return len(k) - bisect.bisect_left(k, ts) if k else 0

        # the indeterminate writes some snapshot saw, with their unique updates
        writes: dict[int, tuple[Op, list[GroupKey]]] = {}
        for g in c.seen:
            op = ah.groups[g][0].op
            writes.setdefault(op.index, (op, []))
        for _i, (op, gs) in writes.items():
            for stream, ups in op.value["writes"].items():
                for u in ups:
                    g = (stream, u[0], u[1])
                    if len(ah.groups.get(g, ())) == 1:
                        gs.append(g)
        anomalies = []
        for _i, (op, gs) in sorted(writes.items()):
            counts = [(g, len(c.seen.get(g, ())), n_covering(g, ah.groups[g][0].ts)) for g in gs]
            if all(seen == cov for _g, seen, cov in counts):
                continue
            anomalies.append(self._explain(op, gs, c.seen, covering, ah))
        return finish(self.name, ah, anomalies, {"indeterminate_writes_seen": len(writes)})

    @staticmethod
    def _explain(op: Op, gs: list[GroupKey], seen: dict[GroupKey, list[Snap]], covering, ah: AppendHistory) -> Anomaly:
        seen_ids = {g: {id(s) for s in seen.get(g, ())} for g in gs}
        # torn: one snapshot saw one update of the write and not another it covers
        for g in gs:
            for s in seen.get(g, ()):
                for h in gs:
                    if h is not g and h[0] == s.stream and ah.groups[h][0].ts <= s.as_of and id(s) not in seen_ids[h]:
                        return Anomaly(
                            "torn-write",
                            f"indeterminate write op {op.index} is partly applied: snapshot op {s.op.index} "
                            f"({s.stream} at as_of {s.as_of}) shows [{g[1]!r}, {g[2]!r}] but not [{h[1]!r}, {h[2]!r}] "
                            f"(ts {ah.groups[h][0].ts}) from the same atomic write",
                            [op.index, s.op.index],
                        )
        for g in gs:
            u = ah.groups[g][0]
            cov = covering(g, u.ts)
            unseen = [s for s in cov if id(s) not in seen_ids[g]]
            if not unseen:
                continue
            if seen.get(g):
                a, b, how = _pair(seen[g], unseen)
                return Anomaly(
                    "flicker",
                    f"indeterminate write op {op.index} ([{g[1]!r}, {g[2]!r}] at ts {u.ts}) is {how}: "
                    f"snapshot op {a.op.index} (as_of {a.as_of}) shows it, snapshot op {b.op.index} "
                    f"(as_of {b.as_of}) does not, though both read final data at or after ts {u.ts} "
                    f"({len(seen[g])} of {len(cov)} such snapshots show it)",
                    [op.index] + sorted([a.op.index, b.op.index]),
                )
            other = next(h for h in gs if seen.get(h))
            a = seen[other][0]
            b = unseen[0]
            return Anomaly(
                "torn-write",
                f"indeterminate write op {op.index} is partly applied: snapshot op {a.op.index} shows its "
                f"[{other[1]!r}, {other[2]!r}] on {other[0]}, but snapshot op {b.op.index} ({b.stream} at as_of "
                f"{b.as_of}) lacks its [{g[1]!r}, {g[2]!r}] at ts {u.ts} from the same atomic write",
                [op.index] + sorted([a.op.index, b.op.index]),
            )
        raise AssertionError("unreachable: counts disagreed")  # pragma: no cover


def _pair(seen: list[Snap], unseen: list[Snap]) -> tuple[Snap, Snap, str]:
    """(a seeing snapshot, an unseen one, how they are ordered), preferring
    seen-then-unseen, then unseen-then-seen, then concurrent."""
    s_first = min(seen, key=lambda s: s.op.ret)
    later = [u for u in unseen if u.op.call > s_first.op.ret]
    if later:
        return s_first, min(later, key=lambda s: s.op.call), "seen, then unseen"
    s_last = max(seen, key=lambda s: s.op.call)
    earlier = [u for u in unseen if u.op.ret < s_last.op.call]
    if earlier:
        return s_last, max(earlier, key=lambda s: s.op.ret), "unseen, then seen"
    return seen[0], unseen[0], "seen and unseen by concurrent snapshots"
