"""The run store: fresh directories only, latest, status, code version."""

from __future__ import annotations

import json
import os

import pytest

from nemesis import store as st


def test_runs_are_never_overwritten(tmp_path, monkeypatch):
    import datetime as dt

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=tz)

    monkeypatch.setattr(st._dt, "datetime", Frozen)
    a = st.new_run_dir(str(tmp_path), "append", 7)
    b = st.new_run_dir(str(tmp_path), "append", 7)
    assert a != b and os.path.isdir(a) and os.path.isdir(b)
    assert os.path.basename(a) == "20260102T030405.000006Z-seed7"
    assert os.path.basename(b).endswith("-seed7-2")


def test_latest_points_at_the_newest(tmp_path):
    a = st.new_run_dir(str(tmp_path), "append", 1)
    st.point_latest(str(tmp_path), a)
    b = st.new_run_dir(str(tmp_path), "rehydrate", 2)
    st.point_latest(str(tmp_path), b)
    link = tmp_path / "latest"
    assert os.path.islink(link) and not os.path.isabs(os.readlink(link))
    assert os.path.realpath(link) == os.path.realpath(b)


def test_status_and_code_version(tmp_path):
    run = st.new_run_dir(str(tmp_path), "append", 1)
    st.set_status(run, "running")
    st.set_status(run, "aborted", reason="worker 0 died")
    s = json.load(open(os.path.join(run, "status.json")))
    assert s["status"] == "aborted" and s["reason"] == "worker 0 died" and s["started"] <= s["updated"]
    v = st.code_version()
    assert set(v) >= {"commit", "describe", "dirty", "package"}


def test_unwritable_store_is_a_clear_error(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(st.StoreError, match="cannot write runs to the store .* pass --store"):
        st.check_store(str(f / "runs"))
