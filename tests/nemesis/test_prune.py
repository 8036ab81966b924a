"""``persist-nemesis prune``: the failing runs and the newest N stay, the rest goes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nemesis.cli import main
from nemesis.lifecycle import me


def _run(store, name, valid, status="finished", started="2026-01-01T00:00:00+00:00", **st):
    d = store / "append" / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"workload": "append", "seed": 1}))
    (d / "history.jsonl").write_text("")
    (d / "status.json").write_text(json.dumps({"status": status, "started": started, **st}))
    if valid is not None:
        (d / "results.json").write_text(json.dumps({"valid": valid, "checkers": []}))
    return d


def cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(["prune", *args])
    out = capsys.readouterr()
    return e.value.code, out.out + out.err


def test_prune_keeps_failing_and_newest(tmp_path, capsys):
    store = tmp_path / "runs"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runs = {
        "old-valid": _run(store, "a", True, started="2026-01-01T00:00:01+00:00"),
        "old-invalid": _run(store, "b", False, started="2026-01-01T00:00:02+00:00"),
        "old-unknown": _run(store, "c", "unknown", started="2026-01-01T00:00:03+00:00"),
        "abandoned": _run(store, "d", None, status="running", started="2026-01-01T00:00:04+00:00", pid=gone.pid),
        "live": _run(store, "e", None, status="running", started="2026-01-01T00:00:05+00:00", **me()),
        "new-valid-1": _run(store, "f", True, started="2026-01-01T00:00:06+00:00"),
        "new-valid-2": _run(store, "g", True, started="2026-01-01T00:00:07+00:00"),
    }
    code, text = cli(capsys, "--store", str(store), "--keep", "2", "--dry-run")
    assert code == 0 and "would delete 2 runs" in text
    assert all(p.is_dir() for p in runs.values())  # a dry run deletes nothing
    code, text = cli(capsys, "--store", str(store), "--keep", "2")
    assert code == 0, text
    left = {k for k, p in runs.items() if p.is_dir()}
    assert left == {"old-invalid", "old-unknown", "live", "new-valid-1", "new-valid-2"}
    assert (store / "index.html").is_file()
    code, text = cli(capsys, "--store", str(store), "--keep", "0")
    assert {k for k, p in runs.items() if p.is_dir()} == {"old-invalid", "old-unknown", "live"}


def test_prune_refuses_what_is_not_a_store(tmp_path, capsys):
    code, text = cli(capsys, "--store", str(tmp_path / "nope"))
    assert code == 3 and "no such directory" in text
    code, text = cli(capsys, "--store", str(tmp_path), "--keep", "-1")
    assert code == 3 and "--keep" in text
