"""Small durable-filesystem helpers shared by :mod:`file_blob` and :mod:`file_wal`.

The rules they encode (measured on this kind of machine, see BRIEF §3):
- a file's *name* is durable only once its directory is fsynced, so every
  create, rename and unlink is followed by :func:`fsync_dir`;
- a replace is durable and atomic as: write a temp file, fsync it,
  ``os.replace`` it over the target, fsync the directory;
- an exclusive ``flock`` is held per open file description, so it excludes
  another process *and* a second open in the same process, and the kernel
  drops it when the holder dies.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time

from persist.errors import LockedError, StorageUnavailableError


def fsync_dir(path: str) -> None:
    """Make the directory entries of ``path`` (creates, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: str, what: str) -> str:
    """Create ``path`` (and missing parents) durably; return its absolute path.

    Raises :class:`StorageUnavailableError` with a one-line message when the
    directory cannot be created or is not a writable directory. Each newly
    created level is made durable by fsyncing its parent."""
    path = os.path.abspath(path)
    missing: list[str] = []
    p = path
    while not os.path.isdir(p):
        # isdir again after lexists: another process (the writer, while a reader opens) may have
        # created the directory between the two looks; only a name that is there and is no
        # directory is refused
        if os.path.lexists(p) and not os.path.isdir(p):
            raise StorageUnavailableError(
                f"cannot use {path} as the {what}: {p} exists and is not a directory; choose another path"
            )
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            pass
        except OSError as e:
            raise StorageUnavailableError(
                f"cannot create the {what} {path}: {e.strerror} ({d}); choose a writable path"
            ) from None
        try:
            fsync_dir(os.path.dirname(d))
        except OSError as e:
            raise StorageUnavailableError(f"cannot make the {what} {path} durable: {e}; check the disk") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageUnavailableError(f"the {what} {path} is not writable; fix its permissions or choose another path")
    return path


def write_durable(dir_path: str, name: str, data: bytes, tmp_name: str, replace_tmp: bool = False) -> None:
    """Durably and atomically make ``dir_path/name`` hold ``data``
    (``replace_tmp``: a temp file of that name left by a crash is removed first)."""
    tmp = os.path.join(dir_path, tmp_name)
    if replace_tmp:
        _unlink_quietly(tmp)
    write_tmp(tmp, data)
    try:
        os.replace(tmp, os.path.join(dir_path, name))
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(dir_path)


def write_tmp(tmp_path: str, data: bytes) -> None:
    """Write ``data`` to a new file ``tmp_path`` and fsync it (name not yet durable)."""
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp_path)
        raise
    os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def holder_line() -> str:
    """What a lock holder writes into its lock file."""
    return f"pid={os.getpid()} host={socket.gethostname()} since={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"


class DirLock:
    """An exclusive ``flock`` on ``dir/name``, held until :meth:`release`.

    The lock file names its holder (pid, host, start time) so that a refused
    opener can say who holds it. The file itself is never deleted (deleting a
    locked file would let a third opener lock a fresh inode)."""

    def __init__(self, dir_path: str, name: str, what: str) -> None:
        self.path = os.path.join(dir_path, name)
        existed = os.path.exists(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LockedError(
                    f"the {what} {dir_path} is in use by {read_holder(self.path)}; "
                    "stop that process (or close the other handle) or use another directory"
                ) from None
            raise StorageUnavailableError(f"cannot lock the {what} {dir_path}: {e.strerror}") from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_line().encode(), 0)
            os.fsync(fd)
            if not existed:
                fsync_dir(dir_path)
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing the description drops the flock
            self._fd = None


def read_holder(lock_path: str) -> str:
    """The holder line of a lock file, or a neutral phrase when it is not written yet."""
    try:
        with open(lock_path, encoding="utf-8", errors="replace") as f:
            text = f.read().strip()
    except OSError:
        text = ""
    return text or "another process (holder not yet recorded)"
