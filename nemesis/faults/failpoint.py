"""The ``failpoint`` nemesis: the engine crashes, errs or stalls at an exact place.

Each fault arms one of the engine's named failpoints (:mod:`persist.failpoints`)
in the live writer process: the name, the mode and the hit at which it fires
(counted from the arming) all drawn from the fault's seed. The controller
sends ``{"failpoint": {...}}`` down the worker's operation pipe, so every
operation sent afterwards runs with it armed. After the fault's duration it
is disarmed (if it has not fired a crash already). A failpoint met only at
open (``open.after_epoch``) is armed instead by killing the writer and
restarting it with ``PERSIST_FAILPOINTS`` in its environment, for that one
process (value ``"via": "restart"``, ``"killed": [...]``). History::

    info failpoint {"action": "arm", "worker": 0, "name": "drain.before_metadata",
                    "mode": "crash", "at": 2}
    info failpoint {"action": "disarm", "worker": 0, "name": ...}

A ``crash`` that fires shows as the controller's ``info crash`` for the
worker (it SIGKILLed itself) and a ``restart``; the restarted process starts
disarmed.
"""

from __future__ import annotations

from typing import Any

from nemesis.faults.base import Fault, RunContext

#: failpoints a writer meets while serving operations (``open.*`` is only met
#: at open, where arming through the pipe cannot reach it).
NAMES = (
    "write.before_wal", "write.after_wal",
    "drain.before_blob", "drain.before_metadata", "drain.after_metadata", "drain.after_truncate",
    "seal.before_blob", "seal.before_metadata", "seal.after_metadata",
    "compaction.before_blob", "compaction.before_metadata", "compaction.after_metadata",
    "gc.before_delete", "gc.after_delete",
    "metadata.before_cas", "metadata.after_cas",
)
#: failpoints met only while opening: armed through the environment of a restart
OPEN_NAMES = ("open.after_epoch",)
MODES = (("crash", 5), ("error", 3), ("stall", 2))  # (mode, weight)


def choose(fault: Fault) -> dict[str, Any]:
    """The failpoint ``fault`` arms: ``{"name", "mode", "at"[, "arg"]}``, from its seed alone.
    At open only ``crash`` and ``stall`` (an error there would leave a worker
    that never opened, which is an operator's problem, not the engine's), at
    the first hit."""
    rng = fault.rng()
    spec: dict[str, Any] = {"name": rng.choice(NAMES + OPEN_NAMES),
                            "mode": rng.choices([m for m, _ in MODES], [w for _, w in MODES])[0],
                            "at": rng.randint(1, 4)}
    if spec["mode"] == "stall":
        spec["arg"] = round(rng.uniform(0.1, 1.0), 3)
    if spec["name"] in OPEN_NAMES:
        spec["at"] = 1
        if spec["mode"] == "error":
            spec["mode"] = "crash"
    return spec


def env_entry(spec: dict[str, Any]) -> dict[str, str]:
    """The ``PERSIST_FAILPOINTS`` environment arming ``spec`` in a new process."""
    from persist import failpoints

    arg = f":{spec['arg']}" if spec.get("arg") is not None else ""
    return {failpoints.ENV_VAR: failpoints.env_value({spec["name"]: f"{spec['mode']}{arg}@{spec['at']}"})}


class Failpoints:
    """``failpoint``: stands for a crash, an error or a stall at one exact
    place in the engine (a power cut between a blob put and the metadata
    swap; an I/O error in the middle of a drain; a GC pause holding the
    commit lock) — reproducible from the seed, as FoundationDB's BUGGIFY.

    It only arms what the engine itself offers: the crash is the process's
    own SIGKILL (no flush, no ``finally``; the page cache survives, as for
    ``kill``), an error is the engine's indeterminate ``FailpointError``, a
    stall sleeps at most a second. It never touches files and never arms a
    failpoint in a reader; its only signal from outside is the SIGKILL that
    stands for the crash before a restart whose open is to fail (as ``kill``)."""

    name = "failpoint"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.armed: dict[int, tuple[int, str]] = {}  # slot -> (incarnation, name)
        self.restarts: set[int] = set()  # slots killed to be restarted with a failpoint armed at open

    def invoke(self, fault: Fault) -> dict[str, Any]:
        slot = self.ctx.writer_slot
        w = self.ctx.workers[slot]
        spec = choose(fault)
        value = {"action": "arm", "worker": slot, **spec}
        if not (w.alive and w.ready):
            return {**value, "action": "skip", "skipped": "writer not running"}
        if spec["name"] in OPEN_NAMES:  # crash the writer, restart it armed: the failpoint meets its next open
            killed = self.ctx.kill(slot)
            w.next_env = env_entry(spec)
            self.restarts.add(slot)
            return {**value, "via": "restart", "killed": [killed]}
        if not w.send({"failpoint": spec}):
            return {**value, "action": "skip", "skipped": "writer pipe closed"}
        self.armed[slot] = (w.incarnation, spec["name"])
        return {**value, "pid": w.pid}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        slot = self.ctx.writer_slot
        if slot in self.restarts:  # armed at open: the restart takes it; the process after that starts clean
            self.restarts.discard(slot)
            return [("restart", {"worker": slot})]
        if slot not in self.armed:
            return []
        return [("end", {"nemesis": self.name, "worker": slot})]

    def act(self, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
        """The controller's call at the end of a fault: disarm what is still armed."""
        slot = value["worker"]
        entry = self.armed.pop(slot, None)
        if entry is None:
            return None
        incarnation, name = entry
        w = self.ctx.workers[slot]
        out = {"action": "disarm", "worker": slot, "name": name}
        if w.incarnation != incarnation or not w.alive:
            return {**out, "note": "the worker restarted meanwhile; the new process was never armed"}
        w.send({"failpoint": {"disarm": name}})
        return out

    def heal(self) -> None:
        """Disarm now (the pending ``end`` still records the disarm)."""
        for slot, (incarnation, name) in list(self.armed.items()):
            w = self.ctx.workers[slot]
            if w.alive and w.incarnation == incarnation:
                w.send({"failpoint": {"disarm": name}})
