"""Injected errors reach a C-level caller with the right errno; once vs sticky; latency."""

from __future__ import annotations

import ctypes
import errno
import os
import time

import pytest

from nemesis.faultfs import FaultFSBadInput
from tests.nemesis.faultfs.conftest import read, write_synced

libc = ctypes.CDLL(None, use_errno=True)


def c_call(fn, *args) -> int:
    """Call libc directly; return 0 or the errno it set."""
    ctypes.set_errno(0)
    r = fn(*args)
    return ctypes.get_errno() if r == -1 else 0


def c_open(path: str, flags: int) -> tuple[int, int]:
    ctypes.set_errno(0)
    fd = libc.open(path.encode(), flags, 0o644)
    return fd, (ctypes.get_errno() if fd == -1 else 0)


def rel(ffs, p: str) -> str:
    return os.path.relpath(p, ffs.mountpoint)


@pytest.mark.parametrize("op,err", [("write", errno.EIO), ("write", errno.ENOSPC), ("fsync", errno.EIO),
                                    ("fdatasync", errno.EDQUOT), ("read", errno.EIO)])
def test_data_call_fails_once_with_the_errno(ffs, d, op, err):
    p = os.path.join(d, "f")
    write_synced(p, b"abc")
    fd, e = c_open(p, os.O_RDWR)
    assert e == 0
    try:
        # a buffered read the kernel sees fail is retried once (readahead, then a plain read), as on a
        # real disk: a read fault is injected sticky and cleared
        ffs.fail(op, err, path=rel(ffs, p), mode="sticky" if op == "read" else "once")
        buf = ctypes.create_string_buffer(10)
        call = {"write": lambda: libc.write(fd, b"xyz", 3), "fsync": lambda: libc.fsync(fd),
                "fdatasync": lambda: libc.fdatasync(fd), "read": lambda: libc.pread(fd, buf, 3, ctypes.c_long(0))}[op]
        assert c_call(call) == err
        if op == "read":
            ffs.clear_faults()
        assert c_call(call) == 0  # once: the next call goes through
    finally:
        libc.close(fd)
    fired = ffs.stats()["injected"]
    assert fired[-1]["op"] == op and fired[-1]["errno"] == err and fired[-1]["path"] == rel(ffs, p)


def test_failed_write_writes_nothing(ffs, d):
    p = os.path.join(d, "f")
    write_synced(p, b"abc")
    ffs.fail("write", errno.ENOSPC, path="*/f")
    fd, _ = c_open(p, os.O_WRONLY | os.O_APPEND)
    try:
        assert c_call(lambda: libc.write(fd, b"xyz", 3)) == errno.ENOSPC
    finally:
        libc.close(fd)
    assert read(p) == b"abc"


def test_entry_ops_fail_and_do_nothing(ffs, d):
    a = os.path.join(d, "a")
    write_synced(a, b"a")
    ffs.fail("rename", errno.EIO, path=rel(ffs, a))
    assert c_call(libc.rename, a.encode(), os.path.join(d, "b").encode()) == errno.EIO
    assert os.listdir(d) == ["a"]
    ffs.fail("create", errno.ENOSPC, path="*/new")
    assert c_open(os.path.join(d, "new"), os.O_CREAT | os.O_WRONLY)[1] == errno.ENOSPC
    ffs.fail("open", errno.EIO, path="*/a")
    assert c_open(a, os.O_RDONLY)[1] == errno.EIO
    ffs.fail("unlink", errno.EIO)
    assert c_call(libc.unlink, a.encode()) == errno.EIO
    ffs.fail("mkdir", errno.EDQUOT)
    assert c_call(libc.mkdir, os.path.join(d, "sub").encode(), 0o755) == errno.EDQUOT
    ffs.fail("truncate", errno.EIO)
    assert c_call(libc.truncate, a.encode(), ctypes.c_long(0)) == errno.EIO
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ffs.fail("fsyncdir", errno.EIO)
        assert c_call(libc.fsync, dfd) == errno.EIO
    finally:
        os.close(dfd)
    assert os.listdir(d) == ["a"] and read(a) == b"a"


def test_sticky_fails_every_call_until_cleared_and_count_limits_once(ffs, d):
    p = os.path.join(d, "f")
    write_synced(p, b"")
    fd, _ = c_open(p, os.O_RDWR)
    try:
        ffs.fail("fsync", errno.EIO, mode="sticky")
        assert [c_call(libc.fsync, fd) for _ in range(4)] == [errno.EIO] * 4
        ffs.clear_faults()
        assert c_call(libc.fsync, fd) == 0
        ffs.fail("write", errno.EIO, count=2)
        assert [c_call(lambda: libc.write(fd, b"x", 1)) for _ in range(3)] == [errno.EIO, errno.EIO, 0]
    finally:
        libc.close(fd)


def test_path_filter_spares_other_files(ffs, d):
    a, b = os.path.join(d, "x.wal"), os.path.join(d, "x.meta")
    write_synced(a, b"")
    write_synced(b, b"")
    ffs.fail("write", errno.EIO, path="*.wal", mode="sticky")
    with open(b, "ab") as f:
        f.write(b"ok")
    with pytest.raises(OSError) as e, open(a, "ab", buffering=0) as f:
        f.write(b"no")
    assert e.value.errno == errno.EIO


def test_bad_rules_are_refused_with_what_is_accepted(ffs, d):
    with pytest.raises(FaultFSBadInput, match="unknown operation 'fsnyc'"):
        ffs.fail("fsnyc", errno.EIO)
    with pytest.raises(FaultFSBadInput, match="mode"):
        ffs.fail("fsync", errno.EIO, mode="always")
    with pytest.raises(FaultFSBadInput, match="errno"):
        ffs.fail("fsync", -3)
    with pytest.raises(FaultFSBadInput, match="latency"):
        ffs.slow(fsync_ms=-1)


def test_slow_adds_latency_before_fsync_and_write(ffs, d):
    p = os.path.join(d, "f")
    write_synced(p, b"")
    fd = os.open(p, os.O_RDWR)
    try:
        ffs.slow(fsync_ms=60, write_ms=40)
        t = time.monotonic()
        os.fsync(fd)
        assert time.monotonic() - t >= 0.06
        t = time.monotonic()
        os.write(fd, b"x")
        assert time.monotonic() - t >= 0.04
        ffs.slow()
        assert ffs.stats()["slow"] == {"fsync_ms": 0.0, "write_ms": 0.0}
    finally:
        os.close(fd)
