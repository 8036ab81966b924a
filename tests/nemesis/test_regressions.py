"""Regression seeds: every entry of ``regressions/seeds.json`` is replayed
and gets its expected verdict (a planted bug still caught by its shrunk
configuration; an engine bug once found still fixed). The file's checks and
``persist-nemesis shrink --replay-regressions`` are tested on small files."""

from __future__ import annotations

import json

import pytest

from nemesis import regressions as rg

ENTRIES = rg.load(rg.DEFAULT_FILE)


def test_the_regressions_file_is_well_formed_and_covers_both_kinds():
    assert ENTRIES, "regressions/seeds.json lists no regression"
    kinds = {(e["expect"], bool(e.get("mutant"))) for e in ENTRIES}
    assert ("invalid", True) in kinds and ("valid", False) in kinds
    for e in ENTRIES:
        rg.config_from_dict(e)  # every entry makes a runnable configuration


@pytest.mark.parametrize("entry", [
    pytest.param(e, id=e["name"], marks=[pytest.mark.s3] if e.get("blob") == "s3" else []) for e in ENTRIES])
def test_regression_seed_gets_its_expected_verdict(tmp_path, entry):
    r = rg.replay_one(entry, str(tmp_path))
    assert r["ok"], f"{entry['name']}: {r['why']}\n{json.dumps(r['runs'], indent=1)}"


def _write(path, doc):
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_broken_regressions_file_is_refused_with_the_entry_and_the_reason(tmp_path):
    good = {"name": "a", "workload": "append", "nemesis": ["kill"], "seed": 1, "time_limit": 1, "expect": "valid"}
    with pytest.raises(rg.RegressionError, match="no regressions file"):
        rg.load(str(tmp_path / "none.json"))
    (tmp_path / "torn.json").write_text("{")
    with pytest.raises(rg.RegressionError, match="not JSON"):
        rg.load(str(tmp_path / "torn.json"))
    with pytest.raises(rg.RegressionError, match="expected"):
        rg.load(_write(tmp_path / "l.json", [good]))
    with pytest.raises(rg.RegressionError, match="entry 1.*must be unique"):
        rg.load(_write(tmp_path / "d.json", {"format": 1, "regressions": [good, good]}))
    with pytest.raises(rg.RegressionError, match="lacks seed"):
        no_seed = {k: v for k, v in good.items() if k != "seed"}
        rg.load(_write(tmp_path / "m.json", {"format": 1, "regressions": [no_seed]}))
    with pytest.raises(rg.RegressionError, match="expect must be one of"):
        rg.load(_write(tmp_path / "e.json", {"format": 1, "regressions": [{**good, "expect": "pass"}]}))
    with pytest.raises(rg.RegressionError, match="mutant mutants/nope.py not found"):
        rg.load(_write(tmp_path / "n.json", {"format": 1, "regressions": [{**good, "mutant": "mutants/nope.py"}]}))


def test_add_keeps_names_unique_and_the_file_loadable(tmp_path):
    path = str(tmp_path / "r" / "seeds.json")
    e = {"name": "x y", "workload": "append", "nemesis": ["kill"], "seed": 1, "time_limit": 1, "expect": "valid"}
    assert rg.add(e, path)["name"] == "x-y"
    assert rg.add(e, path)["name"] == "x-y-2"
    assert [x["name"] for x in rg.load(path)] == ["x-y", "x-y-2"]


def test_replay_command_reports_each_entry_and_fails_on_a_wrong_verdict(tmp_path, capsys):
    """A valid engine run recorded as 'expect invalid' must make the replay
    fail (exit 1), and an unknown --only name is bad input (exit 3)."""
    from nemesis.cli import main

    entry = {"name": "quiet-run", "workload": "append", "nemesis": ["none"], "seed": 1, "time_limit": 1.0,
             "concurrency": 2, "op_limit": 40, "expect": "invalid", "tries": 1}
    path = _write(tmp_path / "seeds.json", {"format": 1, "regressions": [entry, {**entry, "name": "ok-run",
                                                                                  "expect": "valid"}]})
    with pytest.raises(SystemExit) as e:
        main(["shrink", "--replay-regressions", "--regressions", path, "--store", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert e.value.code == 1, out
    assert "FAIL quiet-run" in out and "ok   ok-run" in out and "1 passed, 1 failed" in out
    with pytest.raises(SystemExit) as e:
        main(["shrink", "--replay-regressions", "--regressions", path, "--only", "nope"])
    assert e.value.code == 3 and "no entry named nope" in capsys.readouterr().err


def _fake_runs(monkeypatch, verdicts):
    """run_one replaced by a sequence of verdicts (invalid ones by lost-writes)."""
    import nemesis.runner as run_mod

    it = iter(verdicts)
    calls = []

    def run_one(cfg, store, quiet=True, reports=False):
        v = next(it)
        calls.append(v)
        return {"verdict": v, "run_dir": f"/r/{len(calls)}", "ops": 10, "results": {
            "checkers": [{"checker": "lost-writes", "valid": v != "invalid"}]}}

    monkeypatch.setattr(run_mod, "run_one", run_one)
    return calls


ENTRY = {"name": "e", "workload": "append", "nemesis": ["kill"], "seed": 1, "time_limit": 1.0, "op_limit": 5,
         "expect": "invalid", "checkers": ["lost-writes"], "tries": 4, "rate": "3/4"}


def test_a_replay_runs_every_try_and_reports_the_rate_it_failed_at(tmp_path, monkeypatch):
    calls = _fake_runs(monkeypatch, ["invalid", "valid", "invalid", "invalid"])
    r = rg.replay_one(ENTRY, str(tmp_path))
    assert r["ok"] and r["rate"] == "3/4" and r["recorded"] == "3/4" and len(calls) == 4, r
    assert [x["as_recorded"] for x in r["runs"]] == [True, False, True, True]


def test_a_replay_whose_rate_drops_significantly_below_the_recorded_one_fails(tmp_path, monkeypatch):
    five = {**ENTRY, "tries": 5, "rate": "5/5"}
    _fake_runs(monkeypatch, ["invalid", "valid", "valid", "invalid", "valid"])
    r = rg.replay_one(five, str(tmp_path))
    assert not r["ok"] and r["rate"] == "2/5" and "significantly below the recorded rate 5/5" in r["why"], r
    _fake_runs(monkeypatch, ["valid", "valid", "valid", "valid", "invalid"])
    assert not rg.replay_one(five, str(tmp_path))["ok"]  # 1 of 5: the complaint of issue 14 stays refused
    _fake_runs(monkeypatch, ["invalid", "invalid", "invalid", "invalid", "valid"])
    r = rg.replay_one(five, str(tmp_path))  # one miss in five is within what a recorded 5/5 allows
    assert r["ok"] and r["rate"] == "4/5" and 0.05 <= r["p"] < 1, r
    _fake_runs(monkeypatch, ["valid"] * 8)
    assert not rg.replay_one(ENTRY, str(tmp_path), tries=8)["ok"]  # never failing is never ok
    _fake_runs(monkeypatch, ["invalid", "invalid", "invalid", "valid", "valid", "invalid", "invalid", "invalid"])
    assert rg.replay_one(ENTRY, str(tmp_path), tries=8)["ok"]  # 6/8 >= 3/4: fractions are compared
    _fake_runs(monkeypatch, ["valid", "valid", "valid", "invalid"])  # no rate: one failing run in tries is enough
    assert rg.replay_one({k: v for k, v in ENTRY.items() if k != "rate"}, str(tmp_path))["ok"]


@pytest.mark.parametrize("k,n,rk,rn,ok", [(5, 5, 5, 5, True), (4, 5, 5, 5, True), (3, 5, 5, 5, True),
                                          (2, 5, 5, 5, False), (1, 15, 1, 15, True), (0, 15, 1, 15, False),
                                          (10, 20, 19, 20, False), (16, 20, 19, 20, True)])
def test_the_rate_test_is_a_one_sided_binomial_test(k, n, rk, rn, ok):
    got, p = rg.consistent_rate(k, n, rk, rn)
    assert got is ok and 0 <= p <= 1, (k, n, rk, rn, p)


def test_a_bad_rate_is_refused_with_the_entry(tmp_path):
    for bad in ("3", "5/4", "a/b", "1/0"):
        with pytest.raises(rg.RegressionError, match="entry 0.*rate"):
            rg.load(_write(tmp_path / "r.json", {"format": 1, "regressions": [{**ENTRY, "rate": bad}]}))


def test_every_invalid_entry_records_its_rate():
    for e in ENTRIES:
        if e["expect"] == "invalid":
            k, n = rg.parse_rate(e.get("rate"))
            assert k >= 1, e["name"]
