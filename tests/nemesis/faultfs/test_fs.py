"""FaultFS life cycle: available(), mount errors, idempotent unmount, the person's command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nemesis.errors import NemesisError
from nemesis.faultfs import FaultFS, FaultFSBadInput, FaultFSControlError, FaultFSMountError, available
from nemesis.faultfs.fs import _mounted

pytestmark = pytest.mark.skipif(not available()[0], reason=f"fault filesystem unavailable: {available()[1]}")


def test_available_says_yes_or_why():
    ok, why = available()
    assert ok and why == ""


def test_mount_unmount_is_clean_and_idempotent(tmp_path):
    fs = FaultFS(str(tmp_path / "b"), str(tmp_path / "m"))
    fs.mount()
    assert _mounted(fs.mountpoint) and fs.mounted
    with open(os.path.join(fs.mountpoint, "f"), "wb") as f:
        f.write(b"x")
    os.unlink(os.path.join(fs.mountpoint, "f"))  # leaves a stash entry until unmount
    fs.unmount()
    fs.unmount()
    assert not _mounted(fs.mountpoint) and not fs.mounted
    assert os.listdir(tmp_path / "b") == []  # no stash left behind
    with pytest.raises(FaultFSControlError, match="not mounted"):
        fs.stats()


def test_second_mount_on_a_mounted_point_is_refused(tmp_path):
    with FaultFS(str(tmp_path / "b"), str(tmp_path / "m")) as fs:
        other = FaultFS(str(tmp_path / "b2"), fs.mountpoint)
        with pytest.raises(FaultFSMountError, match="already a mount point") as e:
            other.mount()
        assert isinstance(e.value, NemesisError) and e.value.happened is False
    assert not _mounted(str(tmp_path / "m"))


def test_mount_point_inside_backing_is_refused(tmp_path):
    with pytest.raises(FaultFSBadInput, match="must not be inside"):
        FaultFS(str(tmp_path), str(tmp_path / "m")).mount()


def test_unmount_while_busy_and_frozen_leaves_no_stale_mount(tmp_path):
    fs = FaultFS(str(tmp_path / "b"), str(tmp_path / "m"))
    fs.mount()
    f = open(os.path.join(fs.mountpoint, "held"), "wb")
    try:
        fs.freeze()
        fs.unmount()  # thaws, then lazy unmount because a file is open
        assert not _mounted(fs.mountpoint)
    finally:
        try:
            f.close()
        except OSError:
            pass


def test_killed_server_is_cleaned_up(tmp_path):
    fs = FaultFS(str(tmp_path / "b"), str(tmp_path / "m"))
    fs.mount()
    os.killpg(fs.proc.pid, signal.SIGKILL)
    fs.proc.wait(10)
    fs.unmount()
    assert not _mounted(fs.mountpoint)


def test_person_command_serves_until_ctrl_c(tmp_path):
    b, m = tmp_path / "b", tmp_path / "m"
    b.mkdir()
    m.mkdir()
    (b / "hello").write_bytes(b"hi")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.Popen([sys.executable, "-m", "nemesis.faultfs", "mount", str(b), str(m)], env=env,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        for _ in range(200):
            if _mounted(str(m)):
                break
            time.sleep(0.05)
        assert (m / "hello").read_bytes() == b"hi"
        p.send_signal(signal.SIGINT)
        assert p.wait(15) == 0
        assert not _mounted(str(m))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if _mounted(str(m)):
            subprocess.run(["fusermount3", "-u", "-z", str(m)])


def test_server_unmounts_when_its_controller_dies_without_unmounting(tmp_path):
    script = ("import sys,time\nfrom nemesis.faultfs import FaultFS\n"
              "fs=FaultFS(sys.argv[1], sys.argv[2]); fs.mount()\nprint(fs.proc.pid, flush=True)\ntime.sleep(60)\n")
    m = str(tmp_path / "m")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    ctl = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "b"), m], stdout=subprocess.PIPE, env=env)
    server_pid = int(ctl.stdout.readline())
    assert _mounted(m)
    ctl.kill()
    ctl.wait()
    for _ in range(150):
        if not _mounted(m):
            break
        time.sleep(0.1)
    assert not _mounted(m)
    for _ in range(100):
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            break
        if open(f"/proc/{server_pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the server outlived its controller")
