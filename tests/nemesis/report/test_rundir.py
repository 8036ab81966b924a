"""Reading a run directory for the reports: tolerant of runs that died."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemesis.report.rundir import ReportError, load_run, pair_tolerant, verdicts_of
from tests.nemesis.report.synthetic import write_run


def test_a_run_that_died_half_way_still_loads(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", ops=200, results=None, unmatched_tail=True, torn_tail=True)
    r = load_run(run)
    assert r.skipped_lines == 1  # the torn last line
    assert r.valid is None and r.verdicts == []
    never = [op for op in r.ops if op.done is None]
    assert len(never) == 1 and never[0].type == "info" and never[0].f == "snapshot"


def test_pairing_absorbs_what_the_checker_would_reject() -> None:
    events = [
        {"index": 0, "time": 10, "process": 0, "type": "invoke", "f": "write", "value": 1},
        {"index": 1, "time": 20, "process": 0, "type": "invoke", "f": "write", "value": 2},  # 0 never completed
        {"index": 2, "time": 30, "process": 0, "type": "ok", "f": "write", "value": 2},
        {"index": 3, "time": 40, "process": 5, "type": "ok", "f": "write", "value": 3},  # no invoke
        {"index": 4, "time": 50, "process": 1, "type": "invoke", "f": "seal", "value": {}},
        {"index": 5, "time": 60, "process": 1, "type": "info", "f": "seal", "value": {}, "error": {"class": "Timeout", "message": "slow"}},
    ]
    ops, nem, end, orphans = pair_tolerant(events)
    assert [(o.index, o.type, o.done) for o in ops] == [(0, "info", None), (1, "ok", 30), (4, "info", 60)]
    assert ops[2].error == "Timeout: slow"
    assert orphans == 1 and end == 60 and nem == []


def test_results_in_every_shape() -> None:
    judge = {"valid": False, "checkers": [{"checker": "a", "valid": True}, {"checker": "b", "valid": False, "anomalies": [{"kind": "k", "message": "m", "ops": [3]}]}]}
    vs, valid = verdicts_of(judge)
    assert [v.checker for v in vs] == ["a", "b"] and valid is False and vs[1].anomalies[0]["ops"] == [3]
    vs, valid = verdicts_of([{"checker": "a", "valid": True}, {"checker": "b", "valid": "unknown"}])
    assert valid == "unknown"
    vs, valid = verdicts_of({"a": {"valid": True}})
    assert [v.checker for v in vs] == ["a"] and valid is True
    assert verdicts_of(None) == ([], None)


def test_not_a_run_directory_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such run directory"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="history.jsonl is missing"):
        load_run(tmp_path / "empty")


def test_config_and_status_fill_the_summary(tmp_path: Path) -> None:
    run = write_run(tmp_path / "append" / "20261123T190000.000000Z-seed9", seed=9, ops=40)
    r = load_run(run)
    assert (r.workload, r.seed, r.nemeses) == ("append", 9, json.loads((run / "config.json").read_text())["nemesis"])
    assert r.status["status"] == "finished"
