"""The controller (nemesis/controller.py): what it refuses to judge."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from nemesis.faultmodel import fuse_available

needs_fuse = pytest.mark.skipif(not fuse_available()[0], reason=f"fault filesystem unavailable: {fuse_available()[1]}")


def _server_pid(under: str) -> int | None:
    """The fault filesystem server serving a mount under ``under`` (this test's own)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"nemesis.faultfs.server" in argv and any(a.startswith(under.encode()) for a in argv):
            return int(pid)
    return None


@pytest.mark.slow
@needs_fuse
def test_a_fault_filesystem_that_stops_serving_mid_run_stops_the_run_unjudged(tmp_path):
    """Regression: two controls of the protocol zoo (append, kill seed 3 and none seed 4,
    BENCHMARKS.md) came out invalid because the fault filesystem's server stopped mid-run:
    the workers went on in the empty directory under the mount point (a writer "fenced by
    the writer with Wal None ... at epoch 0", an fsck missing the batches the metadata
    names) and the engine was blamed. Before the fix this run exits 1 (invalid:
    no-fencing, recovery); now it stops as unknown (2), its status saying why."""
    from tests.nemesis.harness import run_test

    store = tmp_path / "store"
    stop = threading.Event()

    def terminate_the_server_mid_run() -> None:
        end = time.monotonic() + 60
        pid = None
        while pid is None and time.monotonic() < end and not stop.is_set():
            pid = _server_pid(str(store))
            time.sleep(0.1)
        if pid is None:
            return
        time.sleep(3.0)  # well into the run: the workers are up and writing
        os.kill(pid, signal.SIGTERM)  # our own run's server, by pid; libfuse unmounts

    t = threading.Thread(target=terminate_the_server_mid_run, daemon=True)
    t.start()
    try:
        code, run_dir = run_test(store, "append", "none", 4, 8, 4, fs="fuse")
    finally:
        stop.set()
        t.join(70)
    assert code == 2, f"exit {code}; results: {os.path.exists(os.path.join(run_dir, 'results.json'))}"
    with open(os.path.join(run_dir, "status.json"), encoding="utf-8") as f:
        status = json.load(f)
    assert status["status"] == "aborted"
    assert "the fault filesystem" in status["reason"] and "stopped serving" in status["reason"]
    assert not os.path.exists(os.path.join(run_dir, "results.json"))  # not judged
    with open("/proc/self/mounts") as f:
        assert str(tmp_path) not in f.read()  # and nothing left mounted
