"""What a read returned survives a power loss (on the fault filesystem).

Found by ``test_upsert_lose_unsynced_and_pause`` on the fault filesystem: a
writer renamed a new metadata record into place (a seal) and was stopped by
the power loss before its directory fsync; the reader process had already
read the record and answered the new frontier; the power loss undid the
rename and the frontier went back (a delete the reader saw came undone: the
checker's "once seen, stays seen"). The tracer never undoes a rename over
an existing name, so only the fault filesystem shows it.

Here the writer's directory fsync is made to fail (``fsyncdir`` EIO) to hold
the record in that window deterministically; the power loss then undoes
every unsynced directory operation (``clear-cache``).
"""

from __future__ import annotations

import errno
import itertools
import os

import pytest

import persist
from persist.errors import DurabilityUnknownError, PersistError
from persist.storage.file_blob import FileBlob
from persist.storage.fsutil import fsync_dir

_n = itertools.count()


@pytest.fixture(scope="module")
def ffs(tmp_path_factory):
    from nemesis.faultfs import FaultFS, available

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
    """A fresh directory on the mount whose own entry is durable."""
    path = os.path.join(ffs.mountpoint, f"r{next(_n)}")
    os.mkdir(path)
    fsync_dir(ffs.mountpoint)
    yield path
    ffs.clear_faults()
    ffs.thaw()


def power_loss(ffs) -> dict:
    """Every unsynced write and directory operation lost (no file of the test open across it)."""
    ffs.freeze()
    try:
        report = ffs.power_loss(7, "clear-cache")
    finally:
        ffs.thaw()
    assert report["undo_errors"] == [], report
    return report


def rel(ffs, path: str) -> str:
    return os.path.relpath(path, ffs.mountpoint)


def test_a_version_get_versioned_returned_survives_a_power_loss(ffs, d):
    root = os.path.join(d, "blob")
    writer, reader = FileBlob(root), FileBlob(root)
    t1 = writer.compare_and_set("meta", None, b"one")
    ffs.fail("fsyncdir", errno.EIO, path=rel(ffs, root), mode="once")
    with pytest.raises(DurabilityUnknownError):
        writer.compare_and_set("meta", t1, b"two")  # renamed into place, its directory not fsynced
    value, _ = reader.get_versioned("meta")
    assert value == b"two"
    report = power_loss(ffs)
    assert FileBlob(root).get("meta") == b"two", f"the version a reader was given came undone: {report}"
    assert report["dirops_undone"] == [], "the read made the rename durable: nothing left to undo"


def test_a_version_that_cannot_be_made_durable_is_not_returned(ffs, d):
    root = os.path.join(d, "blob")
    writer, reader = FileBlob(root), FileBlob(root)
    t1 = writer.compare_and_set("meta", None, b"one")
    ffs.fail("fsyncdir", errno.EIO, path=rel(ffs, root), mode="once", count=2)
    with pytest.raises(DurabilityUnknownError):
        writer.compare_and_set("meta", t1, b"two")
    with pytest.raises(PersistError, match="to make the version read durable failed") as e:
        reader.get_versioned("meta")
    assert e.value.determinate
    power_loss(ffs)
    assert FileBlob(root).get("meta") == b"one"


def test_a_seal_a_reader_saw_survives_a_power_loss(ffs, d):
    """The engine's symptom: the reader's ``upper`` must not go back. The
    writer's own re-read is made to fail too (``count=2``), so it is the
    reader's read that must make the record durable."""
    url = "file://" + os.path.join(d, "loc")
    w = persist.open(url, background=False)
    s = w.stream("s")
    s.write([(b"k", b"v", 0, 1)])
    s.seal(1)
    r = persist.open(url, read_only=True)
    assert r.stream("s").upper == 1
    ffs.fail("fsyncdir", errno.EIO, path=rel(ffs, os.path.join(d, "loc", "blob")), mode="once", count=2)
    with pytest.raises(PersistError) as e:
        s.seal(2)
    assert e.value.determinate is False
    seen = r.stream("s").upper
    assert seen == 2, "the record the writer renamed in is visible to the reader"
    ffs.clear_faults()
    w.crash()
    r.close()
    power_loss(ffs)
    r2 = persist.open(url, read_only=True)
    try:
        assert r2.stream("s").upper >= seen, f"the reader saw upper {seen}, which a power loss then took back"
    finally:
        r2.close()
