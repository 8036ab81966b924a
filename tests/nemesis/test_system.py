"""``--system`` values (nemesis/system.py): checked before any run starts,
each refusal saying what is accepted; a system's faults that cannot apply
are named, never silently dropped."""

from __future__ import annotations

import sys

import pytest

from nemesis.errors import BadInput
from nemesis.system import SystemSpecError, parse


def test_the_default_is_the_reference_engine():
    assert parse(None).kind == parse("persist").kind == "persist"
    assert parse("persist").refused(["kill", "lose-unsynced", "failpoint"], "tracer") == []


def test_an_exec_command_keeps_its_placeholders_until_the_worker_fills_them():
    s = parse(f"exec:{sys.executable} examples/persist_server.py --dir {{data_dir}} --role={{role}}")
    assert s.kind == "exec" and s.argv[0] == sys.executable
    assert s.command("/d", "file:///d", "writer")[1:] == ["examples/persist_server.py", "--dir", "/d",
                                                         "--role=writer"]


@pytest.mark.parametrize("text,msg", [
    ("exec:", "needs a command"),
    ("exec:no-such-binary-here {data_dir}", "not an executable found on PATH"),
    ("exec:/no/such/file", "does not exist"),
    (f"exec:{sys.executable} {{datadir}}", "unknown placeholder {datadir}"),
    (f"exec:{sys.executable} 'open", "cannot split"),
    ("nosuchmodule_xyz:Engine", "no module 'nosuchmodule_xyz'"),
    ("sqlite", "accepted: persist"),
])
def test_a_bad_system_is_refused_saying_what_is_accepted(text, msg):
    with pytest.raises(SystemSpecError) as e:
        parse(text)
    assert isinstance(e.value, BadInput) and e.value.param == "--system" and msg in str(e.value)


def test_faults_that_cannot_reach_another_process_are_named():
    s = parse(f"exec:{sys.executable} server.py {{data_dir}}")
    assert s.refused(["kill", "pause"], "tracer") == []
    assert s.refused(["kill", "lose-unsynced"], "faultfs") == []  # the fault filesystem sees every process
    (why,) = s.refused(["lose-unsynced"], "tracer")
    assert "--fs fuse" in why
    assert parse("json:JSONDecoder").kind == "class"


# --- through the harness ----------------------------------------------------------------------

import os  # noqa: E402

from nemesis.runner import ConfigError, build_config, command_line  # noqa: E402

from .harness import MUTANTS, REPO  # noqa: E402

ADAPTER = f"exec:{sys.executable} {os.path.join(REPO, 'examples', 'persist_server.py')}"


@pytest.mark.parametrize("workload,nemesis,fs,msg", [
    ("upsert", "kill", "auto", "another system runs the append workload so far"),
    ("append", "lose-unsynced", "tracer", "--fs fuse"),
    ("append", "failpoint", "auto", "failpoint"),
])
def test_a_run_its_system_cannot_take_is_refused(workload, nemesis, fs, msg):
    with pytest.raises(ConfigError) as e:
        build_config(workload, nemesis, 1, 2, 2, 0, None, False, fs=fs, system=ADAPTER)
    assert e.value.param == "--system" and msg in str(e.value)


def test_the_system_is_in_the_config_and_the_reproduce_command():
    cfg = build_config("append", "kill", 1, 2, 2, 0, None, False, system=ADAPTER)
    assert cfg.to_json()["system"] == ADAPTER and "--system" in command_line(cfg)
    assert "system" not in build_config("append", "kill", 1, 2, 2, 0, None, False).to_json()


@pytest.mark.slow
def test_the_reference_engine_through_the_protocol_is_valid_and_a_planted_bug_is_caught():
    """examples/persist_server.py under kill: the correct engine valid; the
    zoo's replay_twice planted into the adapter (NEMESIS_MUTANT) invalid for
    one of a few seeds."""
    import tempfile

    import nemesis

    with tempfile.TemporaryDirectory() as store:
        ok = nemesis.run(workload="append", nemesis="kill", seed=1, time_limit=5, concurrency=4, store=store,
                         system=ADAPTER, report=False)
        assert ok.valid is True, ok.summary
        assert f"--system '{ADAPTER}'" in ok.command or f"--system {ADAPTER}" in ok.command
        for seed in (2, 3, 4):
            bad = nemesis.run(workload="append", nemesis="kill", seed=seed, time_limit=5, concurrency=4,
                              store=store, system=ADAPTER, mutant=os.path.join(MUTANTS, "replay_twice.py"),
                              report=False)
            if bad.valid is False:
                break
        assert bad.valid is False and "duplicates" in bad.message, bad.summary
