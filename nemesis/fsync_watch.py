"""Watching fsync from outside the engine.

The lose-unsynced nemesis may cut only what a power loss could cut: bytes
written since their file's last fsync, and names created since their
directory's last fsync. It must not take the engine's word for what it
synced, or an engine that skips an fsync would never be caught. So inside
each worker process the *harness* wraps the calls that make data durable and
writes down, before each call returns to the engine, what it made durable:

* ``os.fsync`` / ``os.fdatasync`` of a regular file: the file's size taken
  just *before* the sync (bytes written later are not covered);
* ``os.fsync`` of a directory: the directory's entries listed just before the
  sync (names created later are not covered);
* a truncation (``open`` with ``"w"``, ``os.open`` with ``O_TRUNC``,
  ``os.truncate``/``os.ftruncate``): the size it cut the file to, so that an
  in-place rewrite is not mistaken for an append to fsynced data.

Each report is one JSON line written with a single ``os.write`` to an
``O_APPEND`` file (``<run>/reports/<slot>.<incarnation>.fsync``). The page
cache survives SIGKILL, so the controller reads the file after it killed the
worker: the file is the controller's record. A report is written only *after*
the real call returned, so a kill in between under-reports (the fsync "did
not happen"), which is always a state a real crash could leave; the harness
never over-reports.

Report lines (``t``: ``time.monotonic_ns()`` when the size or listing was
taken; CLOCK_MONOTONIC is shared by every process, so reports of several
workers are merged in that order)::

    {"op": "fsync", "t": 1, "path": "/abs/file", "ino": "2049:77", "size": 4096}
    {"op": "dirsync", "t": 2, "path": "/abs/dir", "entries": ["a", "b"]}
    {"op": "trunc", "t": 3, "path": "/abs/file", "ino": "2049:77", "size": 0}

Files are tracked by identity (``ino``: device and inode), so that a file
written and fsynced under a temp name and then renamed keeps what it made
durable; names are tracked per directory.

**A slow disk, on request.** While a file named :data:`SLOW_FLAG` exists in
the reports directory, every fsync of a regular file waits
:data:`SLOW_SECONDS` *before* the real call (the size it will report was
already taken). The lose-unsynced nemesis sets it while it looks for a
moment to strike, so written-but-unsynced data sits in the page cache long
enough to be found: a slow disk, which a real power loss may well meet. It
changes only timing, never what is reported.

The worker calls :func:`install` before it imports persist (the worker is
told to by name, so ``workloads`` never imports ``nemesis``). The controller
folds reports into a :class:`DurableState` (:func:`DurableState.apply_reports`).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import stat
import time
from dataclasses import dataclass, field

_fd: int | None = None
_root: str | None = None
_slow_flag: str | None = None

#: the file (in the reports directory) whose presence slows every fsync
SLOW_FLAG = "slow-fsync"
#: how long a slowed fsync waits before the real call
SLOW_SECONDS = 0.02


def _report(obj: dict) -> None:
    if _fd is not None:
        os.write(_fd, (json.dumps(obj, separators=(",", ":")) + "\n").encode())


def _path_of(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _ino(st: os.stat_result) -> str:
    """A file's identity: it follows the file through renames."""
    return f"{st.st_dev}:{st.st_ino}"


def _watched(path: str | None) -> bool:
    return path is not None and (_root is None or path == _root or path.startswith(_root + os.sep))


def install(report_path: str, root: str | None = None) -> None:
    """Wrap the durability calls of this process; reports go to ``report_path``.

    Only paths under ``root`` (when given) are reported."""
    global _fd, _root, _slow_flag
    if _fd is not None:
        return
    _fd = os.open(report_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    _slow_flag = os.path.join(os.path.dirname(os.path.abspath(report_path)), SLOW_FLAG)
    _root = os.path.realpath(root) if root else None
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    real_open, real_os_open = builtins.open, os.open
    real_truncate, real_ftruncate = os.truncate, os.ftruncate

    def _sync(real, fd):
        fileno = fd if isinstance(fd, int) else fd.fileno()
        path = _path_of(fileno)
        if not _watched(path):
            return real(fd)
        t = time.monotonic_ns()
        st = os.fstat(fileno)
        if stat.S_ISDIR(st.st_mode):
            entries = sorted(os.listdir(path))
            real(fd)
            _report({"op": "dirsync", "t": t, "path": path, "entries": entries})
        else:
            if _slow_flag is not None and os.path.exists(_slow_flag):
                time.sleep(SLOW_SECONDS)  # a slow disk (see the module docstring)
            real(fd)
            _report({"op": "fsync", "t": t, "path": path, "ino": _ino(st), "size": st.st_size})

    def fsync(fd):
        return _sync(real_fsync, fd)

    def fdatasync(fd):
        return _sync(real_fdatasync, fd)

    def open_(file, mode="r", *args, **kwargs):
        t = time.monotonic_ns()
        f = real_open(file, mode, *args, **kwargs)
        if "w" in mode and isinstance(file, (str, bytes, os.PathLike)):
            path = os.path.realpath(os.fsdecode(file))
            if _watched(path):
                _report({"op": "trunc", "t": t, "path": path, "ino": _ino(os.fstat(f.fileno())), "size": 0})
        return f

    def os_open(path, flags, *args, **kwargs):
        t = time.monotonic_ns()
        fd = real_os_open(path, flags, *args, **kwargs)
        if flags & os.O_TRUNC:
            p = _path_of(fd)
            if _watched(p):
                _report({"op": "trunc", "t": t, "path": p, "ino": _ino(os.fstat(fd)), "size": 0})
        return fd

    def truncate(path, length):
        t = time.monotonic_ns()
        real_truncate(path, length)
        p = _path_of(path) if isinstance(path, int) else os.path.realpath(os.fsdecode(path))
        if _watched(p):
            _report({"op": "trunc", "t": t, "path": p, "ino": _ino(os.stat(path)), "size": length})

    def ftruncate(fd, length):
        t = time.monotonic_ns()
        real_ftruncate(fd, length)
        p = _path_of(fd)
        if _watched(p):
            _report({"op": "trunc", "t": t, "path": p, "ino": _ino(os.fstat(fd)), "size": length})

    os.fsync, os.fdatasync = fsync, fdatasync
    os.open, os.truncate, os.ftruncate = os_open, truncate, ftruncate
    builtins.open = io.open = open_


@dataclass
class FileState:
    durable: int = 0  # bytes known durable (size at the last reported fsync)
    low: int = 0  # nothing below this may be cut (durable, or a later truncation point)


@dataclass
class DurableState:
    """What a power loss could not take away, per the workers' reports.

    ``files``: file identity (``dev:ino``) -> :class:`FileState`; ``dirs``: path -> the set of names
    made durable by the directory's last fsync. A directory never reported is
    durable with the entries it had when the state was last :meth:`settled`.
    """

    files: dict[str, FileState] = field(default_factory=dict)
    dirs: dict[str, set[str]] = field(default_factory=dict)
    _offsets: dict[str, int] = field(default_factory=dict)

    def apply(self, rep: dict) -> None:
        op = rep.get("op")
        if op == "fsync":
            self.files[rep["ino"]] = FileState(rep["size"], rep["size"])
        elif op == "dirsync":
            self.dirs[rep["path"]] = set(rep["entries"])
        elif op == "trunc":
            st = self.files.setdefault(rep["ino"], FileState())
            st.low = min(st.low, rep["size"])

    def file(self, path: str) -> FileState | None:
        """The durable state of the file now at ``path`` (by identity, so a
        file fsynced under a temp name and renamed keeps it)."""
        return self.files.get(_ino(os.stat(path)))

    def apply_reports(self, report_dir: str) -> int:
        """Fold in every report line not read yet, from every worker, in the
        order of the moments they describe (``t``: CLOCK_MONOTONIC, shared by
        all processes of the machine); returns how many."""
        reps: list[dict] = []
        if not os.path.isdir(report_dir):
            return 0
        for name in sorted(os.listdir(report_dir)):
            if not name.endswith(".fsync"):
                continue
            path = os.path.join(report_dir, name)
            with real_open_binary(path) as fh:
                fh.seek(self._offsets.get(path, 0))
                data = fh.read()
            end = data.rfind(b"\n") + 1  # a half-written last line is read next time
            reps.extend(json.loads(line) for line in data[:end].splitlines() if line.strip())
            self._offsets[path] = self._offsets.get(path, 0) + end
        reps.sort(key=lambda r: r.get("t", 0))
        for r in reps:
            self.apply(r)
        return len(reps)

    def settle(self, root: str) -> None:
        """After a simulated power loss the disk is what it is: every file and
        directory under ``root`` is now durable as it stands."""
        self.files.clear()
        self.dirs.clear()
        for dirpath, dirnames, filenames in os.walk(root):
            self.dirs[os.path.realpath(dirpath)] = set(dirnames) | set(filenames)
            for f in filenames:
                st = os.stat(os.path.join(dirpath, f))
                self.files[_ino(st)] = FileState(st.st_size, st.st_size)


def real_open_binary(path: str):
    """``open(path, "rb")`` that never goes through a wrapper."""
    return io.FileIO(path, "r")
