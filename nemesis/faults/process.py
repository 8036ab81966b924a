"""Process faults: ``kill`` and ``pause``."""

from __future__ import annotations

from typing import Any

from nemesis.faults.base import Fault, RunContext


class Kill:
    """``kill``: stands for a process crash (the machine and its disk stay up).

    SIGKILLs the whole process group of one worker, reaps it, and restarts it
    on the same data directory after the fault's duration. The page cache
    survives, so nothing written is lost: a kill never cuts a file (that is
    ``lose-unsynced``). Operations in flight become ``info``."""

    name = "kill"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def invoke(self, fault: Fault) -> dict[str, Any]:
        return self.ctx.kill(fault.target)

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        return [("restart", {"worker": fault.target})]

    def heal(self) -> None:
        pass


class Pause:
    """``pause``: stands for a stall (a GC pause, a VM descheduled, a stuck
    disk). SIGSTOPs one worker's process group and SIGCONTs it after the
    fault's duration. It never kills and never touches files; operations in
    flight simply take longer."""

    name = "pause"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.paused: set[int] = set()

    def invoke(self, fault: Fault) -> dict[str, Any]:
        w = self.ctx.workers[fault.target]
        if not w.alive:
            return {"worker": fault.target, "skipped": "not running"}
        w.pause()
        self.paused.add(fault.target)
        return {"worker": fault.target, "pid": w.pid}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        if fault.target in self.paused:
            self.paused.discard(fault.target)
            return [("resume", {"worker": fault.target})]
        return []

    def heal(self) -> None:
        for slot in sorted(self.paused):
            w = self.ctx.workers[slot]
            if w.alive:
                w.resume()
        self.paused.clear()
