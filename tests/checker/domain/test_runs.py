"""Real append histories (``runs/``, see its README): planted bugs caught by
the right checkers, correct runs valid."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from checker.history import check_event, pair
from checker.workloads import check_workload

HERE = Path(__file__).parent / "runs"


def load(name: str):
    with gzip.open(HERE / name, "rt", encoding="utf-8") as fh:
        return pair(check_event(json.loads(line), f"{name}:{i}") for i, line in enumerate(fh, 1) if line.strip())


def verdicts(name: str):
    return {r.checker: r for r in check_workload("append", load(name))}


def test_replayed_wal_doubles_rows():
    res = verdicts("mutant_replay_twice_kill_seed2.jsonl.gz")
    assert {c for c, r in res.items() if r.valid is not True} == {"duplicates", "snapshot-model"}
    first = res["duplicates"].anomalies[0]
    assert first.kind == "duplicate" and first.ops == [2010, 798] and "applied more than once" in first.message


def test_lost_seal_loses_writes_and_moves_upper_back():
    res = verdicts("mutant_lose_seal_kill_seed2.jsonl.gz")
    assert {c for c, r in res.items() if r.valid is not True} == {"lost-writes", "frontiers", "seals", "snapshot-model"}
    assert res["lost-writes"].anomalies[0].ops == [4, 1401, 2320]
    assert {a.kind for a in res["frontiers"].anomalies} == {"upper-regression"}
    assert {a.kind for a in res["seals"].anomalies} == {"seal-not-seen"}


@pytest.mark.parametrize("name,category", [("kill_lose_unsynced_seed3.jsonl.gz", None), ("corrupt_seed3.jsonl.gz", "corruption")])
def test_correct_runs_are_valid(name, category):
    res = verdicts(name)
    for r in res.values():
        assert r.valid is True, r.summary()
        assert r.category == category
    assert res["lost-writes"].stats["checked_updates"] > 1000  # not vacuous
