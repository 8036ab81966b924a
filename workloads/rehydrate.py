"""The ``rehydrate`` workload: the persisted-stream operator
(``persist.operators.PersistedStream``) under restarts; downstream output
must be exactly once (BRIEF §4).

Each client process ``p`` drives one operator on its own stream ``r<p>``
inside the writer worker process (one ``Persister``, one operator per
stream, created afresh in every worker incarnation and after any step that
failed). Its ``incarnation`` names the operator instance. The operator's source
is replayable by construction: the updates at time ``t`` of stream ``s`` are
always ::

    [f"{s}.{t}.{i}", "v", t, 1]  for i in range(1 + t % 3)

so after a restart the source simply starts again at the operator's
``resume_from``.

Operations (history values):

``step`` — invoke ``{"stream": "r0", "to": T}`` (``"final": true`` on the
final read). The client, if this is the stream's first operation in this
worker incarnation, first rehydrates the operator; then it feeds the source
from where it stands (``resume_from`` after a rehydration, else the previous
``to``) up to ``T``: one ``push`` per time, then ``advance(T)``. The ok value::

    {"stream": "r0", "to": T, "incarnation": "<pid>.<n>",  # one operator instance
     "rehydrated": [[k, v, ts, diff], ...],   # only on an incarnation's first op:
     "rehydrated_upper": U,                   #   what step 1 emitted, and its progress
     "source": [F, T],                        # the times the source emitted
     "emitted": [[k, v, ts, diff], ...],      # data emitted downstream by this op
     "upper": T2}                             # the stream's upper afterwards

``fail``/``info`` values repeat the invoke. An operation killed half-way
emitted something the history never learns; the checker only counts what
``ok`` operations report.

Final read: after healing, every process steps its stream once more to one
past the largest ``to`` it generated, with ``"final": true``; that first
operation of the last incarnation rehydrates, so its ``rehydrated`` plus
``emitted`` is the whole stream as the last downstream sees it.

The checker is :mod:`checker.rehydrate`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from workloads.base import WorkerSpec, rng_for
from workloads.errors import Interrupted

WRITER = "writer"


def source_updates(stream: str, t: int) -> list[list]:
    """What the replayable source emits at time ``t`` (the checker knows it too)."""
    return [[f"{stream}.{t}.{i}", "v", t, 1] for i in range(1 + t % 3)]


class RehydrateGenerator:
    def __init__(self, process: int, seed: int) -> None:
        self.stream = f"r{process}"
        self.rng = rng_for(seed, "rehydrate", process)
        self.to = 0
        self.role = WRITER

    def next_op(self) -> dict[str, Any] | None:
        self.to += self.rng.randint(1, 4)
        return {"f": "step", "value": {"stream": self.stream, "to": self.to}}

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None:
        pass


class RehydrateWorkload:
    name = "rehydrate"

    def workers(self, concurrency: int) -> list[WorkerSpec]:
        return [WorkerSpec(0, WRITER)]

    def assign(self, concurrency: int) -> list[int]:
        return [0] * concurrency

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> RehydrateGenerator:
        return RehydrateGenerator(process, seed)

    def final_ops(self, gens: list[RehydrateGenerator]) -> list[tuple[int, dict[str, Any]]]:
        return [(0, {"f": "step", "value": {"stream": g.stream, "to": g.to + 1, "final": True}}) for g in gens]

    def checkers(self) -> list[str]:
        return ["rehydrate"]

    def pace(self, role: str) -> float:
        return 0.0


WORKLOAD = RehydrateWorkload()


def _enc(rows) -> list[tuple]:
    return [(k.encode(), v.encode(), int(ts), int(d)) for k, v, ts, d in rows]


def _dec(rows) -> list[list]:
    return [[k.decode(), v.decode(), int(ts), int(d)] for k, v, ts, d in rows]


class StepInterrupted(Interrupted):
    """A step failed after it had pushed or sealed something: recorded as ``info``."""


class RehydrateClient:
    """Runs one persisted-stream operator per stream in this worker process."""

    def open(self, url: str, options: dict[str, Any]) -> None:
        import persist

        self.p = persist.open(url, **options.get("persist", {}))
        self._made = 0  # operators created in this process
        self._ops: dict[str, Any] = {}  # stream -> [operator, position, incarnation]
        self._lock = threading.Lock()

    def invoke(self, f: str, value: Any) -> Any:
        if f != "step":
            raise ValueError(f"rehydrate workload: unknown operation {f!r}")
        from persist.operators import PersistedStream

        name, to = value["stream"], int(value["to"])
        out: dict[str, Any] = {"stream": name, "to": to}
        with self._lock:
            state = self._ops.get(name)
        touched = False
        try:
            if state is None:
                op = PersistedStream(self.p.stream(name))
                events = op.rehydrate()
                with self._lock:
                    self._made += 1
                    state = self._ops[name] = [op, op.resume_from, f"{os.getpid()}.{self._made}"]
                out["rehydrated"] = [r for kind, arg in events if kind == "data" for r in _dec(arg)]
                out["rehydrated_upper"] = max([arg for kind, arg in events if kind == "progress"] + [0])
            op, pos, out["incarnation"] = state
            emitted: list[list] = []
            for t in range(pos, to):
                touched = True
                ev = op.push(_enc(source_updates(name, t)))
                if ev is not None:
                    emitted.extend(_dec(ev[1]))
                state[1] = t + 1
            if to > pos:
                touched = True
                op.advance(to)
        except Exception as e:
            # The operator's state is now unknown: the next step starts a new
            # operator (it rehydrates). If something was already pushed, the
            # step half-happened: indeterminate, whatever the error says.
            with self._lock:
                self._ops.pop(name, None)
            if touched:
                raise StepInterrupted(f"step of {name} to {to} failed half-way: {type(e).__name__}: {e}") from e
            raise
        out.update({"source": [pos, to], "emitted": emitted, "upper": op.stream.upper})
        return out

    def close(self) -> None:
        self.p.close()


CLIENTS = {WRITER: RehydrateClient}
