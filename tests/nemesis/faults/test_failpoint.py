"""The ``failpoint`` nemesis: the failpoint, mode and hit come from the seed;
it arms the live writer through its pipe and disarms it at the end; a
writer that restarted meanwhile is not touched. End to end: a short run
under it on the correct engine is valid and shows the faults fired."""

from __future__ import annotations

import pytest

from nemesis.faults.base import Fault, RunContext
from nemesis.faults.failpoint import NAMES, Failpoints, choose
from persist import failpoints
from tests.nemesis.harness import events, explain, nemesis_infos, run_test


class FakeWorker:
    def __init__(self):
        self.alive, self.ready, self.incarnation, self.pid = True, True, 1, 1234
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)
        return True


def ctx_with(worker):
    return RunContext(workers={0: worker}, data_dir="/x", reports_dir="/x", durable=None)  # type: ignore[arg-type]


def test_choice_is_seeded_and_only_names_the_engine_knows():
    picks = [choose(Fault(0, "failpoint", 0, 1, s)) for s in range(300)]
    assert picks == [choose(Fault(0, "failpoint", 0, 1, s)) for s in range(300)]
    assert {p["name"] for p in picks} <= set(failpoints.NAMES) and set(NAMES) <= set(failpoints.NAMES)
    assert {p["mode"] for p in picks} == {"crash", "error", "stall"}
    assert all(1 <= p["at"] <= 4 for p in picks)
    assert all(0 < p["arg"] <= 1.0 for p in picks if p["mode"] == "stall")
    for p in picks:  # the worker's arm() accepts every pick
        failpoints.arm(p["name"], p["mode"], at=p["at"], arg=p.get("arg"))
    failpoints.disarm_all()


def test_arm_then_disarm_through_the_pipe():
    w = FakeWorker()
    nem = Failpoints()
    nem.start(ctx_with(w))
    fault = Fault(0, "failpoint", 0, 1, 5)
    v = nem.invoke(fault)
    assert v["action"] == "arm" and v["worker"] == 0 and v["pid"] == 1234
    assert w.sent == [{"failpoint": choose(fault)}]
    (action, value), = nem.recover(fault)
    assert nem.act(action, value) == {"action": "disarm", "worker": 0, "name": v["name"]}
    assert w.sent[-1] == {"failpoint": {"disarm": v["name"]}}


def test_a_restarted_writer_is_not_disarmed_and_a_dead_one_is_skipped():
    w = FakeWorker()
    nem = Failpoints()
    nem.start(ctx_with(w))
    fault = Fault(0, "failpoint", 0, 1, 5)
    nem.invoke(fault)
    w.incarnation = 2  # it crashed (the failpoint fired) and came back
    (action, value), = nem.recover(fault)
    out = nem.act(action, value)
    assert out["action"] == "disarm" and "restarted" in out["note"] and len(w.sent) == 1
    w.alive = False
    skipped = nem.invoke(fault)
    assert skipped["action"] == "skip" and nem.recover(fault) == []


def test_append_under_failpoints_is_valid_and_they_fire(tmp_path):
    """Every run is valid; at least one of a few seeds must see a failpoint
    fire (a crash or a FailpointError). Whether an armed failpoint reaches
    its Nth hit inside its window depends on throughput: on a loaded CI
    machine (423 ops/s) seed 1 once armed five and hit none."""
    fired = []
    for seed in (1, 2, 3):
        code, run = run_test(tmp_path / f"s{seed}", nemesis="failpoint", seed=seed, time_limit=8)
        assert code == 0, explain(run)
        arms = [v for v in nemesis_infos(run, "failpoint") if v.get("action") == "arm"]
        assert len(arms) >= 3
        crashes = nemesis_infos(run, "crash")
        failpoint_errors = [e for e in events(run) if "FailpointError" in (e.get("error") or "")]
        fired.append((seed, len(arms), len(crashes), len(failpoint_errors)))
        if crashes or failpoint_errors:
            return
    pytest.fail(f"no failpoint fired in {fired} (seed, arms, crashes, errors): the test tested nothing")


def _projection(run_dir):
    """The history without wall times, pids and paths."""
    import re

    drop = {"pid", "seconds", "time", "opened", "index"}

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k not in drop}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return [(e["process"], e["type"], e["f"], clean(e["value"]),
             re.sub(r"\S*/data\b", "<data>", e.get("error") or "")) for e in events(run_dir)]


def test_a_failpoint_run_with_one_client_is_deterministic(tmp_path):
    runs = []
    for i, seed in enumerate((1, 1, 2)):
        code, run = run_test(tmp_path / str(i), nemesis="failpoint", seed=seed, time_limit=120, concurrency=1,
                             op_limit=300)
        assert code == 0, explain(run)
        runs.append(run)
    a, b, c = (_projection(r) for r in runs)
    assert len(a) > 600
    first_diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    assert a == b, f"same seed, different histories from event {first_diff}: {a[first_diff]} vs {b[first_diff]}"
    assert a != c
    fired = [e for e in a if e[2] == "crash" or "FailpointError" in e[4]]
    assert fired, "no failpoint fired: the determinism shown is that of a quiet run"


def test_a_failpoint_at_open_kills_and_restarts_the_writer_armed_once():
    w = FakeWorker()
    killed = []
    ctx = ctx_with(w)
    ctx.kill = lambda slot: killed.append(slot) or {"worker": slot, "pid": 1234}  # type: ignore[method-assign]
    nem = Failpoints()
    nem.start(ctx)
    fault = Fault(0, "failpoint", 0, 1, 17)  # the seed picks open.after_epoch, crash
    v = nem.invoke(fault)
    assert (v["name"], v["mode"], v["at"], v["via"]) == ("open.after_epoch", "crash", 1, "restart")
    assert killed == [0] and v["killed"] == [{"worker": 0, "pid": 1234}]
    assert w.next_env == {failpoints.ENV_VAR: "open.after_epoch=crash@1"} and w.sent == []
    assert nem.recover(fault) == [("restart", {"worker": 0})]
    assert failpoints.parse(w.next_env[failpoints.ENV_VAR]) == [("open.after_epoch", "crash", 1, False, None)]


def test_a_crash_at_open_then_a_clean_restart_is_valid_end_to_end(tmp_path):
    from nemesis.runner import build_config, execute

    # crash at open, then a stall at open, offered three times: a fault that finds the writer still restarting
    # (slow on a loaded machine: two restarts after the crash) is skipped, the next one is not
    cfg = build_config("append", "failpoint", 1, 10.0, 4, 0, None, False)
    cfg.faults = [Fault(1.0, "failpoint", 0, 0.3, 17)] + [Fault(t, "failpoint", 0, 0.3, 74) for t in (3.0, 5.5, 8.0)]
    code = execute(cfg, str(tmp_path), quiet=True, reports=False)
    import os

    run = os.path.realpath(os.path.join(str(tmp_path), "latest"))
    assert code == 0, explain(run)
    arms = [(v["mode"], v["name"]) for v in nemesis_infos(run, "failpoint") if v.get("via") == "restart"]
    assert arms[0] == ("crash", "open.after_epoch") and ("stall", "open.after_epoch") in arms[1:], arms
    log = open(os.path.join(run, "workers", "0-writer.log"), encoding="utf-8").read()
    assert log.count("--- incarnation") >= 4  # start, crashed at open, clean restart, stalled open
    assert "exited with code -9 before it was ready" in " ".join(
        str(n) for n in __import__("json").load(open(os.path.join(run, "results.json")))["notes"])
