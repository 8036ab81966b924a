"""The ``multi-writer`` workload: several worker processes race to be the
writer of one location while the nemesis kills or pauses the holder
(BRIEF §2 "one writer per location", §4; the checker is
:mod:`checker.multi_writer`).

Processes. ``min(concurrency, 3)`` worker processes (slots ``0..``); client
processes are spread over them round-robin. Operations of one process run
one at a time. Every holding of the location by a process is a *holding
session*, named ``"<pid>.<n>"``; it lasts until the process releases it,
one of its operations fails (the handle is closed: the next operation opens
again), or the process dies.

* **Contenders** (every slot but the standby) share one Wal directory. A
  contender holds nothing until an operation needs the location: then it
  calls ``persist.open``; the Wal's ``flock`` refuses it with ``LockedError``
  while another live process holds it (the operation fails, determinately).
  When the holder dies the kernel drops the flock and the next opener
  recovers the Wal. Attempts to open are at least ``RETRY_GAP`` seconds
  apart in a process.
* The **standby** (the last slot, when there are 3 workers) stands for
  another machine: its own Wal directory (``wal-standby``). Its ``takeover``
  operation watches the stream's upper through a read-only handle and, once
  the upper has not moved for ``LEASE`` seconds (the holder is stalled or
  gone: a lease ran out), opens the location with its own Wal, which bumps
  the epoch: the old holder, if it is in fact alive (paused), is *fenced* at
  its next metadata change, and nothing it writes from then on may reach
  the stream; its acknowledged writes that were not yet drained may be lost
  (BRIEF §2: takeover is for when the old machine is gone). A contender that
  opens the shared Wal after a takeover fences the standby the same way. The
  standby never opens the location in any other operation (a ``write`` or
  ``seal`` while it holds nothing fails with ``ClosedError``).

Operations (history values)::

    write    invoke {"key": "p2.17"}                  # unique in the run
             ok     {"key", "ts", "holder", "epoch", "acquired", "wal", "upper", "pid"}
    seal     invoke {}
             ok     {"holder", "epoch", "acquired", "wal", "upper", "pid"}
    release  invoke {}
             ok     {"released": holder|null, "pid"}
    takeover invoke {}                                # the standby only
             ok     {"acquired": false, "upper", "still": S, "pid"}            # lease not run out
                    {"acquired", "holder", "epoch", "wal": "own", "upper", "pid"}  # took it (or held it)
    read     invoke {"final": true}
             ok     {"rows": [[k, v, diff], ...], "as_of", "holder", "epoch", "acquired", "wal", "upper", "pid"}

``write`` writes ``[key, "v", ts, 1]`` to stream ``w`` at ``ts`` = the
stream's upper; ``seal`` seals to ``upper + 1``. ``acquired`` is true when
this operation opened the session; ``epoch`` is the session's metadata
epoch; ``wal`` is ``"shared"`` or ``"own"`` (the standby's); ``upper`` the
stream's upper after the operation, as the session sees it (a fenced
session that does not know it yet sees its old upper); ``still`` how long
the standby has seen the upper unchanged.

The generator of a process issues ``write`` (83%), ``seal`` (14%) and
``release`` (3%); the standby's, while it holds nothing, only ``takeover``
(every 50 ms).

Final reads: after healing, every worker releases what it holds (``release``
ops), then worker 0 opens the location through the shared Wal (recovering
it, or fencing the standby), seals past every durable update and reads the
whole stream (``read`` with ``"final": true``).

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
CONTENDER, STANDBY = "contender", "standby"
MAX_WORKERS = 3
#: seconds between two attempts of one process to open the location
RETRY_GAP = 0.05
#: seconds the standby waits for the upper to move before it takes the location over
LEASE = 0.4

_clock = itertools.count(1)  # orders acknowledgements across generators (the controller is one thread)
_sessions = itertools.count(1)  # holding sessions opened in this process (whatever the client object)


class MultiWriterGenerator:
    def __init__(self, process: int, slot: int, seed: int, role: str = CONTENDER) -> None:
        self.process = process
        self.slot = slot
        self.role = role
        self.rng = rng_for(seed, "multi-writer", process)
        self.n = 0
        self.last_ok = 0  # when (on _clock) this process last had an acknowledgement as holder

    def next_op(self) -> dict[str, Any] | None:
        self.n += 1
        x = self.rng.random()
        if self.role == STANDBY and not self.last_ok:  # not holding: watch the lease
            return {"f": "takeover", "value": {}}
        if x < 0.83:
            return {"f": "write", "value": {"key": f"p{self.process}.{self.n}"}}
        if x < 0.97:
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
        n = max(1, min(concurrency, MAX_WORKERS))
        return [WorkerSpec(i, STANDBY if (n == MAX_WORKERS and i == n - 1) else CONTENDER) for i in range(n)]

    def assign(self, concurrency: int) -> list[int]:
        n = max(1, min(concurrency, MAX_WORKERS))
        return [i % n for i in range(concurrency)]

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> MultiWriterGenerator:
        return MultiWriterGenerator(process, worker.slot, seed, worker.role)

    def final_ops(self, gens: list[MultiWriterGenerator]) -> list[tuple[int, dict[str, Any]]]:
        slots = sorted({g.slot for g in gens})
        ops: list[tuple[int, dict[str, Any]]] = [(s, {"f": "release", "value": {}}) for s in slots]
        ops.append((slots[0] if slots else 0, {"f": "read", "value": {"final": True}}))
        return ops

    def checkers(self) -> list[str]:
        return ["multi-writer"]

    def pace(self, role: str) -> float:
        return 0.05 if role == STANDBY else 0.0

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
    """One worker process's claim on the location (see the module docstring).

    A contender started with a failpoint armed at open (``open.*`` in
    ``PERSIST_FAILPOINTS``: the ``failpoint`` nemesis restarts the holder so)
    opens the location already in ``open``, waiting up to
    ``ARMED_OPEN_WAIT`` seconds for the lock, so that the failpoint meets the
    open it stands for while the fault is on (and then closes it again: the
    next operation opens visibly); if the lock stays taken, or the open fails
    for another reason, the failpoint is disarmed rather than left to fire in
    some later open (the final read's, after every fault was healed)."""

    WAL = "shared"
    EAGER_WHEN_ARMED = True
    ARMED_OPEN_WAIT = 3.0

    def open(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        self.p = None
        self.s = None
        self.holder: str | None = None
        self._lock = threading.Lock()
        self._last_try = 0.0
        names = _armed_at_open()
        if names and self.EAGER_WHEN_ARMED:
            self._meet_open_failpoints(names)

    def _meet_open_failpoints(self, names: list[str]) -> None:
        import sys

        from persist import failpoints
        from persist.errors import LockedError, PersistError

        deadline = time.monotonic() + self.ARMED_OPEN_WAIT
        why = f"the lock stayed taken for {self.ARMED_OPEN_WAIT:g} s"
        while time.monotonic() < deadline:
            try:
                self._acquire()  # an armed crash ends this process here
            except LockedError:
                continue
            except PersistError as e:
                why = f"the open failed: {type(e).__name__}: {e}"
                break
            self._drop()
            return
        for n in names:
            failpoints.disarm(n)
        print(f"multi-writer: disarmed {names} armed at open: {why}", file=sys.stderr, flush=True)

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
        p = open_persist(self.url, self._options(), False)  # LockedError while another process holds it
        try:
            self.s = p.stream(STREAM)
        except BaseException:
            p.close()
            raise
        self.p = p
        self.holder = f"{os.getpid()}.{next(_sessions)}"
        return True

    def _options(self) -> dict[str, Any]:
        return self.options

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
                "wal": self.WAL, "upper": self.s.upper, "pid": os.getpid()}

    def invoke(self, f: str, value: Any) -> Any:
        with self._lock:
            if f == "release":
                held = self.holder if self.p is not None else None
                p, self.p, self.s = self.p, None, None
                if p is not None:
                    p.close()
                return {"released": held, "pid": os.getpid()}
            if f == "takeover":
                return self._takeover()
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

    def _takeover(self) -> dict[str, Any]:
        raise ValueError("only the standby takes the location over")

    def close(self) -> None:
        with self._lock:
            if self.p is not None:
                self.p.close()
                self.p = None


class Standby(Contender):
    """Another machine: its own Wal directory; opens the location only in
    ``takeover``, once the upper has stood still for ``LEASE`` seconds (a
    failpoint armed at open meets that open)."""

    WAL = "own"
    EAGER_WHEN_ARMED = False

    def open(self, url: str, options: dict[str, Any]) -> None:
        super().open(url, options)
        self._reader = None
        self._seen: tuple[int, float] | None = None  # (upper, when first seen)

    def _options(self) -> dict[str, Any]:
        persist_opts = dict(self.options.get("persist", {}))
        shared = persist_opts.get("wal_dir")
        if shared:
            own = shared.rstrip("/") + "-standby"
        else:
            from urllib.parse import urlparse

            own = os.path.join(urlparse(self.url).path, "wal-standby")
        return {**self.options, "persist": {**persist_opts, "wal_dir": own}}

    def _acquire(self) -> bool:
        if self.p is None:
            from persist.errors import ClosedError

            raise ClosedError("the standby holds nothing: it opens the location only by a takeover")
        return False

    def _watch(self) -> int:
        """The sealed upper, through a read-only handle (0 before the stream exists)."""
        from persist.errors import UnknownStreamError
        from workloads.append import open_persist

        if self._reader is None:
            self._reader = open_persist(self.url, self.options, True)
        try:
            return self._reader.stream(STREAM).upper
        except UnknownStreamError:
            return 0

    def _takeover(self) -> dict[str, Any]:
        if self.p is not None:
            return self._info(False)
        upper, now = self._watch(), time.monotonic()
        if self._seen is None or self._seen[0] != upper:
            self._seen = (upper, now)
        still = now - self._seen[1]
        if still < LEASE:
            return {"acquired": False, "upper": upper, "still": round(still, 3), "pid": os.getpid()}
        self._last_try = 0.0
        self._seen = None
        try:
            Contender._acquire(self)  # bumps the epoch: whoever held the location is fenced
            return self._info(True)
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        super().close()
        if self._reader is not None:
            self._reader.close()


def _armed_at_open() -> list[str]:
    """The ``open.*`` failpoints this process was started with."""
    from persist import failpoints

    text = os.environ.get(failpoints.ENV_VAR, "")
    return [name for name, *_ in failpoints.parse(text) if name.startswith("open.")] if text else []


CLIENTS = {CONTENDER: Contender, STANDBY: Standby}
