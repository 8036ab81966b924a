"""The ``upsert`` checkers (history values in ``workloads/upsert.py``).
Pure: a history in, :class:`Result` values out.

* ``linearizable`` — each key is a register (the ``upsert`` model of
  :mod:`checker.models.kv`, partitioned per key): ``upsert`` writes its
  value, ``delete`` writes nil, ``get`` reads, and a ``read_all`` is a read of
  every key of the run at once (absent keys read nil). ``fail`` operations
  did not happen; ``info`` ones may have, at any time after their invoke.
  Gives up (``unknown``) past a time limit.
* ``upsert-domain`` — what a linear pass can say in plain words:

  - **not-one-value** — a read that saw a key with more than one value, or
    with a diff other than 1 (the operator keeps one value per key);
  - **lost-upsert** — a final ``read_all`` (``"final": true``, after every
    fault healed) whose value of a key is neither the value of an
    acknowledged upsert of that key that nothing acknowledged later
    superseded, nor that of an indeterminate one (nor nil when no
    acknowledged upsert exists or the newest may be a delete): an
    acknowledged upsert lost (or an unwritten value served).
"""

from __future__ import annotations

from typing import Any

from checker.history import History, Op
from checker.result import UNKNOWN, Anomaly, Result

#: seconds the linearizability search may take before it says unknown
TIME_LIMIT = 30.0
WRITES = ("upsert", "delete")


def _rows_map(rows: list) -> dict[str, list]:
    m: dict[str, list] = {}
    for k, v, d in rows:
        m.setdefault(k, []).append([v, d])
    return m


def _single(vals: list) -> Any:
    """The value a read saw from ``[[v, diff], ...]``: None, v, or the rows (malformed)."""
    if not vals:
        return None
    if len(vals) == 1 and vals[0][1] == 1:
        return vals[0][0]
    return [list(x) for x in vals]


def register_ops(history: History) -> list[Op]:
    """Per-key register operations for :class:`checker.models.kv.Upsert`:
    upserts, deletes and gets as they are, every ``ok`` ``read_all`` as one
    ``get`` per key of the run (same interval, same index;
    :func:`checker.models.kv.expand_read_all`)."""
    from checker.models.kv import expand_read_all

    ops = [op for op in history.ops if (op.f in WRITES or op.f == "get") and isinstance(op.value, dict) and "key" in op.value
           or op.f == "read_all"]
    return expand_read_all(ops)


class UpsertLinear:
    name = "linearizable"

    def __init__(self, time_limit: float = TIME_LIMIT) -> None:
        self.time_limit = time_limit

    def check(self, history: History) -> Result:
        from checker.linear import check_ops
        from checker.models.kv import Upsert

        ops = register_ops(history)
        if not ops:
            return Result(self.name, UNKNOWN, reason="no upsert, delete or read operations in the history")
        res = check_ops(ops, Upsert(), time_limit=self.time_limit)
        res.checker = self.name
        return res


class UpsertDomain:
    name = "upsert-domain"

    def check(self, history: History) -> Result:
        anomalies: list[Anomaly] = []
        for op in history.ops:
            if op.type != "ok" or not isinstance(op.result, dict):
                continue
            if op.f == "get":
                rows = op.result.get("rows") or []
                if len(rows) > 1 or any(d != 1 for _, d in rows):
                    anomalies.append(Anomaly("not-one-value", f"op {op.index} read key {op.result.get('key')} as "
                                             f"{rows} (value, diff): the upsert stream must hold one value per key "
                                             "with diff 1", [op.index]))
            elif op.f == "read_all":
                for k, vals in sorted(_rows_map(op.result.get("rows") or []).items()):
                    if len(vals) > 1 or any(d != 1 for _, d in vals):
                        anomalies.append(Anomaly("not-one-value", f"op {op.index} read key {k} as {vals} "
                                                 "(value, diff): the upsert stream must hold one value per key "
                                                 "with diff 1", [op.index]))
        finals = [op for op in history.ops if op.f == "read_all" and op.type == "ok"
                  and isinstance(op.value, dict) and op.value.get("final") and isinstance(op.result, dict)]
        for fin in finals:
            anomalies.extend(self._lost(history, fin))
        stats = {"final_reads": len(finals),
                 "upserts_ok": sum(1 for op in history.ops if op.f in WRITES and op.type == "ok")}
        if anomalies:
            return Result(self.name, False, anomalies[:100], stats=stats)
        if not finals:
            return Result(self.name, UNKNOWN, reason="no ok final read_all: lost upserts cannot be judged",
                          stats=stats)
        return Result(self.name, True, stats=stats)

    @staticmethod
    def _lost(history: History, fin: Op) -> list[Anomaly]:
        out: list[Anomaly] = []
        m = _rows_map(fin.result.get("rows") or [])
        writes: dict[str, list[Op]] = {}
        for op in history.ops:
            if op.f in WRITES and op.type in ("ok", "info") and op.index != fin.index and isinstance(op.value, dict):
                writes.setdefault(op.value["key"], []).append(op)
        for key in sorted(set(writes) | set(m)):
            ws = writes.get(key, [])
            oks = [w for w in ws if w.type == "ok"]
            # candidates: writes not followed (in real time) by an acknowledged write of the key
            cands = [w for w in ws if w.ret is None or not any(o.call > w.ret for o in oks)]
            allowed = {(w.value.get("value") if w.f == "upsert" else None) for w in cands}
            if not oks:
                allowed.add(None)
            seen = _single(m.get(key, []))
            if isinstance(seen, list) or seen in allowed:
                continue  # a malformed read is flagged as not-one-value
            latest = max(oks, key=lambda w: w.ret) if oks else None
            if latest is not None:
                msg = (f"final op {fin.index} read key {key} as {seen!r}, but op {latest.index} had acknowledged "
                       f"{latest.f} {latest.value.get('value')!r} and nothing acknowledged after it wrote that key "
                       f"(the final value must be one of {sorted(allowed, key=repr)!r}): an acknowledged upsert was lost")
                out.append(Anomaly("lost-upsert", msg, [fin.index, latest.index]))
            else:
                out.append(Anomaly("lost-upsert", f"final op {fin.index} read key {key} as {seen!r}, which no "
                                   "upsert of that key wrote", [fin.index]))
        return out


def upsert_checkers() -> list:
    from checker.fencing import NoFencing

    return [UpsertLinear(), UpsertDomain(), NoFencing()]


try:  # make check_workload("upsert", ...) know it
    from checker.workloads import register

    register("upsert", upsert_checkers)
except ImportError:  # pragma: no cover
    pass
