"""The fault filesystem's server: a FUSE passthrough over a backing directory that journals
what a power loss could take away, injects errors and latency, and freezes on request.

Run as its own process (``FaultFS.mount`` does it)::

    python -m nemesis.faultfs.server BACKING MOUNT --control SOCK

Every operation on ``MOUNT`` is performed on ``BACKING`` (file handles are
real fds on the backing files). Writes, truncates and entry operations are
recorded in a :class:`~nemesis.faultfs.journal.Journal` until an ``fsync``
(file) or ``fsyncdir`` (directory) makes them durable. Removed inodes are
kept alive in ``BACKING/.faultfs/stash`` (invisible through the mount) until
their removal is durable. The control socket (:mod:`nemesis.faultfs.control`)
drives freeze/thaw, power loss, error rules and latency.

Kernel caching is turned off for names and attributes (timeouts 0) and file
pages are dropped on every open (no ``kernel_cache``), so a power loss that
rewrites the backing directory is seen at once by processes started after
it. POSIX (``fcntl``) and BSD (``flock``) locks are left to the kernel,
which then keeps them locally: correct for the processes of one machine.
Extended attributes are not offered (the kernel then stops asking for
``security.capability`` on every write, which would double its cost), nor is
``flush`` (the kernel then stops sending one on every ``close``).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import errno
import functools
import logging
import os
import shutil
import stat as stat_mod
import sys
import threading
import time
from typing import Any

import mfusepy
from mfusepy import FuseOSError

from nemesis.faultfs.inject import Injector
from nemesis.faultfs.journal import DURABLE, Journal, TruncOp, WriteOp

STASH_DIR = ".faultfs"  # inside the backing directory, hidden from the mount
_HIDDEN = "/" + STASH_DIR
_NOT_BACKING = os.O_ACCMODE | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_TRUNC | getattr(os, "O_DIRECT", 0)
_SYNC_FLAGS = os.O_SYNC | os.O_DSYNC
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2

try:
    _fuse_interrupted = mfusepy._libfuse.fuse_interrupted
    _fuse_interrupted.restype = ctypes.c_int
    _fuse_interrupted.argtypes = []
except AttributeError:  # pragma: no cover
    _fuse_interrupted = None

log = logging.getLogger("nemesis.faultfs")
PF_EXITING = 0x4


def _caller_pid() -> int:
    try:
        return mfusepy.fuse_get_context()[2]
    except ValueError:  # not in a FUSE thread
        return 0


def _dying(pid: int) -> bool:
    """The process is gone or exiting (``PF_EXITING`` in /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        return False
    return rest[0] in (b"Z", b"X") or bool(int(rest[6]) & PF_EXITING)


def _stat_dict(st: os.stat_result) -> dict[str, Any]:
    return {"st_mode": st.st_mode, "st_ino": st.st_ino, "st_nlink": st.st_nlink, "st_uid": st.st_uid,
            "st_gid": st.st_gid, "st_size": st.st_size, "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns,
            "st_ctime": st.st_ctime_ns, "st_blocks": st.st_blocks, "st_blksize": st.st_blksize,
            "st_rdev": st.st_rdev}


def gated(kind: str):
    """Count the op, wait while frozen, and keep the in-flight count that ``freeze`` drains."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *args):
            self._enter(kind)
            try:
                return fn(self, *args)
            finally:
                self._leave()

        return wrapper

    return deco


class FaultOps(mfusepy.Operations):
    """The FUSE operations. One instance per mount; all state lives here."""

    use_ns = True
    flag_nopath = True
    flag_nullpath_ok = True

    def __init__(self, backing: str) -> None:
        self.root = os.path.realpath(backing)
        self.stash = os.path.join(self.root, STASH_DIR, "stash")
        self.root_ino = os.lstat(self.root).st_ino
        purge_stash(self.root)
        os.makedirs(self.stash, exist_ok=True)
        self.journal = Journal()
        self.dlock = self.journal.lock  # the entry-operation lock
        self.inj = Injector()
        self.counts: collections.Counter[str] = collections.Counter()
        self.blocked: collections.Counter[str] = collections.Counter()  # ops waiting at a freeze
        self.cv = threading.Condition()
        self.frozen = False
        self.inflight = 0
        self.epoch = 0  # bumped by every power loss; fds and blocked ops of an older epoch get EIO
        self.fhs: dict[int, list] = {}  # fd -> [ino, rel path, epoch, sync-on-write]
        self.dirfhs: dict[int, str] = {}  # directory fd -> its path on the mount
        self.deferred: list[tuple[int, bytes, int]] = []  # kernel writeback that arrived while frozen
        self.deferred_close: set[int] = set()
        self.stash_n = 0
        self.power_losses = 0
        self.is_root = os.geteuid() == 0

    # --- gate --------------------------------------------------------------------------
    def _enter(self, kind: str) -> None:
        with self.cv:
            self.counts[kind] += 1
            if self.frozen:
                ep = self.epoch
                self.blocked[kind] += 1
                try:
                    pid = _caller_pid()
                    while self.frozen:
                        self.cv.wait(0.05)
                        if _fuse_interrupted is not None and _fuse_interrupted():
                            raise FuseOSError(errno.EINTR)  # its process got a signal (e.g. was killed)
                        if pid and _dying(pid):
                            # e.g. the writeback of a dying process's shared mapping: it cannot be
                            # interrupted, and what it carries is lost in the crash anyway
                            raise FuseOSError(errno.EIO)
                finally:
                    self.blocked[kind] -= 1
                if self.epoch != ep:
                    raise FuseOSError(errno.EIO)
            self.inflight += 1

    def _leave(self) -> None:
        with self.cv:
            self.inflight -= 1
            if self.frozen and self.inflight == 0:
                self.cv.notify_all()

    def freeze(self, timeout: float = 30.0) -> None:
        with self.cv:
            self.frozen = True
            end = time.monotonic() + timeout
            while self.inflight > 0:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.inflight} operation(s) still in flight after {timeout}s")
                self.cv.wait(left)

    def thaw(self) -> None:
        while True:
            with self.cv:
                if not self.deferred and not self.deferred_close:
                    self.frozen = False  # in the same locked step as the check: no writeback slips by
                    self.cv.notify_all()
                    return
                deferred, self.deferred = self.deferred, []
                closes, self.deferred_close = self.deferred_close, set()
            for fh, data, offset in deferred:  # still frozen, nothing in flight: apply in order
                try:
                    self._write(data, offset, fh)
                except OSError as e:
                    log.warning("deferred write of %d bytes at %d failed: %s", len(data), offset, e)
            for fh in closes:
                self._close(fh)

    # --- helpers -----------------------------------------------------------------------
    def _b(self, path: str) -> str:
        if path.startswith(_HIDDEN) and (len(path) == len(_HIDDEN) or path[len(_HIDDEN)] == "/"):
            raise FuseOSError(errno.ENOENT)
        return self.root + path

    def _fault(self, kind: str, *rels: str) -> None:
        if self.inj.rules:
            e = self.inj.check(kind, *rels)
            if e:
                raise FuseOSError(e)

    def _fh(self, fh: int) -> list:
        st = self.fhs.get(fh)
        if st is None or st[2] != self.epoch:
            raise FuseOSError(errno.EIO)  # a handle from before a power loss
        return st

    def _new_stash(self) -> tuple[str, str]:
        self.stash_n += 1
        name = str(self.stash_n)
        return name, os.path.join(self.stash, name)

    def _parent(self, b: str) -> tuple[int, str]:
        d, name = os.path.split(b)
        return os.lstat(d).st_ino, name

    def _own(self, fd_or_path, follow: bool = True) -> None:
        if not self.is_root:
            return
        try:
            uid, gid, _pid = mfusepy.fuse_get_context()
        except ValueError:  # not called from a FUSE thread
            return
        if uid or gid:
            try:
                if isinstance(fd_or_path, int):
                    os.fchown(fd_or_path, uid, gid)
                else:
                    os.chown(fd_or_path, uid, gid, follow_symlinks=follow)
            except OSError:
                pass

    def _register(self, fd: int, st: os.stat_result, rel: str, flags: int) -> int:
        self.fhs[fd] = [st.st_ino, rel, self.epoch, bool(flags & _SYNC_FLAGS)]
        fj = self.journal.file(st.st_ino, rel, st.st_size)
        with fj.lock:
            if not fj.ops:
                fj.size = st.st_size
        return fd

    def _truncate_fd(self, fd: int, ino: int, rel: str, length: int) -> None:
        size = os.fstat(fd).st_size
        fj = self.journal.file(ino, rel, size)
        with fj.lock:
            size = fj.size if fj.ops else size
            cut = os.pread(fd, size - length, length) if length < size else b""
            os.ftruncate(fd, length)
            if length != size:
                fj.ops.append(TruncOp(length, size, cut))
            fj.size = length

    def _purge(self, ops) -> None:
        """Entry ops that became durable: free the inodes they removed."""
        for op in ops:
            s = op.undo.get("stash")
            if s:
                p = os.path.join(self.stash, s)
                try:
                    st = os.lstat(p)
                    if stat_mod.S_ISDIR(st.st_mode):
                        shutil.rmtree(p)
                    else:
                        os.unlink(p)
                except FileNotFoundError:
                    continue
                if st.st_nlink <= 1 and not any(h[0] == st.st_ino for h in self.fhs.values()):
                    self.journal.files.pop(st.st_ino, None)  # freed for good: nothing left to lose

    # --- attributes --------------------------------------------------------------------
    def init_with_config(self, conn_info, config) -> None:
        if config is not None:
            config.entry_timeout = 0.0
            config.attr_timeout = 0.0
            config.negative_timeout = 0.0
            config.hard_remove = 1
            config.use_ino = 1
            config.kernel_cache = 0
            config.auto_cache = 0
            config.nullpath_ok = 1

    @gated("getattr")
    def getattr(self, path, fh=None):
        if fh is not None and fh in self.fhs:
            return _stat_dict(os.fstat(fh))
        if path is None:
            raise FuseOSError(errno.ENOENT)
        return _stat_dict(os.lstat(self._b(path)))

    @gated("access")
    def access(self, path, amode):
        if not os.access(self._b(path), amode, follow_symlinks=False):
            raise FuseOSError(errno.EACCES)
        return 0

    @gated("opendir")
    def opendir(self, path):
        b = self._b(path)
        fd = os.open(b, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.dirfhs[fd] = path
        return fd

    def releasedir(self, path, fh):  # not gated (see release)
        if self.dirfhs.pop(fh, None) is not None:
            os.close(fh)
        return 0

    @gated("readdir")
    def readdir(self, path, fh):
        if fh not in self.dirfhs:
            raise FuseOSError(errno.EBADF)
        # by fd: right even if the directory was renamed since opendir; real inode numbers (use_ino:
        # an entry with inode 0 would be dropped by the kernel)
        me = os.fstat(fh).st_ino
        dot = {"st_ino": me, "st_mode": stat_mod.S_IFDIR}
        out = [(".", dot, 0), ("..", dot, 0)]
        with os.scandir(fh) as it:
            for e in it:
                if e.name == STASH_DIR and me == self.root_ino:
                    continue
                if e.is_dir(follow_symlinks=False):
                    mode = stat_mod.S_IFDIR
                elif e.is_symlink():
                    mode = stat_mod.S_IFLNK
                elif e.is_file(follow_symlinks=False):
                    mode = stat_mod.S_IFREG
                else:
                    mode = e.stat(follow_symlinks=False).st_mode
                out.append((e.name, {"st_ino": e.inode(), "st_mode": mode}, 0))
        return out

    @gated("readlink")
    def readlink(self, path):
        return os.readlink(self._b(path))

    @gated("statfs")
    def statfs(self, path):
        sv = os.statvfs(self.root)
        return {k: getattr(sv, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
                                            "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def _target(self, path, fh):
        """What a metadata call acts on: the open fd when there is one, else the backing path."""
        if fh is not None and fh in self.fhs:
            return fh
        if path is None:
            raise FuseOSError(errno.ENOENT)
        return self._b(path)

    @gated("chmod")
    def chmod(self, path, mode, fh=None):
        os.chmod(self._target(path, fh), mode)
        return 0

    @gated("chown")
    def chown(self, path, uid, gid, fh=None):
        t = self._target(path, fh)
        if isinstance(t, int):
            os.fchown(t, uid, gid)
        else:
            os.chown(t, uid, gid, follow_symlinks=False)
        return 0

    @gated("utimens")
    def utimens(self, path, times=None, fh=None):
        t = self._target(path, fh)
        follow = {} if isinstance(t, int) else {"follow_symlinks": False}
        if times is None:
            os.utime(t, **follow)
            return 0
        st = None
        out = []
        for i, v in enumerate(times):
            nsec = int(v) % 10**9
            if nsec == UTIME_NOW:
                out.append(time.time_ns())
            elif nsec == UTIME_OMIT:
                st = st or (os.fstat(t) if isinstance(t, int) else os.lstat(t))
                out.append(st.st_atime_ns if i == 0 else st.st_mtime_ns)
            else:
                out.append(int(v))
        os.utime(t, ns=tuple(out), **follow)
        return 0

    # --- files -------------------------------------------------------------------------
    def _backing_flags(self, flags: int) -> int:
        acc = os.O_RDONLY if (flags & os.O_ACCMODE) == os.O_RDONLY else os.O_RDWR
        return (flags & ~_NOT_BACKING) | acc | os.O_CLOEXEC

    @gated("open")
    def open(self, path, flags):
        b = self._b(path)
        rel = path[1:]
        self._fault("open", rel)
        fd = os.open(b, self._backing_flags(flags))
        try:
            st = os.fstat(fd)
            self._register(fd, st, rel, flags)
            if flags & os.O_TRUNC and (flags & os.O_ACCMODE) != os.O_RDONLY and stat_mod.S_ISREG(st.st_mode):
                self._truncate_fd(fd, st.st_ino, rel, 0)
        except BaseException:
            self.fhs.pop(fd, None)
            os.close(fd)
            raise
        return fd

    @gated("create")
    def create(self, path, mode, flags):
        b = self._b(path)
        rel = path[1:]
        self._fault("create", rel)
        with self.dlock:
            existed = os.path.lexists(b)
            fd = os.open(b, self._backing_flags(flags) | os.O_CREAT | (flags & os.O_EXCL), mode)
            try:
                st = os.fstat(fd)
                if not existed:
                    self.journal.files.pop(st.st_ino, None)  # an inode number may be reused
                    self._own(fd)
                    pino, name = self._parent(b)
                    self.journal.add_dirop("create", [(pino, name)], [st.st_ino], [pino], {"dir": pino, "name": name},
                                           f"create {rel}")
            except BaseException:
                os.close(fd)
                raise
        try:
            self._register(fd, st, rel, flags)
            if existed and flags & os.O_TRUNC and stat_mod.S_ISREG(st.st_mode):
                self._truncate_fd(fd, st.st_ino, rel, 0)
        except BaseException:
            self.fhs.pop(fd, None)
            os.close(fd)
            raise
        return fd

    @gated("read")
    def read(self, path, size, offset, fh):
        st = self._fh(fh)
        if self.inj.rules:
            self._fault("read", st[1])
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        if self.frozen:
            with self.cv:
                if self.frozen and _caller_pid() == 0:
                    # The kernel writing back a shared mapping (pid 0), e.g. for a process that is being
                    # killed: it cannot be interrupted, so it must not wait for the thaw. It completes into
                    # a volatile buffer: applied at thaw, dropped by a power loss (a dirty page lost).
                    self.counts["write"] += 1
                    self.deferred.append((fh, bytes(data), offset))
                    return len(data)
        self._enter("write")
        try:
            return self._write(data, offset, fh)
        finally:
            self._leave()

    def _write(self, data, offset, fh):
        st = self._fh(fh)
        inj = self.inj
        if inj.rules:
            self._fault("write", st[1])
        if inj.write_s:
            time.sleep(inj.write_s)
        fj = self.journal.files.get(st[0]) or self.journal.file(st[0], st[1], os.fstat(fh).st_size)
        with fj.lock:
            size = fj.size
            old = os.pread(fh, min(offset + len(data), size) - offset, offset) if offset < size else b""
            n = os.pwrite(fh, data, offset)
            if n < len(data):
                data = data[:n]
                old = old[:n]
            op = WriteOp(offset, data, old, size)
            if st[3]:  # O_SYNC / O_DSYNC: this write is durable on return
                op.state = DURABLE
                if all(o.state == DURABLE for o in fj.ops):
                    fj.ops.clear()
                else:
                    fj.ops.append(op)
            else:
                fj.ops.append(op)
            if offset + n > size:
                fj.size = offset + n
        return n

    @gated("truncate")
    def truncate(self, path, length, fh=None):
        if fh is not None and fh in self.fhs:
            st = self._fh(fh)
            self._fault("truncate", st[1])
            self._truncate_fd(fh, st[0], st[1], length)
            return 0
        if path is None:
            raise FuseOSError(errno.ENOENT)
        b = self._b(path)
        self._fault("truncate", path[1:])
        fd = os.open(b, os.O_RDWR | os.O_CLOEXEC)
        try:
            self._truncate_fd(fd, os.fstat(fd).st_ino, path[1:], length)
        finally:
            os.close(fd)
        return 0

    @gated("fallocate")
    def fallocate(self, path, mode, offset, length, fh):
        if mode != 0:
            raise FuseOSError(errno.EOPNOTSUPP)
        st = self._fh(fh)
        self._fault("fallocate", st[1])
        fj = self.journal.file(st[0], st[1], os.fstat(fh).st_size)
        with fj.lock:
            size = fj.size
            os.posix_fallocate(fh, offset, length)
            if offset + length > size:
                fj.ops.append(TruncOp(offset + length, size, b""))
                fj.size = offset + length
        return 0

    def release(self, path, fh):  # not gated: close() of a dying process must not wait on a freeze
        with self.cv:
            if self.deferred and any(d[0] == fh for d in self.deferred):
                self.deferred_close.add(fh)  # closed once its deferred writes are applied (thaw)
                return 0
        self._close(fh)
        return 0

    def _close(self, fh: int) -> None:
        if self.fhs.pop(fh, None) is not None:
            os.close(fh)

    def fsync(self, path, datasync, fh):
        # The latency of a slow disk is spent *before* the gate: an fsync still waiting for the
        # disk when the filesystem freezes for a power loss stays blocked and never happens (the
        # power went while it was queued), instead of holding the freeze until it completes.
        if self.inj.fsync_s:
            time.sleep(self.inj.fsync_s)
        self._enter("fsync")
        try:
            return self._fsync(datasync, fh)
        finally:
            self._leave()

    def _fsync(self, datasync, fh):
        st = self._fh(fh)
        kind = "fdatasync" if datasync else "fsync"
        inj = self.inj
        if inj.rules:
            e = inj.check(kind, st[1])
            if e:
                fj = self.journal.files.get(st[0])
                if fj is not None:
                    with fj.lock:
                        fj.poison()
                raise FuseOSError(e)
        (os.fdatasync if datasync else os.fsync)(fh)
        fj = self.journal.files.get(st[0])
        if fj is not None:
            with fj.lock:
                fj.sync()
        return 0

    # --- directories -------------------------------------------------------------------
    def fsyncdir(self, path, datasync, fh):
        if self.inj.fsync_s:  # before the gate, as for fsync
            time.sleep(self.inj.fsync_s)
        self._enter("fsyncdir")
        try:
            return self._fsyncdir(path, fh)
        finally:
            self._leave()

    def _fsyncdir(self, path, fh):
        path = self.dirfhs.get(fh, path)
        if path is None:
            raise FuseOSError(errno.EBADF)
        self._fault("fsyncdir", path[1:])
        os.fsync(fh)
        ino = os.fstat(fh).st_ino
        with self.dlock:
            self._purge(self.journal.sync_dir(ino))
        return 0

    @gated("mkdir")
    def mkdir(self, path, mode):
        b = self._b(path)
        self._fault("mkdir", path[1:])
        with self.dlock:
            os.mkdir(b, mode)
            self._own(b)
            ino = os.lstat(b).st_ino
            pino, name = self._parent(b)
            self.journal.add_dirop("mkdir", [(pino, name)], [ino], [pino], {"dir": pino, "name": name},
                                   f"mkdir {path[1:]}")
        return 0

    @gated("mknod")
    def mknod(self, path, mode, dev):
        b = self._b(path)
        self._fault("create", path[1:])
        with self.dlock:
            os.mknod(b, mode, dev)
            self._own(b)
            ino = os.lstat(b).st_ino
            self.journal.files.pop(ino, None)
            pino, name = self._parent(b)
            self.journal.add_dirop("mknod", [(pino, name)], [ino], [pino], {"dir": pino, "name": name},
                                   f"mknod {path[1:]}")
        return 0

    @gated("symlink")
    def symlink(self, target, source):
        """``target`` is the new link's path, ``source`` what it points to."""
        b = self._b(target)
        self._fault("symlink", target[1:])
        with self.dlock:
            os.symlink(source, b)
            self._own(b, follow=False)
            ino = os.lstat(b).st_ino
            pino, name = self._parent(b)
            self.journal.add_dirop("symlink", [(pino, name)], [ino], [pino], {"dir": pino, "name": name},
                                   f"symlink {target[1:]} -> {source}")
        return 0

    @gated("link")
    def link(self, target, source):
        """``target`` is the new name, ``source`` the existing one."""
        bt, bs = self._b(target), self._b(source)
        self._fault("link", target[1:], source[1:])
        with self.dlock:
            os.link(bs, bt, follow_symlinks=False)
            ino = os.lstat(bt).st_ino
            pino, name = self._parent(bt)
            self.journal.add_dirop("link", [(pino, name)], [ino], [pino], {"dir": pino, "name": name},
                                   f"link {target[1:]} = {source[1:]}")
        return 0

    @gated("unlink")
    def unlink(self, path):
        b = self._b(path)
        self._fault("unlink", path[1:])
        with self.dlock:
            st = os.lstat(b)
            if stat_mod.S_ISDIR(st.st_mode):
                raise FuseOSError(errno.EISDIR)
            sname, sp = self._new_stash()
            os.rename(b, sp)
            pino, name = self._parent(b)
            self.journal.add_dirop("unlink", [(pino, name)], [st.st_ino], [pino],
                                   {"dir": pino, "name": name, "stash": sname}, f"unlink {path[1:]}")
        return 0

    @gated("rmdir")
    def rmdir(self, path):
        b = self._b(path)
        self._fault("rmdir", path[1:])
        with self.dlock:
            st = os.lstat(b)
            if not stat_mod.S_ISDIR(st.st_mode):
                raise FuseOSError(errno.ENOTDIR)
            if os.listdir(b):
                raise FuseOSError(errno.ENOTEMPTY)
            sname, sp = self._new_stash()
            os.rename(b, sp)
            pino, name = self._parent(b)
            self.journal.add_dirop("rmdir", [(pino, name)], [st.st_ino], [pino],
                                   {"dir": pino, "name": name, "stash": sname, "is_dir": True}, f"rmdir {path[1:]}")
        return 0

    @gated("rename")
    def rename(self, old, new, flags=0):
        bo, bn = self._b(old), self._b(new)
        self._fault("rename", old[1:], new[1:])
        if flags & ~RENAME_NOREPLACE:
            raise FuseOSError(errno.EINVAL)  # RENAME_EXCHANGE / WHITEOUT are not offered
        with self.dlock:
            so = os.lstat(bo)
            try:
                tn = os.lstat(bn)
            except FileNotFoundError:
                tn = None
            if tn is not None and flags & RENAME_NOREPLACE:
                raise FuseOSError(errno.EEXIST)
            if tn is not None and tn.st_ino == so.st_ino and tn.st_dev == so.st_dev:
                os.rename(bo, bn)  # same inode: POSIX says do nothing
                return 0
            sname = None
            t_is_dir = False
            if tn is not None:
                t_is_dir = stat_mod.S_ISDIR(tn.st_mode)
                s_is_dir = stat_mod.S_ISDIR(so.st_mode)
                if s_is_dir and not t_is_dir:
                    raise FuseOSError(errno.ENOTDIR)
                if t_is_dir and not s_is_dir:
                    raise FuseOSError(errno.EISDIR)
                if t_is_dir and os.listdir(bn):
                    raise FuseOSError(errno.ENOTEMPTY)
                sname, sp = self._new_stash()
                if t_is_dir:
                    os.rename(bn, sp)
                else:
                    os.link(bn, sp, follow_symlinks=False)
            try:
                os.rename(bo, bn)
            except BaseException:
                if sname is not None:
                    if t_is_dir:
                        os.rename(sp, bn)
                    else:
                        os.unlink(sp)
                raise
            sdir, sn = self._parent(bo)
            tdir, tnm = self._parent(bn)
            objs = [so.st_ino] + ([tn.st_ino] if tn is not None else [])
            self.journal.add_dirop(
                "rename", [(sdir, sn), (tdir, tnm)], objs, [sdir, tdir],
                {"sdir": sdir, "sname": sn, "tdir": tdir, "tname": tnm, "stash": sname,
                 "moved_dir": stat_mod.S_ISDIR(so.st_mode), "replaced_dir": t_is_dir},
                f"rename {old[1:]} -> {new[1:]}" + (" (replacing)" if tn is not None else ""))
        return 0

    # --- control-side state ------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.cv:
            counts = dict(self.counts)
            frozen, inflight = self.frozen, self.inflight
            blocked = {k: v for k, v in self.blocked.items() if v}
        return {"ops": counts, **self.journal.stats(), "injected": list(self.inj.fired),
                "rules": [r.to_json() for r in self.inj.rules],
                "slow": {"fsync_ms": self.inj.fsync_s * 1000, "write_ms": self.inj.write_s * 1000},
                "frozen": frozen, "inflight": inflight, "blocked": blocked, "power_losses": self.power_losses,
                "open_files": len(self.fhs), "epoch": self.epoch}

    def power_loss(self, seed: int, model: str | None) -> dict[str, Any]:
        from nemesis.faultfs.powerloss import power_loss

        with self.cv:
            if not self.frozen:
                raise RuntimeError("power_loss needs a frozen filesystem: call freeze() first")
            if self.inflight:
                raise RuntimeError(f"{self.inflight} operation(s) in flight")
        with self.cv:
            dropped, self.deferred = self.deferred, []
            closes, self.deferred_close = self.deferred_close, set()
        for fh in closes:
            self._close(fh)
        with self.dlock:
            report = power_loss(self.root, self.stash, self.journal, seed, model)
            self.journal.clear()
        report["writeback_dropped"] = len(dropped)
        with self.cv:
            self.epoch += 1
            self.power_losses += 1
        return report

    def shutdown(self) -> None:
        for fd in list(self.fhs):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fhs.clear()
        for fd in list(self.dirfhs):
            try:
                os.close(fd)
            except OSError:
                pass
        self.dirfhs.clear()
        purge_stash(self.root)


def purge_stash(root: str) -> None:
    """Remove the stash (the inodes whose removal was never undone are removed for good)."""
    shutil.rmtree(os.path.join(root, STASH_DIR), ignore_errors=True)


class _FUSE(mfusepy.FUSE):
    """mfusepy drops the rename flags and the file handle of truncate/chmod/chown/utimens:
    pass them on (with ``nullpath_ok`` the path of an open file may be NULL)."""

    def _p(self, path):
        return None if path is None else path.decode(self.encoding, self.errors)

    @staticmethod
    def _fh(fip):
        return fip.contents.fh if fip else None

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        return self.operations.rename(self._p(old), self._p(new), flags)

    def truncate_fuse_3(self, path, length, fip) -> int:
        return self.operations.truncate(self._p(path), length, self._fh(fip))

    def chmod_fuse_3(self, path, mode, fip) -> int:
        return self.operations.chmod(self._p(path), mode, self._fh(fip))

    def chown_fuse_3(self, path, uid, gid, fip) -> int:
        if ctypes.c_uint32(uid + 1).value == 0:
            uid = -1
        if ctypes.c_uint32(gid + 1).value == 0:
            gid = -1
        return self.operations.chown(self._p(path), uid, gid, self._fh(fip))

    def utimens_fuse_3(self, path, buf, fip) -> int:
        times = None
        if buf:
            times = (mfusepy.time_of_timespec(buf.contents.actime, use_ns=True),
                     mfusepy.time_of_timespec(buf.contents.modtime, use_ns=True))
        return self.operations.utimens(self._p(path), times, self._fh(fip))


def _watch_parent(pid: int, mountpoint: str) -> None:
    """Unmount (lazily) once process ``pid`` is gone, so that a controller that died without
    unmounting leaves no mount behind; the serving loop then ends and the server exits."""
    import subprocess

    def run() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                log.warning("controller %d is gone: unmounting %s", pid, mountpoint)
                subprocess.run(["fusermount3", "-u", "-z", mountpoint], capture_output=True)
                return
            except PermissionError:
                pass

    threading.Thread(target=run, name="faultfs-parent-watch", daemon=True).start()


def serve(backing: str, mountpoint: str, control: str | None, *, debug: bool = False,
          parent: int | None = None) -> int:
    """Mount and serve until unmounted or signalled (SIGTERM/SIGINT/SIGHUP unmount cleanly), or
    until process ``parent`` (the controller) is gone."""
    import warnings

    ops = FaultOps(backing)
    if parent:
        _watch_parent(parent, mountpoint)
    ctl = None
    if control:
        from nemesis.faultfs.control import ControlServer

        ctl = ControlServer(ops, control)
        ctl.start()
    opts: dict[str, Any] = {"foreground": True, "fsname": "faultfs", "subtype": "faultfs",
                            "hard_remove": True, "use_ino": True}
    if os.geteuid() == 0:
        opts["allow_other"] = True
    if debug:
        opts["debug"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                _FUSE(ops, mountpoint, **opts)
            except RuntimeError as e:
                # fuse_main's 8: the loop ended with an error, which includes ending on SIGINT/SIGTERM/SIGHUP
                # (it unmounted); 1-7 are setup failures (bad options, mount refused)
                if str(e) != "8":
                    raise
    finally:
        if ctl is not None:
            ctl.close()
        ops.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nemesis.faultfs.server", description=__doc__.splitlines()[0])
    ap.add_argument("backing")
    ap.add_argument("mountpoint")
    ap.add_argument("--control", help="Unix socket path for the control protocol")
    ap.add_argument("--debug", action="store_true", help="libfuse debug output")
    ap.add_argument("--parent", type=int, default=None, help="unmount and exit once this process is gone")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s faultfs %(levelname)s %(message)s")
    return serve(a.backing, a.mountpoint, a.control, debug=a.debug, parent=a.parent)


if __name__ == "__main__":
    sys.exit(main())
