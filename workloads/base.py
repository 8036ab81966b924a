"""The roles a workload plays, and the registry of workloads.

A workload has two halves that never share a process:

* the **controller half** (imported by the harness; must not import persist):
  which worker processes it needs (:class:`WorkerSpec`), a seeded
  :class:`Generator` per client process, and the final reads;
* the **client half** (:class:`Client`, run inside a worker process by
  ``workloads.worker_main``): opens persist, performs one operation at a time
  per client process, closes. It imports persist lazily, in ``open``.

Operations travel as plain dicts ``{"f": ..., "value": ...}`` whose shapes
are the history's (``docs/history.md``).
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from workloads.errors import UnknownWorkload  # re-exported

#: workload name -> module; each module exposes ``WORKLOAD`` (a :class:`Workload`)
#: and ``CLIENTS`` (role -> Client class).
WORKLOADS: dict[str, str] = {
    "append": "workloads.append",
    "rehydrate": "workloads.rehydrate",
    "upsert": "workloads.upsert",
    "multi-writer": "workloads.multi_writer",
    "kv": "workloads.kv",
}


def load(name: str):
    """The workload module called ``name``."""
    if name not in WORKLOADS:
        raise UnknownWorkload(f"unknown workload {name!r}; accepted: {', '.join(sorted(WORKLOADS))}")
    return importlib.import_module(WORKLOADS[name])


class Client(Protocol):
    """What one worker process does against persist. ``invoke`` returns the
    ``ok`` value or raises: a :class:`persist.errors.Determinate` error is
    recorded as ``fail``, anything else as ``info``. Called from several
    threads at once (one per client process), so it must be thread-safe."""

    def open(self, url: str, options: dict[str, Any]) -> None: ...

    def invoke(self, f: str, value: Any) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WorkerSpec:
    slot: int  # worker slot: restarts keep it
    role: str  # which Client class runs in it


class Generator(Protocol):
    """A seeded, per-process source of operations. It sees only its own
    seed and what its own operations returned, so the same seed gives the
    same operations whatever the timing (given the same results)."""

    def next_op(self) -> dict[str, Any] | None: ...

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None: ...


class Workload(Protocol):
    name: str

    def workers(self, concurrency: int) -> list[WorkerSpec]: ...

    def assign(self, concurrency: int) -> list[int]:
        """The worker slot of each client process ``0..concurrency-1``."""
        ...

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> Generator: ...

    def final_ops(self, gens: list[Generator]) -> list[tuple[int, dict[str, Any]]]:
        """(worker slot, op) pairs run one at a time after the faults healed."""
        ...

    def checkers(self) -> list[str]: ...

    def pace(self, role: str) -> float:
        """Seconds a client process of ``role`` waits between its operations
        (0: as fast as its worker answers)."""
        ...


class Retargeting(Protocol):
    """Optional: a workload whose interesting process moves (the
    ``multi-writer`` holder). Before injecting a process fault the controller
    calls ``retarget(fault, generators)`` and gets ``(fault, writer_slot)``:
    the fault aimed at the process that matters now, and the slot the disk
    faults should treat as the writer."""

    def retarget(self, fault: Any, gens: list[Generator]) -> tuple[Any, int]: ...


class Restricted(Protocol):
    """Optional: a workload that cannot run under some nemesis mixes or blob
    stores. ``incompatible(mix, blob)`` returns why (a sentence the campaign
    prints when it skips the combination), or None when the mix is fine."""

    def incompatible(self, mix: list[str], blob: str) -> str | None: ...


class OneWriterOneReader:
    """The worker layout of ``append`` and ``upsert``: worker 0 is the
    writer (role ``"writer"``); with two or more client processes, worker 1 is
    a reader on the read-only handle (role ``"reader"``) and gets a quarter of
    the processes (at least one)."""

    def workers(self, concurrency: int) -> list[WorkerSpec]:
        specs = [WorkerSpec(0, "writer")]
        if concurrency >= 2:
            specs.append(WorkerSpec(1, "reader"))
        return specs

    def assign(self, concurrency: int) -> list[int]:
        if concurrency < 2:
            return [0] * concurrency
        readers = max(1, concurrency // 4)
        return [0] * (concurrency - readers) + [1] * readers


def rng_for(seed: int, *parts: Any) -> random.Random:
    """An independent, reproducible random stream for one seeded purpose."""
    return random.Random(f"{seed}/" + "/".join(map(str, parts)))


def take(gen: Generator, n: int) -> Iterator[dict[str, Any]]:
    """The first ``n`` operations of ``gen``, each completed as ``ok`` with its
    own argument (for tests of determinism)."""
    for _ in range(n):
        op = gen.next_op()
        if op is None:
            return
        gen.completed(op, "ok", op.get("value"))
        yield op
