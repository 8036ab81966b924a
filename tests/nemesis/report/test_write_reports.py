"""write_reports: what the controller calls at the end of a run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nemesis.report import ReportError, update_reports, write_reports
from tests.nemesis.report.synthetic import write_run


def test_writes_the_timeline_the_plots_and_the_summary(tmp_path: Path) -> None:
    run = write_run(tmp_path / "append" / "20261123T190000.000000Z-seed4", seed=4, ops=300, results="invalid")
    paths = write_reports(run)
    assert [p.name for p in paths] == ["timeline.html", "latency.png", "throughput.png"]
    html = paths[0].read_text()
    assert '<img src="latency.png"' in html and '<img src="throughput.png"' in html
    summary = json.loads((run / "report.json").read_text())
    assert summary["valid"] is False and summary["seed"] == 4 and summary["ops"]["ok"] > 0
    assert summary["faults"].get("kill", 0) + summary["faults"].get("pause", 0) > 0
    assert [v["checker"] for v in summary["verdicts"]] == ["lost-writes", "frontiers"]


def test_plots_that_fail_cost_only_the_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nemesis.report.plots as plots

    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("no display, no fonts, whatever")

    monkeypatch.setattr(plots, "write_plots", broken)
    run = write_run(tmp_path / "r", ops=100)
    paths = write_reports(run)
    assert [p.name for p in paths] == ["timeline.html"]
    assert "<img" not in paths[0].read_text()


def test_a_run_that_died_half_way_gets_reports(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", ops=200, results=None, unmatched_tail=True, torn_tail=True, config=False)
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run / "status.json").write_text(json.dumps({"status": "running", "pid": gone.pid}))
    html = write_reports(run, plots=False)[0].read_text()
    assert "run status: <b>abandoned</b>" in html  # its controller is gone (nemesis/lifecycle.py)
    assert "never checked" in html and "torn line" in html and "never completed" in html


def test_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ReportError):
        write_reports(tmp_path)


def test_cheap_for_a_ten_thousand_event_history(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", ops=5_000)  # ~10k events
    write_reports(run)  # warm: matplotlib's import and font cache are paid once per process
    t = time.process_time()  # CPU time: the machine may be shared by many test runs
    write_reports(run)
    took = time.process_time() - t
    # ~0.8 s here; generous for a slower machine
    assert took < 4.0, f"write_reports took {took:.2f} s for 10k events"


def test_update_reports_does_both_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "store"
    run = write_run(store / "append" / "20261123T190000.000000Z-seed1", ops=50)
    paths = update_reports(run, store)
    assert [p.name for p in paths] == ["timeline.html", "latency.png", "throughput.png", "index.html"]
    assert update_reports(tmp_path / "nope", tmp_path / "nostore") == []
    assert "reports of" in caplog.text and "index of" in caplog.text
