"""Faults of the fault filesystem: ``disk-error`` and ``slow-disk``.

Both need the run's data directory to be a :mod:`nemesis.faultfs` mount
(``--fs fuse``, or ``auto`` where FUSE works; :mod:`nemesis.faultmodel`
refuses them on the tracer, which cannot fail or slow a call of the
engine's). Every choice comes from the fault's seed (:func:`choose_error`,
:func:`choose_slow`), so a seed replays the same faults. History::

    invoke disk-error {"at", "nemesis", "target": -1, "duration", "seed"}
    info   disk-error {"action": "on", "name": "fsync EIO", "op": "fsync", "errno": "EIO",
                       "mode": "sticky", "count": 0, "path": "wal", "where": "wal/", ...}
    ...                                          (the fault's duration)
    info   disk-error {"action": "clear", "end": "restart", "fired": {"count": 3, "first": [..]},
                       "restart": [0, 1]}
    invoke restart {"worker": 0} ...
    (or, ending in a power loss: {"action": "clear", "end": "power-loss", "power_loss": {..}, ...})

    invoke slow-disk {...}
    info   slow-disk {"action": "on", "name": "fsync 35ms write 2ms", "fsync_ms": 35.0, "write_ms": 2.0}
    info   slow-disk {"action": "off"}

The timeline shades each from ``on`` to ``clear``/``off``
(``nemesis/report/periods.py``).
"""

from __future__ import annotations

import errno as errno_mod
from typing import Any

from nemesis.faults.base import Fault, RunContext

#: the operations ``disk-error`` fails (``fsync`` also stands for ``fsyncdir``, the fsync of a directory,
#: half the time), and the errors a real disk gives for each: a read or an open
#: of an existing file fails only with EIO; what allocates (write, create, rename, the syncs that
#: write back) may also find the disk or the quota full
ERRORS: dict[str, tuple[str, ...]] = {
    "write": ("EIO", "ENOSPC", "EDQUOT"),
    "fsync": ("EIO", "ENOSPC", "EDQUOT"),
    "fdatasync": ("EIO", "ENOSPC", "EDQUOT"),
    "rename": ("EIO", "ENOSPC", "EDQUOT"),
    "create": ("EIO", "ENOSPC", "EDQUOT"),
    "open": ("EIO",),
    "read": ("EIO",),
}
OPS = tuple(ERRORS)
#: how a disk-error period ends: every worker restarted, or a power loss first (then the restarts)
ENDS = ("restart", "power-loss")
#: where in the data directory (persist's ``file://`` layout: ``wal/``, ``blob/``); None: anywhere
TARGETS: tuple[str | None, ...] = ("wal", "blob", None)


def require_fs(ctx: RunContext, name: str):
    """The run's fault filesystem, or a clear error (the config checks make this unreachable from the CLI)."""
    fs = getattr(ctx, "fs", None)
    if fs is None:
        raise RuntimeError(f"the {name} nemesis needs the fault filesystem (--fs fuse); this run has the tracer")
    return fs


def choose_error(fault: Fault) -> dict[str, Any]:
    """What ``disk-error`` fails, from the fault's seed alone: ``op``,
    ``errno`` (a name), ``mode`` (``once``: the next ``count`` matching calls
    fail, then the disk works again; ``sticky``: every matching call fails
    until the fault's end), ``count``, ``path`` (``wal``, ``blob`` or None),
    ``end`` (:data:`ENDS`) and ``loss_seed`` (the power loss's seed)."""
    rng = fault.rng()
    op = rng.choice(OPS)
    err = rng.choice(ERRORS[op])
    mode = rng.choice(("once", "sticky"))
    count = rng.randint(1, 3) if mode == "once" else 0
    path = rng.choice(TARGETS)
    end = rng.choice(ENDS)
    loss_seed = rng.getrandbits(32)
    if op == "fsync" and rng.random() < 0.5:  # drawn last: the fsync of a directory (the engine's dir syncs)
        op = "fsyncdir"
    return {"op": op, "errno": err, "mode": mode, "count": count, "path": path, "end": end, "loss_seed": loss_seed}


def choose_slow(fault: Fault) -> dict[str, Any]:
    """What ``slow-disk`` adds, from the fault's seed alone: milliseconds
    before each fsync/fdatasync (5..60) and each write (0..3)."""
    rng = fault.rng()
    return {"fsync_ms": round(rng.uniform(5, 60), 1), "write_ms": round(rng.choice((0.0, rng.uniform(0.2, 3.0))), 2)}


class DiskError:
    """``disk-error``: stands for a failing or full disk (a bad sector, a
    device that drops off, ENOSPC, a quota): the filesystem fails a seeded
    operation -- write, fsync (of a file or a directory), fdatasync, rename,
    create, open or read --
    of the data directory (or of its ``wal/`` or ``blob/`` part) with EIO,
    ENOSPC or EDQUOT, once (the next 1-3 matching calls) or sticky for the
    fault's duration; then it clears the rule and, as the seed says, either
    restarts every worker (the operator who fixed the disk restarts the
    service: a writer whose Wal refused further use after a failed fsync
    needs it) or first has a power loss on the filesystem (the failing disk
    took the machine down: what a failed fsync did not make durable may be
    gone), then restarts every worker.

    It only makes calls fail the way the kernel would, before they reach the
    backing directory (a failed write wrote nothing, a failed rename renamed
    nothing); whether a failed fsync loses the unsynced data at the next
    power loss is the filesystem's model (fsyncgate), not this nemesis's. It
    never fails a read or an open with ENOSPC or EDQUOT, and never touches a
    file's contents."""

    name = "disk-error"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.fs = require_fs(ctx, self.name)
        self.on = False
        self._seen = 0

    def _injected(self) -> list[dict[str, Any]]:
        try:
            st = self.fs.stats()
        except Exception:  # stats are a report, never a reason to fail the run
            return []
        return list(st.get("injected") or []) if isinstance(st, dict) else []

    def invoke(self, fault: Fault) -> dict[str, Any]:
        spec = choose_error(fault)
        # the filesystem matches a mount-relative path by substring or glob: "wal/" is every Wal file
        where = None if spec["path"] is None else spec["path"] + "/"
        self._seen = len(self._injected())
        self.fs.fail(spec["op"], getattr(errno_mod, spec["errno"]), path=where, mode=spec["mode"],
                     count=max(1, spec["count"]))
        self.on = True
        return {"action": "on", "name": f"{spec['op']} {spec['errno']}", **spec, "where": where}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        spec = choose_error(fault)
        return ([("end", {"nemesis": self.name, "end": spec["end"], "loss_seed": spec["loss_seed"]})]
                + [("restart", {"worker": s}) for s in sorted(self.ctx.workers)])

    def act(self, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
        """The end of the fault: clear the rule, then a power loss (``end``
        ``power-loss``) or a kill of every worker; the ``restart`` actions
        that follow bring them back."""
        fired = self._clear()
        out: dict[str, Any] = {"action": "clear", "end": value.get("end", "restart")}
        if fired is not None:
            out["fired"] = fired
        out["restart"] = [s for s in sorted(self.ctx.workers) if self.ctx.workers[s].alive]
        if out["end"] == "power-loss":
            from nemesis.faults.disk import fs_power_loss

            loss = fs_power_loss(self.ctx, int(value.get("loss_seed", 0)))
            out["power_loss"] = loss["power_loss"]
            out["model"] = loss["model"]
            if loss.get("others_killed"):
                out["others_killed"] = loss["others_killed"]
        else:
            for slot in out["restart"]:
                self.ctx.kill(slot)
        return out

    #: at most this many of the errors a fault injected are listed in its ``clear`` event
    LISTED = 20

    def _clear(self) -> dict[str, Any] | None:
        """Clear the rule; what it injected meanwhile: ``{"count", "first": [...]}``."""
        if not self.on:
            return None
        self.on = False
        self.fs.clear_faults()
        fired = self._injected()[self._seen:]
        return {"count": len(fired), "first": fired[:self.LISTED]}

    def heal(self) -> None:
        self._clear()


class SlowDisk:
    """``slow-disk``: stands for a slow or overloaded disk (a congested
    array, a throttled cloud volume): every fsync/fdatasync on the mount
    waits 5-60 ms and every write up to 3 ms (seeded) for the fault's
    duration. It changes only timing, never what a call does or returns."""

    name = "slow-disk"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.fs = require_fs(ctx, self.name)
        self.on = False

    def invoke(self, fault: Fault) -> dict[str, Any]:
        spec = choose_slow(fault)
        self.fs.slow(fsync_ms=spec["fsync_ms"], write_ms=spec["write_ms"])
        self.on = True
        return {"action": "on", "name": f"fsync {spec['fsync_ms']:g}ms write {spec['write_ms']:g}ms", **spec}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        return [("end", {"nemesis": self.name})]

    def act(self, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
        self._normal()
        return {"action": "off"}

    def _normal(self) -> None:
        if self.on:
            self.on = False
            self.fs.slow(fsync_ms=0.0, write_ms=0.0)

    def heal(self) -> None:
        self._normal()
