"""latency.png and throughput.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemesis.report.periods import Period, periods_of
from nemesis.report.plots import _figure, _shade, bin_width, throughput_series, write_plots
from nemesis.report.rundir import Op, Run, load_run
from tests.nemesis.report.synthetic import write_run

PNG = b"\x89PNG\r\n\x1a\n"


def test_both_plots_are_pngs_with_the_run_in_them(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r", ops=600))
    paths = write_plots(run, periods_of(run.nemesis, run.end), run.path)
    assert [p.name for p in paths] == ["latency.png", "throughput.png"]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG and 10_000 < len(data) < 2_000_000
    assert not list(run.path.glob(".*.tmp"))


def test_fault_periods_are_shaded() -> None:
    pytest.importorskip("matplotlib")
    fig, ax = _figure()
    periods = [Period("kill", 1_000_000_000, 2_000_000_000), Period("pause", 3_000_000_000, None), Period("corrupt", 4_000_000_000, 4_000_000_000)]
    handles = _shade(ax, periods, end_s=5.0)
    spans = list(ax.patches)
    assert len(spans) == 2  # the two periods with a duration
    if all(hasattr(s, "get_x") for s in spans):  # matplotlib >= 3.9: Rectangles in data x
        assert sorted((s.get_x(), s.get_x() + s.get_width()) for s in spans) == [(1.0, 2.0), (3.0, 5.0)]
    assert len(ax.lines) == 1  # the instantaneous one: a dashed line
    assert ax.lines[0].get_xdata()[0] == 4.0
    assert sorted(h.get_label() for h in handles) == ["corrupt", "kill", "pause"]


def test_throughput_counts_ok_completions_per_second_per_f() -> None:
    s = 1_000_000_000
    ops = [Op(i, 0, "write", None, "ok", i * s // 10, i * s // 10 + 1000) for i in range(20)]  # 10/s over 2 s
    ops += [Op(100, 1, "read", None, "fail", 0, 5000), Op(101, 2, "read", None, "info", 0, None)]
    run = Run(Path("."), {}, ops, [], [], None, {}, end=2 * s)
    width, starts, series = throughput_series(run)
    assert width == bin_width(2 * s) == 0.02
    assert set(series) == {"write"}  # failed and indeterminate ops are not throughput
    assert sum(series["write"]) * width == pytest.approx(20)
    assert len(starts) == len(series["write"])


def test_bin_width_is_a_round_hundredth_of_the_run() -> None:
    assert bin_width(10 * 1_000_000_000) == 0.1
    assert bin_width(60 * 1_000_000_000) == 1
    assert bin_width(1_000_000) == 0.01


def test_a_run_with_nothing_completed_still_plots(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text('{"index":0,"time":5,"process":0,"type":"invoke","f":"write","value":1}\n')
    run = load_run(tmp_path)
    for p in write_plots(run, [], tmp_path):
        assert p.read_bytes()[:8] == PNG
