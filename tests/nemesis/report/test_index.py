"""The store's index.html."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from nemesis.report import ReportError, write_index, write_reports
from nemesis.report.index import check_store, render_index
from tests.nemesis.report.synthetic import write_run


def make_store(root: Path) -> tuple[Path, list[Path]]:
    store = root / "store"
    runs = [
        write_run(store / "append" / "20261123T190000.000000Z-seed1", seed=1, ops=100, results="valid"),
        write_run(store / "append" / "20261123T190500.000000Z-seed2", seed=2, ops=100, results="invalid"),
        write_run(store / "upsert" / "20261123T191000.000000Z-seed3", seed=3, ops=100, results=None, workload="upsert"),
    ]
    for i, r in enumerate(runs):  # status.json says when each started
        (r / "status.json").write_text(json.dumps({"status": "running" if i == 2 else "finished", "started": f"2026-11-23T19:{i * 5:02d}:00+00:00"}))
    os.symlink("upsert/20261123T191000.000000Z-seed3", store / "latest")
    return store, runs


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="run.*?</tr>', html, re.S)


def test_lists_each_run_with_its_verdict_newest_first(tmp_path: Path) -> None:
    store, runs = make_store(tmp_path)
    path = write_index(store)
    assert path == store / "index.html"
    html = path.read_text()
    rs = rows(html)
    assert len(rs) == 3
    assert "seed3" in rs[0] and "seed2" in rs[1] and "seed1" in rs[2]  # newest first
    assert 'v-unchecked' in rs[0] and "running" in rs[0]
    assert 'v-invalid' in rs[1] and ">lost-writes ×1<" in rs[1]
    assert 'v-valid' in rs[2]
    for r, row in zip(reversed(runs), rs):
        rel = r.relative_to(store).as_posix()
        assert f'href="{rel}/history.jsonl"' in row and f'href="{rel}/"' in row
    assert 'href="latest/"' in html and "3 runs" in html


def test_links_to_reports_once_they_exist(tmp_path: Path) -> None:
    store, runs = make_store(tmp_path)
    assert "timeline.html" not in rows(render_index(store))[2]
    write_reports(runs[0], plots=False)
    row = rows(render_index(store))[2]
    rel = runs[0].relative_to(store).as_posix()
    assert f'href="{rel}/timeline.html"' in row


def test_summaries_are_cached_and_refreshed_when_the_run_changes(tmp_path: Path) -> None:
    store, runs = make_store(tmp_path)
    write_index(store)
    cache = runs[2] / "report.json"
    assert json.loads(cache.read_text())["valid"] is None
    time.sleep(0.01)
    (runs[2] / "results.json").write_text(json.dumps({"valid": True, "checkers": [{"checker": "x", "valid": True}]}))
    future = time.time() + 5
    os.utime(runs[2] / "results.json", (future, future))
    html = write_index(store).read_text()
    assert "v-valid" in rows(html)[0]
    assert json.loads(cache.read_text())["valid"] is True


def test_render_without_refresh_writes_nothing(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path)
    before = sorted(p for p in store.rglob("*"))
    render_index(store, refresh=False)
    assert sorted(p for p in store.rglob("*")) == before


def test_an_empty_store_has_an_index(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    assert "no runs in this store yet" in write_index(tmp_path / "runs").read_text()


def test_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such directory"):
        check_store(tmp_path / "missing")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ReportError, match="not a directory"):
        check_store(tmp_path / "f")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("")
    with pytest.raises(ReportError, match="not a run store"):
        check_store(proj)
    run = write_run(tmp_path / "s" / "append" / "x-seed1", ops=10)
    with pytest.raises(ReportError, match="run directory, not a store"):
        check_store(run)


def test_a_broken_run_does_not_hide_the_others(tmp_path: Path) -> None:
    store, runs = make_store(tmp_path)
    broken = store / "append" / "20261123T200000.000000Z-seed4"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    html = render_index(store)
    assert len(rows(html)) == 4 and "no history" in html
