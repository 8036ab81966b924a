"""The model comparison beyond the golden files: repeated and retracting
updates, the scan budget, and when there is nothing to judge."""

from __future__ import annotations

from pathlib import Path

import pytest

import checker.domain.contents as contents
from checker.history import pair, read_jsonl
from checker.workloads import check_workload

HERE = Path(__file__).parent / "histories"


def history(writes, snaps):
    """writes: [(type, [[k, v, ts, diff], ...])] then snaps: [(as_of, rows)], sequential, on s0, sealed at 10."""
    ev = []
    p = 0
    for typ, ups in writes:
        ev.append({"process": p, "type": "invoke", "f": "write", "value": {"writes": {"s0": ups}}})
        ev.append({"process": p, "type": typ, "f": "write", "value": {"writes": {"s0": ups}}})
        if typ == "info":
            p += 1
    ev.append({"process": p, "type": "invoke", "f": "seal", "value": {"stream": "s0", "ts": 10}})
    ev.append({"process": p, "type": "ok", "f": "seal", "value": {"stream": "s0", "ts": 10, "upper": 10, "since": 0}})
    for as_of, rows in snaps:
        ev.append({"process": p, "type": "invoke", "f": "snapshot", "value": {"stream": "s0", "as_of": as_of}})
        ev.append({"process": p, "type": "ok", "f": "snapshot", "value": {"stream": "s0", "as_of": as_of, "upper": 10, "since": 0, "rows": rows}})
    return {r.checker: r for r in check_workload("append", pair(ev))}


def invalid(res):
    return {name for name, r in res.items() if r.valid is False}


def test_a_pair_written_twice_is_judged_by_its_sum():
    w = [("ok", [["a", "1", 1, 1]]), ("ok", [["a", "1", 3, 1]])]
    assert invalid(history(w, [(2, [["a", "1", 1]]), (3, [["a", "1", 2]])])) == set()
    assert invalid(history(w, [(2, [["a", "1", 2]])])) == {"duplicates", "snapshot-model"}
    assert invalid(history(w, [(3, [["a", "1", 1]])])) == {"lost-writes", "snapshot-model"}


def test_retractions_consolidate_away():
    w = [("ok", [["a", "1", 1, 1]]), ("ok", [["a", "1", 2, -1]])]
    assert invalid(history(w, [(1, [["a", "1", 1]]), (2, [])])) == set()
    res = history(w, [(2, [["a", "1", 1]])])  # the acknowledged retraction (op 2) is lost
    assert invalid(res) == {"lost-writes", "snapshot-model"}
    assert [a.ops for a in res["lost-writes"].anomalies] == [[2, 6]]
    assert invalid(history(w, [(1, [])])) == {"lost-writes", "snapshot-model"}


def test_an_indeterminate_retraction_may_or_may_not_apply():
    w = [("ok", [["a", "1", 1, 1]]), ("info", [["a", "1", 2, -1]])]
    assert invalid(history(w, [(2, [])])) == set()
    assert invalid(history(w, [(2, [["a", "1", 1]])])) == set()
    assert invalid(history(w, [(2, [["a", "1", 2]])])) == {"duplicates", "snapshot-model"}


def test_nothing_to_judge_is_unknown_not_valid():
    res = history([("ok", [["a", "1", 1, 1]])], [])
    assert res["lost-writes"].valid == "unknown" and "no successful snapshot" in res["lost-writes"].reason
    assert res["snapshot-model"].valid == "unknown"
    res = history([("ok", [["a", "1", 11, 1]])], [(9, [])])  # written above every snapshot's as_of
    assert res["lost-writes"].valid == "unknown" and res["lost-writes"].stats["checked_updates"] == 0


def test_scan_budget_exhausted_is_unknown(monkeypatch):
    h = read_jsonl(HERE / "lost_write.jsonl")
    monkeypatch.setattr(contents, "SCAN_BUDGET", 0)
    res = {r.checker: r for r in check_workload("append", h)}
    assert res["lost-writes"].valid == "unknown" and res["lost-writes"].stats["truncated"]
    assert res["snapshot-model"].valid == "unknown"
    monkeypatch.setattr(contents, "SCAN_BUDGET", 10)
    res = {r.checker: r for r in check_workload("append", h)}
    assert res["lost-writes"].valid is False


@pytest.mark.parametrize("rows,issue", [
    ([["a", "1", 1], ["a", "1", 1]], "appears twice"),
    ([["a", "1", 0]], "diff 0"),
    ([["b", "1", 1], ["a", "1", 1]], "not sorted"),
    ([["a", "1"]], "is not [key, val, diff]"),
])
def test_rows_must_be_sorted_and_consolidated(rows, issue):
    res = history([("ok", [["a", "1", 1, 1], ["b", "1", 1, 1]])], [(1, rows)])
    msgs = [a.message for a in res["snapshot-model"].anomalies if a.kind == "snapshot-format"]
    assert len(msgs) == 1 and issue in msgs[0]
