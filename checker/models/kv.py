"""Key-value models, partitioned by key (P-compositionality: the history
is linearizable iff each key's sub-history is).

``kv`` (Porcupine's kv): ``get`` (output: the value), ``put v``,
``append v`` (string concatenation). Every key starts as ``""``, or as
``--initial`` gives it (a map for per-key values, a scalar for all keys).

``upsert`` (persist's upsert operator, one value per key): ``upsert``/
``put``/``write`` set a key's value (``nil`` deletes), ``delete`` removes it,
``get``/``read`` read it. Keys start absent (``nil``) unless ``--initial``
says otherwise; a read of ``nil`` means absent (the project's histories
record absence explicitly).

An op's value is ``[key value]`` (Jepsen's independent keys; the EDN reader
folds a separate ``:key`` into this shape) or ``{"key": k, "value": v}``.
A read's result is the same shape, or the bare value.
"""

from __future__ import annotations

from typing import Any

from checker.history import Op
from checker.models.base import DEFAULT, INVALID, UNKNOWN, Model, ModelError, freeze, show


def split_kv(v: Any) -> tuple[Any, Any] | None:
    if isinstance(v, dict):
        if "key" not in v:
            return None
        return freeze(v["key"]), freeze(v.get("value"))
    if isinstance(v, list | tuple) and len(v) == 2:
        return freeze(v[0]), freeze(v[1])
    if isinstance(v, list | tuple) and len(v) == 1:
        return freeze(v[0]), None
    return None


class KV(Model):
    """The whole map; state: sorted tuple of ``(key, value)`` pairs with
    every key that differs from its initial value."""

    name = "kv"
    DEFAULT_VALUE: Any = ""
    READS = ("get", "read")
    PUTS = ("put",)
    APPENDS: tuple[str, ...] = ("append",)
    DELETES: tuple[str, ...] = ()
    #: compare-and-set: ``{key, expect, value}``; an ``ok`` one succeeded (a
    #: mismatch is a ``fail``: it did not happen, and the search drops it)
    CASES: tuple[str, ...] = ()

    def key_initial(self, k: Any) -> Any:
        init = self.initial
        if init is DEFAULT:
            return self.DEFAULT_VALUE
        if isinstance(init, dict):
            return freeze(init.get(k, self.DEFAULT_VALUE))
        return freeze(init)

    def init(self) -> Any:
        return ()

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        kv = split_kv(op.value)
        if kv is None:
            raise self.bad(op, "a value [key value] or {key, value}")
        k, v = kv
        f = op.f
        known = op.type == "ok" and not op.unknown_result
        if f in self.READS:
            if not known:
                return ("get", k, UNKNOWN)
            r = op.result
            rkv = split_kv(r) if isinstance(r, dict | list | tuple) else None
            return ("get", k, rkv[1] if rkv is not None else freeze(r))
        if f in self.PUTS:
            return ("put", (k, v), None)
        if f in self.APPENDS:
            return ("append", (k, v), None)
        if f in self.DELETES:
            return ("put", (k, None), None)
        if f in self.CASES:
            if not isinstance(op.value, dict) or "expect" not in op.value:
                raise self.bad(op, "cas with a value {key, expect, value}")
            return ("cas", (k, (freeze(op.value["expect"]), v)), None)
        raise self.bad(op, "one of " + ", ".join(self.READS + self.PUTS + self.APPENDS + self.DELETES + self.CASES))

    def readonly(self, f: str, arg: Any) -> bool:
        return f == "get"

    def _get(self, state: Any, k: Any) -> Any:
        for kk, vv in state:
            if kk == k:
                return vv
        return self.key_initial(k)

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        if f == "get":
            return state if (out is UNKNOWN or out == self._get(state, arg)) else INVALID
        k, v = arg
        if f == "append":
            v = (self._get(state, k) or "") + (v or "")
        if f == "cas":
            expect, v = v
            if self._get(state, k) != expect:
                return state if out is UNKNOWN else INVALID
        d = dict(state)
        d[k] = v
        return tuple(sorted(d.items(), key=repr))

    def partition(self, ops: list[Op]) -> list[tuple[Any, list[Op], Model]] | None:
        by_key: dict[Any, list[Op]] = {}
        for op in ops:
            kv = split_kv(op.value)
            if kv is None:
                raise self.bad(op, "a value [key value] or {key, value}")
            by_key.setdefault(kv[0], []).append(op)
        return [(k, part, KVKey(self, k)) for k, part in by_key.items()]

    def show_state(self, state: Any) -> str:
        return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in state) + "}"


class KVKey(Model):
    """One key of a :class:`KV`: the state is that key's value."""

    def __init__(self, parent: KV, key: Any):
        super().__init__(parent.key_initial(key))
        self.parent = parent
        self.key = key
        self.name = f"{parent.name}[{show(key)}]"

    def init(self) -> Any:
        return self.initial

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        f, arg, out = self.parent.encode(op)
        return (f, None if f == "get" else arg[1], out)

    def readonly(self, f: str, arg: Any) -> bool:
        return f == "get"

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        if f == "get":
            return state if (out is UNKNOWN or out == state) else INVALID
        if f == "append":
            return (state or "") + (arg or "")
        if f == "cas":
            expect, new = arg
            if state != expect:
                return state if out is UNKNOWN else INVALID
            return new
        return arg

    def monotone(self, entries: list[Any]) -> bool:
        """Appends only (no put, no delete), string values: each state
        extends the one before."""
        if not isinstance(self.initial, str):
            return False
        for e in entries:
            if e.f in ("put", "cas") or (e.f == "append" and not isinstance(e.arg, str)):
                return False
            if e.f == "get" and e.out is not UNKNOWN and not isinstance(e.out, str):
                return False
        return True

    def refute(self, entries: list[Any]) -> tuple[Op, str] | None:
        if any(e.f == "append" for e in entries):
            return _refute_appends(self, entries)
        return _refute_puts(self, entries)


def _refute_puts(m: Model, entries: list[Any]) -> tuple[Op, str] | None:
    first: dict[Any, Any] = {}
    for e in entries:
        v = e.arg[1] if e.f == "cas" else e.arg
        if e.f in ("put", "cas") and (v not in first or e.call < first[v]):
            first[v] = e.call
    init = m.init()
    for e in entries:
        if e.f == "get" and e.out is not UNKNOWN and e.out != init:
            t = first.get(e.out)
            if t is None:
                return e.op, f"op {e.op.index} ({m.describe(e.op)}) read {show(e.out)}, which no operation wrote (the initial value is {show(init)})"
            if t > e.ret:
                return e.op, f"op {e.op.index} ({m.describe(e.op)}) read {show(e.out)} before any write of it was invoked"
    return None


def _refute_appends(m: Model, entries: list[Any]) -> tuple[Op, str] | None:
    """With appends only (no put), every value read is the initial value
    followed by some appended strings: a read longer than everything
    appended so far cannot be."""
    if any(e.f == "put" for e in entries):
        return None
    init = m.init() or ""
    total = 0
    calls = sorted((e.call, len(e.arg or "")) for e in entries if e.f == "append")
    import bisect

    times = [c for c, _ in calls]
    acc = []
    for _, n in calls:
        total += n
        acc.append(total)
    for e in entries:
        if e.f == "get" and isinstance(e.out, str):
            if not e.out.startswith(init):
                return e.op, f"op {e.op.index} ({m.describe(e.op)}) read {show(e.out)}, which does not start with the initial value {show(init)}"
            i = bisect.bisect_right(times, e.ret)
            if len(e.out) - len(init) > (acc[i - 1] if i else 0):
                return e.op, f"op {e.op.index} ({m.describe(e.op)}) read {show(e.out)}, longer than all appends invoked before it returned"
    return None


def expand_read_all(ops: list[Op]) -> list[Op]:
    """The project's upsert histories (``docs/history.md``): every ``ok``
    ``read_all`` (result ``{"rows": [[k, v, diff], ...]}``) becomes one
    ``get`` per key of the history (same interval and index; a key it
    lacks reads nil; a key with several rows reads them all, which no state
    matches); a ``read_all`` that failed or is indeterminate constrains
    nothing and is dropped. Checked per key, so the snapshot's atomicity
    across keys is not checked (a weaker, sound check)."""
    if not any(op.f == "read_all" for op in ops):
        return ops
    keys = sorted({op.value["key"] for op in ops if isinstance(op.value, dict) and "key" in op.value}, key=repr)
    out: list[Op] = []
    for op in ops:
        if op.f != "read_all":
            out.append(op)
            continue
        if op.type != "ok" or not isinstance(op.result, dict):
            continue
        rows: dict[Any, list] = {}
        for row in op.result.get("rows") or []:
            if not (isinstance(row, list | tuple) and len(row) == 3):
                raise ModelError(f"op {op.index} (read_all) has a row {row!r}; expected [key value diff]")
            rows.setdefault(row[0], []).append([row[1], row[2]])
        for k in keys:
            vals = rows.get(k, [])
            v = None if not vals else vals[0][0] if len(vals) == 1 and vals[0][1] == 1 else vals
            out.append(Op(op.index, op.process, "get", {"key": k}, "ok", op.call, op.ret, result={"key": k, "value": v}, ret_index=op.ret_index))
    return out


class Upsert(KV):
    """persist's upsert operator, one value per key; also reads the
    project's upsert histories as they are (``read_all``: see
    :func:`expand_read_all`)."""

    name = "upsert"
    DEFAULT_VALUE = None
    READS = ("get", "read")
    PUTS = ("upsert", "put", "write")
    APPENDS = ()
    DELETES = ("delete",)

    def partition(self, ops: list[Op]) -> list[tuple[Any, list[Op], Model]] | None:
        return super().partition(expand_read_all(ops))


class KVCas(KV):
    """The ``kv`` workload's store (``workloads/kv.py``): ``put``, ``get``
    and ``cas`` (``{key, expect, value}``: set the value if it is
    ``expect``; an ``ok`` cas succeeded, a ``fail`` one did not happen).
    Keys start absent (nil)."""

    name = "kv-cas"
    DEFAULT_VALUE = None
    READS = ("get", "read")
    PUTS = ("put",)
    APPENDS = ()
    CASES = ("cas",)
