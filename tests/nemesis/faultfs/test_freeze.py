"""Freeze blocks new operations; a killed process blocked on a frozen mount still dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tests.nemesis.faultfs.conftest import read, write_synced


def test_freeze_blocks_until_thaw(ffs, d):
    p = os.path.join(d, "f")
    write_synced(p, b"")
    ffs.freeze()
    done = threading.Event()

    def writer():
        with open(p, "ab") as f:
            f.write(b"x")
        done.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    assert not done.wait(0.5)
    assert ffs.stats()["frozen"] is True
    ffs.thaw()
    assert done.wait(10)
    assert read(p) == b"x"


def test_killed_process_blocked_on_a_frozen_mount_dies_and_its_write_never_lands(ffs, d):
    p = os.path.join(d, "f")
    write_synced(p, b"base")
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os,sys,time\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_APPEND)\nprint('ready',flush=True)\n"
         "sys.stdin.readline()\nos.write(fd,b'late')\n", p],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    assert child.stdout.readline().strip() == b"ready"
    ffs.freeze()
    try:
        child.stdin.write(b"go\n")
        child.stdin.flush()
        time.sleep(0.3)  # now blocked inside write() on the frozen mount
        assert child.poll() is None
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)  # dies although its request is held by the filesystem (interrupted: EINTR)
        report = ffs.power_loss(1, "prefix")
        assert report["undo_errors"] == []
    finally:
        ffs.thaw()
    assert read(p) == b"base"
