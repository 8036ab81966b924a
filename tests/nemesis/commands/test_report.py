"""``persist-nemesis report``: paths printed, exit codes, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemesis.cli import main
from tests.nemesis.report.synthetic import write_run
from tests.nemesis.report.test_index import make_store


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as e:
        main(["report", *args])
    return e.value.code


def test_reports_of_a_run_and_its_stores_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, runs = make_store(tmp_path)
    assert run_cli(str(runs[1])) == 0
    printed = capsys.readouterr().out.split()
    expected = [runs[1] / n for n in ("timeline.html", "latency.png", "throughput.png")]
    assert [Path(p) for p in printed] == expected + [store.resolve() / "index.html"]
    assert all(p.is_file() for p in expected)


def test_index_of_a_store_and_all_its_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, runs = make_store(tmp_path)
    assert run_cli("--store", str(store)) == 0
    assert capsys.readouterr().out.split() == [str(store / "index.html")]
    assert run_cli("--store", str(store), "--all", "--no-plots") == 0
    out = capsys.readouterr().out.split()
    assert len(out) == len(runs) + 1 and all((r / "timeline.html").is_file() for r in runs)
    assert not (runs[0] / "latency.png").exists()


def test_a_run_outside_any_store_gets_reports_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "loose", ops=20)
    assert run_cli(str(run), "--no-plots") == 0
    assert capsys.readouterr().out.split() == [str(run / "timeline.html")]


@pytest.mark.parametrize(
    "setup,args,message",
    [
        (lambda t: None, ["{t}/missing"], "no such run directory"),
        (lambda t: (t / "empty").mkdir(), ["{t}/empty"], "history.jsonl is missing"),
        (lambda t: None, ["--store", "{t}/nostore"], "no such directory"),
        (lambda t: (t / "pyproject.toml").write_text(""), ["--store", "{t}"], "not a run store"),
    ],
)
def test_bad_input_exits_3_saying_what_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup, args, message) -> None:
    setup(tmp_path)
    assert run_cli(*[a.format(t=tmp_path) for a in args]) == 3
    err = capsys.readouterr().err
    assert message in err and "expected" in err
