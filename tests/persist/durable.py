"""What a power loss could not take away, observed from outside the engine.

Unit crash tests must not take the engine's word for what it synced (an
engine that acknowledges before its fsync, or skips it, would pass them). A
:class:`Tracer` wraps ``os.fsync`` / ``os.fdatasync`` / ``os.truncate`` /
``os.ftruncate`` for the whole process while it is active, like the
harness's ``nemesis/fsync_watch.py`` does inside workers, and records:

* per file (by device and inode, so a file fsynced under a temp name and
  renamed keeps it): the size taken just *before* a successful
  ``fsync``/``fdatasync`` (bytes written later are not covered), lowered by
  a later truncation;
* per directory: the entries listed just before a successful fsync of it
  (names created later are not durable);
* a file created by ``os.open`` with ``O_CREAT|O_EXCL`` (or opened with
  ``O_TRUNC``) starts with nothing durable, also when its inode number was
  used before by a deleted file.

A call that raises records nothing (after a failed fsync nothing is known
durable: PostgreSQL's fsyncgate). Files and directories that existed when
the tracer started count as durable as they stood then.

:meth:`Tracer.power_loss` then leaves a directory tree as a real disk could
be left: every file cut to a point chosen in ``[durable, size]`` (a prefix
of its unsynced bytes survives), and, with ``drop_names``, every file whose
name its directory never made durable removed. (Stricter models: the fault
filesystem of issue 11. Unlinks are not undone.)

``on_sync(path, size)`` is called after each recorded file fsync; a child
process reports through it (``say("F path size")``).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class Tracer:
    def __init__(self, root: str | os.PathLike, on_sync: Callable[[str, int], None] | None = None) -> None:
        self.root = os.path.realpath(os.fspath(root))
        self.on_sync = on_sync
        self.files: dict[tuple[int, int], int] = {}
        self.dirs: dict[str, set[str]] = {}
        self.syncs = 0
        self._lock = threading.Lock()
        self._real: dict[str, Callable] = {}

    # --- recording ----------------------------------------------------------

    def _path(self, fd: int) -> str | None:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None

    def _watched(self, path: str | None) -> bool:
        return path is not None and (path == self.root or path.startswith(self.root + os.sep))

    def _sync(self, real: Callable, fd) -> None:
        fileno = fd if isinstance(fd, int) else fd.fileno()
        path = self._path(fileno)
        if not self._watched(path):
            return real(fd)
        st = os.fstat(fileno)
        if stat.S_ISDIR(st.st_mode):
            entries = set(os.listdir(path))
            real(fd)
            with self._lock:
                self.dirs[path] = entries
                self.syncs += 1
            return None
        size = st.st_size
        real(fd)
        with self._lock:
            self.files[_ident(st)] = size
            self.syncs += 1
        if self.on_sync is not None:
            self.on_sync(path, size)
        return None

    def _lower(self, st: os.stat_result, length: int) -> None:
        with self._lock:
            key = _ident(st)
            if key in self.files:
                self.files[key] = min(self.files[key], length)

    def __enter__(self) -> Tracer:
        self.settle()
        real = self._real = {n: getattr(os, n) for n in ("fsync", "fdatasync", "truncate", "ftruncate", "open")}

        def os_open(path, flags, *args, **kwargs):
            fd = real["open"](path, flags, *args, **kwargs)
            if flags & os.O_CREAT and flags & os.O_EXCL or flags & os.O_TRUNC:  # a new file: nothing durable yet
                st = os.fstat(fd)
                with self._lock:
                    self.files[_ident(st)] = 0
            return fd

        def truncate(path, length):
            real["truncate"](path, length)
            self._lower(os.stat(path), length)

        def ftruncate(fd, length):
            real["ftruncate"](fd, length)
            self._lower(os.fstat(fd), length)

        os.fsync = lambda fd: self._sync(real["fsync"], fd)
        os.fdatasync = lambda fd: self._sync(real["fdatasync"], fd)
        os.truncate, os.ftruncate, os.open = truncate, ftruncate, os_open
        return self

    def __exit__(self, *exc) -> None:
        for name, fn in self._real.items():
            setattr(os, name, fn)

    # --- what survives --------------------------------------------------------

    def settle(self) -> None:
        """Everything under the root is durable as it stands now."""
        with self._lock:
            self.files.clear()
            self.dirs.clear()
            for dirpath, dirnames, filenames in os.walk(self.root):
                self.dirs[os.path.realpath(dirpath)] = set(dirnames) | set(filenames)
                for f in filenames:
                    self.files[_ident(os.stat(os.path.join(dirpath, f)))] = os.stat(os.path.join(dirpath, f)).st_size

    def durable_size(self, path: str) -> int:
        return self.files.get(_ident(os.stat(path)), 0)

    def power_loss(self, choose: Callable[[int, int, str], int], drop_names: bool = True) -> list[str]:
        """Leave the tree as a power loss could: each file cut to
        ``choose(durable, size, path)`` (which must return a value in that
        range), and unsynced names removed (``drop_names``). Returns what it
        did, one line each. The new state is then durable (``settle``)."""
        done = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            real_dir = os.path.realpath(dirpath)
            durable_names = self.dirs.get(real_dir, set())
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                if drop_names and f not in durable_names:
                    os.unlink(path)
                    done.append(f"lost name {path}")
                    continue
                size = os.path.getsize(path)
                low = min(self.durable_size(path), size)
                cut = choose(low, size, path)
                if not low <= cut <= size:
                    raise ValueError(f"choose returned {cut} outside [{low}, {size}] for {path}")
                if cut < size:
                    self._real.get("truncate", os.truncate)(path, cut)
                    done.append(f"cut {path} {size} -> {cut}")
        self.settle()
        return done
