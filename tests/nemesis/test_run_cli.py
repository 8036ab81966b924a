"""Bad input to ``persist-nemesis run`` / ``repro``: each a clear error and
exit code 3 (never 0/1/2, which are verdicts)."""

from __future__ import annotations

import json
import os

import pytest

from nemesis.cli import main


def cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return e.value.code, out.out + out.err


BASE = ["run", "--seed", "1", "--time-limit", "2"]


def test_unknown_workload(capsys, tmp_path):
    code, text = cli(capsys, *BASE, "--workload", "nope", "--nemesis", "kill", "--store", str(tmp_path))
    assert code == 3
    assert "unknown workload 'nope'" in text and "append" in text and "rehydrate" in text


def test_unknown_nemesis(capsys, tmp_path):
    code, text = cli(capsys, *BASE, "--workload", "append", "--nemesis", "kill,bogus", "--store", str(tmp_path))
    assert code == 3
    assert "unknown nemesis 'bogus'" in text and "lose-unsynced" in text


def test_time_limit_zero(capsys, tmp_path):
    code, text = cli(capsys, "run", "--seed", "1", "--time-limit", "0", "--workload", "append", "--nemesis", "none",
                     "--store", str(tmp_path))
    assert code == 3 and "--time-limit" in text and "> 0" in text


@pytest.mark.parametrize("flag,value", [("--time-limit", "inf"), ("--time-limit", "-1"), ("--concurrency", "0"),
                                        ("--concurrency", "100000")])
def test_bad_numbers(capsys, tmp_path, flag, value):
    args = {"--seed": "1", "--time-limit": "2", "--concurrency": "4"}
    args[flag] = value
    flat = [x for kv in args.items() for x in kv]
    code, text = cli(capsys, "run", *flat, "--workload", "append", "--nemesis", "none", "--store", str(tmp_path))
    assert code == 3 and flag in text, text


def test_store_not_writable(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, text = cli(capsys, *BASE, "--workload", "append", "--nemesis", "none", "--store", str(blocker / "runs"))
    assert code == 3 and "cannot write runs to the store" in text and "--store" in text


def test_mutant_missing_or_not_python(capsys, tmp_path):
    code, text = cli(capsys, *BASE, "--workload", "append", "--nemesis", "none", "--store", str(tmp_path),
                     "--mutant", str(tmp_path / "missing.py"))
    assert code == 3 and "no such file" in text
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n")
    code, text = cli(capsys, *BASE, "--workload", "append", "--nemesis", "none", "--store", str(tmp_path),
                     "--mutant", str(bad))
    assert code == 3 and "does not compile" in text


def test_mutant_that_does_not_import_stops_the_run(capsys, tmp_path):
    bad = tmp_path / "noimport.py"
    bad.write_text("import persist_module_that_does_not_exist\n")
    code, text = cli(capsys, *BASE, "--workload", "append", "--nemesis", "kill", "--store", str(tmp_path / "s"),
                     "--mutant", str(bad), "--quiet")
    assert code == 3
    assert "before it was ready" in text and "persist_module_that_does_not_exist" in text
    run = os.path.realpath(tmp_path / "s" / "latest")
    status = json.load(open(os.path.join(run, "status.json")))
    assert status["status"] == "aborted"


def test_worker_that_dies_at_start_stops_the_run(capsys, tmp_path):
    dies = tmp_path / "dies.py"
    dies.write_text("import os\nos._exit(7)\n")
    code, text = cli(capsys, *BASE, "--workload", "rehydrate", "--nemesis", "none", "--store", str(tmp_path),
                     "--mutant", str(dies), "--quiet")
    assert code == 3
    assert "exited with code 7 before it was ready" in text


def test_repro_of_a_non_run(capsys, tmp_path):
    code, text = cli(capsys, "repro", str(tmp_path))
    assert code == 3 and "not a run directory" in text


def test_a_replayed_schedule_is_in_the_printed_command_and_reruns(capsys, tmp_path):
    """A shrunk run's ``command`` carries its schedule (``--replay``), so the
    line alone reruns it: here one kill gated at exactly 20 operations, on
    client processes 0 and 2 only."""
    import shlex

    from nemesis.regressions import apply_overrides
    from nemesis.runner import build_config, command_line, load_replay

    replay = {"faults": [{"at": 0.0, "nemesis": "kill", "target": 0, "duration": 0.2, "seed": 7}],
              "fault_ops": [20], "processes": [0, 2]}
    cfg = apply_overrides(build_config("append", "kill", 1, 10, 3, 60, None, False), replay)
    args = shlex.split(command_line(cfg))
    assert load_replay(args[args.index("--replay") + 1]) == replay
    code, out = cli(capsys, *args[1:], "--store", str(tmp_path), "--no-report", "--quiet")
    assert code == 0, out
    (run_dir,) = [os.path.join(r, d) for r, ds, _ in os.walk(tmp_path) for d in ds if "-seed1" in d]
    events = [json.loads(line) for line in open(os.path.join(run_dir, "history.jsonl"))]
    kills = [i for i, e in enumerate(events) if e["process"] == "nemesis" and e["f"] == "kill" and e["type"] == "info"]
    assert len(kills) == 1
    invoked_before = sum(1 for e in events[:kills[0]] if e["type"] == "invoke" and isinstance(e["process"], int))
    assert invoked_before == 20
    # a process whose operation crashed comes back under a new number (+ concurrency), as in Jepsen
    assert {e["process"] % 3 for e in events if isinstance(e["process"], int)} == {0, 2}
    with open(os.path.join(run_dir, "config.json")) as f:
        assert "--replay" in json.load(f)["command"]


def test_replay_that_makes_no_sense_is_refused(capsys, tmp_path):
    base = ["run", "--workload", "append", "--nemesis", "kill", "--seed", "1", "--time-limit", "2",
            "--store", str(tmp_path)]
    code, out = cli(capsys, *base, "--replay", "{not json")
    assert code == 3 and "--replay" in out and "not JSON" in out
    code, out = cli(capsys, *base, "--replay", '{"processes": [9]}')
    assert code == 3 and "processes must be distinct client process numbers" in out
    code, out = cli(capsys, *base, "--replay", str(tmp_path / "nope.json"))
    assert code == 3 and "cannot read" in out
    assert not any(tmp_path.iterdir()), "nothing may be created for refused input"
