"""The ``multi-writer`` workload: several worker processes race to be the
writer of one location while the nemesis kills or pauses the holder
(BRIEF §2 "one writer per location", §4; the checker is
:mod:`checker.multi_writer`).

Processes. ``min(concurrency, 3)`` worker processes (slots ``0..``), every
one a **contender** on the same location and the same Wal directory; client
processes are spread over them round-robin. A contender holds nothing until
an operation needs the location: then it calls ``persist.open`` (the Wal's
``flock`` refuses it with ``LockedError`` while another live process holds
it; the operation fails, determinately) and keeps the handle — a *holding
session*, named ``"<pid>.<n>"`` — until it releases it, any of its
operations fails (the handle is closed: the next operation opens again), or
the process dies (the kernel drops the flock; the next opener recovers the
Wal). Attempts to open are at least ``RETRY_GAP`` seconds apart in a
process. Operations of one process run one at a time.

Operations (history values)::

    write    invoke {"key": "p2.17"}                  # unique in the run
             ok     {"key", "ts", "holder", "epoch", "acquired", "upper", "pid"}
    seal     invoke {}
             ok     {"holder", "epoch", "acquired", "upper", "pid"}
    release  invoke {}
             ok     {"released": holder|null, "pid"}
    read     invoke {"final": true}
             ok     {"rows": [[k, v, diff], ...], "as_of", "holder", "epoch", "acquired", "upper", "pid"}

``write`` writes ``[key, "v", ts, 1]`` to stream ``w`` at ``ts`` = the
stream's upper; ``seal`` seals to ``upper + 1``. ``acquired`` is true when
this operation opened the session; ``epoch`` is the session's metadata
epoch; ``upper`` the stream's upper after the operation.

Final reads: after healing, every worker releases what it holds (``release``
ops), then worker 0 opens the location (recovering the Wal), seals past
every durable update and reads the whole stream (``read`` with ``"final":
true``).

Aiming the nemesis: the holder moves between workers, so the workload offers
``retarget(fault, generators)``, which the controller calls before it
injects a fault: the fault aimed at worker 0 (the schedule's writer slot)
hits the current holder instead and vice versa, and the holder becomes the
run's writer slot for nemeses that act on "the writer" (``failpoint``,
``corrupt``).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from typing import Any

from workloads.base import WorkerSpec, rng_for

STREAM = "w"
CONTENDER = "contender"
MAX_WORKERS = 3
#: seconds between two attempts of one process to open the location
RETRY_GAP = 0.05

_clock = itertools.count(1)  # orders acknowledgements across generators (the controller is one thread)
_sessions = itertools.count(1)  # holding sessions opened in this process (whatever the client object)


class MultiWriterGenerator:
    def __init__(self, process: int, slot: int, seed: int) -> None:
        self.process = process
        self.slot = slot
        self.role = CONTENDER
        self.rng = rng_for(seed, "multi-writer", process)
        self.n = 0
        self.last_ok = 0  # when (on _clock) this process last had an acknowledgement as holder

    def next_op(self) -> dict[str, Any] | None:
        self.n += 1
        x = self.rng.random()
        if x < 0.88:
            return {"f": "write", "value": {"key": f"p{self.process}.{self.n}"}}
        if x < 0.95:
            return {"f": "seal", "value": {}}
        return {"f": "release", "value": {}}

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None:
        if type_ == "ok" and isinstance(value, dict) and value.get("holder"):
            self.last_ok = next(_clock)
        elif op["f"] == "release" or type_ != "ok":
            self.last_ok = 0


class MultiWriterWorkload:
    name = "multi-writer"

    def workers(self, concurrency: int) -> list[WorkerSpec]:
        return [WorkerSpec(i, CONTENDER) for i in range(max(1, min(concurrency, MAX_WORKERS)))]

    def assign(self, concurrency: int) -> list[int]:
        n = max(1, min(concurrency, MAX_WORKERS))
        return [i % n for i in range(concurrency)]

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> MultiWriterGenerator:
        return MultiWriterGenerator(process, worker.slot, seed)

    def final_ops(self, gens: list[MultiWriterGenerator]) -> list[tuple[int, dict[str, Any]]]:
        slots = sorted({g.slot for g in gens})
        ops: list[tuple[int, dict[str, Any]]] = [(s, {"f": "release", "value": {}}) for s in slots]
        ops.append((slots[0] if slots else 0, {"f": "read", "value": {"final": True}}))
        return ops

    def checkers(self) -> list[str]:
        return ["multi-writer"]

    def pace(self, role: str) -> float:
        return 0.0

    def holder(self, gens: list[MultiWriterGenerator]) -> int | None:
        """The worker slot that was last acknowledged as holder (None if nobody is known to hold)."""
        best = max(gens, key=lambda g: g.last_ok, default=None)
        return best.slot if best is not None and best.last_ok else None

    def retarget(self, fault, gens: list[MultiWriterGenerator]):
        """``(fault, writer_slot)``: swap worker 0 and the current holder in
        ``fault.target``; the holder is the writer slot (see the module docstring)."""
        h = self.holder(gens)
        if h is None:
            return fault, 0
        if fault.target == 0:
            fault = dataclasses.replace(fault, target=h)
        elif fault.target == h:
            fault = dataclasses.replace(fault, target=0)
        return fault, h


WORKLOAD = MultiWriterWorkload()


class Contender:
    """One worker process's claim on the location (see the module docstring)."""

    def open(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        self.p = None
        self.s = None
        self.holder: str | None = None
        self._lock = threading.Lock()
        self._last_try = 0.0

    def _acquire(self) -> bool:
        """Open the location if this process does not hold it (lock held).
        True when this call opened it."""
        if self.p is not None:
            return False
        from workloads.append import open_persist

        wait = self._last_try + RETRY_GAP - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_try = time.monotonic()
        p = open_persist(self.url, self.options, False)  # LockedError while another process holds it
        try:
            self.s = p.stream(STREAM)
        except BaseException:
            p.close()
            raise
        self.p = p
        self.holder = f"{os.getpid()}.{next(_sessions)}"
        return True

    def _drop(self) -> None:
        """Close the session (releases the flock); errors of the close are moot."""
        p, self.p, self.s = self.p, None, None
        if p is not None:
            try:
                p.close()
            except Exception:
                pass

    def _info(self, acquired: bool) -> dict[str, Any]:
        return {"holder": self.holder, "epoch": getattr(self.p, "epoch", None), "acquired": acquired,
                "upper": self.s.upper, "pid": os.getpid()}

    def invoke(self, f: str, value: Any) -> Any:
        with self._lock:
            if f == "release":
                held = self.holder if self.p is not None else None
                p, self.p, self.s = self.p, None, None
                if p is not None:
                    p.close()
                return {"released": held, "pid": os.getpid()}
            acquired = self._acquire()
            try:
                if f == "write":
                    s = self.s
                    ts = s.upper
                    s.write([(value["key"].encode(), b"v", ts, 1)])
                    return {"key": value["key"], "ts": ts, **self._info(acquired)}
                if f == "seal":
                    self.s.seal(self.s.upper + 1)
                    return self._info(acquired)
                if f == "read":
                    return self._read(acquired)
                raise ValueError(f"multi-writer workload: unknown operation {f!r}")
            except BaseException:
                self._drop()  # the handle's state is unknown: the next operation opens again
                raise

    def _read(self, acquired: bool) -> dict[str, Any]:
        s = self.s
        unsealed = s.unsealed()
        top = max(unsealed.column("ts").to_pylist()) + 1 if len(unsealed) else 0
        t = max(s.upper, top)
        if t > s.upper:
            s.seal(t)
        rows: list[list] = []
        if t > 0:
            from workloads.append import snapshot_rows

            rows = snapshot_rows(s, t - 1)
        return {"rows": rows, "as_of": t - 1 if t else None, **self._info(acquired)}

    def close(self) -> None:
        with self._lock:
            if self.p is not None:
                self.p.close()
                self.p = None


CLIENTS = {CONTENDER: Contender}
