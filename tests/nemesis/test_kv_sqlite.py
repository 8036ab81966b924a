"""Must show 2 of issue 15: ``examples/sqlite_kv.py`` (SQLite in WAL mode
behind the ``exec:`` protocol) under power loss on the fault filesystem,
found by a campaign of the ``kv`` workload — the README's command:

* ``--synchronous full``: every seed valid (a commit is fsynced before the reply);
* ``--synchronous off``: invalid in at least one seed, and for the reason
  that matters: an acknowledged write lost (``kv-domain``'s ``lost-write``,
  which names the write; the linearizability check fails too).

Real parts: the campaign CLI in a subprocess, real worker processes, the
real SQLite child SIGKILLed by the power loss, the crash state rebuilt by
the fault filesystem."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from nemesis.faultfs import available
from tests.nemesis.harness import REPO

pytestmark = pytest.mark.slow

SQLITE_KV = os.path.join(REPO, "examples", "sqlite_kv.py")


def campaign(store, synchronous: str, seeds: str = "1-3") -> tuple[int, list[dict]]:
    ok, why = available()
    if not ok:
        pytest.skip(f"fault filesystem unavailable: {why}")
    system = f"exec:{sys.executable} {SQLITE_KV} --synchronous {synchronous} {{data_dir}}"
    argv = [sys.executable, "-m", "nemesis.cli", "campaign", "--workloads", "kv", "--nemeses", "lose-unsynced",
            "--seed-range", seeds, "--fs", "fuse", "--time-limit", "8", "--jobs", "2", "--quiet", "--no-report",
            "--store", str(store), "--system", system]
    p = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    records = glob.glob(os.path.join(str(store), "campaign-*.json"))
    assert records, p.stdout + p.stderr
    return p.returncode, json.load(open(records[0]))["results"]


def anomalies(run_dir: str) -> dict[str, list[str]]:
    r = json.load(open(os.path.join(run_dir, "results.json")))
    out: dict[str, list[str]] = {}
    for c in r.get("results", r.get("checkers", [])):
        for a in c.get("anomalies", []):
            out.setdefault(a.get("kind"), []).append(a.get("message", ""))
    return out


def test_synchronous_full_survives_power_loss(tmp_path):
    code, runs = campaign(tmp_path, "full")
    assert len(runs) == 3
    assert code == 0 and all(r["verdict"] == "valid" for r in runs), [(r["seed"], r["message"]) for r in runs]
    res = json.load(open(os.path.join(runs[0]["run_dir"], "results.json")))
    judged = {c["checker"] for c in res["checkers"]}
    assert {"linearizable", "kv-domain"} <= judged and "integrity" not in judged  # no persist fsck of SQLite's files
    assert res["faults"].get("lose-unsynced", 0) >= 1


def test_synchronous_off_loses_acknowledged_writes_under_power_loss(tmp_path):
    code, runs = campaign(tmp_path, "off")
    bad = [r for r in runs if r["verdict"] == "invalid"]
    assert code == 1 and bad, [(r["seed"], r["verdict"], r["message"]) for r in runs]
    lost = [m for r in bad for m in anomalies(r["run_dir"]).get("lost-write", [])]
    assert lost, [anomalies(r["run_dir"]) for r in bad]
    assert "an acknowledged write was lost" in lost[0]
