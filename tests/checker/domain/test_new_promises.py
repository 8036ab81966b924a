"""The checkers of issue 14's promises, each on a hand-built history with the
bug and on its fixed twin: time-travel snapshots against the model, listens
(exactly once, in order per progress, no early progress, the model),
determinate failures without effect, and no FencedError with one writer."""

from __future__ import annotations

from checker.workloads import check_workload
from tests.workloads.hist import H

S = "s0"


def verdicts(h: H, workload: str = "append") -> dict[str, object]:
    return {r.checker: r for r in check_workload(workload, h.build())}


def invalid(h: H, workload: str = "append") -> dict[str, set[str]]:
    return {name: {a.kind for a in r.anomalies} for name, r in verdicts(h, workload).items() if r.valid is False}


def write(h: H, p: int, key: str, ts: int, t0: int, type_: str = "ok") -> None:
    v = {"writes": {S: [[key, "v", ts, 1]]}}
    h.op(p, "write", v, type_, v, t0, t0 + 1)


def seal(h: H, p: int, ts: int, t0: int, type_: str = "ok") -> None:
    h.op(p, "seal", {"stream": S, "ts": ts}, type_, {"stream": S, "ts": ts, "upper": ts, "since": 0}, t0, t0 + 1,
         error="SealBackwardsError: no" if type_ == "fail" else None)


def base() -> H:
    """a@1, b@3, c@5 acknowledged, sealed to 6."""
    h = H()
    write(h, 0, "a", 1, 0)
    write(h, 0, "b", 3, 2)
    write(h, 0, "c", 5, 4)
    seal(h, 0, 6, 6)
    return h


# --- time travel ---------------------------------------------------------------

def snap(h: H, as_of: int, rows: list, t0: int) -> None:
    h.op(1, "snapshot", {"stream": S, "as_of": None, "at": 0.5}, "ok",
         {"stream": S, "as_of": as_of, "upper": 6, "since": 0, "rows": rows}, t0, t0 + 1)


def test_a_time_travel_snapshot_is_judged_at_its_own_as_of():
    good = base()
    snap(good, 3, [["a", "v", 1], ["b", "v", 1]], 10)
    assert invalid(good) == {}
    bad = base()
    snap(bad, 3, [["a", "v", 1]], 10)  # b@3 is at or below as_of 3: missing
    assert "snapshot-model" in invalid(bad)
    ahead = base()
    snap(ahead, 3, [["a", "v", 1], ["b", "v", 1], ["c", "v", 1]], 10)  # c@5 is after as_of 3
    assert "snapshot-model" in invalid(ahead)


# --- listen -------------------------------------------------------------------------

def listen(h: H, as_of: int, events: list, t0: int = 10, t1: int = 30) -> None:
    h.op(1, "listen", {"stream": S, "as_of": None, "at": 0.1, "for": 0.2}, "ok",
         {"stream": S, "as_of": as_of, "upper": 6, "since": 0, "events": events}, t0, t1)


def test_a_correct_listen_is_valid():
    h = base()
    listen(h, 2, [{"data": [["b", "v", 3, 1], ["c", "v", 5, 1]]}, {"progress": 6}])
    r = verdicts(h)
    assert invalid(h) == {} and r["listen"].valid is True  # (the snapshot checkers: unknown, no snapshot)
    assert r["listen"].stats["delivered"] == 2


def test_a_listen_that_follows_seals_one_by_one_is_valid():
    h = H()
    write(h, 0, "a", 1, 0)
    write(h, 0, "b", 3, 2)
    seal(h, 0, 2, 4)
    seal(h, 0, 4, 20)
    listen(h, 0, [{"data": [["a", "v", 1, 1]]}, {"progress": 2}, {"data": [["b", "v", 3, 1]]}, {"progress": 4}],
           t0=5, t1=30)
    assert invalid(h) == {}


def test_a_listen_that_drops_an_update_is_caught():
    h = base()
    listen(h, 2, [{"data": [["c", "v", 5, 1]]}, {"progress": 6}])  # b@3 acknowledged, never delivered
    assert invalid(h) == {"listen": {"listen-mismatch"}}


def test_a_listen_that_delivers_twice_is_caught():
    h = base()
    listen(h, 2, [{"data": [["b", "v", 3, 1]]}, {"progress": 4}, {"data": [["b", "v", 3, 1], ["c", "v", 5, 1]]},
                  {"progress": 6}])
    assert invalid(h)["listen"] >= {"listen-duplicate", "listen-early-progress", "listen-mismatch"}


def test_progress_announced_before_the_data_below_it_is_caught():
    h = base()
    listen(h, 0, [{"data": [["a", "v", 1, 1]]}, {"progress": 4}, {"data": [["b", "v", 3, 1], ["c", "v", 5, 1]]},
                  {"progress": 6}])
    assert invalid(h) == {"listen": {"listen-early-progress"}}


def test_data_delivered_before_its_seal_and_progress_going_back_are_caught():
    h = base()
    listen(h, 0, [{"data": [["a", "v", 1, 1], ["b", "v", 3, 1], ["c", "v", 5, 1]]}, {"progress": 4}, {"progress": 3},
                  {"progress": 6}])
    assert invalid(h)["listen"] == {"listen-ahead", "listen-progress-back"}


def test_a_listen_delivering_from_before_its_as_of_or_a_phantom_is_caught():
    h = base()
    listen(h, 2, [{"data": [["a", "v", 1, 1], ["b", "v", 3, 1], ["c", "v", 5, 1]]}, {"progress": 6}])
    assert invalid(h)["listen"] >= {"listen-before-start"}
    h = base()
    listen(h, 2, [{"data": [["b", "v", 3, 1], ["c", "v", 5, 1], ["z", "v", 4, 1]]}, {"progress": 6}])
    assert invalid(h) == {"listen": {"listen-mismatch"}}


def test_compaction_may_advance_times_but_not_move_them_back():
    h = base()
    listen(h, 2, [{"data": [["b", "v", 4, 1], ["c", "v", 5, 1]]}, {"progress": 6}])  # b advanced 3 -> 4: allowed
    assert invalid(h) == {}
    h = base()
    listen(h, 2, [{"data": [["b", "v", 3, 1], ["c", "v", 4, 1]]}, {"progress": 6}])
    assert invalid(h) == {"listen": {"listen-time-back"}}


def test_failed_writes_must_not_be_listened_and_indeterminate_ones_may():
    h = base()
    write(h, 2, "d", 4, 7, "fail")
    write(h, 3, "e", 4, 7, "info")
    listen(h, 2, [{"data": [["b", "v", 3, 1], ["c", "v", 5, 1], ["e", "v", 4, 1]]}, {"progress": 6}])
    assert invalid(h) == {}
    h = base()
    write(h, 2, "d", 4, 7, "fail")
    listen(h, 2, [{"data": [["b", "v", 3, 1], ["c", "v", 5, 1], ["d", "v", 4, 1]]}, {"progress": 6}])
    assert "listen-mismatch" in invalid(h)["listen"]


# --- determinate failures ---------------------------------------------------------

def frontiers(h: H, upper: int, since: int, t0: int) -> None:
    h.op(1, "frontiers", {"stream": S}, "ok", {"stream": S, "upper": upper, "since": since}, t0, t0 + 1)


def test_a_failed_seal_whose_upper_is_seen_is_caught_and_a_later_seal_to_it_is_fine():
    h = base()
    seal(h, 0, 9, 10, "fail")
    frontiers(h, 9, 0, 12)
    assert invalid(h) == {"failed-no-effect": {"failed-seal-took-effect"}}
    ok = base()
    seal(ok, 0, 9, 10, "fail")
    seal(ok, 0, 9, 12)  # retried, succeeded: the value is its
    frontiers(ok, 9, 0, 14)
    assert invalid(ok) == {}
    moved_on = base()
    seal(moved_on, 0, 9, 10, "fail")
    seal(moved_on, 0, 11, 12)  # a later seal past the failed one's t
    frontiers(moved_on, 11, 0, 14)
    assert invalid(moved_on) == {}


def test_a_failed_compaction_whose_since_is_seen_is_caught():
    h = base()
    h.op(0, "compact", {"stream": S, "since": 4}, "fail", None, 10, 11, error="SinceError: no")
    frontiers(h, 6, 4, 12)
    assert invalid(h) == {"failed-no-effect": {"failed-compaction-took-effect"}}
    ok = base()
    ok.op(0, "compact", {"stream": S, "since": 4}, "fail", None, 10, 11, error="SinceError: no")
    frontiers(ok, 6, 0, 12)
    assert invalid(ok) == {}


def test_a_failed_write_seen_is_named():
    h = base()
    write(h, 2, "d", 4, 7, "fail")
    snap(h, 5, [["a", "v", 1], ["b", "v", 1], ["c", "v", 1], ["d", "v", 1]], 10)
    assert invalid(h)["failed-no-effect"] == {"failed-write-seen"}


# --- fencing ------------------------------------------------------------------------

def test_a_fenced_operation_in_a_single_writer_workload_is_invalid():
    h = base()
    h.op(0, "write", {"writes": {S: [["d", "v", 7, 1]]}}, "fail", None, 10, 11, error="FencedError: epoch 3 > 2")
    h.op(0, "write", {"writes": {S: [["e", "v", 7, 1]]}}, "fail", None, 12, 13, error="FencedError: epoch 3 > 2")
    r = verdicts(h)["no-fencing"]
    assert r.valid is False and r.stats["fenced_operations"] == 2 and "one writer" in r.anomalies[0].message
    h2 = base()
    h2.op(0, "write", {"writes": {S: [["d", "v", 7, 1]]}}, "fail", None, 10, 11, error="LockedError: held")
    assert verdicts(h2)["no-fencing"].valid is True


def test_no_fencing_judges_upsert_and_rehydrate_too():
    for wl in ("upsert", "rehydrate"):
        h = H()
        h.op(0, "upsert" if wl == "upsert" else "step", {"key": "k0", "value": "1"}, "fail", None, 0, 1,
             error="FencedError: taken over")
        assert verdicts(h, wl)["no-fencing"].valid is False
