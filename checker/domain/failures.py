"""A determinate failure had no effect on any later read.

``fail`` in the history means the engine raised a *determinate* error: the
operation certainly did not happen, and never will (``docs/semantics.md``,
Durability). So:

* ``failed-write-seen``: no update of a failed ``write`` (one stream or
  ``write_multi``) is in any successful snapshot (the exclusion is
  :mod:`checker.domain.contents`'s; phantoms reports the same rows from
  the reader's side, this names the failed write);
* ``failed-seal-took-effect``: ``upper`` only ever takes values that a seal
  set, so an observed ``upper = u`` (a ``seal``, ``compact``, ``snapshot``,
  ``frontiers`` or ``listen`` result, or a listen's progress event) needs a
  ``seal(u)`` that did not fail and was invoked before the observing
  operation completed; if the only seals to ``u`` failed, one of them took
  effect. A later *successful* seal moving ``upper`` past a failed one's
  ``t`` is fine: the observed value is then that seal's;
* ``failed-compaction-took-effect``: the same for ``since`` and
  ``compact`` (``allow_compaction``);
A value that no seal of the history asked for at all is not reported here
(hand-built histories often leave seals out); values 0 (a fresh stream)
need no explanation. Cost: linear in the
operations, plus the snapshot comparison shared with the other domain
checkers.
"""

from __future__ import annotations

from typing import Any

from checker.domain.append import AppendHistory, paused
from checker.domain.contents import FAILED, analyse
from checker.domain.report import finish
from checker.history import History, Op
from checker.result import Anomaly, Result

_OBSERVERS = ("seal", "compact", "snapshot", "frontiers", "listen")


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _observations(op: Op) -> list[tuple[str, int]]:
    """``(frontier, value)`` pairs an ok operation observed exactly."""
    r = op.result if isinstance(op.result, dict) else {}
    out = []
    for kind in ("upper", "since"):
        v = _int(r.get(kind))
        if v is not None:
            out.append((kind, v))
    if op.f == "listen" and isinstance(r.get("events"), list):
        for ev in r["events"]:
            if isinstance(ev, dict) and _int(ev.get("progress")) is not None:
                out.append(("upper", ev["progress"]))
    return out


class FailedNoEffect:
    name = "failed-no-effect"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        anomalies = self._writes(ah)
        # per (stream, frontier, value): the earliest call of a seal/compaction that asked for it,
        # split by whether it failed determinately
        asked: dict[tuple[Any, str, int], int] = {}
        failed: dict[tuple[Any, str, int], Op] = {}
        observers: list[Op] = []
        for op in history.ops:
            if op.f in ("seal", "compact"):
                a = op.value if isinstance(op.value, dict) else {}
                kind, v = ("upper", _int(a.get("ts"))) if op.f == "seal" else ("since", _int(a.get("since")))
                if v is None:
                    continue
                key = (a.get("stream"), kind, v)
                if op.type == "fail":
                    failed.setdefault(key, op)
                elif key not in asked or op.call < asked[key]:
                    asked[key] = op.call
            if op.ok and op.f in _OBSERVERS:
                observers.append(op)
        seen: set[tuple[Any, str, int]] = set()
        for op in observers:
            r = op.result if isinstance(op.result, dict) else {}
            a = op.value if isinstance(op.value, dict) else {}
            stream = r.get("stream", a.get("stream"))
            for kind, v in _observations(op):
                key = (stream, kind, v)
                if v == 0 or key in seen:
                    continue
                call = asked.get(key)
                if call is not None and (op.ret is None or call <= op.ret):
                    continue
                f = failed.get(key)
                if f is None or (op.ret is not None and f.call > op.ret):
                    continue  # no failed seal/compaction to blame (hand-built histories may omit the seals)
                seen.add(key)
                what = "seal" if kind == "upper" else "compaction"
                anomalies.append(Anomaly(
                    f"failed-{what}-took-effect",
                    f"op {op.index} ({op.f} on {stream}) observed {kind} {v}, which only op {f.index} "
                    f"({'seal' if kind == 'upper' else 'compact'} to {v}) asked for, and it failed with a "
                    f"determinate error ({f.error or 'fail'}): a determinate failure must have had no effect",
                    [f.index, op.index]))
        return finish(self.name, ah, anomalies,
                      {"failed_seals_and_compactions": len(failed), "observations": len(observers)})

    def _writes(self, ah: AppendHistory) -> list[Anomaly]:
        by_write: dict[int, list[Any]] = {}
        for d in analyse(ah).discrepancies:
            if d.observed <= d.hi:
                continue
            for u, why in d.excluded:
                if why == FAILED:
                    by_write.setdefault(u.op.index, []).append(d)
        out = []
        for i, ds in by_write.items():
            d = ds[0]
            w = next(u.op for u, why in d.excluded if why == FAILED and u.op.index == i)
            out.append(Anomaly(
                "failed-write-seen",
                f"write op {i} failed with a determinate error ({w.error or 'fail'}), yet snapshot op "
                f"{d.snap.op.index} ({d.snap.stream} at as_of {d.snap.as_of}) shows its update [{d.key!r}, {d.val!r}]"
                + (f" ({len(ds) - 1} more snapshot row(s) likewise)" if len(ds) > 1 else ""),
                [i, d.snap.op.index]))
        return out
