"""The ``multi-writer`` checker: one writer per location at a time, and no
acknowledged write lost across handovers (history values in
``workloads/multi_writer.py``; BRIEF §2, §4). Pure: a history in, a
:class:`Result` out.

A *session* is one holding of the location by one process: the ``ok``
operations whose value names the same ``holder``. A session held the
location at some point inside each of its operations' ``[call, ret]``
intervals and, holding being continuous from open to close, during the whole
of ``[first ok ret, last ok call]`` (its *certain holding*; empty when that
is not a proper interval). The engine's contract (one writer per location:
the Wal's ``flock``; an epoch bumped at every open) gives:

* **overlapping-holders** — two sessions whose certain holdings overlap:
  two processes acknowledged writes as holders at the same time;
* **shared-epoch** — two sessions reporting the same epoch;
* **epoch-regressed** — a session that opened (its first ``ok`` operation
  says ``acquired``) after another session's last ``ok`` operation returned,
  with an epoch not above that session's;
* **frontier-regressed** — an ``ok`` operation reporting an ``upper`` below
  that of an ``ok`` operation that returned before it was invoked;
* and, against the final ``read`` (``"final": true``, ``ok``):
  **lost-write** (an acknowledged write missing), **failed-write-visible**
  (a write that failed — refused by the lock, fenced, or otherwise certain
  not to have happened — present), **phantom-write** (a key no operation
  wrote), **duplicate-write** (a key present more than once or with a diff
  other than 1).

Without an ``ok`` final read the read-dependent checks cannot run: the
result is ``unknown`` unless another anomaly was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checker.history import History, Op
from checker.result import UNKNOWN, Anomaly, Result

MAX_ANOMALIES = 100


@dataclass
class Session:
    holder: str
    ops: list[Op] = field(default_factory=list)

    @property
    def lo(self) -> int:  # held from at least here ...
        return min(op.ret for op in self.ops)

    @property
    def hi(self) -> int:  # ... to at least here
        return max(op.call for op in self.ops)

    @property
    def lo_op(self) -> Op:
        return min(self.ops, key=lambda op: op.ret)

    @property
    def hi_op(self) -> Op:
        return max(self.ops, key=lambda op: op.call)

    @property
    def certain(self) -> bool:
        return self.lo < self.hi

    @property
    def epochs(self) -> set:
        return {op.result.get("epoch") for op in self.ops if op.result.get("epoch") is not None}

    @property
    def first(self) -> Op:
        return min(self.ops, key=lambda op: op.call)

    @property
    def last(self) -> Op:
        return max(self.ops, key=lambda op: op.ret)


def sessions_of(history: History) -> list[Session]:
    by: dict[str, Session] = {}
    for op in history.ops:
        if op.type == "ok" and isinstance(op.result, dict) and op.result.get("holder") and op.ret is not None:
            h = str(op.result["holder"])
            by.setdefault(h, Session(h)).ops.append(op)
    return sorted(by.values(), key=lambda s: s.first.call)


class MultiWriter:
    name = "multi-writer"

    def check(self, history: History) -> Result:
        anomalies: list[Anomaly] = []
        sessions = sessions_of(history)
        self._holders(sessions, anomalies)
        self._epochs(sessions, anomalies)
        self._frontiers(history, anomalies)
        finals = [op for op in history.ops if op.f == "read" and op.type == "ok" and isinstance(op.value, dict)
                  and op.value.get("final") and isinstance(op.result, dict)]
        for fin in finals:
            self._final(history, fin, anomalies)
        writes = [op for op in history.ops if op.f == "write"]
        stats = {"sessions": len(sessions), "writes_ok": sum(op.type == "ok" for op in writes),
                 "writes_fail": sum(op.type == "fail" for op in writes),
                 "writes_info": sum(op.type == "info" for op in writes),
                 "locked_out": sum(op.type == "fail" and "LockedError" in (op.error or "") for op in history.ops),
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
                anomalies.append(Anomaly(
                    "overlapping-holders",
                    f"sessions {o.holder} and {s.holder} both held the location at once: {o.holder} from op "
                    f"{o.lo_op.index} (returned) to op {o.hi_op.index} (invoked), {s.holder} from op "
                    f"{s.lo_op.index} to op {s.hi_op.index}, and those spans overlap",
                    [o.hi_op.index, s.lo_op.index]))
            open_.append((lo, hi, s))

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
            fb = b.first
            if not fb.result.get("acquired") or not b.epochs:
                continue
            eb = max(b.epochs)
            for a in sessions:
                if a is b or not a.epochs:
                    continue
                la = a.last
                if la.ret < fb.call and max(a.epochs) >= eb:
                    anomalies.append(Anomaly(
                        "epoch-regressed",
                        f"session {b.holder} opened in op {fb.index} at epoch {eb}, after session {a.holder}'s "
                        f"op {la.index} at epoch {max(a.epochs)} had returned: a later writer must have a higher epoch",
                        [fb.index, la.index]))

    @staticmethod
    def _frontiers(history: History, anomalies: list[Anomaly]) -> None:
        ops = [op for op in history.ops if op.type == "ok" and isinstance(op.result, dict)
               and isinstance(op.result.get("upper"), int) and op.ret is not None]
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
    def _final(history: History, fin: Op, anomalies: list[Anomaly]) -> None:
        rows = fin.result.get("rows") or []
        count: dict[str, list] = {}
        for k, _v, d in rows:
            count.setdefault(k, []).append(d)
        writes: dict[str, Op] = {}
        for op in history.ops:
            if op.f == "write" and isinstance(op.value, dict) and "key" in op.value:
                writes[op.value["key"]] = op
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
        lost = [w for k, w in writes.items() if w.type == "ok" and w.ret is not None and w.ret <= fin.call
                and k not in count]
        for w in lost:
            anomalies.append(Anomaly("lost-write", f"the write of {w.value['key']} (op {w.index}, holder "
                                     f"{(w.result or {}).get('holder')}) was acknowledged but final op {fin.index} "
                                     "does not hold it", [w.index, fin.index]))


def multi_writer_checkers() -> list[MultiWriter]:
    return [MultiWriter()]


try:  # make check_workload("multi-writer", ...) know it
    from checker.workloads import register

    register("multi-writer", multi_writer_checkers)
except ImportError:  # pragma: no cover
    pass
