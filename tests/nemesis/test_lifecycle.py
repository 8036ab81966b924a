"""Nothing outlives the controller (nemesis/lifecycle.py).

Real processes throughout: a controller (``persist-nemesis run``) whose
worker is SIGSTOPped by the pause nemesis is sent SIGTERM or SIGKILL; every
process it started must be gone, the Wal's lock free, and the run's status
``interrupted`` (SIGTERM, exit 143) or read as ``abandoned`` (SIGKILL).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from nemesis import lifecycle

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env():
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _gone(pids, timeout=10.0):
    """The pids of ``pids`` still alive (not zombies) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if lifecycle.alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# --- the parent-death signal, on its own ------------------------------------------

PARENT = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    from nemesis import lifecycle
    pre = lifecycle.preexec() if sys.argv[1] == "armed" else None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=pre,
                             start_new_session=True)
    os.kill(child.pid, signal.SIGSTOP)   # as the pause nemesis leaves it
    print(child.pid, flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("armed", [True, False])
def test_a_stopped_child_dies_with_its_parent(armed):
    """SIGKILL of the parent kills its SIGSTOPped child through the
    parent-death signal; without it (the planted bug) the child survives."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, "armed" if armed else "bare"], stdout=subprocess.PIPE,
                              env=_env(), cwd=REPO)
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 5
        while psutil.Process(child).status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.01)
        assert psutil.Process(child).status() == psutil.STATUS_STOPPED
        parent.kill()
        parent.wait()
        left = _gone([child], timeout=5 if armed else 1)
        assert (left == []) is armed, f"armed={armed}, left={left}"
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_effective_status_reads_a_dead_controller_as_abandoned():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = lifecycle.me()
    assert lifecycle.effective_status({"status": "running", **me})["status"] == "running"
    gone = lifecycle.effective_status({"status": "running", **me, "pid": dead.pid})
    assert gone["status"] == "abandoned" and str(dead.pid) in gone["reason"]
    # the same pid, reused by another process (another start time): abandoned too
    assert lifecycle.effective_status({"status": "running", **me, "pid_started": 1.0})["status"] == "abandoned"
    assert lifecycle.effective_status({"status": "finished", "pid": dead.pid})["status"] == "finished"
    # another machine's run cannot be asked
    assert lifecycle.effective_status({"status": "running", **me, "pid": dead.pid, "host": "elsewhere"})["status"] == "running"


# --- the controller, killed during a pause ------------------------------------------

def _stopped_descendant(ctl: psutil.Process, timeout: float) -> list[int]:
    """Wait until one of ``ctl``'s descendants is stopped (the pause nemesis);
    returns every descendant pid at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = ctl.children(recursive=True)
            if any(k.status() == psutil.STATUS_STOPPED for k in kids):
                return [k.pid for k in kids]
        except psutil.Error:
            pass
        time.sleep(0.05)
    raise AssertionError("no worker was paused within the time allowed")


def _locks_free(store):
    locks = [os.path.join(d, f) for d, _, fs in os.walk(store) for f in fs if f == "LOCK"]
    for path in locks:
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if anyone still holds it
            fcntl.flock(fh, fcntl.LOCK_UN)
    return locks


def _ours(store):
    """Processes anywhere whose command line names the store (workers, spares)."""
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and str(store) in " ".join(p.info["cmdline"] or []):
                out.append(p.pid)
        except psutil.Error:
            pass
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_controller_killed_during_a_pause_leaves_nothing(tmp_path, sig):
    store = tmp_path / "runs"
    ctl = subprocess.Popen([sys.executable, "-m", "nemesis.cli", "run", "--workload", "append", "--nemesis", "pause",
                            "--seed", "1", "--time-limit", "60", "--concurrency", "2", "--store", str(store),
                            "--quiet", "--no-report", "--keep-data"],
                           env=_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        family = _stopped_descendant(psutil.Process(ctl.pid), timeout=45)
        ctl.send_signal(sig)
        out, err = ctl.communicate(timeout=60)
    finally:
        if ctl.poll() is None:
            ctl.kill()
    assert ctl.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL), err.decode()[-2000:]
    assert _gone(family) == [], "a worker outlived its controller"
    assert _gone(_ours(store)) == []
    assert _locks_free(store), "the run's Wal has no LOCK file (nothing was checked)"
    run = os.path.realpath(store / "latest")
    with open(os.path.join(run, "status.json")) as f:
        status = json.load(f)
    from nemesis.report.rundir import read_status
    from pathlib import Path

    shown = read_status(Path(run), {})["status"]
    if sig == signal.SIGTERM:
        assert status["status"] == "interrupted" and "SIGTERM" in status["reason"]
        assert shown == "interrupted"
    else:
        assert status["status"] == "running" and shown == "abandoned"


@pytest.mark.slow
def test_a_campaign_killed_during_a_pause_leaves_nothing(tmp_path):
    """SIGKILL of a campaign (no handler runs): its forkserver, the run's
    process and the run's workers all go. The forkserver hands each run a
    copy of its "alive" pipe; a run holding it kept the forkserver alive and
    the forkserver kept the run alive, to the end of its time limit."""
    store = tmp_path / "runs"
    camp = subprocess.Popen([sys.executable, "-m", "nemesis.cli", "campaign", "--workloads", "append", "--nemeses",
                             "pause", "--seeds", "1", "--time-limit", "60", "--jobs", "1", "--store", str(store)],
                            env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # (no pipes: a survivor holding them would hang the test instead of failing it)
        family = _stopped_descendant(psutil.Process(camp.pid), timeout=60)
        camp.kill()
        camp.wait(timeout=30)
    finally:
        if camp.poll() is None:
            camp.kill()
    assert len(family) >= 3  # the forkserver, the run, its workers
    assert _gone(family, timeout=15) == [], "a process outlived its campaign"
    assert _gone(_ours(store)) == []
    assert _locks_free(store)
    deadline = time.monotonic() + 10
    while str(tmp_path) in open("/proc/self/mounts").read() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert str(tmp_path) not in open("/proc/self/mounts").read(), "the fault filesystem stayed mounted"
