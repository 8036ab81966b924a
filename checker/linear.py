"""Linearizability: is there a total order of the operations, consistent with
real time, in which the model explains every result?

The search is Wing & Gong's, as Lowe improved it (memoisation of
*configurations*: the operations linearized so far and the model state) and
in Lowe's *just-in-time* form: events are taken in time order and an
operation is linearized only when some return forces it. A configuration is
``(state, det, inf)``:

- ``state``: the model's state (hashable, compared by value);
- ``det``: an int bitset of the *open* determinate operations (invoked, not
  returned) already linearized. Slots are reused: once an operation has
  returned every surviving configuration has linearized it, so its bit is
  dropped and its slot freed; keys stay small ints however long the history;
- ``inf``: an int bitset of the indeterminate operations consumed.

At the return of a determinate operation ``r``, the configurations right
after ``r`` are those reached by linearizing open operations until ``r``
itself can be. Three searches share this model of the problem:

- :func:`search_dfs` (the default): depth-first over returns, lazily, with
  every configuration admitted at a position remembered (so none is
  explored twice) and reads linearized greedily;
- :func:`search_sweep`: breadth-first, carrying every surviving
  configuration from return to return; a second opinion for the tests;
- :func:`search_wgl`: Porcupine's algorithm transcribed (no just-in-time
  step); the benchmark's in-run anchor and a third opinion.

The operation where every order failed is the return no configuration
could get past; the longest sequence linearized on the way is the *longest
linearizable prefix*.

Semantics of the history (``[call, ret]`` closed: touching intervals are
concurrent):

- ``fail`` operations did not happen: dropped.
- Indeterminate operations (``info``, never completed) may take effect at
  any point after their call, or never: they have no return event, and the
  search succeeds once every determinate operation is linearized. Those
  with the same ``(f, input)`` are interchangeable once invoked, so only the
  earliest unconsumed one of each class is tried, and only when it changes
  the state (linearizing it otherwise only loses options); a configuration
  that consumed a superset of another's (same state, same ``det``) is
  pruned. Read-only ones are dropped outright, as are ``ok`` read-only ones
  with an unknown result.
- Models that partition (P-compositionality, e.g. kv by key) are checked
  part by part; the history is linearizable iff every part is.

Cheap refutations run first (:meth:`Model.refute`: e.g. a read of a value
nobody wrote). A time limit and a bound on the configurations explored
turn into ``valid="unknown"`` with the reason.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from checker.history import History, HistoryError, Op
from checker.models.base import INVALID, UNKNOWN, Model, show
from checker.record import Record
from checker.result import UNKNOWN as UNKNOWN_VALID
from checker.result import Anomaly, Result

INF = float("inf")
CHECKER = "linearizable"
DEFAULT_MAX_CONFIGS = 1_000_000


class Entry(Record):
    """One operation as the search sees it."""

    __slots__ = ("id", "op", "f", "arg", "out", "call", "ret")

    def __init__(self, id: int, op: Op, f: str, arg: Any, out: Any, call: Any, ret: Any):
        self.id = id  # position in the partition's entry list
        self.op = op
        self.f, self.arg = f, arg
        self.out = out  # UNKNOWN for indeterminate ops
        self.call = call
        self.ret = ret  # INF for indeterminate ops


class Failure(Record):
    """Where the search ran out of orders: the data for reports and pictures."""

    __slots__ = ("op", "prefix", "states", "concurrent", "partition", "model", "message", "part_ops", "ahead", "core")

    def __init__(
        self,
        op: Op,  # the operation no order could linearize
        prefix: list[Op],  # the longest linearizable prefix found, in order
        states: list[Any],  # model states in which ``op`` could have taken effect
        concurrent: list[Op],  # operations open when ``op`` returned
        partition: Any = None,
        model: Model | None = None,
        message: str = "",
        part_ops: list[Op] | None = None,  # the operations of the failed partition
        ahead: list[Op] | None = None,
    ):
        self.op, self.prefix, self.states, self.concurrent = op, prefix, states, concurrent
        self.partition, self.model, self.message, self.part_ops = partition, model, message, part_ops
        #: the reads still to come that no state here could grow into (when
        #: the search pruned by prefix and named this op before the one a
        #: search without that pruning would name)
        self.ahead: list[Op] = [] if ahead is None else ahead
        #: a 1-minimal non-linearizable subset of ``part_ops`` (``--explain``)
        self.core: list[Op] | None = None


class Outcome(Record):
    __slots__ = ("valid", "failure", "reason", "stats")

    def __init__(self, valid: Any, failure: Failure | None = None, reason: str | None = None, stats: dict[str, Any] | None = None):
        self.valid = valid  # True, False or "unknown"
        self.failure, self.reason = failure, reason
        self.stats = {} if stats is None else stats


class _GiveUp(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def entries_for(model: Model, ops: list[Op]) -> list[Entry]:
    """The operations the search must consider, encoded by ``model``."""
    out: list[Entry] = []
    for op in ops:
        if op.type == "fail":
            continue
        f, arg, res = model.encode(op)
        if op.ret is not None and op.ret < op.call:
            raise HistoryError(f"op {op.index} ({op.f}) completes at time {op.ret}, before its invoke at {op.call}; expected non-decreasing times")
        if op.type == "ok":
            if (res is UNKNOWN or op.unknown_result) and model.readonly(f, arg):
                continue
            out.append(Entry(len(out), op, f, arg, res, op.call, op.ret))
        else:  # info / never completed
            if model.readonly(f, arg):
                continue
            out.append(Entry(len(out), op, f, arg, UNKNOWN, op.call, INF))
    return out


def search_sweep(model: Model, entries: list[Entry], deadline: float | None = None, max_configs: int = DEFAULT_MAX_CONFIGS) -> Outcome:
    """Decide one (partition's) history breadth-first: carry every surviving
    configuration from return to return (see the module docstring). Kept
    beside :func:`search_dfs` as an independent second opinion."""
    step = model.step
    init = model.init()
    events: list[tuple[Any, int, int]] = []
    for e in entries:
        events.append((e.call, 0, e.id))
        if e.ret != INF:
            events.append((e.ret, 1, e.id))
    events.sort(key=lambda t: (t[0], t[1]))

    # configuration (state, det bits, info bits) -> path, where a path is
    # (entry id, parent path, length) or None
    configs: dict[tuple[Any, int, int], Any] = {(init, 0, 0): None}
    bit: list[int] = [0] * len(entries)
    free_slots: list[int] = []
    next_slot = 0
    next_info = 0
    open_det: list[Entry] = []
    # indeterminate classes: (f, arg) -> [entries in call order]
    classes: dict[tuple[str, Any], list[Entry]] = {}
    class_lists: list[list[Entry]] = []
    explored = 0
    widest = 1
    ticks = 0

    for _t, kind, eid in events:
        e = entries[eid]
        if kind == 0:
            if e.ret == INF:
                bit[eid] = 1 << next_info
                next_info += 1
                key = (e.f, e.arg)
                lst = classes.get(key)
                if lst is None:
                    lst = classes[key] = []
                    class_lists.append(lst)
                lst.append(e)
            else:
                if free_slots:
                    slot = free_slots.pop()
                else:
                    slot = next_slot
                    next_slot += 1
                bit[eid] = 1 << slot
                open_det.append(e)
            continue

        # The return of determinate op e: every configuration must linearize
        # it. Configurations are explored in order of how many indeterminate
        # ops they consumed (buckets), so that one consuming a superset of
        # another's (same state, same determinate ops) is met after it and
        # pruned: it can only do less.
        rb = bit[eid]
        rf, rarg, rout = e.f, e.arg, e.out
        open_det.remove(e)
        new: dict[tuple[Any, int, int], Any] = {}
        seen: set[tuple[Any, int, int]] = set()
        groups: dict[tuple[Any, int], list[int]] = {}
        buckets: list[list[tuple[Any, int, int, Any]]] = []

        def admit(state: Any, det: int, inf: int) -> bool:
            k = (state, det, inf)
            if k in seen:
                return False
            seen.add(k)
            g = groups.get((state, det))
            if g is None:
                groups[(state, det)] = [inf]
                return True
            for m in g:
                if m | inf == inf:
                    return False
            g.append(inf)
            return True

        for (state, det, inf), path in sorted(configs.items(), key=lambda kv: kv[0][2].bit_count()):
            if det & rb:
                k = (state, det ^ rb, inf)
                if k not in new:
                    new[k] = path
            elif admit(state, det, inf):
                n = inf.bit_count()
                while len(buckets) <= n:
                    buckets.append([])
                buckets[n].append((state, det, inf, path))
        others = [(x, bit[x.id]) for x in open_det]
        best = None
        best_len = -1
        level = 0
        while level < len(buckets):
            stack = buckets[level]
            if not stack:
                level += 1
                continue
            state, det, inf, path = stack.pop()
            ticks += 1
            if not ticks & 0x3FF:
                if deadline is not None and time.monotonic() > deadline:
                    raise _GiveUp("time limit reached")
                if len(seen) > max_configs:
                    raise _GiveUp(f"search-space limit of {max_configs} configurations reached")
            plen = path[2] if path is not None else 0
            if plen > best_len:
                best, best_len = path, plen
            s2 = step(state, rf, rarg, rout)
            if s2 is not INVALID:
                k = (s2, det, inf)
                if k not in new:
                    new[k] = (eid, path, plen + 1)
            for x, xb in others:
                if det & xb:
                    continue
                s2 = step(state, x.f, x.arg, x.out)
                if s2 is not INVALID and admit(s2, det | xb, inf):
                    stack.append((s2, det | xb, inf, (x.id, path, plen + 1)))
            up = None
            for lst in class_lists:
                for x in lst:
                    xb = bit[x.id]
                    if not inf & xb:
                        break
                else:
                    continue
                s2 = step(state, x.f, x.arg, UNKNOWN)
                if s2 is INVALID or s2 == state:
                    continue
                if admit(s2, det, inf | xb):
                    if up is None:
                        if len(buckets) == level + 1:
                            buckets.append([])
                        up = buckets[level + 1]
                    up.append((s2, det, inf | xb, (x.id, path, plen + 1)))
        explored += len(seen)
        if not new:
            prefix: list[Op] = []
            p = best
            while p is not None:
                prefix.append(entries[p[0]].op)
                p = p[1]
            prefix.reverse()
            states = sorted({k[0] for k in seen}, key=repr)
            fail = Failure(e.op, prefix, states, [x.op for x in open_det], model=model)
            return Outcome(False, fail, stats={"configurations": explored, "widest": widest})
        free_slots.append(rb.bit_length() - 1)
        configs = new
        if len(new) > widest:
            widest = len(new)
    return Outcome(True, stats={"configurations": explored, "widest": widest})


class _Plan:
    """What the search needs at each return event, computed once: the
    returning entry, its bit, the other open determinate entries with their
    bits, and, per class of indeterminate entries, those invoked so far."""

    __slots__ = ("r", "rb", "classes", "reads", "writers", "r_ro", "bound", "must")

    def __init__(self, r: Entry, rb: int, reads: list[tuple[Entry, int]], writers: list[tuple[Entry, int]],
                 classes: list[tuple[list[Entry], int]], r_ro: bool):
        self.r, self.rb, self.classes = r, rb, classes
        self.reads = reads  # open read-only entries (bits), in invoke order
        self.writers = writers  # the other open determinate entries
        self.r_ro = r_ro
        #: monotone models: the longest common prefix of the outputs of the
        #: reads invoked after r returns (None: no such read)
        self.bound: Any = None
        #: monotone models: the open reads, r included if it is one, with
        #: their bits (each not yet linearized must extend the state)
        self.must: list[tuple[Any, int]] = []

    def others(self) -> list[Entry]:
        """The open determinate entries other than r, in invoke order."""
        return sorted((x for x, _ in self.reads + self.writers), key=lambda x: (x.call, x.id))


def _plan(entries: list[Entry], model: Model | None = None) -> tuple[list[_Plan], list[int]]:
    events: list[tuple[Any, int, int]] = []
    for e in entries:
        events.append((e.call, 0, e.id))
        if e.ret != INF:
            events.append((e.ret, 1, e.id))
    events.sort(key=lambda t: (t[0], t[1]))
    ro = [model.readonly(e.f, e.arg) for e in entries] if model is not None else [False] * len(entries)
    monotone = model is not None and model.monotone(entries)
    bit = [0] * len(entries)
    free_slots: list[int] = []
    next_slot = next_info = 0
    open_r: dict[int, tuple[Entry, int]] = {}
    open_w: dict[int, tuple[Entry, int]] = {}
    classes: dict[tuple[str, Any], list[Entry]] = {}
    snapshot: list[tuple[list[Entry], int]] = []
    plans: list[_Plan] = []
    for _t, kind, eid in events:
        e = entries[eid]
        if kind == 0:
            if e.ret == INF:
                bit[eid] = 1 << next_info
                next_info += 1
                classes.setdefault((e.f, e.arg), []).append(e)
                snapshot = [(lst, len(lst)) for lst in classes.values()]
            else:
                slot = free_slots.pop() if free_slots else next_slot
                if slot == next_slot:
                    next_slot += 1
                b = bit[eid] = 1 << slot
                (open_r if ro[eid] else open_w)[eid] = (e, b)
            continue
        r_ro = ro[eid]
        del (open_r if r_ro else open_w)[eid]
        rb = bit[eid]
        plan = _Plan(e, rb, list(open_r.values()), list(open_w.values()), snapshot, r_ro)
        if monotone:
            if r_ro and e.out is not UNKNOWN:
                plan.must.append((e.out, rb))
            plan.must.extend((x.out, xb) for x, xb in plan.reads if x.out is not UNKNOWN)
        plans.append(plan)
        free_slots.append(rb.bit_length() - 1)
    if monotone:
        _bounds(model, entries, plans)  # type: ignore[arg-type]
    return plans, bit


def _lcp(a: Any, b: Any) -> Any:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return a[:i]


def _bounds(model: Model, entries: list[Entry], plans: list[_Plan]) -> None:
    """For a monotone model (every state a prefix of every later state: a
    key that is only appended to), the bound of each position: the longest
    common prefix of the outputs of the reads invoked after its returning
    op returns. Every configuration at that position is linearized before
    those reads, so its state must be a prefix of each read's output, i.e.
    of their common prefix; a configuration that is not cannot be extended
    to a linearization and is pruned on admission (issue 12: a 50-client
    append key otherwise explores every order of the open appends)."""
    reads = sorted(((e.call, e.out) for e in entries if e.ret != INF and e.out is not UNKNOWN and model.readonly(e.f, e.arg)), key=lambda t: t[0])
    if not reads:
        return
    suffix: list[Any] = [None] * (len(reads) + 1)
    acc: Any = None
    for i in range(len(reads) - 1, -1, -1):
        out = reads[i][1]
        acc = out if acc is None else _lcp(acc, out)
        suffix[i] = acc
    import bisect

    calls = [c for c, _ in reads]
    for plan in plans:
        plan.bound = suffix[bisect.bisect_right(calls, plan.r.ret)]


def search_dfs(model: Model, entries: list[Entry], deadline: float | None = None, max_configs: int = DEFAULT_MAX_CONFIGS, prune: bool = True) -> Outcome:
    """Decide one (partition's) history depth-first (Wing & Gong / Lowe,
    just-in-time): from a configuration at return ``p``, lazily enumerate
    the configurations right after ``r_p`` and descend into the first; back
    up when one has no way on. A valid history is usually decided along one
    path however concurrent it is; an invalid one explores what the sweep
    explores, once: every configuration admitted at a position is remembered
    (with subsumption on the indeterminate ops consumed), and one met again
    is known to fail, since everything reachable from it was tried.

    The failing op is the return at the deepest position reached: there no
    configuration, in any order, lets it take effect (the same op the sweep
    names).

    Reads are linearized greedily: a read-only op that is open and whose
    result matches the current state is linearized at once, without
    branching (it changes nothing and only discharges an obligation, so the
    configuration with it linearized dominates the one without); and when
    the returning op is such a read, taking it at once is the only successor
    tried from that configuration."""
    step = model.step
    plans, bit = _plan(entries, model)
    monotone = prune and any(pl.bound is not None or pl.must for pl in plans)
    P = len(plans)
    if P == 0:
        return Outcome(True, stats={"configurations": 0})
    seen_at: list[set[tuple[Any, int, int]] | None] = [None] * P
    groups_at: list[dict[tuple[Any, int], list[int]] | None] = [None] * P
    counter = [0]

    def admit(p: int, state: Any, det: int, inf: int) -> bool:
        if monotone:
            plan = plans[p]
            bound = plan.bound
            if bound is not None and bound[: len(state)] != state:
                return False
            for out, xb in plan.must:
                if not det & xb and out[: len(state)] != state:
                    return False
        seen = seen_at[p]
        if seen is None:
            seen = seen_at[p] = set()
            groups_at[p] = {}
        k = (state, det, inf)
        if k in seen:
            return False
        seen.add(k)
        counter[0] += 1
        groups = groups_at[p]
        g = groups.get((state, det))  # type: ignore[union-attr]
        if g is None:
            groups[(state, det)] = [inf]  # type: ignore[index]
            return True
        if inf:
            for m in g:
                if m | inf == inf:
                    return False
        g.append(inf)
        return True

    best = [0, -1, None]  # position, prefix length, path at the deepest point reached
    ticks = [0]

    def norm(reads: list[tuple[Entry, int]], state: Any, det: int, path: Any) -> tuple[int, Any]:
        """Linearize every open read that the state satisfies."""
        for x, xb in reads:
            if not det & xb and step(state, x.f, x.arg, x.out) is not INVALID:
                det |= xb
                path = (x.id, path, (path[2] if path is not None else 0) + 1)
        return det, path

    def expand(p: int, state: Any, det: int, inf: int, path: Any):
        """Configurations right after r_p reachable from this one."""
        plan = plans[p]
        r, rb = plan.r, plan.rb
        plen = path[2] if path is not None else 0
        if p > best[0] or (p == best[0] and plen > best[1]):
            best[0], best[1], best[2] = p, plen, path
        if det & rb:
            yield (state, det ^ rb, inf, path)
            return
        rid, rf, rarg, rout = r.id, r.f, r.arg, r.out
        others, classes, reads, r_ro = plan.writers, plan.classes, plan.reads, plan.r_ro
        buckets: list[list[tuple[Any, int, int, Any]]] = [[(state, det, inf, path)]]
        level = 0
        while level < len(buckets):
            stack = buckets[level]
            if not stack:
                level += 1
                continue
            state, det, inf, path = stack.pop()
            ticks[0] += 1
            if not ticks[0] & 0x3FF:
                if deadline is not None and time.monotonic() > deadline:
                    raise _GiveUp("time limit reached")
                if counter[0] > max_configs:
                    raise _GiveUp(f"search-space limit of {max_configs} configurations reached")
            plen = path[2] if path is not None else 0
            if p == best[0] and plen > best[1]:
                best[1], best[2] = plen, path
            s2 = step(state, rf, rarg, rout)
            if s2 is not INVALID:
                yield (s2, det, inf, (rid, path, plen + 1))
                if r_ro:
                    continue  # a read taken now dominates every other way on
            for x, xb in others:
                if det & xb:
                    continue
                s2 = step(state, x.f, x.arg, x.out)
                if s2 is not INVALID:
                    d2, p2 = norm(reads, s2, det | xb, (x.id, path, plen + 1))
                    if admit(p, s2, d2, inf):
                        stack.append((s2, d2, inf, p2))
            up = None
            for lst, n in classes:
                for i in range(n):
                    x = lst[i]
                    xb = bit[x.id]
                    if not inf & xb:
                        break
                else:
                    continue
                s2 = step(state, x.f, x.arg, UNKNOWN)
                if s2 is INVALID or s2 == state:
                    continue
                d2, p2 = norm(reads, s2, det, (x.id, path, plen + 1))
                if admit(p, s2, d2, inf | xb):
                    if up is None:
                        if len(buckets) == level + 1:
                            buckets.append([])
                        up = buckets[level + 1]
                    up.append((s2, d2, inf | xb, p2))

    init = model.init()
    d0, p0 = norm(plans[0].reads, init, 0, None)
    admit(0, init, d0, 0)
    stack = [(0, expand(0, init, d0, 0, p0))]
    while stack:
        p, gen = stack[-1]
        nxt = next(gen, None)
        if nxt is None:
            stack.pop()
            continue
        if p + 1 == P:
            return Outcome(True, stats={"configurations": counter[0]})
        s2, det, inf, path = nxt
        q = p + 1
        while True:
            # positions whose returning op is already linearized have one
            # successor: pass through them without a frame or a memo entry
            plan = plans[q]
            det, path = norm(plan.reads, s2, det, path)
            if not det & plan.rb:
                break
            det ^= plan.rb
            q += 1
            if q == P:
                return Outcome(True, stats={"configurations": counter[0]})
        if admit(q, s2, det, inf):
            stack.append((q, expand(q, s2, det, inf, path)))
    fp = best[0]
    plan = plans[fp]
    prefix: list[Op] = []
    q = best[2]
    while q is not None:
        prefix.append(entries[q[0]].op)
        q = q[1]
    prefix.reverse()
    states = sorted({k[0] for k in (seen_at[fp] or ())}, key=repr)
    fail = Failure(plan.r.op, prefix, states, [x.op for x in plan.others()], model=model)
    if monotone:
        future = sorted(
            (e for e in entries if e.ret != INF and e.out is not UNKNOWN and model.readonly(e.f, e.arg) and e.call > plan.r.ret),
            key=lambda e: (len(e.out), e.call),
        )
        fail.ahead = [x.op for x, _ in plan.reads] + [e.op for e in future[:1]]
    return Outcome(False, fail, stats={"configurations": counter[0], "pruned": monotone})


class _Node:
    __slots__ = ("e", "match", "prev", "next")

    def __init__(self, e: Entry | None, match: _Node | None):
        self.e, self.match = e, match
        self.prev: _Node | None = None
        self.next: _Node | None = None


def search_wgl(model: Model, entries: list[Entry], deadline: float | None = None, max_configs: int = DEFAULT_MAX_CONFIGS) -> Outcome:
    """Porcupine's algorithm, transcribed: Wing & Gong's search over a doubly
    linked list of call and return entries sorted by time (calls first at
    equal times), *lift*ing an op out of the list when it is linearized and
    *unlift*ing it on backtrack, with Lowe's cache of (linearized bitset,
    state). Indeterminate ops return at +infinity; the search succeeds once
    every determinate op is linearized. No just-in-time linearization, no
    classes, no greedy reads: kept as the in-run anchor for the benchmark
    and as a third opinion for the tests."""
    step = model.step
    events: list[tuple[Any, int, int]] = []
    for e in entries:
        events.append((e.call, 0, e.id))
        events.append((e.ret, 1, e.id))
    events.sort(key=lambda t: (t[0], t[1]))
    head = _Node(None, None)
    calls_of: dict[int, _Node] = {}
    rets_of: dict[int, _Node] = {}
    prev = head
    for _t, kind, eid in events:
        if kind == 1:
            node = _Node(entries[eid], None)
            rets_of[eid] = node
        else:
            node = _Node(entries[eid], None)
            calls_of[eid] = node
        prev.next, node.prev = node, prev
        prev = node
    for eid, c in calls_of.items():
        c.match = rets_of[eid]

    def lift(c: _Node) -> None:
        c.prev.next = c.next  # type: ignore[union-attr]
        if c.next is not None:
            c.next.prev = c.prev
        r = c.match
        r.prev.next = r.next  # type: ignore[union-attr]
        if r.next is not None:
            r.next.prev = r.prev

    def unlift(c: _Node) -> None:
        r = c.match
        r.prev.next = r  # type: ignore[union-attr]
        if r.next is not None:
            r.next.prev = r
        c.prev.next = c  # type: ignore[union-attr]
        if c.next is not None:
            c.next.prev = c

    det_left = sum(1 for e in entries if e.ret != INF)
    state = model.init()
    lin = 0
    cache: set[tuple[int, Any]] = set()
    calls: list[tuple[_Node, Any]] = []
    node = head.next
    best_len, best_prefix, best_op = -1, [], None
    ticks = 0
    while det_left:
        ticks += 1
        if not ticks & 0x3FFF:
            if deadline is not None and time.monotonic() > deadline:
                raise _GiveUp("time limit reached")
            if len(cache) > max_configs:
                raise _GiveUp(f"search-space limit of {max_configs} configurations reached")
        if node is not None and node.match is not None:  # a call entry
            e = node.e
            s2 = step(state, e.f, e.arg, e.out)
            if s2 is not INVALID:
                nl = lin | (1 << e.id)
                k = (nl, s2)
                if k not in cache:
                    cache.add(k)
                    calls.append((node, state))
                    state, lin = s2, nl
                    if e.ret != INF:
                        det_left -= 1
                    lift(node)
                    node = head.next
                    continue
            node = node.next
        else:  # a return entry: every op that could go first failed
            if len(calls) > best_len and node is not None:
                best_len, best_prefix, best_op = len(calls), [c.e.op for c, _ in calls], node.e
            if not calls:
                fail_e = best_op or (node.e if node is not None else entries[0])
                fail = Failure(fail_e.op, best_prefix, [], [], model=model)
                return Outcome(False, fail, stats={"configurations": len(cache)})
            node, state = calls.pop()
            e = node.e
            lin ^= 1 << e.id
            if e.ret != INF:
                det_left += 1
            unlift(node)
            node = node.next
    return Outcome(True, stats={"configurations": len(cache)})


ALGORITHMS = {"dfs": search_dfs, "sweep": search_sweep, "wgl": search_wgl}
search = search_dfs


def _prefix(fail: Failure) -> str:
    n = len(fail.prefix)
    if not n:
        return "no operation could be linearized before it"
    tail = ", ".join(f"op {o.index}" for o in fail.prefix[-3:])
    return f"longest linearizable prefix: {n} op{'s' if n != 1 else ''}, ending {tail}"


def _message(model: Model, fail: Failure, label: Any) -> str:
    op = fail.op
    where = f" for key {show(label)}" if label is not None else ""
    if fail.ahead:
        states = ", ".join(model.show_state(s) for s in fail.states[:6]) + (" ..." if len(fail.states) > 6 else "")
        reads = "; ".join(f"op {o.index} ({model.describe(o)})" for o in fail.ahead[:4])
        return (
            f"op {op.index} ({model.describe(op)}){where} cannot be linearized: in every order of the operations "
            f"before and concurrent with it the {model.name} could only be in state {states or '(none)'} by then, and "
            f"values only grow, but no such state is a prefix of what the reads still to come return: {reads} "
            f"({_prefix(fail)})"
        )
    if not fail.states:
        return (
            f"op {op.index} ({model.describe(op)}){where} cannot be linearized: no order of the operations before "
            f"and concurrent with it explains its result ({_prefix(fail)})"
        )
    states = ", ".join(model.show_state(s) for s in fail.states[:6]) + (" ..." if len(fail.states) > 6 else "")
    return (
        f"op {op.index} ({model.describe(op)}){where} cannot be linearized: in every order of the operations "
        f"before and concurrent with it the {model.name} could only be in state {states} when it took effect, "
        f"and none of those gives that result ({_prefix(fail)})"
    )


FIRST_BUDGET = 2_000  # configurations per partition in the first round
GROWTH = 8  # each round multiplies the budget by this


class _Task(Record):
    """One partition's search, as the scheduler sees it."""

    __slots__ = ("i", "label", "part", "model", "entries", "budget", "reason")

    def __init__(self, i: int, label: Any, part: list[Op], model: Model, entries: list[Entry]):
        self.i = i  # the partition's place in the model's partition order
        self.label, self.part, self.model, self.entries = label, part, model, entries
        self.budget = 0  # the budget of the last attempt
        self.reason: str | None = None  # why the last attempt gave up


def _undecided(tasks: list[_Task]) -> list[dict[str, Any]]:
    return [{"partition": _jsonable(t.label), "ops": len(t.part), "reason": t.reason or "not checked"} for t in tasks]


def _plain_failure(search_fn: Any, t: _Task, out: Outcome, deadline: float | None, budget: int) -> Outcome:
    """A failure found with pruning by prefix names the return where no
    state could still grow into the reads to come, which may be earlier
    than the op where every order actually failed. Search again without
    that pruning, within a small budget, to name the same op as every other
    search; if that is too costly keep the first failure (its message names
    the reads ahead)."""
    try:
        plain = search_fn(t.model, t.entries, deadline, min(budget, max(20_000, 20 * out.stats.get("configurations", 0))), prune=False)
    except _GiveUp:
        return out
    if plain.valid is not False:  # cannot happen: pruning is sound
        raise AssertionError(f"pruned and plain searches disagree on partition {t.label!r}")
    plain.stats["configurations"] += out.stats.get("configurations", 0)
    return plain


def check_ops(
    ops: list[Op],
    model: Model,
    *,
    time_limit: float | None = None,
    max_configs: int = DEFAULT_MAX_CONFIGS,
    partition: bool = True,
    refute: bool = True,
    algorithm: str = "dfs",
    all_failures: bool = False,
    first_budget: int = FIRST_BUDGET,
    prune: bool = True,
) -> Result:
    """Linearizability of ``ops`` against ``model``: a :class:`Result`
    (checker ``"linearizable"``). An invalid result names the operation where
    every order failed and the ops concurrent with it; ``stats["linear"]``
    holds the longest linearizable prefix (op indices) and the partition.

    Partitions are scheduled so that one hard partition never hides a
    violation in another (the history is linearizable iff every partition
    is, so one violation anywhere decides it):

    1. every partition's cheap refutation (:meth:`Model.refute`) first;
    2. then rounds: each undecided partition is searched, smallest first,
       with a budget of ``first_budget`` configurations, multiplied by
       :data:`GROWTH` each round, up to ``max_configs`` (the cap is *per
       partition*); a partition that exceeds its budget is retried from
       scratch in the next round (the geometric growth bounds the repeated
       work to 1/(GROWTH-1) of the last round).

    The first violation ends the check (as Porcupine does) unless
    ``all_failures``, which decides every partition it can. The verdict is
    ``False`` if any partition is not linearizable; else ``"unknown"`` if a
    partition reached the cap or the time limit (``stats["undecided"]``
    lists them with the reason, and ``reason`` names them); else ``True``.
    With ``all_failures``, ``stats["undecided"]`` is kept beside a ``False``
    verdict too."""
    t0 = time.monotonic()
    deadline = t0 + time_limit if time_limit is not None else None
    if max_configs < 1:
        raise ValueError(f"max_configs must be at least 1, got {max_configs}")
    parts = model.partition(ops) if partition else None
    if parts is None:
        parts = [(None, ops, model)]
    stats: dict[str, Any] = {"ops": len(ops), "partitions": len(parts), "configurations": 0}
    found: list[tuple[int, Anomaly, Failure, dict[str, Any]]] = []
    tasks: list[_Task] = []
    for i, (label, part, m) in enumerate(parts):
        entries = entries_for(m, part)
        if refute:
            r = m.refute(entries)
            if r is not None:
                bad_op, msg = r
                where = f" (key {show(label)})" if label is not None else ""
                found.append((
                    i,
                    Anomaly("not-linearizable", msg + where, [bad_op.index]),
                    Failure(bad_op, [], [], [], partition=label, model=m, message=msg + where, part_ops=part),
                    {"partition": _jsonable(label), "failed_op": bad_op.index, "prefix": [], "refuted": True},
                ))
                if not all_failures:
                    break
                continue
        tasks.append(_Task(i, label, part, m, entries))
    search_fn = ALGORITHMS[algorithm]
    if algorithm == "dfs" and not prune:
        def search_fn(m: Model, es: list[Entry], dl: float | None, cap: int, prune: bool = False) -> Outcome:
            return search_dfs(m, es, dl, cap, prune=False)
    undecided: list[_Task] = []
    stop = bool(found) and not all_failures
    budget = min(max(1, first_budget), max_configs)
    pending = [] if stop else sorted(tasks, key=lambda t: len(t.entries))
    gc_was = gc.isenabled()
    gc.disable()  # millions of small tuples, no cycles: collections only cost time
    try:
        while pending and not stop:
            retry: list[_Task] = []
            for i, t in enumerate(pending):
                t.budget = budget
                try:
                    out = search_fn(t.model, t.entries, deadline, budget)
                except _GiveUp as g:
                    t.reason = g.reason
                    if g.reason.startswith("time limit"):
                        # the partitions that only exceeded this round's
                        # budget (not the cap) are undecided for lack of time too
                        for u in retry + pending[i:]:
                            u.reason = g.reason
                        undecided.extend(retry + pending[i:])
                        retry = []
                        stop = True
                        break
                    (retry if budget < max_configs else undecided).append(t)
                    continue
                stats["configurations"] += out.stats.get("configurations", 0)
                if out.valid is False and out.stats.get("pruned"):
                    out = _plain_failure(search_fn, t, out, deadline, budget)
                if out.valid is False:
                    f = out.failure
                    assert f is not None
                    f.partition = t.label
                    f.part_ops = t.part
                    f.message = _message(t.model, f, t.label)
                    found.append((
                        t.i,
                        Anomaly("not-linearizable", f.message, [f.op.index] + [o.index for o in f.concurrent]),
                        f,
                        {"partition": _jsonable(t.label), "failed_op": f.op.index, "prefix": [o.index for o in f.prefix]},
                    ))
                    if not all_failures:
                        stop = True
                        break
            pending = retry
            budget = min(budget * GROWTH, max_configs)
    finally:
        if gc_was:
            gc.enable()
    stats["time_s"] = round(time.monotonic() - t0, 6)
    found.sort(key=lambda x: x[0])
    anomalies = [x[1] for x in found]
    failures = [x[2] for x in found]
    linear = [x[3] for x in found]
    if linear:
        stats["linear"] = linear
    res = Result(CHECKER, True, stats=stats)
    res.failures = failures  # type: ignore[attr-defined]  # for checker.visual; not serialised
    if undecided and (not anomalies or all_failures):
        undecided.sort(key=lambda t: t.i)
        stats["undecided"] = _undecided(undecided)
    if anomalies:
        res.valid = False
        res.anomalies = anomalies
    elif undecided:
        res.valid = UNKNOWN_VALID
        keys = [t.label for t in undecided]
        what = "" if keys == [None] else (" for " + ("key " if len(keys) == 1 else f"{len(keys)} keys ") + ", ".join(show(k) for k in keys[:10]) + (" ..." if len(keys) > 10 else ""))
        reasons = sorted({t.reason or "" for t in undecided})
        res.reason = f"{'; '.join(reasons)}{what} after {time.monotonic() - t0:.2f}s; every other partition is linearizable"
        if len(parts) == 1:
            res.reason = f"{'; '.join(reasons)} after {time.monotonic() - t0:.2f}s"
    return res


def check(history: History, model: Model, **kw: Any) -> Result:
    """Linearizability of a history's operations (nemesis events ignored).
    A history with no operations at all is unknown: "empty history"."""
    if not history.ops:
        return Result(CHECKER, UNKNOWN_VALID, reason="empty history")
    return check_ops(history.ops, model, **kw)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return show(v)
