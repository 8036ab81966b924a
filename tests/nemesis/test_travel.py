"""Runs that travel: a run directory copied from another machine (the CI
artefact flow of docs/ci.md) is reproduced into the store it sits in now,
with its mutant found in this checkout, and ``repro`` says in words whether
the original verdict came back."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from nemesis.cli import command_module, main
from nemesis.store import REPO, relative_paths, resolve_mutant, StoreError

from .harness import run_test

said = command_module("repro").said

MUTANT = "truncate_before_metadata.py"  # failpoint-only: harmless under --nemesis none


def test_relative_paths_and_mutant_resolution(tmp_path):
    class Cfg:
        mutant = os.path.join(REPO, "mutants", MUTANT)

    run = tmp_path / "runs" / "append" / "r1"
    paths = relative_paths(str(run), Cfg)
    assert paths["store"] == os.path.join("..", "..") and paths["mutant"] == os.path.join("mutants", MUTANT)
    assert os.path.normpath(os.path.join(run, paths["checkout"])) == REPO
    elsewhere = "/home/ci/other-checkout/mutants/" + MUTANT
    assert resolve_mutant(elsewhere, {"mutant": "mutants/" + MUTANT}, str(run)) == os.path.join(REPO, "mutants", MUTANT)
    with pytest.raises(StoreError, match="not on this machine"):
        resolve_mutant("/home/ci/x/nope.py", {"mutant": "mutants/nope.py"}, str(run))


def test_said():
    assert said(False, 1, 2) == "reproduced: the original verdict (invalid) came back (in 2 attempts)"
    assert said(False, 0, 1).startswith("did not reproduce: the original run was invalid, the new run is valid")
    assert said(None, 0, 1) == "the original run was never judged; the new run is valid"


@pytest.mark.slow
def test_repro_of_a_copied_run_writes_here_and_says_so(tmp_path, capsys):
    code, run = run_test(tmp_path / "there", nemesis="none", time_limit=1, concurrency=2, mutant=MUTANT)
    assert code == 0
    copy = tmp_path / "here" / "runs" / "append" / os.path.basename(run)
    shutil.copytree(run, copy)
    cfg_path = copy / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["store"] = "/home/ci/work/runs"  # what the other machine recorded
    cfg["mutant"] = "/home/ci/work/checkout/mutants/" + MUTANT
    cfg_path.write_text(json.dumps(cfg))
    shutil.rmtree(tmp_path / "there")
    with pytest.raises(SystemExit) as e:
        main(["repro", str(copy), "--quiet"])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert "reproduced: the original verdict (valid) came back" in out
    new = [d for d in os.listdir(tmp_path / "here" / "runs" / "append") if d != copy.name]
    assert len(new) == 1, new  # written to the local store the copy sits in
    assert not os.path.exists("/home/ci/work")
    assert json.loads((tmp_path / "here" / "runs" / "append" / new[0] / "config.json").read_text())["mutant"] == \
        os.path.join(REPO, "mutants", MUTANT)
