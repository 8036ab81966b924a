"""End to end: a short run per nemesis and workload on the correct engine is
valid, and its history shows the faults it injected."""

from __future__ import annotations

import os

from tests.nemesis.harness import events, explain, nemesis_infos, results, run_test


def _restarts(run_dir):
    return [v for v in nemesis_infos(run_dir, "restart") if v.get("pid")]


def test_append_none(tmp_path):
    code, run = run_test(tmp_path, nemesis="none", time_limit=3, keep_data=True, reports=True)
    assert code == 0, explain(run)
    assert results(run)["fsck"]["ok"], results(run)["fsck"]
    assert os.path.isdir(os.path.join(run, "data"))
    r = results(run)
    assert r["ops"] > 50
    assert not nemesis_infos(run, "kill")
    finals = [e for e in events(run) if isinstance(e["value"], dict) and e["value"].get("final")]
    assert finals, "final reads are in the history"


def test_append_kill(tmp_path):
    code, run = run_test(tmp_path, nemesis="kill", seed=2, time_limit=6)
    assert code == 0, explain(run)
    kills = nemesis_infos(run, "kill")
    assert len(kills) >= 3 and all(k["pid"] for k in kills)
    assert len(_restarts(run)) >= len(kills)
    # an operation in flight when its worker died is indeterminate
    infos = [e for e in events(run) if isinstance(e["process"], int) and e["type"] == "info"]
    assert all("killed" in (e.get("error") or "") for e in infos)


def test_append_pause(tmp_path):
    code, run = run_test(tmp_path, nemesis="pause", seed=3, time_limit=5)
    assert code == 0, explain(run)
    pauses = [v for v in nemesis_infos(run, "pause") if v.get("pid")]
    assert pauses and len(nemesis_infos(run, "resume")) >= len(pauses)


def test_append_lose_unsynced(tmp_path):
    """The tracer's power loss (--fs tracer): files cut back, names dropped."""
    code, run = run_test(tmp_path, nemesis="lose-unsynced", seed=4, time_limit=8, interval=(0.2, 0.5), fs="tracer")
    assert code == 0, explain(run)
    losses = nemesis_infos(run, "lose-unsynced")
    assert len(losses) >= 4
    assert all(len(v["killed"]) == 2 for v in losses), "a power loss kills every worker"
    damage = [c for v in losses for c in v["cut"]] + [d for v in losses for d in v["dropped"]]
    assert damage, "some unsynced bytes or names were lost"
    for v in losses:
        for c in v["cut"]:
            assert c["fsynced"] <= c["cut_to"] < c["size"]


def test_append_lose_unsynced_on_the_fault_filesystem(tmp_path):
    """The fault filesystem's power loss (--fs fuse): its reports say what was lost, torn or undone."""
    import pytest

    from nemesis.faultmodel import fuse_available

    ok, why = fuse_available()
    if not ok:
        pytest.skip(f"fault filesystem unavailable: {why}")
    code, run = run_test(tmp_path, nemesis="lose-unsynced", seed=4, time_limit=8, interval=(0.2, 0.5), fs="fuse")
    assert code == 0, explain(run)
    losses = nemesis_infos(run, "lose-unsynced")
    assert len(losses) >= 3 and all(v["fault_model"] == "faultfs" for v in losses)
    assert all(len(v["killed"]) == 2 for v in losses), "a power loss kills every worker"
    assert all(v["model"] in ("clear-cache", "prefix", "torn", "reorder", "dirops", "mixed") for v in losses)
    took = [v for v in losses if v["power_loss"]["files"] or v["power_loss"]["dirops_undone"]]
    assert took, "some unsynced writes or directory operations were lost"


def test_append_corrupt(tmp_path):
    code, run = run_test(tmp_path, nemesis="corrupt", seed=5, time_limit=4)
    r = results(run)
    assert r["category"] == "corruption"
    (c,) = nemesis_infos(run, "corrupt")
    assert c["kind"] in ("flip", "cut") and c["file"]
    assert_corruption_judged(code, run)


def assert_corrupt_reported(run):
    return any("Corrupt" in (e.get("error") or "") for e in events(run) if isinstance(e["process"], int))


def assert_corruption_judged(code, run):
    """Valid in the corruption category: either the damage was never read, or
    persist refused it with a corruption error (then a checker left without
    evidence is valid, checker.workloads); never invalid, never unknown."""
    assert code == 0, explain(run)
    if any(c.get("reason", "").startswith("not judged") for c in results(run)["checkers"]):
        assert assert_corrupt_reported(run), explain(run)


def test_rehydrate_kill(tmp_path):
    code, run = run_test(tmp_path, workload="rehydrate", nemesis="kill", seed=1, time_limit=6, concurrency=2)
    assert code == 0, explain(run)
    assert len(nemesis_infos(run, "kill")) >= 3
    r = results(run)
    (reh,) = [c for c in r["checkers"] if c["checker"] == "rehydrate"]
    assert reh["stats"]["final_steps_ok"] == 2


def test_rehydrate_lose_unsynced(tmp_path):
    code, run = run_test(tmp_path, workload="rehydrate", nemesis="lose-unsynced,pause", seed=2, time_limit=6,
                         concurrency=2)
    assert code == 0, explain(run)
    assert nemesis_infos(run, "lose-unsynced")


def test_rehydrate_corrupt(tmp_path):
    code, run = run_test(tmp_path, workload="rehydrate", nemesis="corrupt", seed=3, time_limit=4, concurrency=2)
    assert results(run)["category"] == "corruption"
    assert len(nemesis_infos(run, "corrupt")) == 1
    assert_corruption_judged(code, run)


def test_op_limit_stops_the_run(tmp_path):
    code, run = run_test(tmp_path, nemesis="none", time_limit=60, op_limit=150)
    assert code == 0, explain(run)
    r = results(run)
    assert 150 <= r["ops"] <= 170 and r["elapsed"] < 30  # the finals come on top of the limit


def test_a_run_that_dies_half_way_says_so(tmp_path):
    """SIGKILL the controller itself: the run's status still says running
    (with the dead pid), its history is a readable prefix, and its workers
    exit on their own (their stdin closes)."""
    import json
    import signal
    import subprocess
    import sys
    import time

    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "nemesis.cli", "run", "--workload", "append", "--nemesis", "kill",
                             "--seed", "1", "--time-limit", "30", "--store", str(tmp_path), "--quiet", "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = list(tmp_path.glob("append/*/history.jsonl"))
        if runs and runs[0].stat().st_size > 20_000:
            history = runs[0]
            break
        time.sleep(0.2)
    assert history is not None, "the run never got going"
    workers = [p for p in psutil.process_iter(["cmdline"]) if str(history.parent) in " ".join(p.info["cmdline"] or [])]
    assert workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    status = json.loads((history.parent / "status.json").read_text())
    assert status["status"] == "running" and status["pid"] == proc.pid
    lines = history.read_text().splitlines()
    complete = [json.loads(x) for x in lines[:-1]]  # the last line may be torn
    assert complete and [e["index"] for e in complete] == list(range(len(complete)))
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, f"workers outlived their controller: {alive}"
