"""new-host: a restart under another hostname, for real (a new UTS namespace)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from nemesis.faults.base import Fault
from nemesis.faults.host import HOSTNAME_ENV, hostname_for
from nemesis.worker import _new_uts

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="a new UTS namespace needs root")


@root_only
def test_the_spawn_runs_the_child_under_the_new_hostname_and_leaves_ours_alone():
    name = hostname_for(Fault(0.0, "new-host", 0, 0.1, 0xABC))
    out = subprocess.run([sys.executable, "-c", "import socket; print(socket.gethostname())"],
                         capture_output=True, text=True, preexec_fn=_new_uts(name), check=True)
    assert out.stdout.strip() == name == "nemesis-00000abc"
    assert socket.gethostname() != name


def test_the_fault_restarts_the_writer_with_the_hostname_in_its_environment():
    from nemesis.faults.host import NewHost

    class W:
        alive = True
        next_env: dict = {}

    class Ctx:
        writer_slot = 0
        workers = {0: W()}

        def kill(self, slot):
            return {"worker": slot, "pid": 42}

    n = NewHost()
    n.start(Ctx())
    f = Fault(1.0, "new-host", 0, 0.2, 7)
    v = n.invoke(f)
    assert v == {"worker": 0, "pid": 42, "hostname": "nemesis-00000007"}
    assert Ctx.workers[0].next_env == {HOSTNAME_ENV: "nemesis-00000007"}
    assert n.recover(f) == [("restart", {"worker": 0})]
    assert n.recover(f) == []
