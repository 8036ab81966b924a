"""End to end for the ``upsert`` and ``multi-writer`` workloads: a short run
per workload and nemesis on the correct engine is valid and its history
shows the faults; with the lock-skipping mutant a multi-writer run is
invalid (two holders at once)."""

from __future__ import annotations

import os

import pytest

from tests.nemesis.test_e2e import assert_corruption_judged
from tests.nemesis.harness import MUTANTS, events, explain, nemesis_infos, results, run_test


def run_s3(store, workload, nemesis, seed, time_limit):
    from nemesis.runner import build_config, execute

    cfg = build_config(workload, nemesis, seed, time_limit, 4, 0, None, False, blob="s3")
    cfg.interval = (0.3, 0.8)
    code = execute(cfg, str(store), quiet=True, reports=False)
    return code, os.path.realpath(os.path.join(str(store), "latest"))


def checker(run, name):
    (c,) = [c for c in results(run)["checkers"] if c["checker"] == name]
    return c


def client_ops(run):
    return [e for e in events(run) if isinstance(e["process"], int)]


# --- upsert ---------------------------------------------------------------


def assert_upsert_valid(code, run):
    assert code == 0, explain(run)
    assert checker(run, "linearizable")["valid"] is True
    assert checker(run, "upsert-domain")["stats"]["final_reads"] == 2  # writer and reader
    oks = [e for e in client_ops(run) if e["type"] == "ok"]
    assert {e["f"] for e in oks} >= {"upsert", "delete", "get", "read_all"}


def test_upsert_kill(tmp_path):
    code, run = run_test(tmp_path, workload="upsert", nemesis="kill", seed=1, time_limit=6)
    assert_upsert_valid(code, run)
    kills = nemesis_infos(run, "kill")
    assert len(kills) >= 3 and all(k["pid"] for k in kills)
    assert any(e["type"] == "info" and e["f"] in ("upsert", "delete") for e in client_ops(run)), \
        "some upsert was in flight when its worker died"


def test_upsert_lose_unsynced_and_pause(tmp_path):
    # On the fault filesystem where it works (fs="auto"). This run once came out invalid there (a reader's get
    # went back to a value older than one it had read): the reader had answered from a metadata record whose
    # rename the writer had not yet fsynced, and the power loss undid the rename. An engine bug, fixed in
    # FileBlob.get_versioned (a reader makes a new record durable before using it); the deterministic checks are
    # tests/persist/test_durable_reads.py, the seed is in regressions/seeds.json.
    code, run = run_test(tmp_path, workload="upsert", nemesis="lose-unsynced,pause", seed=2, time_limit=6,
                         interval=(0.2, 0.5))
    assert_upsert_valid(code, run)
    assert nemesis_infos(run, "lose-unsynced") and [v for v in nemesis_infos(run, "pause") if v.get("pid")]


def test_upsert_failpoint(tmp_path):
    code, run = run_test(tmp_path, workload="upsert", nemesis="failpoint", seed=2, time_limit=6)
    assert_upsert_valid(code, run)
    assert [v for v in nemesis_infos(run, "failpoint") if v.get("action") == "arm"]


def test_upsert_corrupt(tmp_path):
    code, run = run_test(tmp_path, workload="upsert", nemesis="corrupt", seed=3, time_limit=4)
    assert results(run)["category"] == "corruption"
    assert len(nemesis_infos(run, "corrupt")) == 1
    assert_corruption_judged(code, run)


@pytest.mark.s3
def test_upsert_on_s3(tmp_path):
    code, run = run_s3(tmp_path, "upsert", "s3,kill", seed=3, time_limit=6)
    assert_upsert_valid(code, run)
    assert [v for v in nemesis_infos(run, "s3") if v.get("rules")]


def test_upsert_catches_a_lost_seal(tmp_path):
    """``mutants/lose_seal.py`` (a seal acknowledged but not durable): after a
    kill, a read at the sealed frontier misses acknowledged upserts; the
    per-key linearizability check says which read and which key."""
    code, run = run_test(tmp_path, workload="upsert", nemesis="kill", seed=1, time_limit=5, mutant="lose_seal.py")
    assert code == 1, explain(run)
    lin = checker(run, "linearizable")
    assert lin["valid"] is False and lin["anomalies"][0]["kind"] == "not-linearizable"
    assert "for key" in lin["anomalies"][0]["message"]


# --- multi-writer -----------------------------------------------------------


def holder_hits(run, fault):
    """For each ``fault`` info with a pid: was its worker the last one
    acknowledged as holder before it? (the faults follow the holder)"""
    last_worker = None
    hits = []
    for e in events(run):
        if isinstance(e["process"], int) and e["type"] == "ok" and (e["value"] or {}).get("holder"):
            last_worker = e.get("worker")
        elif e["process"] == "nemesis" and e["type"] == "info" and e["f"] == fault and e["value"].get("pid"):
            hits.append(last_worker == e["value"]["worker"])
    return hits


def sessions_by_worker(run):
    out: dict[int, set] = {}
    for e in client_ops(run):
        if e["type"] == "ok" and (e["value"] or {}).get("holder"):
            out.setdefault(e["worker"], set()).add(e["value"]["holder"])
    return out


def assert_multi_writer_valid(code, run):
    assert code == 0, explain(run)
    mw = checker(run, "multi-writer")
    assert mw["valid"] is True and mw["stats"]["final_reads"] == 1
    assert mw["stats"]["locked_out"] > 0, "contenders were refused by the holder's lock"
    return mw


def test_multi_writer_kill_follows_the_holder(tmp_path):
    # seed 4's schedule aims 6 of its 7 kills at worker 0, i.e. (retargeted) at the holder
    code, run = run_test(tmp_path, workload="multi-writer", nemesis="kill", seed=4, time_limit=6)
    mw = assert_multi_writer_valid(code, run)
    hits = holder_hits(run, "kill")
    assert len(hits) >= 3 and sum(hits) >= 2, hits
    assert len(sessions_by_worker(run)) >= 2, "the location changed hands between worker processes"
    assert mw["stats"]["sessions"] >= len(hits)


def test_multi_writer_pause_standby_takes_over_and_the_stalled_holder_is_fenced(tmp_path):
    """These seeds' schedules pause the holder for about a second, past the
    standby's lease: the standby takes over, the holder wakes, acknowledges
    writes to its own Wal that must never appear, and its next metadata
    change is fenced. Every run is valid; whether a pause outlasts the lease
    depends on timing, so up to three seeds are tried for the takeover."""
    tried = []
    for seed in (4, 13, 3):
        code, run = run_test(tmp_path / f"s{seed}", workload="multi-writer", nemesis="pause", seed=seed,
                             time_limit=6)
        mw = assert_multi_writer_valid(code, run)
        assert [v for v in nemesis_infos(run, "pause") if v.get("pid")]
        tried.append((seed, mw["stats"]["takeovers"]))
        if mw["stats"]["takeovers"] and any("FencedError" in (e.get("error") or "") for e in client_ops(run)):
            assert any(holder_hits(run, "pause")), "a pause hit the holder"
            return
    pytest.fail(f"no takeover of a stalled holder in {tried}")


def test_multi_writer_lose_unsynced_and_failpoint(tmp_path):
    # on the tracer: this test's shape checks (contenders refused by the lock, every contender killed by each
    # loss) were tuned to its timing; on the fault filesystem the slower opens once left no contender refused
    # (CI rehearsal, 2 Dec: valid, locked_out 0). multi-writer x lose-unsynced on the filesystem is in the CI gate.
    code, run = run_test(tmp_path, workload="multi-writer", nemesis="lose-unsynced,failpoint", seed=3,
                         time_limit=7, interval=(0.2, 0.5), fs="tracer")
    assert_multi_writer_valid(code, run)
    losses = nemesis_infos(run, "lose-unsynced")
    assert losses and all(len(v["killed"]) == 3 for v in losses), "a power loss kills every contender"
    arms = [v for v in nemesis_infos(run, "failpoint") if v.get("action") == "arm"]
    assert arms


def test_multi_writer_corrupt(tmp_path):
    code, run = run_test(tmp_path, workload="multi-writer", nemesis="corrupt", seed=4, time_limit=4)
    assert results(run)["category"] == "corruption"
    assert len(nemesis_infos(run, "corrupt")) == 1
    assert_corruption_judged(code, run)


@pytest.mark.s3
def test_multi_writer_on_s3(tmp_path):
    code, run = run_s3(tmp_path, "multi-writer", "s3,kill", seed=3, time_limit=6)
    assert_multi_writer_valid(code, run)


def test_multi_writer_catches_an_unchecked_metadata_cas(tmp_path):
    """``mutants/metadata_cas_unchecked.py``: the metadata compare-and-set
    does not compare, so a taken-over writer is never fenced; after the pause
    its writes and seals land on top of the standby's."""
    tried = []
    for seed in (4, 13, 3):
        code, run = run_test(tmp_path / f"s{seed}", workload="multi-writer", nemesis="pause", seed=seed,
                             time_limit=6, mutant="metadata_cas_unchecked.py")
        tried.append((seed, code))
        if code == 1:
            kinds = {a["kind"] for a in checker(run, "multi-writer").get("anomalies", [])}
            assert kinds & {"fenced-write-visible", "fenced-writer-acted", "shared-epoch", "lost-write"}, explain(run)
            return
    pytest.fail(f"the unchecked CAS was not caught in {tried}")


def test_multi_writer_without_the_lock_is_invalid(tmp_path):
    """The planted bug (``mutants/wal_lock_skipped.py``: no flock) lets two
    contenders hold the location at once; the multi-writer checker says so.

    Every run is invalid (the two writers also tear the shared Wal, which
    the recovery checker sees), but whether the history *proves* two holders
    at once depends on timing: when each open fences the previous holder
    before it acknowledges anything more, the sessions look sequential. So,
    like ``persist-nemesis mutants``, try a few seeds (each alone caught
    overlapping holders in ~5 of 6 runs here)."""
    assert os.path.isfile(os.path.join(MUTANTS, "wal_lock_skipped.py"))
    tried = []
    for seed in (1, 2, 3, 4):
        code, run = run_test(tmp_path / f"s{seed}", workload="multi-writer", nemesis="none", seed=seed,
                             time_limit=3, mutant="wal_lock_skipped.py")
        assert code == 1, explain(run)
        mw = checker(run, "multi-writer")
        kinds = {a["kind"] for a in mw.get("anomalies", [])}
        tried.append((seed, mw["valid"], sorted(kinds)))
        if "overlapping-holders" in kinds:
            return
    pytest.fail(f"two holders at once were never shown: {tried}")


def test_upsert_on_the_operation_clock_is_deterministic(tmp_path):
    """One client process, failpoints only: the same seed gives the same
    history (times and pids aside), as for append."""
    def history(store):
        code, run = run_test(store, workload="upsert", nemesis="failpoint", seed=3, time_limit=30, concurrency=1,
                             op_limit=120)
        assert code == 0, explain(run)
        out = []
        for e in events(run):
            e.pop("time", None)
            if isinstance(e.get("value"), dict):
                for k in ("pid", "seconds", "killed"):
                    e["value"].pop(k, None)
            out.append(e)
        return out

    a, b = history(tmp_path / "a"), history(tmp_path / "b")
    assert a == b
    assert any(e["f"] == "failpoint" and e["type"] == "info" for e in a)
