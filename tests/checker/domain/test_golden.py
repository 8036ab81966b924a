"""Hand-built append histories (``histories/*.jsonl``), each anomaly with its
fixed twin, and the verdicts ``histories/expected.tsv`` gives them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from checker.history import read_jsonl
from checker.workloads import check_workload

HERE = Path(__file__).parent / "histories"


def _expected() -> dict[str, set[tuple[str, str, tuple[int, ...]]]]:
    exp: dict[str, set] = defaultdict(set)
    for line in (HERE / "expected.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        f, checker, kind, ops = line.split("\t")
        exp[f].add((checker, kind, tuple(int(i) for i in ops.split(","))))
    return exp


EXPECTED = _expected()
FILES = sorted(p.name for p in HERE.glob("*.jsonl"))


# each anomaly beside its fixed twin(s): the same history with the bug undone
TWINS = {
    "lost_write.jsonl": ["lost_write_fixed.jsonl"],
    "phantom.jsonl": ["phantom_fixed.jsonl"],
    "duplicate.jsonl": ["lost_write_fixed.jsonl"],
    "flicker.jsonl": ["flicker_fixed.jsonl", "flicker_fixed_unseen.jsonl"],
    "flicker_resurrected.jsonl": ["snapshot_model_fixed_info.jsonl"],
    "upper_regression.jsonl": ["frontier_regression_fixed.jsonl"],
    "since_regression.jsonl": ["frontier_regression_fixed.jsonl"],
    "seal_not_seen.jsonl": ["seal_not_seen_fixed.jsonl"],
    "write_below_upper.jsonl": ["write_below_upper_fixed.jsonl"],
    "read_below_since.jsonl": ["read_below_since_fixed.jsonl"],
    "snapshot_model.jsonl": ["snapshot_model_fixed.jsonl", "snapshot_model_fixed_info.jsonl"],
    "snapshot_format.jsonl": ["snapshot_format_fixed.jsonl"],
    "corruption.jsonl": ["corruption_fixed.jsonl"],
    "torn_write.jsonl": ["torn_write_fixed.jsonl", "torn_write_fixed_unseen.jsonl"],
    "torn_write_multi.jsonl": ["torn_write_multi_fixed.jsonl"],
    "refusals.jsonl": ["refusals_fixed.jsonl"],
}


def test_every_anomaly_has_a_valid_twin():
    assert set(EXPECTED) == set(TWINS)
    for bad, twins in TWINS.items():
        for t in twins:
            assert t in FILES and t not in EXPECTED, (bad, t)
    assert set(FILES) == set(TWINS) | {t for ts in TWINS.values() for t in ts}


@pytest.mark.parametrize("name", FILES)
def test_golden(name):
    results = check_workload("append", read_jsonl(HERE / name))
    got = {(r.checker, a.kind, tuple(a.ops)) for r in results for a in r.anomalies}
    assert got == EXPECTED.get(name, set())
    invalid = {c for c, _k, _o in EXPECTED.get(name, set())}
    for r in results:
        assert r.valid is (False if r.checker in invalid else True), r.summary()
        assert r.valid is True or r.anomalies[0].message  # every invalid result says what went wrong


def test_corruption_runs_are_their_own_category():
    for name in ("corruption.jsonl", "corruption_fixed.jsonl"):
        assert {r.category for r in check_workload("append", read_jsonl(HERE / name))} == {"corruption"}
    assert {r.category for r in check_workload("append", read_jsonl(HERE / "lost_write.jsonl"))} == {None}
