"""Jepsen's independent keys (``jepsen.independent``): many independent
copies of one model, one per key. Every op's value is a pair ``[key v]``
(on invoke and on ok); the history is partitioned by key and each part is
checked against a fresh copy of the inner model with the pairs unwrapped,
which is sound by P-compositionality. Named ``independent-<model>`` on the
command line (e.g. ``independent-cas-register``)."""

from __future__ import annotations

import copy
from typing import Any

from checker.history import Op
from checker.models.base import DEFAULT, Model, freeze, show


class Independent(Model):
    def __init__(self, inner: type[Model], initial: Any = DEFAULT):
        super().__init__(initial)
        self.inner = inner
        self.name = f"independent-{inner.name}"

    def init(self) -> Any:
        return self.inner(self.initial).init()

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        raise self.bad(op, "to be checked key by key (the model partitions)")

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        raise NotImplementedError

    def partition(self, ops: list[Op]) -> list[tuple[Any, list[Op], Model]]:
        by_key: dict[Any, list[Op]] = {}
        for op in ops:
            v = op.value
            if not (isinstance(v, list | tuple) and len(v) == 2):
                raise self.bad(op, "a value [key v] (Jepsen's independent keys)")
            u = copy.copy(op)
            u.value = v[1]
            r = op.result
            if op.type == "ok" and isinstance(r, list | tuple) and len(r) == 2:
                u.result = r[1]
            by_key.setdefault(freeze(v[0]), []).append(u)
        out = []
        for k, part in by_key.items():
            m = self.inner(self.initial)
            m.name = f"{self.inner.name}[{show(k)}]"
            out.append((k, part, m))
        return out
