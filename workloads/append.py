"""The ``append`` workload: unique updates written to a few streams, with
seals, compaction, drains, GC, snapshots at any time and listens, checked as
a set with indeterminate members plus the frontier, listen and
failure rules (BRIEF §4, history values exactly as in ``docs/history.md``).

Processes. Worker slot 0 is the **writer** process (it holds persist's writer
lock); its client processes write, seal, allow compaction, drain, merge,
collect garbage and snapshot through one ``Persister`` (so concurrent writes
share the Wal's group commit, and a drain or a merge on one client thread
races the writes of the others). Worker slot 1 (when ``concurrency >= 2``)
is a **reader** process on persist's read-only handle; its client processes
snapshot, listen and read frontiers. About a quarter of the client
processes are readers.

Operations (generated per process from the seed and what the process's own
operations returned, so the same seed gives the same operations given the
same results):

* ``write`` — 1 to 3 updates ``[key, "v", ts, 1]``; keys are unique in the
  whole run (``p<process slot>.<n>.<i>``), so every update can be traced. One
  write in ten goes to two streams at once (``write_multi``).
* ``seal`` at half the process's op count: a write at ``ts`` below the upper
  is refused (``fail``), which is allowed.
* ``compact`` (``allow_compaction``) close to the upper this process last
  saw (0 to 2 below it; a quarter of its op count before it saw one), so
  sealed batches become mergeable.

Which slot an operation falls in (write, seal, compact, a read-only slot)
is drawn exactly as before these paths existed, so a recorded fault
schedule (a regression seed) meets the same writes and seals at the same
operation counts; drains, merges, GC, time travel and listens fill the
read-only slots, from a random stream of their own.
* ``drain`` (``Persister.drain``: the Wal into blob batches, concurrently
  with other threads' writes), ``merge`` (``Persister.compact``: every merge
  the spine's policy finds, concurrently with seals and reads) and ``gc``
  (``Persister.gc``: delete the blobs no metadata names); their ok value
  says what they did (``docs/history.md``).
* ``snapshot`` with ``"as_of": null``: the client reads ``upper`` and
  ``since`` and snapshots at ``upper - 1``, or, when the invoke carries
  ``"at": x`` (``0 <= x < 1``, seeded), at ``since + floor(x * (upper -
  since))``: time travel to any time in ``[since, upper)``. The ok value
  carries the ``as_of`` used. Refused (``fail``) while nothing is sealed.
* ``listen`` (readers): pick ``as_of`` as a time-travel snapshot does, open
  ``Stream.listen(as_of)`` and poll it for ``"for"`` seconds; the ok value
  lists every event in order (data rows with their ``ts``, and progress).
* ``frontiers``.

``APPEND_WITHOUT`` (environment, comma-separated, for *control* runs
only: it is not part of the run's config): switch off ``time-travel``
(snapshots only at ``upper - 1``), ``listen``, ``drain``, ``merge``, ``gc``
or ``close-since`` (``compact`` at a quarter of the op count, as before),
each replaced by the operation the generator would have made before these
paths existed. It shows that a bug is found by the path, not by chance.

Final reads: seal every stream at one past the largest ts any generator
produced, then snapshot it at that ts from the writer and from the reader.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from workloads.base import OneWriterOneReader, WorkerSpec, rng_for

STREAMS = ("s0", "s1", "s2")
WRITER, READER = "writer", "reader"

#: the paths ``APPEND_WITHOUT`` can switch off (for control runs)
PATHS = ("time-travel", "listen", "drain", "merge", "gc", "close-since")
WITHOUT_VAR = "APPEND_WITHOUT"


def without(environ: Any = os.environ) -> frozenset[str]:
    """The paths switched off by ``APPEND_WITHOUT``; an unknown name is refused."""
    names = frozenset(n.strip() for n in environ.get(WITHOUT_VAR, "").split(",") if n.strip())
    bad = sorted(names - set(PATHS))
    if bad:
        raise ValueError(f"{WITHOUT_VAR}: unknown path(s) {', '.join(bad)}; known: {', '.join(PATHS)}")
    return names


class AppendGenerator:
    def __init__(self, process: int, role: str, seed: int, off: frozenset[str] | None = None) -> None:
        self.process = process
        self.role = role
        self.rng = rng_for(seed, "append", process)
        self.paths = rng_for(seed, "append-paths", process)
        self.k = 0  # operations generated so far
        self.max_ts = 0
        self.off = without() if off is None else off
        self.upper_seen: dict[str, int] = {}  # per stream: the largest upper this process's operations returned

    def _read_at(self, f: str, stream: str, at: float | None) -> dict[str, Any]:
        v: dict[str, Any] = {"stream": stream, "as_of": None}
        if at is not None and "time-travel" not in self.off:
            v["at"] = at
        return {"f": f, "value": v}

    def next_op(self) -> dict[str, Any] | None:
        # ``rng`` draws exactly what the generator drew before the new paths
        # existed (so a recorded fault schedule still meets the same writes and
        # seals at the same operation counts); the new paths only refine
        # read-only slots, drawing from their own stream ``paths``.
        r, q = self.rng, self.paths
        self.k += 1
        k = self.k
        x = r.random()
        stream = r.choice(STREAMS)
        if self.role == READER:
            at = round(q.random(), 4) if q.random() < 0.7 else None
            if x < 0.5:
                return self._read_at("snapshot", stream, at)
            if q.random() < 0.6 or "listen" in self.off:
                return {"f": "frontiers", "value": {"stream": stream}}
            op = self._read_at("listen", stream, round(q.random(), 4))
            op["value"]["for"] = round(q.uniform(0.05, 0.4), 3)
            return op
        if x < 0.96:
            names = [stream] if r.random() < 0.9 else r.sample(STREAMS, 2)
            writes: dict[str, list] = {}
            for j, name in enumerate(names):
                ups = []
                for i in range(r.randint(1, 3)):
                    ts = k + r.randint(0, 3)
                    self.max_ts = max(self.max_ts, ts)
                    ups.append([f"p{self.process}.{k}.{j}{i}", "v", ts, 1])
                writes[name] = ups
            return {"f": "write", "value": {"writes": writes}}
        if x < 0.967:
            return {"f": "seal", "value": {"stream": stream, "ts": k // 2}}
        if x < 0.97:
            lag = q.randint(0, 2)
            seen = self.upper_seen.get(stream)
            if seen is None or "close-since" in self.off:
                return {"f": "compact", "value": {"stream": stream, "since": k // 4}}
            return {"f": "compact", "value": {"stream": stream, "since": max(0, seen - lag)}}
        # the old snapshot slot (3%): drain, merge, gc or a snapshot
        y = q.random()
        for f, bound in (("drain", 0.3), ("merge", 0.47), ("gc", 0.64)):
            if y < bound and f not in self.off:
                return {"f": f, "value": {}}
        return self._read_at("snapshot", stream, round(q.random(), 4) if q.random() < 0.7 else None)

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None:
        if type_ != "ok" or not isinstance(value, dict):
            return
        stream, upper = value.get("stream"), value.get("upper")
        if isinstance(stream, str) and isinstance(upper, int):
            self.upper_seen[stream] = max(upper, self.upper_seen.get(stream, 0))


class AppendWorkload(OneWriterOneReader):
    name = "append"

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> AppendGenerator:
        return AppendGenerator(process, worker.role, seed)

    def final_ops(self, gens: list[AppendGenerator]) -> list[tuple[int, dict[str, Any]]]:
        top = max([g.max_ts for g in gens] + [0])
        has_reader = any(g.role == READER for g in gens)
        ops: list[tuple[int, dict[str, Any]]] = []
        for s in STREAMS:
            ops.append((0, {"f": "seal", "value": {"stream": s, "ts": top + 1, "final": True}}))
            ops.append((0, {"f": "snapshot", "value": {"stream": s, "as_of": top, "final": True}}))
            if has_reader:
                ops.append((1, {"f": "snapshot", "value": {"stream": s, "as_of": top, "final": True}}))
        return ops

    def checkers(self) -> list[str]:
        return ["append"]

    def pace(self, role: str) -> float:
        """Seconds a client process of ``role`` waits between operations."""
        return 0.02 if role == READER else 0.0


WORKLOAD = AppendWorkload()


def _enc(updates: list) -> list[tuple[bytes, bytes, int, int]]:
    return [(k.encode(), v.encode(), int(ts), int(d)) for k, v, ts, d in updates]


class AppendClient:
    """Runs append operations against one persist location (writer or reader)."""

    read_only = False

    def open(self, url: str, options: dict[str, Any]) -> None:
        self.p = open_persist(url, options, self.read_only)
        self._streams: dict[str, Any] = {}
        self._lock = threading.Lock()

    def stream(self, name: str):
        s = self._streams.get(name)
        if s is None:
            with self._lock:
                s = self._streams.get(name)
                if s is None:
                    s = self._streams[name] = self.p.stream(name)
        return s

    def invoke(self, f: str, value: Any) -> Any:
        if f == "drain":
            before = self.p.pending_count()
            self.p.drain()
            return {"pending": before}
        if f == "merge":
            return {"merges": self.p.compact()}
        if f == "gc":
            return {"deleted": len(self.p.gc())}
        if f == "write":
            writes = value["writes"]
            if len(writes) == 1:
                (name, ups), = writes.items()
                self.stream(name).write(_enc(ups))
            else:
                self.p.write_multi({n: _enc(u) for n, u in writes.items()})
            return value
        s = self.stream(value["stream"])
        # upper and since always from one metadata version (Stream.frontiers): read one
        # after the other they can straddle a seal and a compaction, since beyond upper
        if f == "seal":
            s.seal(value["ts"])
            upper, since = s.frontiers()
            return {**value, "upper": upper, "since": since}
        if f == "compact":
            s.allow_compaction(value["since"])
            upper, since = s.frontiers()
            return {**value, "upper": upper, "since": since}
        if f == "frontiers":
            upper, since = s.frontiers()
            return {"stream": value["stream"], "upper": upper, "since": since}
        if f == "snapshot":
            upper, since = s.frontiers()
            as_of = pick_as_of(value, upper, since)
            rows = snapshot_rows(s, as_of)
            return {"stream": value["stream"], "as_of": as_of, "upper": upper, "since": since, "rows": rows}
        if f == "listen":
            upper, since = s.frontiers()
            as_of = pick_as_of(value, upper, since)
            listener = s.listen(as_of)
            events: list[dict[str, Any]] = []
            end = time.monotonic() + float(value.get("for", 0.2))
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                for ev in listener.poll(timeout=left):
                    if ev.kind == "progress":
                        events.append({"progress": ev.upper})
                    else:
                        events.append({"data": update_rows(ev.updates)})
            stop = getattr(listener, "close", None)  # an exec: system holds listeners until told
            if stop is not None:
                stop()
            return {"stream": value["stream"], "as_of": as_of, "upper": upper, "since": since, "events": events}
        raise ValueError(f"append workload: unknown operation {f!r}")

    def close(self) -> None:
        self.p.close()


class AppendReader(AppendClient):
    read_only = True

    def invoke(self, f: str, value: Any) -> Any:
        if f in ("write", "seal", "compact", "drain", "merge", "gc"):
            raise ValueError(f"the reader process cannot {f}")
        return super().invoke(f, value)


def open_persist(url: str, options: dict[str, Any], read_only: bool):
    """The system under test's handle (``workloads/system.py``; persist
    unless the worker selected another) opened with the run's options."""
    from workloads.system import current

    return current().open(url, read_only, **dict(options.get("persist", {})))


def pick_as_of(value: dict[str, Any], upper: int, since: int) -> int:
    """The ``as_of`` a read asks for: its own, else ``since + floor(at *
    (upper - since))`` with ``"at"`` (time travel), else ``upper - 1``."""
    as_of = value.get("as_of")
    if as_of is not None:
        return as_of
    at = value.get("at")
    if at is None or upper <= since:
        return upper - 1
    return since + min(upper - since - 1, int(at * (upper - since)))


def update_rows(table) -> list[list]:
    """A listen's data event as history rows ``[key, val, ts, diff]``."""
    keys = table.column("key").to_pylist()
    vals = table.column("val").to_pylist()
    tss = table.column("ts").to_pylist()
    diffs = table.column("diff").to_pylist()
    return [[k.decode(), v.decode(), t, d] for k, v, t, d in zip(keys, vals, tss, diffs)]


def snapshot_rows(s, as_of: int) -> list[list]:
    snap = s.snapshot(as_of)
    to_arrow = getattr(snap, "to_arrow", None)
    if to_arrow is not None:
        t = to_arrow()
        keys = t.column("key").to_pylist()
        vals = t.column("val").to_pylist()
        diffs = t.column("diff").to_pylist()
        return [[k.decode(), v.decode(), d] for k, v, d in zip(keys, vals, diffs)]
    return [[k.decode(), v.decode(), d] for k, v, d in snap]


CLIENTS = {WRITER: AppendClient, READER: AppendReader}
