"""available() says why the fault filesystem cannot run; mount refuses with a clear error."""

from __future__ import annotations

import os

import pytest

from nemesis.faultfs import FaultFS, FaultFSMountError, FaultFSUnavailable, available


def test_not_root_is_named(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse here: that reason comes first")
    assert available() == (False, "not root (the fault filesystem mounts as root)")


def test_no_dev_fuse_is_named(monkeypatch):
    real = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if p == "/dev/fuse" else real(p))
    ok, why = available()
    assert not ok and "no /dev/fuse" in why


def test_mount_where_unavailable_raises_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(FaultFSUnavailable, match="cannot mount the fault filesystem"):
        FaultFS(str(tmp_path / "b"), str(tmp_path / "m")).mount()


@pytest.mark.skipif(not available()[0], reason=f"fault filesystem unavailable: {available()[1]}")
def test_mount_point_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "m").write_bytes(b"")
    with pytest.raises(FaultFSMountError, match="as the mount point"):
        FaultFS(str(tmp_path / "b"), str(tmp_path / "m")).mount()
