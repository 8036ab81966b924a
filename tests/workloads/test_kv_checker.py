"""The kv checkers (``checker/kv.py``) on small hand-written histories, the
kv-cas model's cas, and the kv workload's generator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.kv import KVDomain, KVLinear
from checker.result import combine
from checker.workloads import check_workload
from tests.workloads.hist import H
from workloads.base import load, take


def put(h, p, k, v, t0, t1, type_="ok"):
    return h.op(p, "put", {"key": k, "value": v}, type_, {"key": k, "value": v}, t0, t1)


def cas(h, p, k, a, b, t0, t1, type_="ok"):
    return h.op(p, "cas", {"key": k, "expect": a, "value": b}, type_, {"key": k, "expect": a, "value": b}, t0, t1,
                error="CasMismatch: no" if type_ == "fail" else None)


def get(h, p, k, v, t0, t1, final=False):
    return h.op(p, "get", {"key": k, **({"final": True} if final else {})}, "ok", {"key": k, "value": v}, t0, t1)


def verdicts(h):
    hist = h.build()
    return KVLinear().check(hist), KVDomain().check(hist)


def test_sequential_puts_cas_and_reads_are_valid():
    h = H()
    get(h, 0, "k0", None, 0, 1)
    put(h, 0, "k0", "0.1", 2, 3)
    cas(h, 1, "k0", "0.1", "1.1", 4, 5)
    cas(h, 1, "k0", "0.1", "1.2", 6, 7, type_="fail")  # a mismatch did not happen
    get(h, 2, "k0", "1.1", 8, 9)
    get(h, 9, "k0", "1.1", 10, 11, final=True)
    lin, dom = verdicts(h)
    assert lin.valid is True, lin
    assert dom.valid is True, dom


def test_ok_cas_that_could_not_match_is_not_linearizable():
    h = H()
    put(h, 0, "k0", "0.1", 0, 1)
    cas(h, 1, "k0", "zz", "1.1", 2, 3)  # the value was 0.1: an ok cas expecting zz is impossible
    get(h, 9, "k0", "1.1", 4, 5, final=True)
    lin, _ = verdicts(h)
    assert lin.valid is False


def test_final_read_of_an_older_value_is_a_lost_write_named_in_words():
    h = H()
    put(h, 0, "k1", "0.1", 0, 1)
    put(h, 0, "k1", "0.2", 2, 3)
    h.nemesis("lose-unsynced", {}, 4)
    get(h, 9, "k1", "0.1", 5, 6, final=True)
    lin, dom = verdicts(h)
    assert lin.valid is False
    assert dom.valid is False
    (a,) = dom.anomalies
    assert a.kind == "lost-write"
    assert "acknowledged put '0.2'" in a.message and "final op" in a.message


def test_a_read_before_the_end_of_an_older_value_is_a_lost_write():
    h = H()
    put(h, 0, "k1", "0.1", 0, 1)
    put(h, 0, "k1", "0.2", 2, 3)
    get(h, 1, "k1", "0.1", 4, 5)
    put(h, 0, "k1", "0.3", 6, 7)
    get(h, 9, "k1", "0.3", 8, 9, final=True)
    _, dom = verdicts(h)
    assert [a.kind for a in dom.anomalies] == ["lost-write"]


def test_everything_lost_reads_nil():
    h = H()
    put(h, 0, "k1", "0.1", 0, 1)
    get(h, 9, "k1", None, 2, 3, final=True)
    _, dom = verdicts(h)
    assert dom.valid is False


def test_concurrent_and_indeterminate_writes_may_be_seen():
    h = H()
    put(h, 0, "k2", "0.1", 0, 1)
    put(h, 1, "k2", "1.1", 2, 10)  # concurrent with the read
    put(h, 2, "k2", "2.1", 3, 4, type_="info")  # may take effect any time
    get(h, 3, "k2", "0.1", 5, 6)
    get(h, 9, "k2", "2.1", 11, 12, final=True)
    lin, dom = verdicts(h)
    assert dom.valid is True, dom
    assert lin.valid is True, lin


def test_check_workload_knows_kv():
    h = H()
    put(h, 0, "k0", "0.1", 0, 1)
    get(h, 9, "k0", "0.1", 2, 3, final=True)
    assert combine(check_workload("kv", h.build())) is True


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "cas", "get"]), st.sampled_from(["k0", "k1"])), min_size=1, max_size=25),
       st.data())
def test_sequential_history_is_valid_and_one_changed_read_is_not(steps, data):
    """Sequential ops against a dict are valid; a read changed to an
    older value of its key (when there is one) is invalid."""
    state: dict[str, str | None] = {}
    older: dict[str, list] = {"k0": [None], "k1": [None]}
    h, t, reads = H(), 0, []
    for i, (f, k) in enumerate(steps):
        v = f"0.{i}"
        if f == "put":
            put(h, 0, k, v, t, t + 1)
            older[k].append(v)
            state[k] = v
        elif f == "cas":
            if state.get(k) == older[k][-1]:
                cas(h, 0, k, state.get(k), v, t, t + 1)
                older[k].append(v)
                state[k] = v
        else:
            reads.append((k, state.get(k), len(h.events), t))
            get(h, 0, k, state.get(k), t, t + 1)
        t += 2
    lin, dom = verdicts(h)
    assert lin.valid is True and dom.valid is not False
    stale = [(k, v, i, t0) for k, v, i, t0 in reads if len(older[k]) > 1 and older[k].index(v) > 0]
    if not stale:
        return
    k, v, i, t0 = data.draw(st.sampled_from(stale))
    old = older[k][older[k].index(v) - 1]
    h.events[i + 1][2]["value"] = {"key": k, "value": old}
    assert KVLinear().check(h.build()).valid is False
    assert KVDomain().check(h.build()).valid is False


def test_generator_is_seeded_and_values_unique():
    wl = load("kv").WORKLOAD
    w = wl.workers(4)[0]
    a = list(take(wl.generator(1, w, 7), 50))
    assert a == list(take(wl.generator(1, w, 7), 50))
    vals = [op["value"]["value"] for op in a if op["f"] in ("put", "cas")]
    assert len(vals) == len(set(vals)) and {op["f"] for op in a} == {"put", "cas", "get"}
    assert [op["value"]["key"] for _, op in wl.final_ops([])] == ["k0", "k1", "k2", "k3", "k4"]
