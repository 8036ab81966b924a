"""I/O errors in the storage layer (issue 11): each surfaces as a
PersistError that says whether the operation may have happened, nothing
acknowledged is lost, and the store stays consistent.

The regression tests replay the defects found by hand; the property test
(``test_an_oserror_anywhere``) fails the N-th call of each ``os`` function
the storage layer uses, with an errno Hypothesis picks, during a sequence
of writes, seals, drains and compactions."""

from __future__ import annotations

import errno
import os

import pytest

import persist
from persist import errors
from persist.storage import file_blob


def _fail_dir_fsync_after_meta_rename(monkeypatch, err=errno.EIO):
    """The next directory fsync after the metadata file was renamed into
    place fails with ``err`` (the rename itself went through)."""
    real_replace, real_fsync_dir = os.replace, file_blob.fsync_dir
    state = {"armed": True, "last": ""}

    def replace(src, dst, *a, **k):
        real_replace(src, dst, *a, **k)
        state["last"] = os.fspath(dst)

    def fsync_dir(path):
        if state["armed"] and os.path.basename(state["last"]) == "meta":
            state["armed"] = False
            raise OSError(err, os.strerror(err))
        return real_fsync_dir(path)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(file_blob, "fsync_dir", fsync_dir)
    return state


def test_dir_fsync_error_after_the_metadata_rename(tmp_path, monkeypatch):
    """Defect (1): EIO from the directory fsync after the metadata rename of
    a seal. The seal is indeterminate (its record is visible, not known
    durable); the writer then reports what a reader sees, refuses writes
    below it, is not fenced by its own record, and the store checks clean."""
    url = f"file://{tmp_path}/loc"
    p = persist.open(url, background=False)
    s = p.stream("a")
    s.write([(b"k", b"v", 5, 1)])
    state = _fail_dir_fsync_after_meta_rename(monkeypatch)
    with pytest.raises(errors.Indeterminate):
        s.seal(10)
    assert not state["armed"]
    monkeypatch.undo()
    r = persist.open_reader(url)
    seen = r.stream("a").upper
    r.close()
    assert s.upper == seen, "the writer reports another upper than a reader sees"
    if seen == 10:
        with pytest.raises(errors.WriteBelowUpperError):
            s.write([(b"k", b"w", 7, 1)])
    s.write([(b"k2", b"v", 12, 1)])
    s.seal(15)
    p.close()
    report = persist.check(url)
    assert report.ok, str(report)
    p = persist.open(url, background=False)
    assert p.stream("a").snapshot(14).to_list() == [(b"k", b"v", 1), (b"k2", b"v", 1)]
    p.close()


def test_a_durability_unknown_seal_is_settled_before_the_next_write(tmp_path, monkeypatch):
    """After the failed directory fsync, the next write first makes the
    record durable (a superseding rewrite whose fsyncs succeed), so nothing
    is acknowledged on top of a record a power loss could still undo."""
    url = f"file://{tmp_path}/loc"
    p = persist.open(url, background=False)
    s = p.stream("a")
    _fail_dir_fsync_after_meta_rename(monkeypatch)
    with pytest.raises(errors.Indeterminate):
        s.seal(10)
    monkeypatch.undo()
    assert p._resync
    version = p._meta.version
    s.write([(b"k", b"v", 11, 1)])
    assert not p._resync and p._meta.version == version + 1
    p.close()
