"""The ``kv`` checkers (history values in ``workloads/kv.py``). Pure: a
history in, :class:`Result` values out.

* ``linearizable`` — each key is a register with compare-and-set (the
  ``kv-cas`` model of :mod:`checker.models.kv`, partitioned per key, searched
  by :func:`checker.linear.check_ops`): ``put`` writes, ``cas`` writes if
  the value was ``expect``, ``get`` reads (nil: absent). ``fail``
  operations did not happen; ``info`` ones may have, at any time after their
  invoke. Gives up (``unknown``) past a time limit.
* ``kv-domain`` — lost acknowledged writes, in words: every ``ok`` ``get``
  of a key (the final ones, ``"final": true``, after every fault healed,
  and every one before) must see the value of a write of that key that no
  acknowledged write followed before the read began (in real time), or of
  an indeterminate one, or nil when no write of the key was acknowledged
  before it. A read of an *older* value is **lost-write**: the message
  names the acknowledged ``put``/``cas`` whose value is gone and what was
  read instead. (A value nobody wrote is left to ``linearizable``.)
"""

from __future__ import annotations

from checker.history import History, Op
from checker.result import UNKNOWN, Anomaly, Result

#: seconds the linearizability search may take before it says unknown
TIME_LIMIT = 30.0
WRITES = ("put", "cas")


def kv_ops(history: History) -> list[Op]:
    return [op for op in history.ops if op.f in WRITES + ("get",) and isinstance(op.value, dict) and "key" in op.value]


class KVLinear:
    name = "linearizable"

    def __init__(self, time_limit: float = TIME_LIMIT) -> None:
        self.time_limit = time_limit

    def check(self, history: History) -> Result:
        from checker.linear import check_ops
        from checker.models.kv import KVCas

        ops = kv_ops(history)
        if not ops:
            return Result(self.name, UNKNOWN, reason="no put, cas or get operations in the history")
        res = check_ops(ops, KVCas(), time_limit=self.time_limit)
        res.checker = self.name
        return res


class KVDomain:
    name = "kv-domain"

    def check(self, history: History) -> Result:
        writes: dict[str, list[Op]] = {}
        for op in history.ops:
            if op.f in WRITES and op.type in ("ok", "info") and isinstance(op.value, dict):
                writes.setdefault(op.value["key"], []).append(op)
        reads = [op for op in history.ops if op.f == "get" and op.type == "ok" and isinstance(op.value, dict)
                 and isinstance(op.result, dict) and op.ret is not None]
        finals = [op for op in reads if op.value.get("final")]
        anomalies: list[Anomaly] = []
        for r in reads:
            a = self._lost(r, writes.get(r.value["key"], []))
            if a is not None:
                anomalies.append(a)
        stats = {"final_reads": len(finals), "writes_ok": sum(1 for op in history.ops if op.f in WRITES and op.type == "ok")}
        if anomalies:
            return Result(self.name, False, anomalies[:100], stats=stats)
        if not finals:
            return Result(self.name, UNKNOWN, reason="no ok final get: lost writes cannot be judged", stats=stats)
        return Result(self.name, True, stats=stats)

    @staticmethod
    def _lost(r: Op, ws: list[Op]) -> Anomaly | None:
        """A read of a value other than every write it could see: a write is
        hidden from ``r`` when an acknowledged write of the key began after it
        returned and returned before ``r`` began (``info`` writes are never
        hidden: they may take effect any time after their invoke)."""
        key = r.value["key"]
        before = [w for w in ws if w.call < r.ret]
        oks = [w for w in before if w.type == "ok" and w.ret < r.call]  # acknowledged before r began
        cands = [w for w in before if w.type == "info" or not any(o.call > w.ret for o in oks)]
        allowed = {w.value.get("value") for w in cands}
        if not oks:
            allowed.add(None)
        seen = r.result.get("value")
        if seen in allowed:
            return None
        if seen is not None and not any(w.value.get("value") == seen for w in before):
            return None  # a value nobody wrote (or not yet invoked): the linearizability check names it
        latest = max(oks, key=lambda w: w.ret)
        what = "final op" if r.value.get("final") else "op"
        return Anomaly("lost-write", f"{what} {r.index} (process {r.process}) read key {key} as {seen!r}, but op "
                       f"{latest.index} (process {latest.process}) had acknowledged {latest.f} "
                       f"{latest.value.get('value')!r} before the read began, and {seen!r} was written before that "
                       f"(the read could only see one of {sorted(allowed, key=repr)!r}): an acknowledged write was lost",
                       [r.index, latest.index])


def kv_checkers() -> list:
    return [KVLinear(), KVDomain()]


try:  # make check_workload("kv", ...) know it
    from checker.workloads import register

    register("kv", kv_checkers)
except ImportError:  # pragma: no cover
    pass
