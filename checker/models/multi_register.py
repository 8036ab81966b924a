"""Knossos's ``multi-register``: a map of registers changed by transactions.

An op is ``:f :txn`` with a value of micro-ops ``[[:read k v] [:write k v]
...]``; the ok completion carries the values read. A read of ``nil`` is
unconstrained (Knossos). The state is the map as a sorted tuple of pairs;
absent keys hold ``nil``. Transactions span keys, so it does not partition.
"""

from __future__ import annotations

from typing import Any

from checker.history import Op
from checker.models.base import DEFAULT, INVALID, Model, freeze, show


class MultiRegister(Model):
    name = "multi-register"

    def init(self) -> Any:
        init = {} if self.initial is DEFAULT or self.initial is None else self.initial
        if not isinstance(init, dict):
            raise ValueError("multi-register: --initial must be a map {key value ...}")
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in init.items() if v is not None), key=repr))

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        src = op.result if (op.type == "ok" and not op.unknown_result) else op.value
        if not isinstance(src, list | tuple):
            raise self.bad(op, "a txn value [[:read k v] [:write k v] ...]")
        mops = []
        for m in src:
            if not (isinstance(m, list | tuple) and len(m) == 3 and m[0] in ("read", "write", "r", "w")):
                raise self.bad(op, "micro-ops [:read k v] or [:write k v]")
            f = "read" if m[0] in ("read", "r") else "write"
            v = freeze(m[2])
            if f == "read" and (v is None or op.type != "ok" or op.unknown_result):
                continue
            mops.append((f, freeze(m[1]), v))
        return ("txn", tuple(mops), None)

    def readonly(self, f: str, arg: Any) -> bool:
        return all(m[0] == "read" for m in arg)

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        d = dict(state)
        for mf, k, v in arg:
            if mf == "read":
                if d.get(k) != v:
                    return INVALID
            elif v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return tuple(sorted(d.items(), key=repr))

    def show_state(self, state: Any) -> str:
        return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in state) + "}"
