"""``fsutil.ensure_dir`` under a concurrent creator: the CI gate's failpoint
run on the fault filesystem once had a reader refuse to open with "data/blob
exists and is not a directory" because the writer created the directory
between the reader's ``isdir`` and ``lexists`` looks."""

from __future__ import annotations

import os

import pytest

from persist.errors import StorageUnavailableError
from persist.storage import fsutil


def test_a_directory_created_between_the_two_looks_is_used(tmp_path, monkeypatch):
    target = tmp_path / "loc" / "blob"
    real_isdir, real_lexists = os.path.isdir, os.path.lexists
    raced = {"done": False}

    def lexists(p):  # another process creates the directory right after our isdir said no
        if os.fspath(p) == str(target) and not raced["done"]:
            raced["done"] = True
            os.makedirs(target)
        return real_lexists(p)

    monkeypatch.setattr(fsutil.os.path, "lexists", lexists)
    assert fsutil.ensure_dir(str(target), "blob directory") == str(target)
    assert raced["done"] and real_isdir(target)


def test_a_file_in_the_way_is_still_refused(tmp_path):
    (tmp_path / "blob").write_bytes(b"x")
    with pytest.raises(StorageUnavailableError, match="exists and is not a directory"):
        fsutil.ensure_dir(str(tmp_path / "blob"), "blob directory")
