"""A brute-force linearizability oracle for small histories, independent of
checker.models: its own tiny semantics, and every order of the operations
that respects real time (``y.ret < x.call`` forces y before x; equal times are
concurrent). Indeterminate ops (``info`` or never completed) may be placed
anywhere after their call or left out; ``fail`` ops did not happen."""

from __future__ import annotations

from typing import Any

from checker.history import Op

NIL = None


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def register_step(state: Any, op: Op, cas: bool) -> tuple[bool, Any]:
    known = op.type == "ok" and not op.unknown_result
    if op.f == "read":
        return ((not known) or _freeze(op.result) == state), state
    if op.f == "write":
        return True, op.value
    if op.f == "cas" and cas:
        a, b = op.value
        if not known:
            return True, (b if state == a else state)
        if op.result is False:
            return state != a, state
        return state == a, b
    raise AssertionError(op.f)


def kv_step(state: dict, op: Op) -> tuple[bool, Any]:
    k, v = op.value
    known = op.type == "ok" and not op.unknown_result
    cur = state.get(k, "")
    if op.f == "get":
        return ((not known) or op.result[1] == cur), state
    new = dict(state)
    new[k] = v if op.f == "put" else cur + v
    return True, new


def linearizable(ops: list[Op], step, init: Any) -> bool:
    ops = [o for o in ops if o.type != "fail"]
    det = [o for o in ops if o.type == "ok"]
    INF = float("inf")

    def ret(o: Op) -> float:
        return o.ret if o.type == "ok" else INF

    def go(done: frozenset[int], state: Any) -> bool:
        if all(id(o) in done for o in det):
            return True
        for x in ops:
            if id(x) in done:
                continue
            # x may go next only if no remaining determinate op returned before x's call
            if any(id(y) not in done and ret(y) < x.call for y in ops):
                continue
            ok, s2 = step(state, x)
            if ok and go(done | {id(x)}, s2):
                return True
        return False

    return go(frozenset(), init)
