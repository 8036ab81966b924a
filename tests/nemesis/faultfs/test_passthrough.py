"""The fault filesystem behaves like the disk under it for every call (real mount, real syscalls)."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys

import pytest

from tests.nemesis.faultfs.conftest import read


def test_write_read_append_truncate(d):
    p = os.path.join(d, "f")
    with open(p, "wb") as f:
        f.write(b"hello world")
    with open(p, "r+b") as f:
        f.seek(6)
        f.write(b"WORLD")
    with open(p, "ab") as f:
        f.write(b"!")
    assert read(p) == b"hello WORLD!"
    os.truncate(p, 5)
    assert read(p) == b"hello"
    with open(p, "r+b") as f:
        f.truncate(8)
    assert read(p) == b"hello\0\0\0"
    with open(p, "wb") as f:  # O_TRUNC
        pass
    assert os.stat(p).st_size == 0


def test_sparse_and_large_writes(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR)
    try:
        big = os.urandom(3 * 1024 * 1024 + 17)
        assert os.pwrite(fd, big, 100) == len(big)
        assert os.pread(fd, len(big), 100) == big
        assert os.pread(fd, 100, 0) == b"\0" * 100
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def test_rename_link_symlink_dirs(d):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    with open(a, "wb") as f:
        f.write(b"A")
    with open(b, "wb") as f:
        f.write(b"B")
    os.rename(a, b)  # replace
    assert not os.path.exists(a) and read(b) == b"A"
    os.link(b, a)
    assert os.stat(a).st_nlink == 2 and os.stat(a).st_ino == os.stat(b).st_ino
    os.symlink("b", os.path.join(d, "s"))
    assert os.readlink(os.path.join(d, "s")) == "b" and read(os.path.join(d, "s")) == b"A"
    os.mkdir(os.path.join(d, "sub"))
    os.rename(a, os.path.join(d, "sub", "a"))
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(d, "sub"))
    assert e.value.errno == errno.ENOTEMPTY
    os.unlink(os.path.join(d, "sub", "a"))
    os.rmdir(os.path.join(d, "sub"))
    assert sorted(os.listdir(d)) == ["b", "s"]
    with pytest.raises(IsADirectoryError):
        os.unlink(d)


def test_rename_noreplace_flag_is_honoured(d):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    for p in (a, b):
        with open(p, "wb") as f:
            f.write(p.encode())
    AT_FDCWD, RENAME_NOREPLACE = -100, 1
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_NOREPLACE)
    assert r == -1 and ctypes.get_errno() == errno.EEXIST
    assert read(b) == b.encode()


def test_unlinked_open_file_stays_usable(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR)
    try:
        os.write(fd, b"abc")
        os.unlink(p)
        assert not os.path.exists(p)
        os.pwrite(fd, b"d", 3)
        assert os.pread(fd, 10, 0) == b"abcd"
        os.fsync(fd)  # (fstat of an unlinked file is the one call that fails: docs/faultfs.md)
    finally:
        os.close(fd)


def test_attributes_statfs_and_hidden_stash(ffs, d):
    p = os.path.join(d, "f")
    with open(p, "wb") as f:
        f.write(b"x")
    os.chmod(p, 0o600)
    os.utime(p, ns=(1_000_000_000, 2_000_000_007))
    st = os.stat(p)
    assert st.st_mode & 0o777 == 0o600 and st.st_mtime_ns == 2_000_000_007
    sv = os.statvfs(ffs.mountpoint)
    real = os.statvfs(ffs.backing)
    assert sv.f_bsize == real.f_bsize and sv.f_blocks == real.f_blocks
    assert ".faultfs" not in os.listdir(ffs.mountpoint)
    assert not os.path.exists(os.path.join(ffs.mountpoint, ".faultfs"))
    assert os.access(p, os.R_OK | os.W_OK)


def test_flock_and_fcntl_locks_exclude_another_process(d):
    p = os.path.join(d, "lock")
    open(p, "wb").close()
    child = (
        "import fcntl,sys\n"
        "f=open(sys.argv[1],'r+b')\n"
        "for kind in ('flock','lockf'):\n"
        "    try:\n"
        "        (fcntl.flock if kind=='flock' else fcntl.lockf)(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\n"
        "        print(kind,'got')\n"
        "    except BlockingIOError:\n"
        "        print(kind,'busy')\n"
    )
    with open(p, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        fcntl.lockf(f, fcntl.LOCK_EX)
        out = subprocess.run([sys.executable, "-c", child, p], capture_output=True, text=True, timeout=30).stdout
        assert out.split() == ["flock", "busy", "lockf", "busy"]
    out = subprocess.run([sys.executable, "-c", child, p], capture_output=True, text=True, timeout=30).stdout
    assert out.split() == ["flock", "got", "lockf", "got"]


def test_stats_count_ops_and_unsynced_state(ffs, d):
    before = ffs.stats()
    p = os.path.join(d, "f")
    with open(p, "wb") as f:
        f.write(b"12345")
    s = ffs.stats()
    assert s["ops"]["write"] >= before["ops"].get("write", 0) + 1
    assert s["unsynced_bytes"] >= 5 and s["unsynced_dirops"] >= 1 and s["frozen"] is False
