"""The smallest failing core of a non-linearizable history (``check
--explain``): a few of its operations that are not linearizable together,
and *1-minimal*: without any one of them the rest is linearizable. A
handful of operations a person can verify by hand.

What "together" means. A plain subset of the operations is not evidence:
linearizability is not preserved by dropping a write (the read of 3 alone
is not linearizable, yet the history may well have written 3). So a core
``C`` is judged as its *witness*: ``C`` itself, plus every other operation
that changes the state, *weakened* to indeterminate (it may have taken
effect at any time after its invoke, or never); the other reads, ``fail``
ops and reads with an unknown result are left out. Weakening and dropping
reads only ever admit more orders, so if the history were linearizable, so
would every witness be: a witness that is not linearizable proves the
history is not, and reading it needs only the core (the weakened ops are
"anything else may or may not have happened"). The core's members are
determinate operations; the indeterminate ones are always in the witness.

How: delta debugging (Zeller & Hildebrandt's ddmin) over the determinate
operations of the partition that failed, with the checker as the oracle
("is this core's witness not linearizable?"), then a last pass that tries
every single removal until none keeps the failure, which makes the core
1-minimal even where the oracle gave up on some witness (an undecided
witness counts as "not failing", so a core never rests on an unknown
verdict). The first cut tried: the operations invoked no later than the
return of the op where every order failed.

The core's operations keep their identity (``Op.index``; the reader's
``History.lines`` gives the input line of each invoke).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from checker.history import Op
from checker.linear import DEFAULT_MAX_CONFIGS, INF, Failure, check_ops, entries_for
from checker.models.base import Model


def weakened(op: Op) -> Op:
    """A copy of ``op`` as an indeterminate op: invoked at the same time,
    may have taken effect any time after, or never."""
    w = copy.copy(op)
    w.type, w.ret, w.result, w.ret_index = "info", None, None, None
    return w


class Oracle:
    """``fails(core)``: is the witness of ``core`` not linearizable?
    (undecided: no). Memoised; counts its searches; raises TimeoutError
    past ``deadline``."""

    def __init__(self, model: Model, ops: list[Op], deadline: float | None, max_configs: int):
        self.model, self.deadline, self.max_configs = model, deadline, max_configs
        self.calls = 0
        self.memo: dict[frozenset[int], bool] = {}
        self.mutating: list[tuple[Op, Op]] = []  # (op, its weakened copy): determinate ops that change the state
        self.background: list[Op] = []  # indeterminate ops that change the state: in every witness
        self.candidates: list[Op] = []  # determinate ops the search uses: what a core is made of
        for e in entries_for(model, ops):
            if e.ret == INF:
                self.background.append(e.op)
                continue
            self.candidates.append(e.op)
            if not model.readonly(e.f, e.arg):
                self.mutating.append((e.op, weakened(e.op)))

    def witness(self, core: list[Op]) -> list[Op]:
        ids = {id(o) for o in core}
        return sorted(list(core) + self.background + [w for o, w in self.mutating if id(o) not in ids], key=lambda o: (o.call, o.index))

    def fails(self, core: list[Op]) -> bool:
        key = frozenset(id(o) for o in core)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError("time limit reached while shrinking")
        self.calls += 1
        left = None if self.deadline is None else max(0.01, self.deadline - time.monotonic())
        r = check_ops(self.witness(core), self.model, time_limit=left, max_configs=self.max_configs, partition=False)
        out = r.valid is False
        self.memo[key] = out
        return out


def _ddmin(items: list[Op], fails: Any) -> list[Op]:
    """Zeller's ddmin: a subset of ``items`` for which ``fails`` holds and
    no complement of a chunk at the finest granularity does."""
    n = 2
    while len(items) >= 2:
        size = len(items) // n
        chunks = [items[i * size:(i + 1) * size] for i in range(n - 1)] + [items[(n - 1) * size:]]
        reduced = False
        for c in chunks:
            if fails(c):
                items, n, reduced = c, 2, True
                break
        if not reduced:
            for i in range(len(chunks)):
                rest = [o for j, c in enumerate(chunks) if j != i for o in c]
                if fails(rest):
                    items, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    return items


def one_minimal(items: list[Op], fails: Any) -> list[Op]:
    """Remove single operations while the failure stays, until no single
    removal keeps it: the result is 1-minimal for ``fails``."""
    changed = True
    while changed:
        changed = False
        for i in range(len(items)):
            rest = items[:i] + items[i + 1:]
            if fails(rest):
                items, changed = rest, True
                break
    return items


def shrink(ops: list[Op], model: Model, failed: Op | None = None, *, time_limit: float | None = 60.0,
           max_configs: int = DEFAULT_MAX_CONFIGS) -> tuple[list[Op], dict[str, Any]]:
    """A 1-minimal core of ``ops`` (one partition's operations, checked with
    ``model``, which must not partition further; see the module docstring),
    in invoke order, and stats (oracle searches, sizes, time). ``failed`` is
    the op where every order failed, for the first cut. Raises ValueError
    if the history is not shown non-linearizable, TimeoutError past
    ``time_limit``."""
    t0 = time.monotonic()
    oracle = Oracle(model, ops, None if time_limit is None else t0 + time_limit, max_configs)
    items = sorted(oracle.candidates, key=lambda o: (o.call, o.index))
    if not oracle.fails(items):
        raise ValueError("the history is not shown non-linearizable: nothing to explain")
    if failed is not None and failed.ret is not None:
        cut = [o for o in items if o.call <= failed.ret]
        if len(cut) < len(items) and oracle.fails(cut):
            items = cut
    start = len(items)
    items = _ddmin(items, oracle.fails)
    items = one_minimal(items, oracle.fails)
    items.sort(key=lambda o: (o.call, o.index))
    stats = {"ops": len(ops), "candidates": len(oracle.candidates), "after_cut": start, "core": len(items),
             "searches": oracle.calls, "time_s": round(time.monotonic() - t0, 4)}
    return items, stats


def explain(failure: Failure, *, time_limit: float | None = 60.0) -> tuple[list[Op], dict[str, Any]]:
    """The core of one failure from ``check_ops`` (its partition's ops and
    model); also stored in ``failure.core``."""
    if failure.part_ops is None or failure.model is None:
        raise ValueError("this failure does not carry its partition's operations and model")
    core, stats = shrink(failure.part_ops, failure.model, failure.op, time_limit=time_limit)
    failure.core = core
    return core, stats


def describe_core(core: list[Op], model: Model, lines: dict[Any, int] | None = None) -> list[str]:
    """The core as text, one op a line, in invoke order: input line, op,
    process, what it did, and its interval."""
    out = []
    for o in core:
        where = f"line {lines[o.index]}: " if lines and o.index in lines else ""
        ret = "never completed (may have happened)" if o.ret is None else f"returned at {o.ret}"
        out.append(f"{where}op {o.index} ({model.describe(o)}), invoked at {o.call}, {ret}")
    return out
