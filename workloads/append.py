"""The ``append`` workload: unique updates written to a few streams, with
seals, compaction and snapshots, checked as a set with indeterminate members
plus the frontier rules (BRIEF §4, history values exactly as in
``docs/history.md``).

Processes. Worker slot 0 is the **writer** process (it holds persist's writer
lock); its client processes write, seal, allow compaction and snapshot
through one ``Persister`` (so concurrent writes share the Wal's group
commit). Worker slot 1 (when ``concurrency >= 2``) is a **reader** process on
persist's read-only handle; its client processes snapshot and read
frontiers. About a quarter of the client processes are readers.

Operations (generated per process from the seed alone, so the same seed gives
the same operations whatever happens at run time):

* ``write`` — 1 to 3 updates ``[key, "v", ts, 1]``; keys are unique in the
  whole run (``p<process slot>.<n>.<i>``), so every update can be traced. One
  write in ten goes to two streams at once (``write_multi``).
* ``seal`` at half the process's op count, ``compact`` at a quarter: a write
  at ``ts`` below the upper is refused (``fail``), which is allowed.
* ``snapshot`` with ``"as_of": null``: the client reads ``upper`` and
  ``since`` and snapshots at ``upper - 1``; the ok value carries the
  ``as_of`` used (``docs/history.md``). Refused (``fail``) while nothing is sealed.
* ``frontiers``.

Final reads: seal every stream at one past the largest ts any generator
produced, then snapshot it at that ts from the writer and from the reader.
"""

from __future__ import annotations

import threading
from typing import Any

from workloads.base import OneWriterOneReader, WorkerSpec, rng_for

STREAMS = ("s0", "s1", "s2")
WRITER, READER = "writer", "reader"


class AppendGenerator:
    def __init__(self, process: int, role: str, seed: int) -> None:
        self.process = process
        self.role = role
        self.rng = rng_for(seed, "append", process)
        self.k = 0  # operations generated so far
        self.max_ts = 0

    def next_op(self) -> dict[str, Any] | None:
        r = self.rng
        self.k += 1
        k = self.k
        x = r.random()
        stream = r.choice(STREAMS)
        if self.role == READER:
            if x < 0.5:
                return {"f": "snapshot", "value": {"stream": stream, "as_of": None}}
            return {"f": "frontiers", "value": {"stream": stream}}
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
            return {"f": "compact", "value": {"stream": stream, "since": k // 4}}
        return {"f": "snapshot", "value": {"stream": stream, "as_of": None}}

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None:
        pass


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
        import persist

        self._persist = persist
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
            as_of = value.get("as_of")
            if as_of is None:
                as_of = upper - 1
            rows = snapshot_rows(s, as_of)
            return {"stream": value["stream"], "as_of": as_of, "upper": upper, "since": since, "rows": rows}
        raise ValueError(f"append workload: unknown operation {f!r}")

    def close(self) -> None:
        self.p.close()


class AppendReader(AppendClient):
    read_only = True

    def invoke(self, f: str, value: Any) -> Any:
        if f in ("write", "seal", "compact"):
            raise ValueError(f"the reader process cannot {f}")
        return super().invoke(f, value)


def open_persist(url: str, options: dict[str, Any], read_only: bool):
    """``persist.open`` (or the read-only handle) with the run's options."""
    import persist

    kwargs = dict(options.get("persist", {}))
    if read_only:
        opener = getattr(persist, "open_read_only", None)
        if opener is not None:
            return opener(url, **kwargs)
        return persist.open(url, read_only=True, **kwargs)
    return persist.open(url, **kwargs)


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
