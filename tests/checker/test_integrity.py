"""The integrity checker judges the harness's fsck report; the recovery
checker the final reads; ``judge_history`` adds integrity only when the
history has an fsck (older histories judge as before)."""

from __future__ import annotations

from checker.history import pair
from checker.integrity import Integrity
from checker.recovery import Recovery
from nemesis.judge import judge_history
from tests.workloads.hist import H


def problem(kind, msg="m", key="batch/1"):
    return {"kind": kind, "key": key, "message": msg}


def fsck_history(value, corrupt=False, final="ok"):
    h = H()
    if corrupt:
        h.nemesis("corrupt", {"file": "x"}, 1)
    h.op(0, "snapshot", {"stream": "s0", "as_of": None, "final": True}, final,
         {"stream": "s0", "as_of": 0, "upper": 1, "since": 0, "rows": []}, 2, 3,
         error=None if final == "ok" else "CorruptionError: batch x")
    h.harness("fsck", value, 4)
    return h.build()


def test_a_clean_report_is_valid_and_orphans_are_garbage():
    r = Integrity().check(fsck_history({"ok": True, "problems": [problem("orphan-blob")], "batches_checked": 7}))
    assert r.valid is True and r.stats["batches_checked"] == 7 and r.stats["ignored_orphan-blob"] == 1


def test_each_problem_is_an_anomaly_naming_it():
    msg = "stream 's0' batch b holds times from 1, below its since 9"
    r = Integrity().check(fsck_history({"ok": False, "problems": [problem("batch-content", msg),
                                                                  problem("missing-blob", "gone")]}))
    assert r.valid is False
    assert [a.kind for a in r.anomalies] == ["batch-content", "missing-blob"]
    assert msg in r.anomalies[0].message


def test_planted_corruption_found_is_fine_but_other_damage_is_not():
    v = {"ok": False, "problems": [problem("corrupt-batch"), problem("corrupt-metadata", key="meta")]}
    assert Integrity("corruption").check(fsck_history(v, corrupt=True)).valid is True
    assert Integrity(None).check(fsck_history(v)).valid is False
    v["problems"].append(problem("invariant", "since above upper", key="meta"))
    r = Integrity("corruption").check(fsck_history(v, corrupt=True))
    assert r.valid is False and [a.kind for a in r.anomalies] == ["invariant"]


def test_fsck_that_could_not_run_is_unknown_and_no_fsck_is_unknown():
    r = Integrity().check(fsck_history({"ok": None, "error": "RuntimeError: boom"}))
    assert r.valid == "unknown" and "boom" in r.reason
    assert Integrity().check(pair([])).valid == "unknown"


def test_a_store_fsck_could_not_reach_is_unknown_not_damage():
    v = {"ok": False, "problems": [problem("unreachable", "cannot list s3://b/p: connection refused", key=None)],
         "kinds": {"unreachable": 1}}
    r = Integrity().check(fsck_history(v))
    assert r.valid == "unknown" and "connection refused" in r.reason
    v["problems"].append(problem("missing-blob", "gone"))  # damage still wins over "could not check"
    assert Integrity().check(fsck_history(v)).valid is False


def test_a_malformed_report_is_unknown():
    assert Integrity().check(fsck_history({"ok": False})).valid == "unknown"
    assert Integrity().check(fsck_history(["not", "a", "report"])).valid == "unknown"


def test_damage_counted_but_not_recorded_is_still_damage():
    """Only 100 problems are recorded; the per-kind counts say what else fsck found."""
    v = {"ok": False, "problems": [problem("orphan-blob")] * 100,
         "kinds": {"orphan-blob": 100, "missing-blob": 1}, "problem_count": 101}
    r = Integrity().check(fsck_history(v))
    assert r.valid is False and [a.kind for a in r.anomalies] == ["missing-blob"]
    assert "1 more problem" in r.anomalies[0].message


def test_the_harness_records_damage_before_orphans(tmp_path):
    """nemesis/fsck.py on a real location: 120 orphans and one named batch
    deleted; the recorded 100 problems start with the damage."""
    import os

    import persist
    from nemesis.fsck import fsck
    from persist import metadata as md
    from persist.storage.file_blob import FileBlob

    url = f"file://{tmp_path}/loc"
    p = persist.open(url, background=False)
    s = p.stream("s")
    s.write([(b"a", b"1", 0, 1)])
    s.seal(1)
    p.close()
    blob = FileBlob(os.path.join(tmp_path, "loc", "blob"))
    meta = md.decode(blob.get(md.META_KEY))
    (named,) = [b.key for b in meta.streams["s"].trace if b.key]
    blob.delete(named)
    for i in range(120):
        blob.set(f"{md.BATCH_PREFIX}zz-orphan-{i:03d}", b"x")
    v = fsck(url)
    assert v["problem_count"] == 121 and len(v["problems"]) == 100
    assert v["problems"][0]["kind"] == "missing-blob" and v["kinds"] == {"orphan-blob": 120, "missing-blob": 1}
    assert Integrity().check(fsck_history(v)).valid is False


def test_harness_events_are_not_operations():
    h = fsck_history({"ok": True, "problems": []})
    assert [op.f for op in h.ops] == ["snapshot"] and [e["f"] for e in h.harness] == ["fsck"]


def test_judge_adds_integrity_only_when_the_history_has_an_fsck():
    bad = {"ok": False, "problems": [problem("batch-content", "times below since")]}
    with_fsck = judge_history(fsck_history(bad), "append")
    assert "integrity" in [c["checker"] for c in with_fsck["checkers"]]
    assert with_fsck["valid"] is False
    h = H()
    h.op(0, "snapshot", {"stream": "s0", "as_of": None, "final": True}, "ok",
         {"stream": "s0", "as_of": 0, "upper": 1, "since": 0, "rows": []}, 2, 3)
    without = judge_history(h.build(), "append")
    assert "integrity" not in [c["checker"] for c in without["checkers"]]


def test_recovery_needs_every_final_read_ok_unless_corruption_was_reported():
    assert Recovery().check(fsck_history({"ok": True}, final="ok")).valid is True
    failed = fsck_history({"ok": True}, final="fail")
    r = Recovery().check(failed)
    assert r.valid is False and r.anomalies[0].kind == "not-recovered"
    assert Recovery("corruption").check(fsck_history({"ok": True}, corrupt=True, final="fail")).valid is True
    assert Recovery().check(pair([])).valid == "unknown"
