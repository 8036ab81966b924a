"""The multi-writer checker on small hand-written histories (valid and
invalid), and a Hypothesis property: any one-lock execution (sessions one
after another, epochs rising) with a complete final read is valid, and
moving one session's acknowledgement into another's holding makes it invalid."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.multi_writer import MultiWriter
from checker.workloads import check_workload
from tests.workloads.hist import H

LOCKED = "LockedError: the Wal directory /x is in use by pid=1"


def w(h, p, key, holder, epoch, t0, t1, type_="ok", acquired=False, upper=0, error=None):
    res = {"key": key, "ts": upper, "holder": holder, "epoch": epoch, "acquired": acquired, "upper": upper, "pid": 1}
    return h.op(p, "write", {"key": key}, type_, res, t0, t1, error=error)


def final(h, keys, t0, t1, holder="9.1", epoch=99, upper=100):
    rows = [[k, "v", 1] for k in keys]
    return h.op(9, "read", {"final": True}, "ok", {"rows": rows, "as_of": upper - 1, "holder": holder, "epoch": epoch,
                                                   "acquired": True, "upper": upper, "pid": 9}, t0, t1)


def check(h):
    return MultiWriter().check(h.build())


def kinds(r):
    return {a.kind for a in r.anomalies}


def handover():
    """A holds (epoch 1), releases; B is locked out meanwhile, then takes over (epoch 2)."""
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    w(h, 1, "b0", None, None, 1, 2, type_="fail", error=LOCKED)
    w(h, 0, "a2", "100.1", 1, 2, 3)
    h.op(0, "release", {}, "ok", {"released": "100.1", "pid": 100}, 4, 5)
    w(h, 1, "b1", "200.1", 2, 6, 7, acquired=True, upper=1)
    w(h, 1, "b2", "200.1", 2, 8, 9, upper=1)
    return h


def test_a_clean_handover_is_valid():
    h = handover()
    final(h, ["a1", "a2", "b1", "b2"], 20, 21)
    r = check(h)
    assert r.valid is True, r.anomalies
    assert r.stats["sessions"] == 3 and r.stats["locked_out"] == 1 and r.stats["writes_fail"] == 1


def test_two_holders_at_once():
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    w(h, 1, "b1", "200.1", 2, 2, 3, acquired=True)
    w(h, 1, "b2", "200.1", 2, 4, 5)
    w(h, 0, "a2", "100.1", 1, 6, 7)
    final(h, ["a1", "a2", "b1", "b2"], 20, 21)
    r = check(h)
    assert r.valid is False and "overlapping-holders" in kinds(r)
    a = next(a for a in r.anomalies if a.kind == "overlapping-holders")
    assert "100.1" in a.message and "200.1" in a.message and set(a.ops) <= {0, 2, 4, 6}
    assert "epoch-regressed" not in kinds(r)


def test_overlap_is_only_flagged_when_certain():
    """A's two ops span [1, 2]; B's single op could have held at any point
    of [0, 10]: nothing certain overlaps."""
    h = H()
    w(h, 1, "b1", "200.1", 2, 0, 10, acquired=True)
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    w(h, 0, "a2", "100.1", 1, 2, 3)
    final(h, ["a1", "a2", "b1"], 20, 21)
    assert check(h).valid is True


def test_a_later_epoch_acknowledged_inside_an_earlier_holding_overlaps():
    """B has one ``ok`` op, so no certain holding of its own; but its epoch
    is higher, so it opened after A did, and by its op's return (3) — while A
    still held (A acted after 4). The planted no-flock bug shows exactly this
    when the first holder is fenced early (CI, seed 5 of the mutant)."""
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    w(h, 1, "b1", "200.1", 2, 2, 3, acquired=True)
    w(h, 0, "a2", "100.1", 1, 4, 5)
    final(h, ["a1", "a2", "b1"], 20, 21)
    r = check(h)
    assert r.valid is False and kinds(r) == {"overlapping-holders"}, [a.message for a in r.anomalies]
    a = r.anomalies[0]
    assert "200.1" in a.message and "100.1" in a.message and set(a.ops) == {2, 4}

    h = H()  # B's op returns after A's last op was invoked: B may have opened after A let go
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    w(h, 1, "b1", "200.1", 2, 2, 6, acquired=True)
    w(h, 0, "a2", "100.1", 1, 4, 5)
    final(h, ["a1", "a2", "b1"], 20, 21)
    assert check(h).valid is True


def test_epochs_shared_or_going_back():
    h = H()
    w(h, 0, "a1", "100.1", 3, 0, 1, acquired=True)
    w(h, 1, "b1", "200.1", 2, 5, 6, acquired=True)
    final(h, ["a1", "b1"], 20, 21)
    r = check(h)
    assert r.valid is False and kinds(r) == {"epoch-regressed"}

    h = H()
    w(h, 0, "a1", "100.1", 2, 0, 1, acquired=True)
    w(h, 1, "b1", "200.1", 2, 5, 6, acquired=True)
    final(h, ["a1", "b1"], 20, 21)
    assert "shared-epoch" in kinds(check(h))


def test_frontier_going_back():
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True, upper=5)
    w(h, 1, "b1", "200.1", 2, 5, 6, acquired=True, upper=3)
    final(h, ["a1", "b1"], 20, 21)
    r = check(h)
    assert kinds(r) == {"frontier-regressed"} and r.anomalies[0].ops == [2, 0]


def test_lost_acknowledged_write_and_a_refused_write_that_appeared():
    h = handover()
    final(h, ["a1", "b0", "b1", "b2"], 20, 21)  # a2 lost; b0 was refused by the lock
    r = check(h)
    assert kinds(r) == {"lost-write", "failed-write-visible"}
    lost = next(a for a in r.anomalies if a.kind == "lost-write")
    assert "a2" in lost.message and "100.1" in lost.message
    vis = next(a for a in r.anomalies if a.kind == "failed-write-visible")
    assert "LockedError" in vis.message


def test_indeterminate_writes_may_or_may_not_appear():
    for keys in (["a1"], ["a1", "x"]):
        h = H()
        w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
        w(h, 0, "x", None, None, 2, 3, type_="info")
        final(h, keys, 20, 21)
        assert check(h).valid is True


def test_phantom_and_duplicate_keys():
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    h.op(9, "read", {"final": True}, "ok", {"rows": [["a1", "v", 2], ["zz", "v", 1]], "as_of": 0, "holder": "9.1",
                                            "epoch": 5, "acquired": True, "upper": 1, "pid": 9}, 20, 21)
    assert kinds(check(h)) == {"duplicate-write", "phantom-write"}


def test_without_a_final_read_it_is_unknown_via_the_registry():
    h = handover()
    (r,) = check_workload("multi-writer", h.build())
    assert r.valid == "unknown" and "final read" in r.reason


@st.composite
def executions(draw):
    """Sessions one after another (each 1-4 acknowledged writes, epochs
    rising, uppers rising), locked-out failures in between, some info writes."""
    n = draw(st.integers(1, 6))
    t, epoch, upper = 0, 0, 0
    sessions = []
    for s in range(n):
        epoch += draw(st.integers(1, 3))
        ops = []
        for i in range(draw(st.integers(1, 4))):
            upper += draw(st.integers(0, 2))
            ops.append((f"s{s}.{i}", t, t + 1, upper))
            t += 2
        sessions.append((f"{1000 + s}.1", epoch, ops, draw(st.booleans())))
        t += draw(st.integers(0, 3))
    return sessions


def build(sessions, shift=None):
    h = H()
    keys = []
    for j, (holder, epoch, ops, info_after) in enumerate(sessions):
        for i, (key, t0, t1, upper) in enumerate(ops):
            if shift is not None and (j, i) == shift[0]:
                t0, t1 = shift[1]
            w(h, j % 3, key, holder, epoch, t0, t1, acquired=(i == 0), upper=upper)
            keys.append(key)
        if info_after:
            w(h, 3 + j, f"{holder}.info", None, None, ops[-1][2] + 1, ops[-1][2] + 2, type_="info")
        w(h, 50 + j, f"{holder}.refused", None, None, ops[0][1], ops[0][1] + 1, type_="fail", error=LOCKED)
    final(h, keys, 10_000, 10_001, epoch=10_000, upper=10_000)
    return h


@settings(max_examples=60, deadline=None)
@given(executions())
def test_one_lock_executions_are_valid(sessions):
    r = check(build(sessions))
    assert r.valid is True, [a.message for a in r.anomalies]


@settings(max_examples=40, deadline=None)
@given(executions().filter(lambda ss: len(ss) >= 2 and len(ss[0][2]) >= 2))
def test_an_acknowledgement_inside_a_later_holding_is_caught(sessions):
    """Give session 1 a certain holding [ret of its first op, call of a later
    ack] and move session 0's last write strictly inside it."""
    _, _, ops1, _ = sessions[1]
    mid = ops1[0][2]  # session 1 certainly holds from its first op's return on ...
    last = len(sessions[0][2]) - 1
    h = build(sessions, shift=((0, last), (mid + 1, mid + 2)))
    w(h, 77, "late", sessions[1][0], sessions[1][1], mid + 3, mid + 4, upper=ops1[0][3])  # ... to here
    r = check(h)
    assert "overlapping-holders" in kinds(r), [a.message for a in r.anomalies]


# --- takeover by the standby (another Wal) ------------------------------------


def wo(h, p, key, holder, epoch, t0, t1, type_="ok", acquired=False, upper=0, wal="own"):
    res = {"key": key, "ts": upper, "holder": holder, "epoch": epoch, "acquired": acquired, "wal": wal,
           "upper": upper, "pid": 3}
    return h.op(p, "write", {"key": key}, type_, res, t0, t1)


def takeover(h, p, holder, epoch, t0, t1, upper=0, type_="ok"):
    res = {"acquired": True, "holder": holder, "epoch": epoch, "wal": "own", "upper": upper, "pid": 3}
    return h.op(p, "takeover", {}, type_, res, t0, t1)


def seal(h, p, holder, epoch, t0, t1, upper, wal="shared", type_="ok", error=None):
    res = {"holder": holder, "epoch": epoch, "acquired": False, "wal": wal, "upper": upper, "pid": 1}
    return h.op(p, "seal", {}, type_, res, t0, t1, error=error)


FENCED = "FencedError: this writer of file:///x (epoch 1) was fenced"


def stalled_holder():
    """A (shared, epoch 1) writes, stalls; the standby S takes over (epoch 2)
    and writes; A wakes, acknowledges one more write to its Wal, then its
    seal is fenced."""
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    w(h, 0, "a2", "100.1", 1, 2, 3)
    takeover(h, 2, "300.1", 2, 10, 11)
    wo(h, 2, "s1", "300.1", 2, 12, 13)
    seal(h, 2, "300.1", 2, 14, 15, upper=1, wal="own")
    w(h, 0, "a3", "100.1", 1, 16, 17)  # A does not know yet: acknowledged to its own Wal
    seal(h, 0, None, None, 18, 19, 1, type_="fail", error=FENCED)
    return h


def test_a_takeover_of_a_stalled_holder_is_valid_and_its_late_write_must_vanish():
    h = stalled_holder()
    final(h, ["s1"], 30, 31)  # a1, a2 were never drained: the takeover abandoned them (allowed)
    r = check(h)
    assert r.valid is True, [a.message for a in r.anomalies]
    assert r.stats["takeovers"] == 1 and r.stats["acks_after_fence"] == 1

    h = stalled_holder()
    final(h, ["a1", "a2", "s1", "a3"], 30, 31)
    r = check(h)
    assert kinds(r) == {"fenced-write-visible"}
    assert "a3" in r.anomalies[0].message and "300.1" in r.anomalies[0].message


def test_a_fenced_holder_whose_seal_succeeds():
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    takeover(h, 2, "300.1", 2, 10, 11, upper=0)
    seal(h, 0, "100.1", 1, 12, 13, upper=1)
    final(h, ["a1"], 30, 31)
    r = check(h)
    assert "fenced-writer-acted" in kinds(r)


def test_takeover_allowance_ends_at_a_covering_seal_and_needs_a_takeover_after_the_write():
    h = H()  # a1 sealed by its own session before the takeover: it must survive
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    seal(h, 0, "100.1", 1, 2, 3, upper=1)
    takeover(h, 2, "300.1", 2, 10, 11, upper=1)
    final(h, [], 30, 31)
    r = check(h)
    assert kinds(r) == {"lost-write"} and "a1" in r.anomalies[0].message

    h = H()  # the only takeover returned before a2 began: a2 is fenced, a1 allowed to vanish
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    takeover(h, 2, "300.1", 2, 2, 3)
    w(h, 1, "b1", "200.1", 3, 5, 6, acquired=True)  # a shared contender fences the standby in turn
    w(h, 1, "b2", "200.1", 3, 7, 8)
    final(h, ["b1"], 30, 31)
    r = check(h)
    assert kinds(r) == {"lost-write"} and "b2" in r.anomalies[0].message


def test_sessions_on_different_wals_may_overlap_but_not_on_the_same():
    h = stalled_holder()
    w(h, 1, "b1", "200.1", 3, 20, 21, acquired=True, upper=1)
    w(h, 1, "b2", "200.1", 3, 22, 23, upper=1)
    final(h, ["s1", "b1", "b2"], 30, 31)
    r = check(h)
    assert r.valid is True, [a.message for a in r.anomalies]

    h = stalled_holder()
    w(h, 1, "b1", "200.1", 3, 14, 15, acquired=True, upper=1)  # on A's Wal while A still acknowledges on it
    w(h, 1, "b2", "200.1", 3, 18, 19, upper=1)
    final(h, ["s1", "b1", "b2"], 30, 31)
    assert "overlapping-holders" in kinds(check(h))


def test_the_standbys_unsealed_writes_may_vanish_once_the_shared_wal_is_reopened():
    h = H()
    takeover(h, 2, "300.1", 1, 0, 1)
    wo(h, 2, "s1", "300.1", 1, 2, 3)
    final(h, [], 30, 31)  # the final read opens the shared Wal: the standby's Wal is abandoned
    assert check(h).valid is True
    h = H()
    takeover(h, 2, "300.1", 1, 0, 1)
    wo(h, 2, "s1", "300.1", 1, 2, 3)
    seal(h, 2, "300.1", 1, 4, 5, upper=1, wal="own")
    final(h, [], 30, 31)
    assert kinds(check(h)) == {"lost-write"}


@st.composite
def takeover_runs(draw):
    """Shared sessions one after another; after some, the standby takes over
    while the old holder still acknowledges writes to its own Wal (fenced),
    then the next shared session fences the standby. Returns the writes as
    (key, holder, epoch, wal, t0, t1, acquired, kind) with kind "must" (must
    appear), "may" (a later opening on another Wal may have abandoned it) or
    "never" (fenced)."""
    t, epoch = 0, 0
    writes = []
    for s in range(draw(st.integers(1, 4))):
        epoch += 1
        holder = f"{1000 + s}.1"
        for i in range(draw(st.integers(1, 3))):
            writes.append([f"s{s}.{i}", holder, epoch, "shared", t, t + 1, i == 0, "must"])
            t += 2
        if draw(st.booleans()):  # the standby takes over; the old holder keeps acknowledging for a while
            for w in writes:
                if w[7] == "must":
                    w[7] = "may"
            epoch += 1
            sb = f"{3000 + s}.1"
            writes.append([f"t{s}.0", sb, epoch, "own", t, t + 1, True, "may"])
            t += 2
            for i in range(draw(st.integers(0, 2))):
                writes.append([f"s{s}.late{i}", holder, epoch - 1, "shared", t, t + 1, False, "never"])
                t += 2
            writes.append([f"t{s}.1", sb, epoch, "own", t, t + 1, False, "may"])
            t += 2
        t += 1
    return writes, t


def build_takeovers(writes, t, present):
    h = H()
    for j, (key, holder, epoch, wal, t0, t1, acquired, _) in enumerate(writes):
        if key.startswith("t") and acquired:
            takeover(h, 7, holder, epoch, t0, t1)  # the standby's opening
            continue
        wo(h, j % 3 if wal == "shared" else 7, key, holder, epoch, t0, t1, acquired=acquired, wal=wal)
    final(h, present, t + 10, t + 11, epoch=10_000)
    return h


@settings(max_examples=60, deadline=None)
@given(takeover_runs(), st.data())
def test_takeover_runs_are_valid_and_a_fenced_or_lost_write_is_caught(run, data):
    writes, t = run
    keys = [w[0] for w in writes if not (w[0].startswith("t") and w[6])]
    kind = {w[0]: w[7] for w in writes}
    present = [k for k in keys if kind[k] == "must" or (kind[k] == "may" and data.draw(st.booleans()))]
    r = check(build_takeovers(writes, t, present))
    assert r.valid is True, [a.message for a in r.anomalies]
    never = [k for k in keys if kind[k] == "never"]
    if never:
        r = check(build_takeovers(writes, t, present + [data.draw(st.sampled_from(never))]))
        assert "fenced-write-visible" in kinds(r)
    must = [k for k in present if kind[k] == "must"]
    if must:
        gone = data.draw(st.sampled_from(must))
        r = check(build_takeovers(writes, t, [k for k in present if k != gone]))
        assert kinds(r) == {"lost-write"} and gone in r.anomalies[0].message


def test_a_session_opened_by_a_later_invoked_op_still_fences_the_one_it_took_over():
    """The shared Wal is taken back from the standby S (epoch 2) by session
    100.2 (epoch 3). The contender's seal invoked first waited on the open
    and returned ``ok`` without ``acquired``; the op that opened it was
    invoked later. S, not yet aware, acknowledges a write to its own Wal
    and reports its stale upper 0: that is not a frontier regression, and
    the write must not be in the stream (a campaign on the correct engine,
    multi-writer/pause seed 2, tripped on the first point)."""
    h = H()
    w(h, 0, "a1", "100.1", 1, 0, 1, acquired=True)
    takeover(h, 2, "300.1", 2, 2, 3)
    wo(h, 2, "s1", "300.1", 2, 4, 5)
    seal(h, 1, "100.2", 3, 4, 8, upper=1)  # waited on the open below
    w(h, 0, "a2", "100.2", 3, 6, 7, acquired=True, upper=1)
    wo(h, 2, "s2", "300.1", 2, 8, 9)  # stale: 100.2 had opened by 7
    final(h, ["s1", "a2"], 20, 21)
    r = check(h)
    assert r.valid is True, [a.message for a in r.anomalies]

    h2 = H()
    for e in h.events[:-2]:
        h2.events.append(e)
    final(h2, ["s1", "a2", "s2"], 20, 21)
    assert "fenced-write-visible" in kinds(check(h2))


def test_a_lower_epoch_acting_after_a_higher_one_is_flagged_even_without_its_opening():
    """A (epoch 1) has no ``acquired`` op in the history, so epoch-regressed
    cannot name it; but B (epoch 2) opened after A did and finished before A
    acted again: both held during B."""
    h = H()
    w(h, 1, "b1", "200.1", 2, 0, 1, acquired=True)
    w(h, 1, "b2", "200.1", 2, 2, 3)
    w(h, 0, "a1", "100.1", 1, 10, 11)
    w(h, 0, "a2", "100.1", 1, 12, 13)
    final(h, ["a1", "a2", "b1", "b2"], 20, 21)
    assert "overlapping-holders" in kinds(check(h))
