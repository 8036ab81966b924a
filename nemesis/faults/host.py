"""``new-host``: the writer restarts under another hostname.

Stands for a container (or a VM) restarted under a new name: the process
crashes and comes back on the same disk, with the same Wal directory, but
``socket.gethostname()`` answers something else. It never touches a file;
what a process crash keeps (the page cache) it keeps. An engine that takes
its identity from the hostname mistakes its own Wal for another writer's
(issue 11, defect 3).

How: the writer's process group is SIGKILLed (as ``kill``) and, after the
fault's duration, restarted in a new UTS namespace whose hostname is
``nemesis-<hex of the fault's seed>``: the worker's spawn unshares the UTS
namespace and sets the hostname before ``exec`` (:data:`HOSTNAME_ENV` in the
restart's environment asks for it; see ``nemesis.worker``). That needs root
(CAP_SYS_ADMIN); without it the restart fails loudly, never silently under
the old name. Later restarts of the slot (a ``kill``, a power loss) come
back under the machine's own name: another rename.

History: ``invoke new-host`` ``{"worker", "pid", "hostname"}``, then the
controller's ``restart``.
"""

from __future__ import annotations

from typing import Any

from nemesis.faults.base import Fault, RunContext

#: environment variable of a restart that asks the spawn for a new UTS namespace with this hostname
HOSTNAME_ENV = "PERSIST_NEMESIS_HOSTNAME"


def hostname_for(fault: Fault) -> str:
    return f"nemesis-{fault.seed:08x}"


class NewHost:
    """``new-host``: see the module docstring."""

    name = "new-host"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.restarts: set[int] = set()

    def invoke(self, fault: Fault) -> dict[str, Any]:
        slot = self.ctx.writer_slot
        w = self.ctx.workers[slot]
        name = hostname_for(fault)
        if not w.alive:
            return {"worker": slot, "skipped": "not running", "hostname": name}
        killed = self.ctx.kill(slot)
        w.next_env = {HOSTNAME_ENV: name}
        self.restarts.add(slot)
        return {**killed, "hostname": name}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        slot = self.ctx.writer_slot
        if slot in self.restarts:
            self.restarts.discard(slot)
            return [("restart", {"worker": slot})]
        return []

    def heal(self) -> None:
        pass
