"""One real fault filesystem per test module; each test works in its own fresh directory."""

from __future__ import annotations

import itertools
import os

import pytest

from nemesis.faultfs import FaultFS, available

_n = itertools.count()


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: str, data: bytes) -> None:
    """Create/replace ``path`` with ``data``, fsync it and its directory: all durable."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(os.path.dirname(path))


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def ffs(tmp_path_factory):
    ok, why = available()
    if not ok:
        pytest.skip(f"fault filesystem unavailable: {why}")
    base = tmp_path_factory.mktemp("faultfs")
    fs = FaultFS(str(base / "backing"), str(base / "mnt"), log_path=str(base / "server.log"))
    fs.mount()
    try:
        yield fs
    finally:
        fs.unmount()


@pytest.fixture
def d(ffs):
    """A fresh directory on the mount whose own entry is durable; faults cleared afterwards."""
    path = os.path.join(ffs.mountpoint, f"t{next(_n)}")
    os.mkdir(path)
    fsync_dir(ffs.mountpoint)
    yield path
    ffs.clear_faults()
    ffs.slow(0, 0)
    ffs.thaw()


def crash(ffs, seed: int, model: str | None = None) -> dict:
    """Freeze, power loss, thaw (no process of the test holds files open across it)."""
    ffs.freeze()
    try:
        report = ffs.power_loss(seed, model)
    finally:
        ffs.thaw()
    assert report["undo_errors"] == [], report
    return report
