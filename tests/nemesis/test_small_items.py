"""The smaller items of issue 13: nemesis lists with empty names refused, the
fsck line's grammar, run names carrying their nemeses, the mutants table
saying where each catch is, shrink not touching the tracked regressions file
unasked."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from nemesis import campaign as cp
from nemesis.cli import command_module
from nemesis.runner import _count
from nemesis.generator import UnknownNemesis, parse_names
from nemesis.store import new_run_dir


@pytest.mark.parametrize("text", ["kill,,pause", ",kill", "kill,", " , "])
def test_empty_nemesis_names_are_refused(text):
    with pytest.raises(UnknownNemesis):
        parse_names(text)


@pytest.mark.parametrize("text,what", [("kill+", "empty nemesis"), ("+kill", "empty nemesis"),
                                       ("kill++pause", "empty nemesis"), ("kill,,pause", "empty mix"),
                                       ("kill,", "empty mix")])
def test_empty_mixes_are_refused(text, what):
    with pytest.raises(cp.CampaignError, match=what) as e:
        cp.parse_mixes(text)
    assert "--nemeses" in str(e.value)


def test_the_cli_refuses_them_with_exit_3(capsys, tmp_path):
    from nemesis.cli import main

    for args in (["run", "--workload", "append", "--nemesis", "kill,,pause", "--seed", "1", "--time-limit", "1"],
                 ["campaign", "--nemeses", "kill+", "--dry-run"]):
        with pytest.raises(SystemExit) as e:
            main([*args, "--store", str(tmp_path)])
        assert e.value.code == 3
        assert "empty" in capsys.readouterr().err


def test_counts_agree_with_their_nouns():
    assert _count(1, "problem") == "1 problem" and _count(0, "problem") == "0 problems"
    assert _count(1, "batch", "batches") == "1 batch" and _count(4, "batch", "batches") == "4 batches"


def test_run_names_carry_their_nemeses(tmp_path):
    a = new_run_dir(str(tmp_path), "append", 1, ["kill", "lose-unsynced"])
    b = new_run_dir(str(tmp_path), "append", 1, ["pause"])
    assert a.endswith("-seed1-kill+lose-unsynced") and b.endswith("-seed1-pause")


def test_the_mutants_table_says_where_each_catch_is(tmp_path):
    console = Console(record=True, width=200)
    run = str(tmp_path / "runs" / "mutants" / "lose_seal" / "append" / "r1")
    command_module("mutants").table(console, [{"name": "lose_seal", "caught": True, "seconds": 3.0, "runs": 1, "seed": 1, "config": "x",
                     "checker": "lost", "run_dir": run},
                    {"name": "other", "caught": False, "seconds": 9.0, "runs": 3}])
    text = console.export_text()
    assert "lose_seal: " in text and run.split(os.sep)[-1] in text and "other:" not in text


def test_shrink_saves_only_when_asked(monkeypatch, tmp_path):
    from nemesis.cli import main
    sh = command_module("shrink")

    seen = []
    monkeypatch.setattr(sh, "shrink_run", lambda run_dir, store, budget, tries, regressions, save, goal_ops=0:
                        (seen.append((regressions, save)), (0, {}))[1])
    for args, want in ((["--budget", "1"], (None, False)), (["--save"], (None, True)),
                       (["--regressions", str(tmp_path / "mine.json")], (str(tmp_path / "mine.json"), True)),
                       (["--no-save"], (None, False))):
        with pytest.raises(SystemExit):
            main(["shrink", str(tmp_path), *args])
        assert seen[-1] == want, args


def test_the_index_lists_the_hunts_runs_too(tmp_path):
    from nemesis.report.index import find_runs

    for rel in ("append/r1", "mutants/lose_seal/append/r2", "mutants/lose_seal/upsert/r3"):
        d = tmp_path / rel
        d.mkdir(parents=True)
        (d / "config.json").write_text("{}")
    (tmp_path / "mutants" / "notes").mkdir()
    found = sorted(p.relative_to(tmp_path).as_posix() for p in find_runs(tmp_path))
    assert found == ["append/r1", "mutants/lose_seal/append/r2", "mutants/lose_seal/upsert/r3"]
