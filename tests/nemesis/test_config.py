"""RunConfig: which nemeses a replayed (shrunk) schedule still needs, and the
operation clock it must keep."""

from __future__ import annotations

from nemesis.config import RunConfig
from nemesis.faults.base import Fault


def cfg(nemeses, faults, concurrency=4):
    return RunConfig("append", list(nemeses), 1, 5.0, concurrency=concurrency, faults=faults)


def fault(nemesis, at=1.0):
    return Fault(at, nemesis, 0, 0.5, 7)


def test_a_shrunk_schedule_keeps_only_the_nemeses_it_uses():
    assert cfg(["kill", "lose-unsynced"], [fault("kill"), fault("kill", 2.0)]).only_nemeses_used() == ["kill"]
    assert cfg(["kill", "lose-unsynced", "pause"], [fault("pause"), fault("kill")]).only_nemeses_used() == [
        "kill", "pause"]
    assert cfg(["kill", "lose-unsynced"], []).only_nemeses_used() == ["none"]
    assert cfg(["kill"], None).only_nemeses_used() == ["kill"]  # the seeded schedule: nothing dropped


def test_dropping_nemeses_never_changes_the_run_s_clock():
    c = cfg(["failpoint", "kill"], [fault("failpoint")], concurrency=1)
    assert not c.op_clock
    assert c.only_nemeses_used() == ["failpoint", "kill"]  # failpoint alone would run on the operation clock
    c = cfg(["failpoint"], [], concurrency=1)
    assert c.op_clock and c.only_nemeses_used() == ["none"]
