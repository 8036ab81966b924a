"""The upsert checkers on small hand-written histories (valid and invalid),
and a Hypothesis property: a sequential register history is valid, and
changing one read's value makes it invalid."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.result import combine
from checker.upsert import UpsertDomain, UpsertLinear
from checker.workloads import check_workload
from tests.workloads.hist import H


def up(h, p, k, v, t0, t1, type_="ok", ts=0):
    return h.op(p, "upsert", {"key": k, "value": v}, type_, {"key": k, "value": v, "ts": ts, "upper": ts + 1}, t0, t1)


def get(h, p, k, v, t0, t1):
    rows = [] if v is None else [[v, 1]]
    return h.op(p, "get", {"key": k}, "ok", {"key": k, "value": v, "rows": rows, "as_of": 0, "upper": 1}, t0, t1)


def final(h, rows, t0, t1):
    return h.op(9, "read_all", {"final": True}, "ok", {"rows": rows, "as_of": 0, "upper": 1}, t0, t1)


def verdicts(h):
    hist = h.build()
    lin, dom = UpsertLinear().check(hist), UpsertDomain().check(hist)
    return lin, dom


def kinds(r):
    return {a.kind for a in r.anomalies}


def test_sequential_upserts_deletes_and_reads_are_valid():
    h = H()
    up(h, 0, "k0", "a", 0, 1)
    get(h, 1, "k0", "a", 2, 3)
    h.op(0, "delete", {"key": "k0"}, "ok", {"key": "k0", "value": None, "ts": 1, "upper": 2}, 4, 5)
    get(h, 1, "k0", None, 6, 7)
    up(h, 0, "k1", "b", 8, 9)
    final(h, [["k1", "b", 1]], 10, 11)
    lin, dom = verdicts(h)
    assert lin.valid is True and dom.valid is True, (lin.anomalies, dom.anomalies)


def test_stale_read_is_not_linearizable():
    h = H()
    up(h, 0, "k0", "a", 0, 1)
    up(h, 0, "k0", "b", 2, 3)
    get(h, 1, "k0", "a", 4, 5)
    lin, _ = verdicts(h)
    assert lin.valid is False and "not-linearizable" in kinds(lin)
    assert lin.anomalies[0].ops and "k0" in lin.anomalies[0].message


def test_a_read_concurrent_with_an_upsert_may_see_either_value():
    for seen in ("a", "b"):
        h = H()
        up(h, 0, "k0", "a", 0, 1)
        up(h, 0, "k0", "b", 2, 6)
        get(h, 1, "k0", seen, 3, 5)
        assert verdicts(h)[0].valid is True


def test_an_indeterminate_upsert_may_show_up_later_but_a_failed_one_never():
    h = H()
    up(h, 0, "k0", "a", 0, 1, type_="info")
    get(h, 1, "k0", None, 2, 3)
    get(h, 1, "k0", "a", 4, 5)
    final(h, [["k0", "a", 1]], 6, 7)
    lin, dom = verdicts(h)
    assert lin.valid is True and dom.valid is True

    h = H()
    up(h, 0, "k0", "a", 0, 1, type_="fail")
    get(h, 1, "k0", "a", 2, 3)
    lin, _ = verdicts(h)
    assert lin.valid is False and "no operation wrote" in lin.anomalies[0].message


def test_lost_acknowledged_upsert_in_the_final_read():
    h = H()
    up(h, 0, "k0", "a", 0, 1)
    up(h, 0, "k0", "b", 2, 3)
    final(h, [["k0", "a", 1]], 4, 5)
    lin, dom = verdicts(h)
    assert dom.valid is False and kinds(dom) == {"lost-upsert"}
    assert "'b'" in dom.anomalies[0].message and dom.anomalies[0].ops == [4, 2]
    assert lin.valid is False  # the final read is also a stale read


def test_final_read_missing_a_key_is_lost_and_read_all_counts_as_a_read_of_every_key():
    h = H()
    up(h, 0, "k0", "a", 0, 1)
    up(h, 0, "k1", "b", 2, 3)
    h.op(1, "read_all", {}, "ok", {"rows": [["k1", "b", 1]], "as_of": 1, "upper": 2}, 4, 5)
    final(h, [["k1", "b", 1]], 6, 7)
    lin, dom = verdicts(h)
    assert lin.valid is False and "k0" in lin.anomalies[0].message
    assert dom.valid is False and "lost-upsert" in kinds(dom)


def test_two_values_for_one_key_is_flagged():
    h = H()
    up(h, 0, "k0", "a", 0, 1)
    h.op(1, "get", {"key": "k0"}, "ok", {"key": "k0", "value": [["a", 1], ["b", 1]], "rows": [["a", 1], ["b", 1]],
                                         "as_of": 0, "upper": 1}, 2, 3)
    final(h, [["k0", "a", 1], ["k0", "a", 1]], 4, 5)
    _, dom = verdicts(h)
    assert dom.valid is False and kinds(dom) == {"not-one-value"} and len(dom.anomalies) == 2


def test_without_a_final_read_the_domain_check_is_unknown_and_the_registry_finds_the_checkers():
    h = H()
    up(h, 0, "k0", "a", 0, 1)
    results = check_workload("upsert", h.build())
    assert [r.checker for r in results] == ["linearizable", "upsert-domain", "no-fencing"]
    assert results[0].valid is True and results[1].valid == "unknown"
    assert combine([r.valid for r in results]) == "unknown"


@st.composite
def sequential(draw):
    """A sequential history of a key-value register: ops one after another."""
    n = draw(st.integers(1, 25))
    state: dict[str, str | None] = {}
    ops = []
    for i in range(n):
        k = draw(st.sampled_from(["k0", "k1", "k2"]))
        kind = draw(st.sampled_from(["upsert", "delete", "get"]))
        if kind == "upsert":
            state[k] = f"v{i}"
            ops.append(("upsert", k, f"v{i}"))
        elif kind == "delete":
            state[k] = None
            ops.append(("delete", k, None))
        else:
            ops.append(("get", k, state.get(k)))
    return ops


def build(ops):
    h = H()
    for i, (f, k, v) in enumerate(ops):
        t = 2 * i
        if f == "upsert":
            up(h, i % 3, k, v, t, t + 1)
        elif f == "delete":
            h.op(i % 3, "delete", {"key": k}, "ok", {"key": k, "value": None}, t, t + 1)
        else:
            get(h, i % 3, k, v, t, t + 1)
    return h


@settings(max_examples=60, deadline=None)
@given(sequential(), st.data())
def test_sequential_histories_are_valid_and_one_wrong_read_is_not(ops, data):
    assert UpsertLinear().check(build(ops).build()).valid is True
    reads = [i for i, (f, _, _) in enumerate(ops) if f == "get"]
    if not reads:
        return
    i = data.draw(st.sampled_from(reads))
    f, k, v = ops[i]
    wrong = data.draw(st.sampled_from([x for x in (None, "v-never", *[o[2] for o in ops if o[2]]) if x != v]))
    bad = list(ops)
    bad[i] = (f, k, wrong)
    assert UpsertLinear().check(build(bad).build()).valid is False
