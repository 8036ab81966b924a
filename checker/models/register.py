"""Registers, as in Knossos: ``register`` (read, write) and ``cas-register``
(read, write, cas). The state is the value; ``None`` (nil) is "absent".

Operations: ``read`` (output: the value read), ``write v``, ``cas [a b]``
(output: ``False`` when the cas ran and failed, as in the etcd logs; any
other ok result means it succeeded).
"""

from __future__ import annotations

from typing import Any

from checker.history import Op
from checker.models.base import DEFAULT, INVALID, UNKNOWN, Model, freeze, show


class Register(Model):
    name = "register"
    FS: tuple[str, ...] = ("read", "write")

    def init(self) -> Any:
        return None if self.initial is DEFAULT else freeze(self.initial)

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        f = op.f
        if f not in self.FS:
            raise self.bad(op, " or ".join(self.FS))
        known = op.type == "ok" and not op.unknown_result
        if f == "read":
            return ("read", None, freeze(op.result) if known else UNKNOWN)
        if f == "write":
            return ("write", freeze(op.value), None)
        v = op.value
        if not (isinstance(v, list | tuple) and len(v) == 2):
            raise self.bad(op, "cas with a value [from to]")
        return ("cas", (freeze(v[0]), freeze(v[1])), (op.result is not False) if known else UNKNOWN)

    def readonly(self, f: str, arg: Any) -> bool:
        return f == "read"

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        if f == "read":
            return state if (out is UNKNOWN or out == state) else INVALID
        if f == "write":
            return arg
        a, b = arg
        if out is UNKNOWN:
            return b if state == a else state
        if out:
            return b if state == a else INVALID
        return state if state != a else INVALID

    def refute(self, entries: list[Any]) -> tuple[Op, str] | None:
        """A read of a value that nothing could have put there: not the
        initial value, and no write or cas to it invoked before the read
        returned."""
        first_call: dict[Any, Any] = {}
        for e in entries:
            if e.f == "write":
                v = e.arg
            elif e.f == "cas" and e.out is not False:
                v = e.arg[1]
            else:
                continue
            if v not in first_call or e.call < first_call[v]:
                first_call[v] = e.call
        init = self.init()
        for e in entries:
            if e.f == "read" and e.out is not UNKNOWN and e.out != init:
                t = first_call.get(e.out)
                if t is None:
                    return e.op, f"op {e.op.index} ({self.describe(e.op)}) read {show(e.out)}, which no operation wrote (the initial value is {show(init)})"
                if t > e.ret:
                    return e.op, f"op {e.op.index} ({self.describe(e.op)}) read {show(e.out)} before any write of {show(e.out)} was invoked"
        return None


class CASRegister(Register):
    name = "cas-register"
    FS = ("read", "write", "cas")
