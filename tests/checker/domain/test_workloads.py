"""checker.workloads: the registry of workload checkers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from checker.history import pair
from checker.result import Result, combine
from checker.workloads import WORKLOADS, check_workload, register

ROOT = Path(__file__).resolve().parents[3]


def test_append_is_known_and_runs_every_domain_checker():
    assert "append" in WORKLOADS
    names = [r.checker for r in check_workload("append", pair([{"process": 0, "type": "invoke", "f": "frontiers", "value": {"stream": "s0"}}]))]
    assert names == ["lost-writes", "phantoms", "duplicates", "flicker", "frontiers", "seals", "snapshot-model",
                     "listen", "failed-no-effect", "no-fencing"]


def test_unknown_workload_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown workload 'nope'; known workloads: .*append"):
        check_workload("nope", pair([]))


def test_empty_history_is_unknown():
    [r] = check_workload("append", pair([]))
    assert r.valid == "unknown" and r.reason == "empty history"


def test_all_failed_is_valid():
    ev = [
        {"process": 0, "type": "invoke", "f": "write", "value": {"writes": {"s0": [["a", "1", 0, 1]]}}},
        {"process": 0, "type": "fail", "f": "write", "value": {"writes": {"s0": [["a", "1", 0, 1]]}}},
    ]
    assert combine([r.valid for r in check_workload("append", pair(ev))]) is True


def test_a_history_changed_in_place_is_judged_afresh():
    from checker.domain.lost import LostWrites

    ev = [
        {"process": 0, "type": "invoke", "f": "write", "value": {"writes": {"s0": [["a", "1", 0, 1]]}}},
        {"process": 0, "type": "ok", "f": "write", "value": {"writes": {"s0": [["a", "1", 0, 1]]}}},
        {"process": 0, "type": "invoke", "f": "snapshot", "value": {"stream": "s0", "as_of": 0}},
        {"process": 0, "type": "ok", "f": "snapshot", "value": {"stream": "s0", "as_of": 0, "upper": 1, "since": 0, "rows": [["a", "1", 1]]}},
    ]
    h = pair(ev)
    assert LostWrites().check(h).valid is True
    assert combine([r.valid for r in check_workload("append", h)]) is True
    h.ops[1].result["rows"] = []
    assert LostWrites().check(h).valid is False
    assert combine([r.valid for r in check_workload("append", h)]) is False


def test_register_extends_the_registry():
    class Always:
        name = "always"

        def check(self, history):
            return Result(self.name, True)

    register("test-only", lambda: [Always()])
    try:
        assert [r.checker for r in check_workload("test-only", pair([{"process": 0, "type": "invoke", "f": "x"}]))] == ["always"]
    finally:
        del WORKLOADS["test-only"]


def test_domain_checkers_are_pure():
    """checker/domain and checker/workloads import neither persist, nemesis nor workloads."""
    files = list((ROOT / "checker" / "domain").glob("*.py")) + [ROOT / "checker" / "workloads.py"]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for n in names:
                assert n.split(".")[0] not in ("persist", "nemesis", "workloads"), f"{f} imports {n}"


def _corrupt_run(error: str) -> list[dict]:
    w = {"writes": {"s0": [["a", "1", 0, 1]]}}
    return [
        {"process": 0, "type": "invoke", "f": "write", "value": w},
        {"process": 0, "type": "ok", "f": "write", "value": w},
        {"process": "nemesis", "type": "info", "f": "corrupt", "value": {"file": "blob/meta", "kind": "flip"}},
        {"process": 1, "type": "invoke", "f": "snapshot", "value": {"stream": "s0", "as_of": 0, "final": True}},
        {"process": 1, "type": "fail", "f": "snapshot", "value": {"stream": "s0", "as_of": 0, "final": True},
         "error": error},
    ]


def test_corruption_refused_is_valid_in_its_category():
    """Every read after the damage refused with a corruption error: detected,
    nothing wrong served, so valid (the lost-writes checker had no evidence)."""
    res = check_workload("append", pair(_corrupt_run("CorruptionError: blob meta: checksum mismatch")))
    assert all(r.category == "corruption" for r in res)
    assert combine([r.valid for r in res]) is True
    assert any(r.reason and r.reason.startswith("not judged") for r in res)


def test_corruption_not_reported_stays_unknown():
    """The same history where the read failed for another reason: no
    evidence either way, and persist never said it saw damage."""
    res = check_workload("append", pair(_corrupt_run("StorageUnavailableError: try again")))
    assert combine([r.valid for r in res]) == "unknown"
