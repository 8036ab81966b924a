"""Coverage (issue 14): the failpoints a run hit, the engine functions that
ran, a mutant's patched functions called -- counted in every worker,
reported through the run's reports directory, merged into ``results.json``."""

from __future__ import annotations

import json

from nemesis import coverage
from persist import failpoints
from tests.nemesis.harness import results, run_test


def test_the_registry_names_exactly_the_failpoints_the_engine_source_hits():
    assert coverage.static_failpoints() == set(failpoints.NAMES)
    assert coverage.known_failpoints() == sorted(failpoints.NAMES)


def test_hit_counting_counts_disarmed_failpoints_and_stops_when_asked():
    failpoints.count_hits()
    try:
        for _ in range(3):
            failpoints.failpoint("write.before_wal")
        failpoints.failpoint("gc.after_delete")
        assert failpoints.hit_counts() == {"write.before_wal": 3, "gc.after_delete": 1}
    finally:
        failpoints.count_hits(False)
    failpoints.failpoint("write.before_wal")
    assert failpoints.hit_counts() == {}


def _write(path, lines, torn=b""):
    path.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in lines) + torn)


def test_collect_sums_the_last_report_of_every_incarnation_and_drops_a_torn_line(tmp_path):
    _write(tmp_path / "0.1.cov", [{"failpoints": {"a": 1}, "patched": ["f"], "patched_ran": {}, "functions": ["x"]},
                                  {"failpoints": {"a": 4, "b": 1}, "patched": ["f"], "patched_ran": {"f": 2},
                                   "functions": ["y"]}],
           torn=b'{"failpoints": {"a": 99')  # killed while writing: the counts of the line before stand
    _write(tmp_path / "0.2.cov", [{"failpoints": {"a": 2}, "patched": ["f"], "patched_ran": {}, "functions": []}])
    (tmp_path / "0.1.fsync").write_text("not coverage\n")
    cov = coverage.collect(str(tmp_path))
    assert cov == {"failpoints": {"a": 6, "b": 1}, "functions": ["x", "y"], "patched": ["f"],
                   "patched_ran": {"f": 2}, "workers": 2}
    assert coverage.collect(str(tmp_path / "none")) is None
    never = coverage.never_hit([cov, {"failpoints": {"gc.after_delete": 1, "open.after_epoch": 0}}])
    assert "gc.after_delete" not in never and "open.after_epoch" in never and "write.before_wal" in never


def test_a_short_real_run_records_failpoints_hit_and_engine_functions(tmp_path, monkeypatch):
    """Kills restart the writer: the counts of every incarnation add up; with
    function coverage on, the engine functions of the write path are listed."""
    monkeypatch.setenv(coverage.FUNCTIONS_ENV, "1")
    code, run = run_test(tmp_path, workload="append", nemesis="kill", seed=2, time_limit=3.0, interval=(0.3, 0.6))
    assert code == 0, run
    cov = results(run)["coverage"]
    fps = cov["failpoints"]
    assert fps.get("write.before_wal", 0) > 0 and fps.get("write.after_wal", 0) > 0, fps
    assert fps.get("open.after_epoch", 0) >= 2, fps  # the first open and at least one restart after a kill
    assert fps.get("metadata.before_cas", 0) >= fps.get("metadata.after_cas", 0) > 0, fps
    assert set(fps) <= set(failpoints.NAMES)
    assert cov["patched"] == [] and cov["patched_ran"] == {}
    fns = cov["functions"]
    assert any(f.startswith("persist.writes.") for f in fns) and any(f.startswith("persist.commit.") for f in fns)
    assert all(f.startswith("persist.") for f in fns)


def test_a_crash_failpoint_reports_the_counts_before_the_process_dies(tmp_path):
    """A worker killed by a crash failpoint has no exit to report at: the
    counts are written just before the SIGKILL."""
    import subprocess
    import sys

    report = tmp_path / "0.1.cov"
    script = ("import sys\nfrom nemesis import coverage\nfrom persist import failpoints\n"
              "coverage.install(sys.argv[1])\nfailpoints.failpoint('write.before_wal')\n"
              "failpoints.arm('gc.after_delete', 'crash', at=2)\n"
              "for _ in range(3):\n    failpoints.failpoint('gc.after_delete')\n")
    r = subprocess.run([sys.executable, "-c", script, str(report)], capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    cov = coverage.collect(str(tmp_path))
    assert cov["failpoints"] == {"gc.after_delete": 2, "write.before_wal": 1}, cov
