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

Acknowledged updates missing from a snapshot are lost writes, failed ones
seen are phantoms; those are other checkers' business. Cost: linear in the
rows plus, per flickering update, one pass over its stream's snapshots.
"""

from __future__ import annotations

import bisect

from checker.domain.append import AppendHistory, Snap, paused
from checker.domain.contents import analyse
from checker.domain.report import finish
from checker.history import History
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
        anomalies = []
        for g, seen in c.seen.items():
            stream, key, val = g
            u = ah.groups[g][0]
            snaps = by_stream[stream]
            first = bisect.bisect_left(keys[stream], u.ts)
            covering = len(snaps) - first
            if len(seen) >= covering:
                continue
            seen_ids = {id(s) for s in seen}
            unseen = [s for s in snaps[first:] if id(s) not in seen_ids]
            a, b, how = _pair(seen, unseen)
            anomalies.append(
                Anomaly(
                    "flicker",
                    f"indeterminate write op {u.op.index} ([{key!r}, {val!r}] at ts {u.ts}) is {how}: "
                    f"snapshot op {a.op.index} (as_of {a.as_of}) shows it, snapshot op {b.op.index} "
                    f"(as_of {b.as_of}) does not, though both read final data at or after ts {u.ts} "
                    f"({len(seen)} of {covering} such snapshots show it)",
                    [u.op.index] + sorted([a.op.index, b.op.index]),
                )
            )
        return finish(self.name, ah, anomalies, {"indeterminate_updates_seen": len(c.seen)})


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
