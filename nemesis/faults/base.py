"""The Nemesis role and what it is given.

A nemesis is a source of one kind of fault. The controller asks it to
``invoke`` a :class:`Fault` from the seeded schedule and later to ``recover``
from it (restart what it killed, resume what it paused); at the end of a run
``heal`` undoes anything still in effect. Every implementation states in its
docstring which real event it stands for and what it never does (BRIEF §3):
the harness must never destroy what a real crash could not.

Each call returns the ``value`` of the history event the controller records
under ``process: "nemesis"`` with ``f`` = the fault's name.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from nemesis.fsync_watch import DurableState
    from nemesis.worker import Worker


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: at ``at`` seconds, ``nemesis`` hits ``target``
    (a worker slot, or -1 for all) for ``duration`` seconds; ``seed`` drives
    every random choice inside it (cut points, bits flipped)."""

    at: float
    nemesis: str
    target: int
    duration: float
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 6), "nemesis": self.nemesis, "target": self.target,
                "duration": round(self.duration, 6), "seed": self.seed}

    def rng(self) -> random.Random:
        return random.Random(self.seed)


@dataclass
class RunContext:
    """What a nemesis may touch: the workers, the data directory, the fault
    filesystem mounted there (``fs``, None on the tracer), and the tracer's
    fsync reports folded into a :class:`DurableState`."""

    workers: dict[int, "Worker"]
    data_dir: str
    reports_dir: str
    durable: "DurableState"
    writer_slot: int = 0
    notes: list[str] = field(default_factory=list)
    #: a run on S3 (``--blob s3``): {"endpoint_url", "bucket", "prefix", "read_timeout", "rules"}
    s3: dict[str, Any] | None = None
    #: the run's fault filesystem (:class:`nemesis.faultfs.FaultFS`, mounted at ``data_dir``) or None: the tracer
    fs: Any = None

    def idle(self, seconds: float) -> None:
        """Hook the controller replaces: let ``seconds`` pass *with the run
        going on* (operations dispatched and completed) while a nemesis waits
        inside its ``invoke``; here, for a nemesis on its own, just sleep."""
        time.sleep(seconds)

    def kill(self, slot: int) -> dict[str, Any]:
        """Hook the controller replaces: kill a worker and settle its operations."""
        w = self.workers[slot]
        return {"worker": slot, "pid": w.kill()}


class Nemesis(Protocol):
    """A source of faults (see the module docstring)."""

    name: str

    def start(self, ctx: RunContext) -> None: ...

    def invoke(self, fault: Fault) -> dict[str, Any]: ...

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        """What to do when the fault's duration is over: a list of
        ``(action, value)`` the controller performs (``restart``/``resume``).
        Any other action whose value names ``"nemesis"`` is handed back to
        that nemesis's ``act(action, value)``; what it returns (unless None)
        is recorded as ``info <nemesis>``."""
        ...

    def heal(self) -> None: ...


class NoNemesis:
    """``none``: stands for a quiet run; never does anything."""

    name = "none"

    def start(self, ctx: RunContext) -> None:
        pass

    def invoke(self, fault: Fault) -> dict[str, Any]:
        return {}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        return []

    def heal(self) -> None:
        pass
