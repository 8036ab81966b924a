"""The domain checkers never crash: a damaged history gets a verdict or a
HistoryError (a ValueError naming the operation), nothing else."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.domain.simulate import simulate
from checker.history import HistoryError, pair
from checker.workloads import check_workload

DAMAGE = st.sampled_from(
    ["row-diff-0", "row-diff-neg", "row-key-int", "row-short", "drop-upper", "upper-none", "upper-str", "rows-missing",
     "ts-str", "swap-rows", "no-completion", "as-of-huge", "stream-renamed"]
)


def damage(events, kind, i):
    ev = [e for e in events if e["process"] != "nemesis"]
    e = ev[i % len(ev)]
    v = e.get("value")
    if e["f"] == "snapshot" and e["type"] == "ok" and "rows" in v and all(len(r) == 3 for r in v["rows"]):
        rows = v["rows"]
        if kind == "row-diff-0" and rows:
            rows[0][2] = 0
        elif kind == "row-diff-neg" and rows:
            rows[-1][2] = -3
        elif kind == "row-key-int" and rows:
            rows[0][0] = 7
        elif kind == "row-short" and rows:
            rows[0] = rows[0][:2]
        elif kind == "swap-rows" and len(rows) > 1:
            rows[0], rows[1] = rows[1], rows[0]
        elif kind == "rows-missing":
            del v["rows"]
        elif kind == "as-of-huge":
            v["as_of"] = 10**9
        elif kind == "stream-renamed":
            v["stream"] = "elsewhere"
    if isinstance(v, dict) and e["type"] == "ok" and "upper" in v:
        if kind == "drop-upper":
            del v["upper"]
        elif kind == "upper-none":
            v["upper"] = None
        elif kind == "upper-str":
            v["upper"] = "7"
    if e["f"] == "write" and e["type"] == "invoke" and kind == "ts-str":
        e["value"] = {"writes": {s: [[k, val, str(ts), d] for k, val, ts, d in ups] for s, ups in v["writes"].items()}}
    if kind == "no-completion" and e["type"] != "invoke":
        events.remove(e)
    return events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.lists(st.tuples(DAMAGE, st.integers(0, 10**6)), min_size=1, max_size=4))
def test_damaged_histories_get_a_verdict_or_a_history_error(seed, damages):
    events = copy.deepcopy(list(simulate(seed, 30, processes=3, streams=2, p_info=0.2)))
    for kind, i in damages:
        events = damage(events, kind, i)
    try:
        results = check_workload("append", pair(events))
    except HistoryError as e:  # names the event or operation
        assert "event " in str(e) or ("op " in str(e) and "expected" in str(e))
        return
    for r in results:
        assert r.valid in (True, False, "unknown")
        assert r.valid is not False or r.anomalies
