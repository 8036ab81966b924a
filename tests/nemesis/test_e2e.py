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
    infos = [e for e in events(run) if e["process"] != "nemesis" and e["type"] == "info"]
    assert all("killed" in (e.get("error") or "") for e in infos)


def test_append_pause(tmp_path):
    code, run = run_test(tmp_path, nemesis="pause", seed=3, time_limit=5)
    assert code == 0, explain(run)
    pauses = [v for v in nemesis_infos(run, "pause") if v.get("pid")]
    assert pauses and len(nemesis_infos(run, "resume")) >= len(pauses)


def test_append_lose_unsynced(tmp_path):
    code, run = run_test(tmp_path, nemesis="lose-unsynced", seed=4, time_limit=8, interval=(0.2, 0.5))
    assert code == 0, explain(run)
    losses = nemesis_infos(run, "lose-unsynced")
    assert len(losses) >= 4
    assert all(len(v["killed"]) == 2 for v in losses), "a power loss kills every worker"
    damage = [c for v in losses for c in v["cut"]] + [d for v in losses for d in v["dropped"]]
    assert damage, "some unsynced bytes or names were lost"
    for v in losses:
        for c in v["cut"]:
            assert c["fsynced"] <= c["cut_to"] < c["size"]


def test_append_corrupt(tmp_path):
    code, run = run_test(tmp_path, nemesis="corrupt", seed=5, time_limit=4)
    r = results(run)
    assert r["category"] == "corruption"
    (c,) = nemesis_infos(run, "corrupt")
    assert c["kind"] in ("flip", "cut") and c["file"]
    assert_corruption_judged(code, run)


def assert_corrupt_reported(run):
    return any("Corrupt" in (e.get("error") or "") for e in events(run) if e["process"] != "nemesis")


def assert_corruption_judged(code, run):
    """Never invalid. Unknown only when persist refused the damaged data
    (a corruption error), leaving no snapshot to judge by."""
    assert code in (0, 2), explain(run)
    if code == 2:
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
