"""The configuration of one run (:class:`RunConfig`): what ``config.json``
holds and what ``persist-nemesis run`` / ``repro`` / ``campaign`` /
``shrink`` build. Everything needed to reproduce a run is here, with the
seed: the seeded generators and the seeded nemesis schedule follow from it,
unless ``faults`` (and ``fault_ops``, ``processes``) replay a recorded one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nemesis.faults.base import Fault


@dataclass
class RunConfig:
    workload: str
    nemeses: list[str]
    seed: int
    time_limit: float
    concurrency: int = 4
    op_limit: int = 0  # 0: no limit
    mutant: str | None = None
    keep_data: bool = False
    interval: tuple[float, float] = (0.4, 1.2)
    faults: list[Fault] | None = None  # None: the seeded schedule
    blob: str = "file"  # "s3": on a moto server the controller starts (nemesis.s3.runstore)
    s3_faults: list[str] = field(default_factory=list)  # rules the s3 nemesis draws from (default: its catalogue)
    s3_port: int = 0
    #: with ``faults``: fault i is injected once exactly ``fault_ops[i]`` client
    #: operations have been invoked, instead of at its time (the *fault gate*:
    #: no operation is dispatched past that count until the fault is in). A
    #: shrinker replays a subset of a run's faults at the counts they hit.
    fault_ops: list[int] | None = None
    #: the client processes (of ``0..concurrency-1``) that run; None: all. Each
    #: keeps its worker and its seeded generator, so a subset runs the same
    #: operations per process (the workers are those of ``concurrency``).
    processes: list[int] | None = None
    #: ``--fs``: auto | fuse | tracer (nemesis/faultmodel.py); ``fault_model`` is what it resolved to
    #: (``"faultfs"`` or ``"tracer"``), ``fs_reason`` why ``auto`` fell back to the tracer
    fs: str = "auto"
    fault_model: str | None = None
    fs_reason: str | None = None
    #: ``--system``: the system under test (``docs/protocol.md``): ``persist`` (the reference engine),
    #: ``module:Class`` or ``exec:CMD {data_dir}``
    system: str = "persist"

    def resolve_fs(self) -> str:
        """Settle ``fault_model`` (once): ``faultfs`` or ``tracer``. Raises
        :class:`nemesis.faultmodel.FaultModelError` when ``fs`` cannot be
        honoured here or a nemesis needs the filesystem the run will not have."""
        if self.fault_model is None:
            from nemesis.faultmodel import resolve

            m = resolve(self.fs, self.nemeses)
            self.fault_model, self.fs_reason = m.name, m.reason
        return self.fault_model

    @property
    def op_clock(self) -> bool:
        """One client process and failpoints only: the run goes by the
        operation clock (``Controller.op_clock``)."""
        return self.concurrency == 1 and set(self.nemeses) <= {"failpoint", "none"}

    def only_nemeses_used(self) -> list[str]:
        """The nemeses a replayed schedule (``faults``) uses, in this
        config's order (``["none"]`` for none), unless that would change the
        run's clock: then all of them. For a shrunk run, whose dropped
        faults leave some nemeses with nothing to do."""
        if self.faults is None:
            return list(self.nemeses)
        used = [n for n in self.nemeses if any(f.nemesis == n for f in self.faults)] or ["none"]
        same_clock = (self.concurrency == 1 and set(used) <= {"failpoint", "none"}) == self.op_clock
        return used if same_clock else list(self.nemeses)

    def to_json(self) -> dict[str, Any]:
        d = {"workload": self.workload, "nemesis": self.nemeses, "seed": self.seed,
             "time_limit": self.time_limit, "concurrency": self.concurrency, "op_limit": self.op_limit,
             "mutant": self.mutant, "keep_data": self.keep_data, "interval": list(self.interval),
             "blob": self.blob, "s3_faults": list(self.s3_faults), "s3_port": self.s3_port, "fs": self.fs}
        if self.fault_model is not None:
            d["fault_model"] = self.fault_model
        if self.fs_reason:
            d["fs_reason"] = self.fs_reason
        if self.system != "persist":  # only when chosen, so a plain run's config is unchanged
            d["system"] = self.system
        # a replayed schedule (shrinking, regression seeds): only when set, so a plain run's config is unchanged
        if self.faults is not None:
            d["faults"] = [f.to_json() for f in self.faults]
        if self.fault_ops is not None:
            d["fault_ops"] = list(self.fault_ops)
        if self.processes is not None:
            d["processes"] = list(self.processes)
        return d

    def check_replay(self) -> None:
        """``fault_ops`` and ``processes`` make sense; raises ValueError saying what is wrong."""
        if self.fault_ops is not None:
            if self.faults is None or len(self.fault_ops) != len(self.faults):
                raise ValueError("fault_ops needs a faults list of the same length (one operation count per fault)")
            if any(not isinstance(n, int) or n < 0 for n in self.fault_ops) or self.fault_ops != sorted(self.fault_ops):
                raise ValueError(f"fault_ops must be non-decreasing operation counts >= 0, got {self.fault_ops}")
        if self.processes is not None:
            bad = [p for p in self.processes if not isinstance(p, int) or not 0 <= p < self.concurrency]
            if not self.processes or bad or len(set(self.processes)) != len(self.processes):
                raise ValueError(f"processes must be distinct client process numbers in 0..{self.concurrency - 1}, "
                                 f"at least one; got {self.processes}")
