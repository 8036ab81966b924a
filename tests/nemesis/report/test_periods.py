"""Fault periods from nemesis events, in the shapes nemesis/controller.py
records them."""

from __future__ import annotations

from typing import Any

from nemesis.report.periods import periods_of, workers_of

MS = 1_000_000


def ev(t_ms: float, type_: str, f: str, value: Any = None) -> dict[str, Any]:
    ev.i += 1  # type: ignore[attr-defined]
    return {"index": ev.i, "time": int(t_ms * MS), "process": "nemesis", "type": type_, "f": f, "value": value}  # type: ignore[attr-defined]


ev.i = 0  # type: ignore[attr-defined]


def fault(f: str, target: int) -> dict[str, Any]:
    return {"at": 1.0, "nemesis": f, "target": target, "duration": 0.3, "seed": 7}


def test_kill_lasts_until_the_worker_is_running_again() -> None:
    events = [
        ev(0, "invoke", "start", {"worker": 0}),
        ev(1, "info", "start", {"worker": 0, "pid": 10}),
        ev(100, "invoke", "kill", fault("kill", 0)),
        ev(101, "info", "kill", {"worker": 0, "pid": 10}),
        ev(400, "invoke", "restart", {"worker": 0}),
        ev(650, "info", "restart", {"worker": 0, "pid": 11, "seconds": 0.25}),
    ]
    (p,) = periods_of(events, 1000 * MS)  # the first start is no fault
    assert (p.f, p.start, p.end, p.closed_by) == ("kill", 100 * MS, 650 * MS, "restart")
    assert p.label == "kill worker 0"
    assert p.actions == [events[2]["index"], events[4]["index"]]


def test_restart_closes_only_its_own_workers_kill() -> None:
    events = [
        ev(100, "invoke", "kill", fault("kill", 0)),
        ev(101, "info", "kill", {"worker": 0, "pid": 10}),
        ev(150, "invoke", "kill", fault("kill", 1)),
        ev(151, "info", "kill", {"worker": 1, "pid": 20}),
        ev(300, "invoke", "restart", {"worker": 1}),
        ev(310, "invoke", "restart", {"worker": 0}),
        ev(500, "info", "restart", {"worker": 0, "pid": 12}),  # completions out of order
        ev(600, "info", "restart", {"worker": 1, "pid": 21}),
    ]
    k0, k1 = periods_of(events)
    assert (k0.label, k0.end) == ("kill worker 0", 500 * MS)
    assert (k1.label, k1.end) == ("kill worker 1", 600 * MS)


def test_pause_until_resume_and_unclosed_faults_last_to_the_end() -> None:
    events = [
        ev(100, "invoke", "pause", fault("pause", 2)),
        ev(100.1, "info", "pause", {"worker": 2, "pid": 30}),
        ev(300, "info", "resume", {"worker": 2, "pid": 30}),
        ev(400, "invoke", "pause", fault("pause", 1)),
        ev(400.1, "info", "pause", {"worker": 1, "pid": 31}),
    ]
    a, b = periods_of(events, 900 * MS)
    assert (a.f, a.start, a.end) == ("pause", 100 * MS, 300 * MS)
    assert (b.f, b.start, b.end) == ("pause", 400 * MS, None)  # never resumed: to the end


def test_lose_unsynced_ends_when_every_killed_worker_is_back() -> None:
    events = [
        ev(100, "invoke", "lose-unsynced", fault("lose-unsynced", -1)),
        ev(105, "info", "lose-unsynced", {"killed": [{"worker": 0, "pid": 1}, {"worker": 1, "pid": 2}], "cut": [], "bytes_lost": 0}),
        ev(300, "invoke", "restart", {"worker": 0}),
        ev(310, "invoke", "restart", {"worker": 1}),
        ev(500, "info", "restart", {"worker": 0, "pid": 3}),
        ev(700, "info", "restart", {"worker": 1, "pid": 4}),
    ]
    (p,) = periods_of(events)
    assert p.label == "lose-unsynced workers 0,1"
    assert p.end == 700 * MS


def test_corrupt_that_kills_is_a_period_one_that_does_not_is_a_mark() -> None:
    events = [
        ev(100, "invoke", "corrupt", fault("corrupt", 0)),
        ev(101, "info", "corrupt", {"killed": {"worker": 0, "pid": 5}, "file": "wal/1.log", "kind": "flip", "bits": [[3, 1]]}),
        ev(200, "invoke", "restart", {"worker": 0}),
        ev(250, "info", "restart", {"worker": 0, "pid": 6}),
        ev(300, "info", "corrupt", {"file": "blob/b1", "kind": "cut"}),
    ]
    a, b = periods_of(events)
    assert (a.start, a.end) == (100 * MS, 250 * MS)
    assert b.instant and b.start == 300 * MS


def test_a_skipped_pause_is_a_mark_not_a_period_to_the_end() -> None:
    events = [
        ev(100, "invoke", "pause", fault("pause", 3)),
        ev(101, "info", "pause", {"worker": 3, "skipped": "not running"}),
    ]
    (p,) = periods_of(events, 500 * MS)
    assert p.end == 101 * MS and p.label == "pause (skipped)"


def test_rule_sets_and_phases_and_heal() -> None:
    events = [
        ev(100, "info", "s3", {"rules": [{"mode": "error-after", "method": "PUT"}]}),
        ev(200, "info", "s3", {"rules": [{"mode": "latency"}]}),  # replaces the first
        ev(300, "info", "s3", {"rules": []}),
        ev(400, "info", "failpoint", {"name": "drain.before-meta", "action": "arm"}),
        ev(500, "info", "failpoint", {"name": "drain.before-meta", "action": "disarm"}),
        ev(600, "info", "partition", {"phase": "start"}),
        ev(700, "info", "heal", {}),
    ]
    s1, s2, fp, part = periods_of(events)
    assert (s1.start, s1.end) == (100 * MS, 200 * MS)
    assert (s2.start, s2.end) == (200 * MS, 300 * MS)
    assert (fp.label, fp.start, fp.end) == ("failpoint drain.before-meta", 400 * MS, 500 * MS)
    assert (part.start, part.end, part.closed_by) == (600 * MS, 700 * MS, "heal")


def test_workers_of_reads_every_spelling() -> None:
    assert workers_of({"worker": 2}) == {2}
    assert workers_of({"killed": [{"worker": 0}, {"worker": 1}]}) == {0, 1}
    assert workers_of({"killed": {"worker": 3}}) == {3}
    assert workers_of({"target": 1}) == {1}
    assert workers_of({"target": -1}) == {"*"}
    assert workers_of(None) == set()


def test_faults_without_a_recorded_end_last_their_scheduled_duration() -> None:
    events = [
        ev(100, "invoke", "s3", fault("s3", -1)),  # duration 0.3 s
        ev(101, "info", "s3", {"added": [{"mode": "error-after", "method": "PUT", "id": 1}]}),
        ev(500, "invoke", "s3", fault("s3", -1)),
        ev(501, "info", "s3", {"added": [{"mode": "latency", "id": 2}]}),
        ev(600, "info", "s3", {"cleared": [{"id": 2}]}),
        ev(900, "invoke", "failpoint", fault("failpoint", 0)),
        ev(901, "info", "failpoint", {"name": "wal.append", "hit": 3}),
        ev(1000, "invoke", "corrupt", fault("corrupt", 0)),
        ev(1001, "info", "corrupt", {"file": "wal/1.log", "kind": "flip"}),
    ]
    a, b, fp, c = periods_of(events, 5000 * MS)
    assert (a.start, a.end, a.closed_by) == (100 * MS, 400 * MS, "schedule")  # never cleared
    assert (b.start, b.end, b.closed_by) == (500 * MS, 600 * MS, "s3")  # cleared
    assert (fp.label, fp.end) == ("failpoint wal.append worker 0", 1200 * MS)
    assert c.end == 1001 * MS  # corrupt: its own action only, not the schedule (the damage stays)
