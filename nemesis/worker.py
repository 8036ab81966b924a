"""The controller's side of one worker process.

A :class:`Worker` owns a slot (restarts keep the slot, not the process) and
at most one live process at a time (plus, optionally, one idle spare): ``python -m workloads.worker_main`` in
its own session (``start_new_session=True``, so ``os.killpg`` reaches it and
nothing else), ``close_fds=True`` so no sibling inherits its pipes (a pipe
held open by a sibling would hide this worker's EOF). Operations go down its
stdin; completions come back on a dedicated pipe (``out_fd``), which the
controller polls with a selector (:meth:`read_messages`), or, when an
``events`` queue is given, one thread per incarnation reads and puts
``(slot, incarnation, message)`` on it, and ``(slot, incarnation, None)`` at
EOF (the process is gone). Its stdout and
stderr are appended to ``<run>/workers/<slot>.log``.

Every worker process dies with the controller (``lifecycle.preexec``: a
parent-death SIGKILL), so a controller killed outright leaves no worker, not
even a paused one, holding the Wal's lock.

Restarts are cheap: with ``spare=True`` the worker keeps one spare process
that has started the interpreter and imported persist (``--standby``) and
waits for ``go``; a restart hands it the slot, and the next spare is started
once the new incarnation is ready (:meth:`Worker.ensure_spare`), so that a
start never competes with its own spare for the CPU.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Any

import psutil

from nemesis import lifecycle
from workloads.base import WorkerSpec


#: a restart whose environment names a hostname runs in a new UTS namespace under it (nemesis.faults.host)
HOSTNAME_ENV = "PERSIST_NEMESIS_HOSTNAME"
_CLONE_NEWUTS = 0x04000000


def _new_uts(hostname: str):
    """A ``preexec_fn``: unshare the UTS namespace and set ``hostname`` (root only)."""

    def run() -> None:
        import ctypes
        import socket

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWUTS) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWUTS) for hostname {hostname!r}: {os.strerror(err)} (needs root)")
        socket.sethostname(hostname)

    return run


class Worker:
    def __init__(self, spec: WorkerSpec, *, workload: str, url: str, run_dir: str, events: queue.Queue | None,
                 threads: int, options: dict[str, Any], mutant: str | None = None, watch_root: str | None = None,
                 spare: bool = False, watch: bool = True, system: str = "persist"):
        self.spec = spec
        self.slot = spec.slot
        self.workload = workload
        self.url = url
        self.run_dir = run_dir
        self.events = events
        self.threads = threads
        self.options = options
        self.mutant = mutant
        self.watch_root = watch_root
        self.system = system  # --system: the system under test the client opens (docs/protocol.md)
        self.watch = watch  # install the fsync tracer (nemesis.fsync_watch); off on the fault filesystem
        self.incarnation = 0
        self._spawned = 0
        self.spare = spare
        self._spare: tuple[subprocess.Popen, int, int] | None = None  # (process, completion fd, number)
        self.next_env: dict[str, str] = {}  # extra environment for the next start only (the failpoint nemesis)
        self.out_fd: int | None = None
        self._bufs: dict[int, bytes] = {}  # completion pipe -> bytes of a partial line
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self.paused = False
        self.open_error: str | None = None
        os.makedirs(os.path.join(run_dir, "workers"), exist_ok=True)
        os.makedirs(os.path.join(run_dir, "reports"), exist_ok=True)
        self.log_path = os.path.join(run_dir, "workers", f"{self.slot}-{spec.role}.log")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def argv(self, incarnation: int) -> list[str]:
        report = os.path.join(self.run_dir, "reports", f"{self.slot}.{incarnation}.fsync")
        argv = [sys.executable, "-m", "workloads.worker_main", "--workload", self.workload, "--role", self.spec.role,
                "--url", self.url, "--threads", str(self.threads), "--options", json.dumps(self.options)]
        if self.watch:
            argv += ["--preload", "nemesis.fsync_watch:install",
                     "--preload-kwargs", json.dumps({"report_path": report, "root": self.watch_root})]
        cov = os.path.join(self.run_dir, "reports", f"{self.slot}.{incarnation}.cov")  # nemesis/coverage.py
        argv += ["--preload", "nemesis.coverage:install", "--preload-kwargs", json.dumps({"report_path": cov})]
        if self.mutant:
            argv += ["--mutant", self.mutant]
        if self.system != "persist":
            argv += ["--system", self.system]
        return argv

    def _spawn(self, standby: bool) -> tuple[subprocess.Popen, int, int]:
        """A new process with its own number: (process, completion fd, number).
        ``next_env`` applies to a non-spare spawn only (and is then used up)."""
        self._spawned += 1
        n = self._spawned
        r, w = os.pipe()
        with open(self.log_path, "ab") as log:
            log.write(f"--- incarnation {n}{' (spare)' if standby else ''}\n".encode())
            log.flush()
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            if not standby:
                env.update(self.next_env)
                self.next_env = {}
            hostname = env.get(HOSTNAME_ENV) if not standby else None
            proc = subprocess.Popen(
                self.argv(n) + ["--out-fd", str(w)] + (["--standby"] if standby else []), stdin=subprocess.PIPE,
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(w,), close_fds=True, start_new_session=True,
                env=env, cwd=os.getcwd(), preexec_fn=lifecycle.preexec(_new_uts(hostname) if hostname else None),  # dies with the controller
            )
        os.close(w)
        return proc, r, n

    def start(self) -> None:
        """Start a new incarnation; ``ready`` turns true when it says so.

        With ``spare=True`` the incarnation is the spare started last time (it
        has already paid for the interpreter and the imports: it only opens
        persist); the next spare is started by :meth:`ensure_spare` (the
        controller calls it once this incarnation is ready). A start
        with ``next_env`` set gets a fresh process (the spare's environment
        was fixed when it was started)."""
        assert not self.alive, "start() on a live worker"
        self.ready = False
        self.paused = False
        self.open_error = None
        taken = None
        if self._spare is not None:
            proc, fd, n = self._spare
            self._spare = None
            if not self.next_env and proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write(b"go\n")
                    proc.stdin.flush()
                    taken = (proc, fd, n)
                except OSError:
                    pass
            if taken is None:
                self._drop(proc, fd)
        self.proc, r, self.incarnation = taken or self._spawn(standby=False)
        self.out_fd = r
        self._bufs[r] = b""
        if taken is None and self.incarnation > 1:  # a restart no spare could serve (next_env: a failpoint
            self.ensure_spare()                     # at open, likely to fail): a warm spare for its retry
        if self.events is not None:
            threading.Thread(target=self._read, args=(r, self.incarnation), daemon=True,
                             name=f"worker-{self.slot}-{self.incarnation}").start()

    def read_messages(self, fd: int) -> list[dict[str, Any]] | None:
        """What one ``os.read`` of the completion pipe ``fd`` brought: whole
        messages (a line torn by SIGKILL is dropped at EOF); None at EOF (the
        caller closes ``fd``). For a caller that polls ``out_fd`` itself."""
        data = os.read(fd, 1 << 16)
        if not data:
            self._bufs.pop(fd, None)
            return None
        *lines, self._bufs[fd] = (self._bufs.get(fd, b"") + data).split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def _read(self, fd: int, incarnation: int) -> None:
        """Thread mode (``events`` given): forward messages to the queue."""
        try:
            while True:
                msgs = self.read_messages(fd)
                if msgs is None:
                    break
                for msg in msgs:
                    self.events.put((self.slot, incarnation, msg))
        finally:
            os.close(fd)
            self.events.put((self.slot, incarnation, None))

    def send(self, msg: dict[str, Any], flush: bool = True) -> bool:
        """Send one operation; False when the process is gone (its EOF follows).
        With ``flush=False`` it stays buffered until :meth:`flush` (one write
        for all operations dispatched in one round)."""
        if self.proc is None or self.proc.stdin is None:
            return False
        try:
            self.proc.stdin.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
            if flush:
                self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def flush(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group. A paused (SIGSTOPped) group is
        sent SIGCONT right after any other signal, so that it acts on it (a
        stopped process leaves every signal but SIGKILL pending)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
                if self.paused and sig not in (signal.SIGSTOP, signal.SIGCONT):
                    os.killpg(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def kill(self) -> int | None:
        """SIGKILL the process group and reap it; returns the pid killed."""
        if self.proc is None:
            return None
        pid = self.proc.pid
        try:
            family = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            family = []
        self.signal(signal.SIGKILL)
        self._reap(family)
        self.ready = False
        self.paused = False
        return pid

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def exit_code(self, timeout: float = 2.0) -> int | None:
        """The exit code of a process that is ending (None if it lingers)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """Close stdin (the worker closes persist and exits); kill if it lingers."""
        if self.proc is None:
            return
        if self.paused:
            self.resume()
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()

    def _reap(self, family: list | None = None) -> None:
        """Wait for the process (keeping its exit code) and, with psutil, for
        any descendants it had (they were in its process group)."""
        proc = self.proc
        if proc is None:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if family:
            psutil.wait_procs(family, timeout=5)
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def _drop(self, proc: subprocess.Popen, fd: int) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass
        os.close(fd)

    def ensure_spare(self) -> None:
        """Start the spare for the next restart, if there is none (the
        controller calls it once the incarnation is ready, so that a start
        does not compete with its own spare's imports)."""
        if self.spare and self._spare is None:
            self._spare = self._spawn(standby=True)

    def drop_spare(self) -> None:
        """Stop the spare (end of the run); it never touched the data."""
        if self._spare is not None:
            proc, fd, _ = self._spare
            self._spare = None
            self._drop(proc, fd)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""
