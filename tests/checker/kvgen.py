"""Generated key-value histories of the shape of Porcupine's 50-client kv
test data (``c50-ok``/``c50-bad``, from the same family as the shared
``c01``/``c10`` files): ``clients`` processes, each running ``get`` and
``append`` one at a time on string keys, every op completing ``ok``.

Each op takes effect at a random instant inside its interval, and gets
return the value at that instant, so the history is linearizable by
construction. ``hot`` keys take most of the traffic: many concurrent appends
to one key and reads of long values, the shape that makes a key hard for a
Wing-Gong search (every order of the open appends is a distinct state).

``bad`` keys get one corrupted read: a get drops one chunk from the middle
of its value, a chunk whose append returned before the get was invoked (so
every linearization has it in the state, and the later chunks the get does
show rule out "not yet appended": not linearizable). The corrupted read is
taken from the second half of the key's history, so a cheap refutation
(a read of a value nobody wrote, a read longer than all appends) does not
see it.

The text is Jepsen EDN, one map a line, exactly as Porcupine's ``parseKvLog``
reads it (``{:process P, :type :invoke, :f :append, :key "k", :value "v"}``),
so the same file can be fed to Porcupine.
"""

from __future__ import annotations

import heapq
import random


def kv_history(
    clients: int = 50,
    ops_per_client: int = 40,
    keys: int = 10,
    seed: int = 1,
    hot: tuple[str, ...] = (),
    hot_share: float = 0.6,
    bad: tuple[str, ...] = (),
    get_share: float = 0.5,
    latency: float = 1.0,
    put_share: float = 0.0,
) -> str:
    """The history as EDN text (see the module docstring). ``hot_share`` of
    the ops go to the ``hot`` keys; ``latency`` scales op durations
    (relative to the think time between a client's ops), i.e. concurrency;
    ``put_share`` of the writes to hot keys are puts (which replace the
    value: the search can no longer prune by prefix on those keys)."""
    if set(bad) & set(hot):
        raise ValueError(f"a bad key cannot be hot: {sorted(set(bad) & set(hot))}")
    rnd = random.Random(seed)
    names = [str(k) for k in range(keys)]
    cold = [k for k in names if k not in hot] or names
    recs: list[dict] = []
    effects: list[tuple[float, int]] = []
    for p in range(clients):
        t = rnd.random()
        for i in range(ops_per_client):
            k = rnd.choice(hot) if hot and rnd.random() < hot_share else rnd.choice(cold)
            f = "get" if rnd.random() < get_share else "append"
            if f == "append" and k in hot and rnd.random() < put_share:
                f = "put"
            d = rnd.expovariate(1.0) * latency
            rec = {"p": p, "f": f, "k": k, "v": None if f == "get" else f"x {p} {i} y", "call": t, "ret": t + d, "res": None}
            effects.append((t + rnd.random() * d, len(recs)))
            recs.append(rec)
            t += d + rnd.random() * 0.2
    heapq.heapify(effects)
    state: dict[str, list[str]] = {}
    applied: dict[str, list[tuple[float, float, str]]] = {}  # key -> (call, ret, chunk) in effect order
    while effects:
        _, j = heapq.heappop(effects)
        rec = recs[j]
        chunks = state.setdefault(rec["k"], [])
        if rec["f"] == "get":
            rec["res"] = list(chunks)
        elif rec["f"] == "put":
            chunks[:] = [rec["v"]]
        else:
            chunks.append(rec["v"])
            applied.setdefault(rec["k"], []).append((rec["call"], rec["ret"], rec["v"]))
    for k in bad:
        gets = [r for r in recs if r["k"] == k and r["f"] == "get" and len(r["res"] or ()) >= 3]
        gets.sort(key=lambda r: r["call"])
        done = None
        for g in gets[len(gets) // 2:] + gets[: len(gets) // 2]:
            ends = {c: ret for _c, ret, c in applied.get(k, [])}
            for pos in range(len(g["res"]) - 2, 0, -1):
                if ends[g["res"][pos]] < g["call"]:
                    done = (g, pos)
                    break
            if done:
                break
        if done is None:
            raise ValueError(f"key {k!r} has no get that can be corrupted; use more ops or another seed")
        g, pos = done
        g["res"] = g["res"][:pos] + g["res"][pos + 1:]
    events = []
    for j, r in enumerate(recs):
        events.append((r["call"], 0, j))
        events.append((r["ret"], 1, j))
    events.sort()
    lines = []
    for _t, kind, j in events:
        r = recs[j]
        if kind == 0:
            v = "nil" if r["f"] == "get" else f'"{r["v"]}"'
            lines.append(f'{{:process {r["p"]}, :type :invoke, :f :{r["f"]}, :key "{r["k"]}", :value {v}}}')
        else:
            v = '"' + "".join(r["res"]) + '"' if r["f"] == "get" else f'"{r["v"]}"'
            lines.append(f'{{:process {r["p"]}, :type :ok, :f :{r["f"]}, :key "{r["k"]}", :value {v}}}')
    return "\n".join(lines) + "\n"
