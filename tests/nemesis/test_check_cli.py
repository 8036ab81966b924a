"""``persist-nemesis check``: the contract outside checks call."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nemesis.cli import main
from tests.checker.hard import hard_register_history

HIST = Path(__file__).resolve().parents[1] / "checker" / "histories"
VALID = HIST / "knossos-lines-info-may-happen.edn"
INVALID = HIST / "knossos-stale-read.edn"


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return ei.value.code, out, err


def test_valid_invalid_and_exit_codes(capsys) -> None:
    code, out, _ = run(capsys, VALID)
    assert code == 0 and out.strip().endswith("s)") and ": valid" in out
    code, out, _ = run(capsys, INVALID, "--model", "register")
    assert code == 1 and "INVALID: op 4" in out
    code, out, _ = run(capsys, VALID, INVALID)
    assert code == 1 and len(out.strip().splitlines()) == 2


def test_json_one_object_per_path(capsys) -> None:
    code, out, _ = run(capsys, "--json", VALID, INVALID)
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 1
    assert [r["file"] for r in rows] == [str(VALID), str(INVALID)]
    assert [r["valid"] for r in rows] == [True, False]
    assert rows[1]["anomalies"][0]["ops"][0] == 4 and "time" in rows[1]


def test_empty_history_is_unknown(capsys, tmp_path: Path) -> None:
    p = tmp_path / "empty.edn"
    p.write_text("[]\n")
    code, out, _ = run(capsys, "--json", p)
    assert code == 2 and json.loads(out) | {"time": 0} == json.loads(out) | {"time": 0} and json.loads(out)["valid"] == "unknown"
    assert json.loads(out)["reason"] == "empty history"
    q = tmp_path / "only-nemesis.jsonl"
    q.write_text('{"index": 0, "time": 0, "process": "nemesis", "type": "info", "f": "kill", "value": null}\n')
    code, out, _ = run(capsys, q, "--model", "register")
    assert code == 2 and "empty history" in out


def test_all_failed_is_valid(capsys, tmp_path: Path) -> None:
    p = tmp_path / "failed.edn"
    p.write_text("{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :fail, :f :write, :value 1}\n")
    code, out, _ = run(capsys, p)
    assert code == 0 and "valid" in out


def test_malformed_file_names_the_line(capsys, tmp_path: Path) -> None:
    p = tmp_path / "bad.edn"
    p.write_text("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value 1\n")
    code, out, err = run(capsys, p)
    assert code == 3 and f"{p}:2:" in err and "expected" in err
    code, out, _ = run(capsys, "--json", p)
    row = json.loads(out)
    assert code == 3 and row["file"] == str(p) and row["valid"] is None and f"{p}:2:" in row["error"]
    # an invalid verdict is not hidden behind a bad file
    code, _, _ = run(capsys, p, INVALID, "--model", "register")
    assert code == 1


def test_time_limit_gives_unknown_on_a_hard_history(capsys, tmp_path: Path) -> None:
    p = tmp_path / "hard.edn"
    p.write_text(hard_register_history(24))
    code, out, _ = run(capsys, "--json", "--time-limit", "0.3", "--model", "register", p)
    row = json.loads(out)
    assert code == 2 and row["valid"] == "unknown" and "time limit" in row["reason"]


def test_bad_usage_exits_3(capsys) -> None:
    assert run(capsys, "--model", "nope", VALID)[0] == 3
    assert run(capsys, "--time-limit", "0", VALID)[0] == 3
    assert run(capsys, "--initial", "{:a", VALID)[0] == 3
    assert run(capsys, "/nonexistent/history.edn")[0] == 3


def test_format_option_and_initial(capsys, tmp_path: Path) -> None:
    p = tmp_path / "h.txt"
    p.write_text("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value 7}\n")
    assert run(capsys, "--format", "jepsen-edn", "--model", "register", p)[0] == 1
    assert run(capsys, "--format", "jepsen-edn", "--model", "register", "--initial", "7", p)[0] == 0
    assert run(capsys, "--format", "jsonl", p)[0] == 3


def test_html_picture(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, INVALID, "--model", "register", "--html", tmp_path / "pics")
    assert code == 1
    (pic,) = (tmp_path / "pics").iterdir()
    text = pic.read_text()
    assert "<svg" in text and "every order failed" in text and "op 4" in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


def _run_dir(tmp_path: Path, config: dict, events: list[dict]) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    (d / "history.jsonl").write_text("".join(json.dumps({"index": i, "time": i, **e}) + "\n" for i, e in enumerate(events)))
    return d


UPSERTS = [
    {"process": 0, "type": "invoke", "f": "upsert", "value": {"key": "k", "value": "a"}},
    {"process": 0, "type": "ok", "f": "upsert", "value": {"key": "k", "value": "a"}},
    {"process": 1, "type": "invoke", "f": "get", "value": {"key": "k"}},
    {"process": 1, "type": "ok", "f": "get", "value": {"key": "k", "value": None}},
]


def test_run_directory_is_read_only_by_default(capsys, tmp_path: Path) -> None:
    d = _run_dir(tmp_path, {"model": "upsert"}, UPSERTS)
    before = sorted(os.listdir(d))
    code, out, _ = run(capsys, "--json", d)
    assert code == 1 and json.loads(out)["valid"] is False  # the read missed an acknowledged upsert
    assert sorted(os.listdir(d)) == before
    code, _, _ = run(capsys, "--write-results", d)
    assert code == 1 and json.loads((d / "results.json").read_text())["valid"] is False


def test_run_directory_unknown_workload_is_bad_input(capsys, tmp_path: Path) -> None:
    d = _run_dir(tmp_path, {"workload": "no-such-workload"}, UPSERTS)
    code, _, err = run(capsys, d)
    assert code == 3 and "no-such-workload" in err


def test_jepsen_store_directory(capsys, tmp_path: Path) -> None:
    d = tmp_path / "jepsen-run"
    d.mkdir()
    (d / "history.edn").write_text(INVALID.read_text())
    code, out, _ = run(capsys, "--model", "register", d)
    assert code == 1 and "INVALID" in out
    (tmp_path / "empty-dir").mkdir()
    code, _, err = run(capsys, tmp_path / "empty-dir")
    assert code == 3 and "without history.jsonl" in err
