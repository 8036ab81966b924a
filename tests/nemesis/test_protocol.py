"""``--system exec:``: the append workload under kill through the protocol
adapter (``examples/persist_server.py``, a separate process serving persist)
is valid, and a zoo mutant planted into the adapter's engine is caught
through the protocol (docs/protocol.md)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.nemesis.harness import MUTANTS, REPO, explain, results

SERVER = os.path.join(REPO, "examples", "persist_server.py")


def exec_system(mutant: str | None = None) -> str:
    extra = f" --mutant {os.path.join(MUTANTS, mutant)}" if mutant else ""
    return f"exec:{sys.executable} {SERVER}{extra} {{data_dir}}"


def run(store, system: str, seed: int, time_limit: float, nemesis: str = "kill"):
    from nemesis.runner import build_config, execute

    cfg = build_config("append", nemesis, seed, time_limit, 4, 0, None, False, system=system)
    cfg.interval = (0.3, 0.8)
    code = execute(cfg, str(store), quiet=True, reports=False)
    return code, os.path.realpath(os.path.join(str(store), "latest"))


def test_append_under_kill_through_the_adapter_is_valid(tmp_path):
    code, run_dir = run(tmp_path, exec_system(), seed=1, time_limit=6)
    r = results(run_dir)
    assert code == 0 and r["valid"] is True, explain(run_dir)
    assert r["faults"].get("kill", 0) >= 1  # the kill reached the worker's group, adapter included
    assert r["system"]["kind"] == "exec" and r["system"]["applied"] == ["kill"]
    assert "fsync-tracer" in r["system"]["not_applicable"]
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["system"] == exec_system()  # the run reproduces with its system
    acked = sum(1 for line in open(os.path.join(run_dir, "history.jsonl"), encoding="utf-8")
                if '"type":"ok"' in line.replace(" ", "") and '"f":"write"' in line.replace(" ", ""))
    assert acked > 20, "the adapter served too few writes for the run to mean anything"


def _fuse() -> tuple[bool, str]:
    from nemesis.faultmodel import fuse_available

    return fuse_available()


@pytest.mark.slow
@pytest.mark.skipif(not _fuse()[0], reason=f"fault filesystem unavailable: {_fuse()[1]}")
def test_append_under_power_loss_through_the_adapter_is_valid(tmp_path):
    """Issue 15, must-show 1: power losses reach an exec: system through the
    fault filesystem under its data directory (the adapter is another
    process; only the filesystem sees its fsyncs)."""
    from tests.nemesis.harness import nemesis_infos

    code, run_dir = run(tmp_path, exec_system(), seed=1, time_limit=8, nemesis="lose-unsynced")
    r = results(run_dir)
    assert code == 0 and r["valid"] is True, explain(run_dir)
    assert r["fault_model"] == "faultfs" and r["system"]["applied"] == ["lose-unsynced"]
    losses = nemesis_infos(run_dir, "lose-unsynced")
    assert losses and all("power_loss" in v for v in losses), losses


@pytest.mark.slow
def test_a_mutant_planted_in_the_adapter_is_caught_through_the_protocol(tmp_path):
    """replay_twice (EXPOSED_BY: append + kill) in the adapter's engine: a
    restart replays unabsorbed Wal records twice, and the duplicates show
    in the reads that travel over the protocol."""
    tried = []
    for seed in (2, 3, 1):
        code, run_dir = run(tmp_path / str(seed), exec_system("replay_twice.py"), seed=seed, time_limit=8)
        r = results(run_dir)
        tried.append((seed, r["valid"]))
        if r["valid"] is False:
            failed = {c["checker"] for c in r["checkers"] if c["valid"] is False}
            assert code == 1 and failed & {"duplicates", "snapshot-model", "recovery"}, explain(run_dir)
            return
    pytest.fail(f"replay_twice in the adapter was not caught through the protocol: {tried}")


@pytest.mark.parametrize("nemesis,fs,workload,says", [
    ("failpoint", "auto", "append", "failpoints support"),
    ("corrupt", "auto", "append", "fsync-tracer support"),
    ("lose-unsynced", "tracer", "append", "--fs fuse"),
    ("kill", "auto", "upsert", "serves the append, kv workload"),
])
def test_faults_an_exec_system_cannot_take_are_refused_before_anything_runs(nemesis, fs, workload, says):
    from nemesis.runner import ConfigError, build_config

    with pytest.raises(ConfigError, match=says):
        build_config(workload, nemesis, 1, 5, 4, 0, None, False, fs=fs, system=exec_system())


def test_a_malformed_system_is_bad_input():
    from nemesis.runner import ConfigError, build_config

    with pytest.raises(ConfigError, match="module:Class"):
        build_config("append", "kill", 1, 5, 4, 0, None, False, system="not a system")


def test_a_campaign_plans_every_run_with_the_system_and_its_commands_carry_it(tmp_path):
    from nemesis import campaign as cp

    system = exec_system()
    p = cp.plan(workloads=["append"], mixes=[["kill"], ["lose-unsynced"]], seeds=[1, 2], time_limit=5,
                store=str(tmp_path), fs="fuse", system=system)
    assert len(p.runs) == 4 and all(r.cfg.system == system for r in p.runs)
    assert all("--system" in r.command and "{data_dir}" in r.command for r in p.runs)
    with pytest.raises(cp.CampaignError, match="failpoints support"):
        cp.plan(workloads=["append"], mixes=[["failpoint"]], seeds=[1], time_limit=5, store=str(tmp_path),
                system=system)


class NoFailpoints:
    """A module:Class system that declares nothing in-process."""

    def open(self, url, read_only=False, **options):  # pragma: no cover - never opened here
        raise AssertionError


def test_a_class_system_takes_the_in_process_faults_it_declares():
    from nemesis.runner import ConfigError, build_config

    cfg = build_config("append", "failpoint", 1, 5, 1, 0, None, False, system="workloads.system:PersistSystem")
    assert cfg.system == "workloads.system:PersistSystem" and cfg.to_json()["system"] == cfg.system
    with pytest.raises(ConfigError, match="failpoints support"):
        build_config("append", "failpoint", 1, 5, 1, 0, None, False,
                     system="tests.nemesis.test_protocol:NoFailpoints")
    assert "system" not in build_config("append", "kill", 1, 5, 1, 0, None, False).to_json()  # the default: unchanged
