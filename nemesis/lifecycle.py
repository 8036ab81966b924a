"""The harness's own life: signals, children that die with it, runs whose controller vanished.

Three guarantees, each relied on by the rest of the harness:

1. **Nothing outlives the controller.** Every worker process (and every
   campaign run's process) is started with a *parent-death signal*
   (:func:`die_with_parent`: Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the
   child before it runs anything of its own). When the process that started
   it dies, however it dies (SIGKILL included), the kernel SIGKILLs it; a
   SIGKILL ends a process stopped by SIGSTOP too (the ``pause`` nemesis), so
   no stopped worker is left holding the Wal's lock. A child whose parent died
   before the ``prctl`` took effect (the race between ``fork`` and ``prctl``)
   kills itself at once. Where ``prctl`` is missing (not Linux) nothing is
   armed and the controller's own clean-up is all there is.

2. **SIGTERM (and SIGHUP) are handled like SIGINT.** :func:`install` makes
   the first of SIGINT, SIGTERM, SIGHUP raise :class:`Interrupted` (a
   ``KeyboardInterrupt``, so every ``except KeyboardInterrupt`` clean-up path
   runs: heal, stop the workers, mark the run ``interrupted``); later ones are
   ignored while that clean-up runs (a second Ctrl-C must not cut it short:
   SIGKILL still ends everything, see 1). The exit code is ``128 + signal``
   (:func:`exit_code`): 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.

3. **A run whose controller vanished is ``abandoned``.** ``status.json`` of a
   running run records the controller's ``pid``, its start time
   (``pid_started``, seconds since the epoch as ``psutil`` reports it) and the
   ``host``. :func:`effective_status` reads a ``running`` status as
   ``abandoned`` when, on the same host, that pid is gone or is now another
   process (a different start time). Every place that shows a run's status
   goes through it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
from typing import Any

import psutil

PR_SET_PDEATHSIG = 1

#: the signals handled like Ctrl-C
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The harness was told to stop by ``signum``: clean up, then exit ``128 + signum``."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_state: dict[str, Any] = {"signum": None}


def received() -> int | None:
    """The first stop signal :func:`install`'s handler received (None: none)."""
    return _state["signum"]


def _handler(signum: int, frame: Any) -> None:
    if _state["signum"] is not None:
        return  # clean-up of the first one is running: let it finish
    _state["signum"] = signum
    raise Interrupted(signum)


def install() -> dict[int, Any]:
    """Handle SIGINT, SIGTERM and SIGHUP as described in the module docstring
    (in the main thread only; a signal already ignored stays ignored).
    Returns the handlers it replaced, for :func:`restore`."""
    _state["signum"] = None
    old: dict[int, Any] = {}
    for sig in SIGNALS:
        try:
            if signal.getsignal(sig) is signal.SIG_IGN and sig != signal.SIGINT:
                continue
            old[sig] = signal.signal(sig, _handler)
        except ValueError:  # not the main thread
            break
    return old


def restore(old: dict[int, Any]) -> None:
    """Put back the handlers :func:`install` replaced (a command run in-process, as tests do)."""
    for sig, h in old.items():
        try:
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
        except (ValueError, TypeError):
            pass


def exit_code(e: BaseException | None = None) -> int:
    """128 + the signal that stopped us (``e``'s, else the one received); 130 by default."""
    signum = getattr(e, "signum", None) or received() or signal.SIGINT
    return 128 + int(signum)


def signal_name(e: BaseException | None = None) -> str:
    signum = getattr(e, "signum", None) or received() or signal.SIGINT
    return signal.Signals(signum).name


# --- children that die with their parent ---------------------------------------

def _prctl():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


#: libc's prctl, looked up once in the parent: a ``preexec_fn`` runs between
#: fork and exec, where loading a library (or importing) could deadlock on a
#: lock another thread of the parent held at the fork
_PRCTL = _prctl()


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Arrange for this process to get ``sig`` when its parent dies; if the
    parent (``parent``, the pid it had when it forked us) is already gone,
    die now. Returns False where the kernel has no parent-death signal.
    Safe between fork and exec: no import, no allocation beyond the call."""
    prctl = _PRCTL
    if prctl is None:
        return False
    if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:  # it died before the prctl: nobody will signal us
        os.kill(os.getpid(), sig)
    return True


def release_forkserver() -> None:
    """In a process forked by ``multiprocessing``'s forkserver: close this
    process's copy of the forkserver's "alive" pipe. The forkserver lives
    while any copy is open, so a child holding one keeps it alive after its
    own parent (a campaign, a dask worker) died by SIGKILL, and a child that
    dies with the forkserver (:func:`die_with_parent`) then never does.
    Harmless elsewhere (nothing to close)."""
    try:
        from multiprocessing import forkserver

        fd = forkserver._forkserver._forkserver_alive_fd
        if fd is not None:
            forkserver._forkserver._forkserver_alive_fd = None
            os.close(fd)
    except (AttributeError, OSError):  # another Python's forkserver: the parent's death is then noticed late
        pass


def preexec(then=None, parent: int | None = None):
    """A ``preexec_fn`` for ``subprocess.Popen``: the child dies with this
    process (the parent pid is taken now, before the fork), then runs
    ``then`` (another preexec step, e.g. a new UTS namespace), if given."""
    parent = os.getpid() if parent is None else parent

    def fn() -> None:
        die_with_parent(parent)
        if then is not None:
            then()

    return fn


# --- abandoned runs --------------------------------------------------------------

def me() -> dict[str, Any]:
    """What ``status.json`` records of the controller: pid, start time, host."""
    try:
        started = psutil.Process().create_time()
    except psutil.Error:
        started = None
    return {"pid": os.getpid(), "pid_started": started, "host": socket.gethostname()}


def alive(pid: Any, started: Any = None) -> bool:
    """Is process ``pid`` (started at ``started``, when given) still running here?"""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if isinstance(started, (int, float)) and abs(p.create_time() - started) > 1.0:
            return False  # the pid was reused by another process
        return True
    except psutil.Error:
        return False


def effective_status(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` (a ``status.json``), with ``running`` read as ``abandoned``
    when its controller is gone (same host only: a run copied from another
    machine cannot be asked). Adds ``"reason"`` to an abandoned one."""
    if not isinstance(status, dict) or status.get("status") != "running":
        return status
    host = status.get("host")
    if host is not None and host != socket.gethostname():
        return status
    if "pid" not in status or alive(status.get("pid"), status.get("pid_started")):
        return status
    return {**status, "status": "abandoned",
            "reason": status.get("reason") or f"its controller (pid {status.get('pid')}) is gone without a word; "
                                              "the history is a readable prefix"}
