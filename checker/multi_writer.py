"""The ``multi-writer`` checker: one writer per location at a time, a
taken-over writer fenced, and no acknowledged write lost across handovers
(history values in ``workloads/multi_writer.py``; BRIEF §2, §4). Pure: a
history in, a :class:`Result` out.

A *session* is one holding of the location by one process: the ``ok``
operations whose value names the same ``holder``; its ``wal`` is
``"shared"`` (the contenders' Wal directory) or ``"own"`` (the standby's).
A session held the location at some point inside each of its operations'
``[call, ret]`` intervals and, holding being continuous from open to close,
during the whole of ``[first ok ret, last ok call]`` (its *certain
holding*; empty when that is not a proper interval). Its *opening* is its
``ok`` operation that says ``acquired`` (operations that waited on the open
return ``ok`` without it, and may have been invoked earlier).

The engine's contract (BRIEF §2: one writer per Wal directory, by ``flock``;
every open bumps the metadata epoch; a writer whose location was taken over
is fenced at its next metadata change and nothing of it reaches the stream
from then on; a takeover loses what the old Wal had not drained) gives:

* **overlapping-holders** — two sessions on the same Wal whose certain
  holdings overlap (the flock lets one process at a time hold a Wal); or,
  on the same Wal, a session B with a higher epoch than A (so B opened after
  A opened: epochs are bumped by compare-and-set) whose first ``ok``
  operation returned before A's last ``ok`` operation was invoked: B opened
  before that return, A still held then (it acted later), so both held at
  B's open. This needs only one ``ok`` operation of B;
* **shared-epoch** — two sessions reporting the same epoch;
* **epoch-regressed** — a session that opened after another session's last
  ``ok`` operation returned, with an epoch not above that session's;
* **fenced-writer-acted** — an ``ok`` ``seal`` of a session invoked after a
  newer session on another Wal had opened (returned): that seal is a
  metadata change, which must fail once fenced;
* **frontier-regressed** — an ``ok`` operation reporting an ``upper`` below
  that of an ``ok`` operation that returned before it was invoked (ops of a
  session already taken over report its stale view and are not compared);
* and, against the final ``read`` (``"final": true``, ``ok``):
  **fenced-write-visible** (a write of a session invoked after a newer
  session on another Wal had opened: acknowledged to its own Wal, it must
  never reach the stream), **lost-write** (an acknowledged write missing —
  unless a takeover could have abandoned its Wal before it was drained: for a
  write on the shared Wal, a ``takeover`` that may have happened after the
  write began; for the standby's, any operation that may have opened the
  shared Wal after it began; either way not when a later ``ok`` seal of its
  own session covered it), **failed-write-visible** (a write that failed —
  refused by the lock, fenced, or otherwise certain not to have happened —
  present), **phantom-write** (a key no operation wrote),
  **duplicate-write** (a key present more than once or with a diff other
  than 1).

Without an ``ok`` final read the read-dependent checks cannot run: the
result is ``unknown`` unless another anomaly was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from checker.history import History, Op
from checker.result import UNKNOWN, Anomaly, Result

MAX_ANOMALIES = 100
#: errors of operations that certainly opened nothing
NOT_OPENED = ("LockedError", "ClosedError")


@dataclass
class Session:
    """Its derived facts are computed once, on first use: ``sessions_of``
    hands a session out only once all its operations are in, and the checks
    compare every pair of sessions."""

    holder: str
    ops: list[Op] = field(default_factory=list)

    @cached_property
    def wal(self) -> str:
        return str(self.ops[0].result.get("wal", "shared"))

    @cached_property
    def lo_op(self) -> Op:
        return min(self.ops, key=lambda op: op.ret)

    @cached_property
    def hi_op(self) -> Op:
        return max(self.ops, key=lambda op: op.call)

    @cached_property
    def lo(self) -> int:  # held from at least here ...
        return self.lo_op.ret

    @cached_property
    def hi(self) -> int:  # ... to at least here
        return self.hi_op.call

    @cached_property
    def certain(self) -> bool:
        return self.lo < self.hi

    @cached_property
    def epochs(self) -> set:
        return {op.result.get("epoch") for op in self.ops if op.result.get("epoch") is not None}

    @cached_property
    def epoch(self) -> Any:
        return max(self.epochs) if self.epochs else None

    @cached_property
    def first(self) -> Op:
        return min(self.ops, key=lambda op: op.call)

    @cached_property
    def last(self) -> Op:
        return max(self.ops, key=lambda op: op.ret)

    @cached_property
    def opening(self) -> Op | None:
        """The operation that opened the session (its result says
        ``acquired``), if the history has it. Not necessarily the first
        invoked: an operation invoked earlier may have waited on that open
        and returned ``ok`` without ``acquired``."""
        return min((op for op in self.ops if op.result.get("acquired")), key=lambda op: op.call, default=None)


def sessions_of(history: History) -> list[Session]:
    by: dict[str, Session] = {}
    for op in history.ops:
        if op.type == "ok" and isinstance(op.result, dict) and op.result.get("holder") and op.ret is not None:
            h = str(op.result["holder"])
            by.setdefault(h, Session(h)).ops.append(op)
    return sorted(by.values(), key=lambda s: s.first.call)


def fenced_from(sessions: list[Session]) -> dict[str, tuple[int, Session]]:
    """holder -> (time, newer session): from that time on (the return of a
    newer session's opening on another Wal) the session is taken over."""
    out: dict[str, tuple[int, Session]] = {}
    for b in sessions:
        ob = b.opening
        if ob is None or b.epoch is None:
            continue
        for a in sessions:
            if a is b or a.wal == b.wal or a.epoch is None or a.epoch >= b.epoch:
                continue
            if a.holder not in out or ob.ret < out[a.holder][0]:
                out[a.holder] = (ob.ret, b)
    return out


class MultiWriter:
    name = "multi-writer"

    def check(self, history: History) -> Result:
        anomalies: list[Anomaly] = []
        sessions = sessions_of(history)
        fenced = fenced_from(sessions)
        self._holders(sessions, anomalies)
        self._epochs(sessions, anomalies)
        self._fenced_acts(sessions, fenced, anomalies)
        self._frontiers(history, fenced, anomalies)
        finals = [op for op in history.ops if op.f == "read" and op.type == "ok" and isinstance(op.value, dict)
                  and op.value.get("final") and isinstance(op.result, dict)]
        for fin in finals:
            self._final(history, sessions, fenced, fin, anomalies)
        writes = [op for op in history.ops if op.f == "write"]
        stats = {"sessions": len(sessions), "writes_ok": sum(op.type == "ok" for op in writes),
                 "writes_fail": sum(op.type == "fail" for op in writes),
                 "writes_info": sum(op.type == "info" for op in writes),
                 "locked_out": sum(op.type == "fail" and "LockedError" in (op.error or "") for op in history.ops),
                 "takeovers": sum(1 for s in sessions if s.wal == "own"),
                 "acks_after_fence": sum(1 for s in sessions if s.holder in fenced
                                         for op in s.ops if op.call > fenced[s.holder][0]),
                 "final_reads": len(finals), "anomalies": len(anomalies)}
        anomalies.sort(key=lambda a: a.ops[0] if a.ops else -1)
        if anomalies:
            return Result(self.name, False, anomalies[:MAX_ANOMALIES], stats=stats)
        if not finals:
            return Result(self.name, UNKNOWN, stats=stats,
                          reason="no ok final read: lost and failed writes cannot be judged")
        return Result(self.name, True, stats=stats)

    @staticmethod
    def _holders(sessions: list[Session], anomalies: list[Anomaly]) -> None:
        spans = sorted(((s.lo, s.hi, s) for s in sessions if s.certain), key=lambda x: x[0])
        open_: list[tuple[int, int, Session]] = []
        for lo, hi, s in spans:
            open_ = [x for x in open_ if x[1] > lo]
            for _, _, o in open_:
                if o.wal != s.wal:
                    continue  # another machine: a takeover, judged by the fencing rules
                anomalies.append(Anomaly(
                    "overlapping-holders",
                    f"sessions {o.holder} and {s.holder} both held the location through the {s.wal} Wal at once: "
                    f"{o.holder} from op {o.lo_op.index} (returned) to op {o.hi_op.index} (invoked), {s.holder} "
                    f"from op {s.lo_op.index} to op {s.hi_op.index}, and those spans overlap",
                    [o.hi_op.index, s.lo_op.index]))
            open_.append((lo, hi, s))
        for a in sessions:
            for b in sessions:
                if a is b or a.wal != b.wal or a.epoch is None or b.epoch is None or not a.epoch < b.epoch:
                    continue
                if b.lo >= a.hi or (a.certain and b.certain and a.lo < b.hi):
                    continue  # not overlapping, or already reported as overlapping certain holdings
                if b.last.ret < a.first.call and a.opening is not None:
                    continue  # b wholly before a: the epochs contradict real time (epoch-regressed says so)
                anomalies.append(Anomaly(
                    "overlapping-holders",
                    f"sessions {a.holder} (epoch {a.epoch}) and {b.holder} (epoch {b.epoch}) both held the location "
                    f"through the {b.wal} Wal at once: {b.holder}, opened after {a.holder} (its epoch is higher), had "
                    f"opened by the return of its op {b.lo_op.index}, and {a.holder} still held it when op "
                    f"{a.hi_op.index} was invoked after that", [b.lo_op.index, a.hi_op.index]))

    @staticmethod
    def _epochs(sessions: list[Session], anomalies: list[Anomaly]) -> None:
        seen: dict[Any, Session] = {}
        for s in sessions:
            es = s.epochs
            if len(es) > 1:
                anomalies.append(Anomaly("shared-epoch", f"session {s.holder} reported several epochs {sorted(es)}",
                                         [s.first.index]))
            for e in es:
                if e in seen and seen[e] is not s:
                    anomalies.append(Anomaly("shared-epoch", f"sessions {seen[e].holder} and {s.holder} both wrote "
                                             f"at epoch {e}", [seen[e].first.index, s.first.index]))
                seen.setdefault(e, s)
        for b in sessions:
            fb = b.opening
            if fb is None or b.epoch is None:
                continue
            for a in sessions:
                if a is b or a.epoch is None:
                    continue
                la = a.last
                if la.ret < fb.call and a.epoch >= b.epoch:
                    anomalies.append(Anomaly(
                        "epoch-regressed",
                        f"session {b.holder} opened in op {fb.index} at epoch {b.epoch}, after session {a.holder}'s "
                        f"op {la.index} at epoch {a.epoch} had returned: a later writer must have a higher epoch",
                        [fb.index, la.index]))

    @staticmethod
    def _fenced_acts(sessions: list[Session], fenced: dict[str, tuple[int, Session]],
                     anomalies: list[Anomaly]) -> None:
        for a in sessions:
            if a.holder not in fenced:
                continue
            t, b = fenced[a.holder]
            for op in a.ops:
                if op.f == "seal" and op.call > t:
                    anomalies.append(Anomaly(
                        "fenced-writer-acted",
                        f"op {op.index}: session {a.holder} (epoch {a.epoch}) sealed after session {b.holder} had "
                        f"taken the location over at epoch {b.epoch} (op {b.opening.index}): a fenced writer's "
                        "metadata change must fail", [op.index, b.opening.index]))

    @staticmethod
    def _frontiers(history: History, fenced: dict[str, tuple[int, Session]], anomalies: list[Anomaly]) -> None:
        def stale(op: Op) -> bool:
            f = fenced.get(str(op.result.get("holder")))
            return f is not None and op.call > f[0]

        ops = [op for op in history.ops if op.type == "ok" and isinstance(op.result, dict)
               and isinstance(op.result.get("upper"), int) and op.ret is not None and not stale(op)]
        by_ret = sorted(ops, key=lambda op: op.ret)
        i, best = 0, None
        for op in sorted(ops, key=lambda op: op.call):
            while i < len(by_ret) and by_ret[i].ret < op.call:
                if best is None or by_ret[i].result["upper"] > best.result["upper"]:
                    best = by_ret[i]
                i += 1
            if best is not None and op.result["upper"] < best.result["upper"]:
                anomalies.append(Anomaly(
                    "frontier-regressed",
                    f"op {op.index} saw upper {op.result['upper']}, below the upper {best.result['upper']} that op "
                    f"{best.index} had reported before op {op.index} began", [op.index, best.index]))

    @staticmethod
    def _may_be_lost(w: Op, wal: str, session: Session, history: History, fin: Op) -> bool:
        """Could a takeover have abandoned ``w``'s Wal before it was drained?"""
        if any(op.f == "seal" and op.call > w.ret for op in session.ops):
            return False  # its own session sealed past it: in the stream, whatever came later

        def after_w(op: Op) -> bool:
            return op.call < fin.call and (op.ret is None or op.ret > w.call)

        if wal == "own":  # abandoned by any open of the shared Wal after it
            for op in history.ops:
                if op is fin or op.f in ("takeover", "release") or not after_w(op):
                    continue
                if opened(op) and (op.type != "ok" or op.result.get("wal") != "own"):
                    return True
            return op_opens_shared(fin)
        return any(op.f == "takeover" and after_w(op) and opened(op) for op in history.ops)

    def _final(self, history: History, sessions: list[Session], fenced: dict[str, tuple[int, Session]], fin: Op,
               anomalies: list[Anomaly]) -> None:
        rows = fin.result.get("rows") or []
        count: dict[str, list] = {}
        for k, _v, d in rows:
            count.setdefault(k, []).append(d)
        writes: dict[str, Op] = {}
        for op in history.ops:
            if op.f == "write" and isinstance(op.value, dict) and "key" in op.value:
                writes[op.value["key"]] = op
        by_holder = {s.holder: s for s in sessions}
        for k, ds in sorted(count.items()):
            if len(ds) > 1 or ds[0] != 1:
                anomalies.append(Anomaly("duplicate-write", f"final op {fin.index} holds key {k} with diffs {ds}: "
                                         "each write happened at most once", [fin.index] + (
                                             [writes[k].index] if k in writes else [])))
            w = writes.get(k)
            if w is None:
                anomalies.append(Anomaly("phantom-write", f"final op {fin.index} holds key {k}, which no operation "
                                         "wrote", [fin.index]))
            elif w.type == "fail":
                anomalies.append(Anomaly("failed-write-visible",
                                         f"final op {fin.index} holds key {k}, whose write op {w.index} failed "
                                         f"({w.error or 'no error given'}): a refused or fenced writer's write "
                                         "must never reach the stream", [w.index, fin.index]))
        for k, w in writes.items():
            if w.type != "ok" or w.ret is None or w.ret > fin.call or not isinstance(w.result, dict):
                continue
            s = by_holder.get(str(w.result.get("holder")))
            f = fenced.get(str(w.result.get("holder")))
            if f is not None and w.call > f[0]:
                if k in count:
                    anomalies.append(Anomaly(
                        "fenced-write-visible",
                        f"final op {fin.index} holds key {k}, written (op {w.index}) by session {s.holder if s else '?'} "
                        f"after session {f[1].holder} had taken the location over (op {f[1].opening.index}): nothing "
                        "of a fenced writer may reach the stream", [w.index, f[1].opening.index, fin.index]))
                continue
            if k in count:
                continue
            if s is not None and self._may_be_lost(w, s.wal, s, history, fin):
                continue
            anomalies.append(Anomaly("lost-write", f"the write of {k} (op {w.index}, holder "
                                     f"{w.result.get('holder')}) was acknowledged but final op {fin.index} "
                                     "does not hold it", [w.index, fin.index]))


def opened(op: Op) -> bool:
    """May ``op`` have opened the location (bumped the epoch)? An ``ok`` one
    says so (``acquired``); one that failed may have failed after its open,
    unless the lock (or the standby's rule) refused it first."""
    if op.type == "ok":
        return isinstance(op.result, dict) and bool(op.result.get("acquired"))
    return op.type == "info" or not any(e in (op.error or "") for e in NOT_OPENED)


def op_opens_shared(fin: Op) -> bool:
    """Did the final read open the location through the shared Wal?"""
    return bool(fin.result.get("acquired")) and fin.result.get("wal", "shared") != "own"


def multi_writer_checkers() -> list[MultiWriter]:
    return [MultiWriter()]


try:  # make check_workload("multi-writer", ...) know it
    from checker.workloads import register

    register("multi-writer", multi_writer_checkers)
except ImportError:  # pragma: no cover
    pass
