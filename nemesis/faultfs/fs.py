"""The controller's handle on a fault filesystem: mount it, drive it, unmount it.

    ok, why = available()
    fs = FaultFS(backing, mountpoint, log_path=None)
    fs.mount()                      # a server process in its own session; returns once the mount is live
    fs.fail("fsync", errno.EIO, path="*.wal", mode="once")
    fs.slow(fsync_ms=5)
    fs.freeze(); <kill every process using the mount>; report = fs.power_loss(seed); fs.thaw()
    fs.unmount()                    # idempotent; never leaves a stale mount

The server is ``python -m nemesis.faultfs.server BACKING MOUNT --control SOCK``
(:mod:`nemesis.faultfs.server`); requests go over the control socket
(:mod:`nemesis.faultfs.control`). The semantics are in ``docs/faultfs.md``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from nemesis.faultfs.control import ControlClient
from nemesis.faultfs.errors import FaultFSBadInput, FaultFSControlError, FaultFSMountError, FaultFSUnavailable
from nemesis.faultfs.inject import RuleRefused, check_rule


def available() -> tuple[bool, str]:
    """``(True, "")`` when this machine can mount the fault filesystem, else ``(False, why)``."""
    if sys.platform != "linux":
        return False, f"the fault filesystem needs Linux FUSE (this is {sys.platform})"
    if not os.path.exists("/dev/fuse"):
        return False, "no /dev/fuse (FUSE is not available in this kernel or container)"
    if os.geteuid() != 0:
        return False, "not root (the fault filesystem mounts as root)"
    if shutil.which("fusermount3") is None:
        return False, "no fusermount3 (install Debian's fuse3)"
    try:
        import mfusepy
    except ImportError:
        return False, "mfusepy missing (pip install mfusepy)"
    except (OSError, EnvironmentError) as e:  # mfusepy raises when it cannot load libfuse
        return False, f"no libfuse3 ({e}; install Debian's fuse3)"
    if getattr(mfusepy, "fuse_version_major", 3) != 3:
        return False, f"libfuse {mfusepy.fuse_version_major} found, libfuse3 needed (install Debian's fuse3)"
    return True, ""


def _mounted(path: str) -> bool:
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == path for line in f if len(line.split()) > 1)
    except OSError:
        return os.path.ismount(path)


class FaultFS:
    """A fault filesystem serving ``backing`` at ``mountpoint`` (see the module docstring)."""

    def __init__(self, backing: str, mountpoint: str, *, log_path: str | None = None) -> None:
        self.backing = os.path.realpath(backing)
        self.mountpoint = os.path.realpath(mountpoint)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._client: ControlClient | None = None
        self._tmp: str | None = None
        self._log = None

    # --- life cycle ----------------------------------------------------------------
    def mount(self, timeout: float = 20.0) -> None:
        """Start the server and wait until the mount answers; raises FaultFSUnavailable/FaultFSMountError."""
        if self.proc is not None:
            raise FaultFSMountError(f"{self.mountpoint}: already mounted by this FaultFS")
        ok, why = available()
        if not ok:
            raise FaultFSUnavailable(f"cannot mount the fault filesystem: {why}")
        for what, path in (("backing directory", self.backing), ("mount point", self.mountpoint)):
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as e:
                raise FaultFSMountError(f"cannot use {path} as the {what}: {e.strerror}") from None
        if _mounted(self.mountpoint):
            raise FaultFSMountError(f"{self.mountpoint} is already a mount point: unmount it first "
                                    f"(fusermount3 -u {self.mountpoint})")
        if self.backing == self.mountpoint or self.mountpoint.startswith(self.backing + os.sep):
            raise FaultFSBadInput(f"the mount point {self.mountpoint} must not be inside the backing "
                                  f"directory {self.backing}")
        self._tmp = tempfile.mkdtemp(prefix="faultfs-")
        sock = os.path.join(self._tmp, "ctl.sock")
        log_path = self.log_path or os.path.join(self._tmp, "server.log")
        self._log = open(log_path, "ab")
        env = dict(os.environ)
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nemesis.faultfs.server", self.backing, self.mountpoint, "--control", sock,
             "--parent", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self._client = ControlClient(sock)
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                msg = self._log_tail(log_path)
                self._cleanup_after_exit()
                raise FaultFSMountError(f"the fault filesystem server exited with {self.proc.returncode} "
                                        f"before {self.mountpoint} was mounted:\n{msg}")
            if os.path.exists(sock) and _mounted(self.mountpoint):
                try:
                    self._client.call("ping")
                    os.stat(self.mountpoint)
                    return
                except (FaultFSControlError, OSError):
                    pass
            if time.monotonic() > end:
                msg = self._log_tail(log_path)
                self.unmount()
                raise FaultFSMountError(f"{self.mountpoint} not mounted after {timeout}s:\n{msg}")
            time.sleep(0.02)

    def unmount(self, timeout: float = 10.0) -> None:
        """Thaw, unmount (lazily if busy), stop the server. Idempotent; leaves no stale mount."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.thaw()
            except FaultFSControlError:
                pass
        if self._client is not None:
            self._client.close()
        if _mounted(self.mountpoint):
            r = subprocess.run(["fusermount3", "-u", self.mountpoint], capture_output=True)
            if r.returncode != 0 and _mounted(self.mountpoint):
                subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], capture_output=True)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        if _mounted(self.mountpoint):  # the server died without unmounting
            subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], capture_output=True)
        self._cleanup_after_exit()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def _cleanup_after_exit(self) -> None:
        from nemesis.faultfs.server import purge_stash

        purge_stash(self.backing)  # a server that was killed leaves its stash behind
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._client = None
        self.proc = None

    @staticmethod
    def _log_tail(path: str, n: int = 4000) -> str:
        try:
            with open(path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return "(no server log)"

    def __enter__(self) -> "FaultFS":
        self.mount()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unmount()

    @property
    def mounted(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- control ---------------------------------------------------------------------
    def _call(self, op: str, **args: Any) -> Any:
        if self._client is None:
            raise FaultFSControlError(f"faultfs {op}: not mounted (call mount() first)")
        return self._client.call(op, **args)

    def freeze(self, timeout: float = 30.0) -> None:
        """New operations block until :meth:`thaw`; returns once the in-flight ones finished.
        A blocked operation whose process is killed returns EINTR so the process can die."""
        self._call("freeze", timeout=timeout)

    def thaw(self) -> None:
        self._call("thaw")

    def power_loss(self, seed: int, model: str | None = None) -> dict:
        """Rebuild the backing directory into a state a disk could be left in by a power loss now.

        Call while frozen, after killing every process that uses the mount. ``model`` is one of
        :data:`nemesis.faultfs.powerloss.MODELS` or None (the seed picks one). Returns the report;
        the journal is empty afterwards, the filesystem stays frozen, and file handles opened
        before it fail with EIO."""
        from nemesis.faultfs.powerloss import MODELS

        if model is not None and model not in MODELS:
            raise FaultFSBadInput(f"unknown power-loss model {model!r}: use one of {', '.join(MODELS)} or None")
        if not isinstance(seed, int):
            raise FaultFSBadInput(f"seed {seed!r}: must be an int")
        return self._call("power_loss", seed=seed, model=model)

    def fail(self, op: str, errno: int, *, path: str | None = None, mode: str = "once", count: int = 1) -> None:
        """Fail matching calls of ``op`` with ``errno`` (see :mod:`nemesis.faultfs.inject`)."""
        try:
            check_rule(op, errno, path, mode, count)
        except RuleRefused as e:
            raise FaultFSBadInput(f"faultfs fail: {e}") from None
        self._call("fail", kind=op, errno=errno, path=path, mode=mode, count=count)

    def clear_faults(self) -> None:
        self._call("clear_faults")

    def slow(self, fsync_ms: float = 0.0, write_ms: float = 0.0) -> None:
        """Latency added before every real fsync/fdatasync/fsyncdir and every write (0 turns it off)."""
        self._call("slow", fsync_ms=fsync_ms, write_ms=write_ms)

    def stats(self) -> dict:
        """Ops by kind, unsynced bytes/files/dir ops, injected errors fired, frozen or not."""
        return self._call("stats")


__all__ = ["FaultFS", "available"]
