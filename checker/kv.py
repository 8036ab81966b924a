"""The ``kv`` checkers (history values in ``workloads/kv.py``). Pure: a
history in, :class:`Result` values out.

* ``linearizable`` — each key is a register with compare-and-set (the
  ``kv-cas`` model of :mod:`checker.models.kv`, partitioned per key, searched
  by :func:`checker.linear.check_ops`): ``put`` writes, ``cas`` writes if
  the value was ``expect``, ``get`` reads (nil: absent). ``fail``
  operations did not happen; ``info`` ones may have, at any time after their
  invoke. Gives up (``unknown``) past a time limit.
* ``kv-domain`` — lost acknowledged writes, in words: a final ``get``
  (``"final": true``, after every fault healed) of a key must see the value
  of a write of that key that no acknowledged write of it followed (in
  real time), or of an indeterminate one (or nil when no write of the key was
  acknowledged). Anything else is **lost-write**: the message names the
  acknowledged ``put``/``cas`` whose value is gone and what was read instead.
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
        finals = [op for op in history.ops if op.f == "get" and op.type == "ok" and isinstance(op.value, dict)
                  and op.value.get("final") and isinstance(op.result, dict)]
        anomalies: list[Anomaly] = []
        for fin in finals:
            key = fin.value["key"]
            ws = [w for w in writes.get(key, []) if w.call < fin.ret]
            oks = [w for w in ws if w.type == "ok"]
            # candidates: indeterminate writes (they may take effect any time after
            # their invoke), and acknowledged ones no acknowledged write followed
            cands = [w for w in ws if w.type == "info" or not any(o.call > w.ret for o in oks)]
            allowed = {w.value.get("value") for w in cands}
            if not oks:
                allowed.add(None)
            seen = fin.result.get("value")
            if seen in allowed:
                continue
            latest = max(oks, key=lambda w: w.ret) if oks else None
            if latest is not None:
                msg = (f"final op {fin.index} read key {key} as {seen!r}, but op {latest.index} "
                       f"(process {latest.process}) had acknowledged {latest.f} {latest.value.get('value')!r} and no "
                       f"acknowledged write of {key} followed it (the final value must be one of "
                       f"{sorted(allowed, key=repr)!r}): an acknowledged write was lost")
                anomalies.append(Anomaly("lost-write", msg, [fin.index, latest.index]))
            else:
                anomalies.append(Anomaly("lost-write", f"final op {fin.index} read key {key} as {seen!r}, which no "
                                         "write of that key wrote", [fin.index]))
        stats = {"final_reads": len(finals), "writes_ok": sum(1 for op in history.ops if op.f in WRITES and op.type == "ok")}
        if anomalies:
            return Result(self.name, False, anomalies[:100], stats=stats)
        if not finals:
            return Result(self.name, UNKNOWN, reason="no ok final get: lost writes cannot be judged", stats=stats)
        return Result(self.name, True, stats=stats)


def kv_checkers() -> list:
    return [KVLinear(), KVDomain()]


try:  # make check_workload("kv", ...) know it
    from checker.workloads import register

    register("kv", kv_checkers)
except ImportError:  # pragma: no cover
    pass
