"""The library (nemesis/api.py): ``import nemesis`` is the door, cheap to
import; each call checks its input before anything runs and returns a
result with the verdict, the run directories and the reproduce command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import nemesis
from nemesis import api
from nemesis.campaign import CampaignError
from nemesis.errors import BadInput
from nemesis.runner import ConfigError

from .harness import MUTANTS, REPO


def test_import_nemesis_imports_nothing_else():
    code = ("import sys, nemesis; print([m for m in sys.modules if m.split('.')[0] in "
            "('nemesis', 'persist', 'checker', 'workloads', 'click', 'rich', 'pyarrow', 'matplotlib')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "['nemesis']"


def test_the_door_names_the_library_calls():
    assert nemesis.run is api.run and nemesis.hunt is api.hunt
    # nemesis.campaign / nemesis.shrink: the engine's modules, and called, the library's calls
    assert callable(nemesis.campaign) and hasattr(nemesis.campaign, "plan")
    assert callable(nemesis.shrink) and hasattr(nemesis.shrink, "Shrinker")
    with pytest.raises(AttributeError):
        nemesis.no_such_thing  # noqa: B018


def test_unknown_equals_the_string_and_is_false():
    assert api.UNKNOWN == "unknown" and not api.UNKNOWN and json.dumps(api.UNKNOWN) == '"unknown"'
    assert api.verdict_of(True) is True and api.verdict_of(False) is False
    assert api.verdict_of("unknown") == "unknown" and api.verdict_of(None) == "unknown"


@pytest.mark.parametrize("call,param", [
    (lambda s: api.run(workload="nope", store=s), "--workload"),
    (lambda s: api.run(workload="append", nemesis=["kill", "bogus"], store=s), "--nemesis"),
    (lambda s: api.run(workload="append", seed=-1, store=s), "--seed"),
    (lambda s: api.run(workload="append", mutant="/no/such.py", store=s), "--mutant"),
    (lambda s: nemesis.campaign(seeds=0, store=s), "--seeds"),
    (lambda s: nemesis.campaign(workloads=["append", "nope"], store=s), "--workloads"),
    (lambda s: nemesis.campaign(nemeses=[["kill", "bogus"]], store=s), "--nemeses"),
    (lambda s: nemesis.campaign(seeds=[1], seed_range="1-2", store=s), "--seeds"),
])
def test_bad_input_raises_naming_the_argument_before_anything_runs(tmp_path, call, param):
    store = tmp_path / "runs"
    with pytest.raises(BadInput) as e:
        call(str(store))
    assert isinstance(e.value, (ConfigError, CampaignError)) and e.value.param == param
    assert e.value.happened is False and not store.exists()


def test_a_dry_run_campaign_lists_its_runs(tmp_path):
    r = nemesis.campaign(workloads="append", nemeses=["kill", "lose-unsynced+pause"], seeds=[3, 4],
                         time_limit=2, store=tmp_path, dry_run=True)
    assert r.runs == [] and len(r.commands) == 4 and r.planned == 4
    assert all(f"--store {tmp_path}" in c and "--time-limit 2" in c for c in r.commands)
    assert {c.split("--seed ")[1].split()[0] for c in r.commands} == {"3", "4"}
    assert sum("--nemesis lose-unsynced,pause" in c for c in r.commands) == 2


def test_a_run_returns_its_verdict_directory_and_commands(tmp_path):
    r = nemesis.run(workload="append", nemesis="kill", seed=2, time_limit=1.5, concurrency=2, store=tmp_path,
                    report=False)
    assert r.valid is True and r.verdict == "valid" and r.exit_code == 0, r.summary
    assert os.path.isfile(os.path.join(r.run_dir, "results.json")) and r.run_dirs == [r.run_dir]
    assert r.repro_command == f"persist-nemesis repro {r.run_dir}"
    assert r.command.startswith("persist-nemesis run --workload append --nemesis kill --seed 2")
    assert r.summary.startswith("VALID: append / kill / seed 2") and "reproduce" not in r.summary
    assert r.results["valid"] is True and r.ops and r.ops > 0


@pytest.mark.slow
def test_a_planted_bug_makes_the_run_invalid_with_a_reproduce_command(tmp_path):
    mutant = os.path.join(MUTANTS, "replay_twice.py")
    for seed in (1, 2, 3):
        r = nemesis.run(workload="append", nemesis="kill", seed=seed, time_limit=5, concurrency=4, mutant=mutant,
                        store=tmp_path, report=False)
        if r.valid is False:
            break
    assert r.valid is False and r.verdict == "invalid" and r.exit_code == 1, r.summary
    assert r.message and f"reproduce: persist-nemesis repro {r.run_dir}" in r.summary
    assert f"--mutant {mutant}" in r.command


def test_hunting_a_file_that_is_not_a_mutant_raises_before_any_run(tmp_path):
    from nemesis.mutation import MutantError

    with pytest.raises(MutantError):
        nemesis.hunt(tmp_path / "none.py", budget=1, store=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_hunt_catches_a_planted_bug_and_says_how_to_rerun_the_catch(tmp_path):
    events = []
    h = nemesis.hunt(os.path.join(MUTANTS, "replay_twice.py"), budget=120, store=tmp_path, on_run=events.append)
    assert h.caught and h.valid is False and h.runs == len(events) >= 1, h.summary
    assert h.run_dir in h.run_dirs and h.repro_command == f"persist-nemesis repro {h.run_dir}"
    assert "--mutant" in h.command and "duplicates" in h.checker and h.summary.startswith("CAUGHT replay_twice")
