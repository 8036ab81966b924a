"""A simulated *correct* append store that writes histories: the domain
checkers' test oracle and benchmark input.

It keeps the engine's contract (BRIEF §2) exactly, in memory, and runs
``processes`` client slots concurrently over it in simulated time:

* each operation is invoked (its arguments chosen from what the client knew
  then), takes effect atomically at one instant (its *linearization point*),
  and completes later; events of different slots interleave, and times may
  be equal (closed intervals touch);
* a write with an update at ``ts < upper``, a ``seal(t)`` with
  ``t < upper``, ``allow_compaction(s)`` outside ``[since, upper]`` and a
  snapshot outside ``since <= as_of < upper`` are refused: ``fail``, no
  effect; with probability ``p_fail`` a valid operation fails determinately
  too (an error before it applied);
* with probability ``p_info`` an operation ends ``info`` (the worker died):
  it took effect or not (even odds), and its slot continues under a new
  process number; at the end, outstanding operations may be left with no
  completion at all;
* a snapshot reads ``upper``/``since`` when invoked (before it snapshots, as
  the harness does) and returns the consolidated rows at ``as_of``, sorted;
  a third are invoked with ``"as_of": null`` (the workload's "at
  ``upper - 1``"), the ok value carrying the ``as_of`` used;
* every update ``(key, val)`` is unique, with diff 1;
* a stream is retired after ``writes_per_stream`` writes (a fresh one takes
  its place, so histories of any length keep snapshots small); on
  retirement, and for every stream at the end, a final ``seal`` past every
  written time and a final ``snapshot`` (``"final": true``) run alone.

So every history it yields is one a correct engine could produce: each
domain checker must call it valid. :func:`simulate` yields events
(``docs/history.md``) lazily, so a million operations need not be held.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Stream:
    name: str
    updates: list[tuple[str, str, int, int]] = field(default_factory=list)
    upper: int = 0
    since: int = 0
    max_ts: int = -1
    writes: int = 0

    def rows(self, as_of: int) -> list[list[Any]]:
        acc: dict[tuple[str, str], int] = {}
        for k, v, ts, d in self.updates:
            if ts <= as_of:
                acc[(k, v)] = acc.get((k, v), 0) + d
        return [[k, v, d] for (k, v), d in sorted(acc.items()) if d != 0]


@dataclass
class _Slot:
    pid: int
    op: dict[str, Any] | None = None  # the outstanding invoke event
    done: bool = False  # linearized already
    outcome: str = ""
    result: Any = None
    seen: Any = None  # a snapshot's (upper, since), read when invoked


def simulate(
    seed: int,
    n_ops: int,
    processes: int = 3,
    streams: int = 2,
    p_info: float = 0.05,
    p_fail: float = 0.03,
    p_multi: float = 0.1,
    writes_per_stream: int | None = None,
    mix: dict[str, float] | None = None,
    dangling: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield the events of a valid append history of about ``n_ops``
    client operations (plus the final reads)."""
    rng = random.Random(seed)
    mix = mix or {"write": 0.55, "seal": 0.15, "compact": 0.05, "snapshot": 0.1, "frontiers": 0.15}
    fs, weights = list(mix), list(mix.values())
    active: list[_Stream] = [_Stream(f"s{i}") for i in range(streams)]
    by_name = {s.name: s for s in active}
    next_stream = streams
    slots = [_Slot(pid=i) for i in range(processes)]
    next_pid = processes
    t = 0
    index = 0
    counter = 0
    invoked = 0

    def ev(p: Any, typ: str, f: str, value: Any, error: str | None = None) -> dict[str, Any]:
        nonlocal index
        e = {"index": index, "time": t, "process": p, "type": typ, "f": f, "value": value}
        if error:
            e["error"] = error
        index += 1
        return e

    def final_reads(s: _Stream) -> Iterator[dict[str, Any]]:
        nonlocal t, next_pid
        p = next_pid
        next_pid += 1
        ts = max(s.max_ts, s.since, s.upper - 1) + 1
        v = {"stream": s.name, "ts": ts, "final": True}
        yield ev(p, "invoke", "seal", v)
        s.upper = ts
        t += 1
        yield ev(p, "ok", "seal", {**v, "upper": s.upper, "since": s.since})
        t += 1
        v = {"stream": s.name, "as_of": ts - 1, "final": True}
        yield ev(p, "invoke", "snapshot", v)
        r = {**v, "upper": s.upper, "since": s.since, "rows": s.rows(ts - 1)}
        t += 1
        yield ev(p, "ok", "snapshot", r)

    def invoke(slot: _Slot) -> dict[str, Any]:
        nonlocal counter
        f = rng.choices(fs, weights)[0]
        s = rng.choice(active)
        if f == "write":
            targets = [s]
            if len(active) > 1 and rng.random() < p_multi:
                targets = rng.sample(active, 2)
            w: dict[str, list[list[Any]]] = {}
            for st in targets:
                ups = []
                for _ in range(rng.randint(1, 3)):
                    counter += 1
                    ups.append([f"k{counter}", f"v{counter}", st.upper + rng.randint(0, 3), 1])
                w[st.name] = ups
            return {"writes": w}
        if f == "seal":
            return {"stream": s.name, "ts": s.upper + rng.randint(0, 3)}
        if f == "compact":
            return {"stream": s.name, "since": rng.randint(s.since, s.upper)}
        if f == "snapshot" and s.upper > s.since:
            # as the workload does a third of the time: "as_of": null = upper - 1 (upper read when invoked)
            as_of = None if rng.random() < 0.3 else rng.randint(s.since, s.upper - 1)
            return {"stream": s.name, "as_of": as_of, "_seen": (s.upper, s.since)}
        return {"stream": s.name, "_frontiers": True}

    def linearize(slot: _Slot) -> None:
        """Apply the outstanding op atomically; decide its outcome."""
        e = slot.op
        assert e is not None
        f, v = e["f"], e["value"]
        slot.done = True
        info = rng.random() < p_info
        fail = rng.random() < p_fail
        if f == "write":
            sts = [by_name[n] for n in v["writes"]]
            ok = all(u[2] >= st.upper for st, n in zip(sts, v["writes"]) for u in v["writes"][n])
            if not ok or fail:
                slot.outcome = "fail"
                return
            applied = not info or rng.random() < 0.5
            if applied:
                for st in sts:
                    for k, val, ts, d in v["writes"][st.name]:
                        st.updates.append((k, val, ts, d))
                        st.max_ts = max(st.max_ts, ts)
                    st.writes += 1
            slot.outcome = "info" if info else "ok"
            slot.result = v
            return
        st = by_name[v["stream"]]
        if f == "seal":
            if v["ts"] < st.upper or fail:
                slot.outcome = "fail"
                return
            if not info or rng.random() < 0.5:
                st.upper = v["ts"]
            slot.outcome = "info" if info else "ok"
            slot.result = {**v, "upper": st.upper, "since": st.since}
        elif f == "compact":
            if not (st.since <= v["since"] <= st.upper) or fail:
                slot.outcome = "fail"
                return
            if not info or rng.random() < 0.5:
                st.since = v["since"]
            slot.outcome = "info" if info else "ok"
            slot.result = {**v, "upper": st.upper, "since": st.since}
        elif f == "snapshot":
            as_of = slot.seen[0] - 1 if v["as_of"] is None else v["as_of"]
            if not (st.since <= as_of < st.upper) or fail:
                slot.outcome = "fail"
                return
            slot.outcome = "info" if info else "ok"
            slot.result = {"stream": st.name, "as_of": as_of, "upper": slot.seen[0], "since": slot.seen[1], "rows": st.rows(as_of)}
        else:
            slot.outcome = "info" if info else "ok"
            slot.result = {"stream": st.name, "upper": st.upper, "since": st.since}

    while invoked < n_ops or any(s.op is not None for s in slots):
        t += rng.randint(0, 2)
        slot = rng.choice(slots)
        if slot.op is None:
            if invoked >= n_ops:
                continue
            v = invoke(slot)
            f = "write" if "writes" in v else "snapshot" if "as_of" in v else "frontiers" if v.pop("_frontiers", False) else ("seal" if "ts" in v else "compact")
            slot.seen = v.pop("_seen", None)
            slot.op = ev(slot.pid, "invoke", f, v)
            slot.done = False
            invoked += 1
            yield slot.op
        elif not slot.done:
            linearize(slot)
        else:
            e = slot.op
            if invoked >= n_ops and dangling and slot.outcome == "info" and rng.random() < 0.3:
                pass  # never completes: the same as info
            elif slot.outcome == "ok":
                yield ev(slot.pid, "ok", e["f"], slot.result)
            else:
                yield ev(slot.pid, slot.outcome, e["f"], e["value"], "Indeterminate: worker died" if slot.outcome == "info" else "Determinate: refused")
            if slot.outcome == "info":
                if rng.random() < 0.5:
                    yield ev("nemesis", "info", "kill", {"process": slot.pid})
                slot.pid = next_pid
                next_pid += 1
            slot.op = None
            slot.result = None
            # retire full streams: final reads, then a fresh stream
            if writes_per_stream is not None:
                for i, st in enumerate(active):
                    if st.writes >= writes_per_stream:
                        yield from final_reads(st)
                        fresh = _Stream(f"s{next_stream}")
                        next_stream += 1
                        active[i] = fresh
                        by_name[fresh.name] = fresh
    for st in active:
        yield from final_reads(st)
