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
