"""Scheduling of partitions: one hard partition never hides a violation in
another (issue 12). Histories are generated in the shape of Porcupine's
50-client kv data (tests/checker/kvgen.py): hot keys with many concurrent
appends and long reads, and one key with a corrupted read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.formats.jepsen_edn import history_from_edn
from checker.linear import check_ops
from checker.models import get_model
from tests.checker.kvgen import kv_history

REPO = Path(__file__).resolve().parents[2]
HOT = ("0", "1", "2")
CAP = 3000  # configurations per partition: the hot keys need more than this
PUTS = 0.2  # a fifth of the hot keys' writes are puts: no pruning by prefix there


def gen(**kw) -> str:
    return kv_history(put_share=PUTS, **kw)


def hard_keys(text: str, cap: int) -> list[str]:
    """The keys that, checked alone, come back undecided under ``cap``."""
    m = get_model("kv")
    out = []
    for label, part, _km in m.partition(history_from_edn(text).ops):
        r = check_ops(part, m, max_configs=cap)
        if r.valid == "unknown":
            out.append(label)
    return sorted(out)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_violation_in_one_key_is_found_behind_hard_keys(seed: int) -> None:
    """Must show 1: several keys hard, one violating -> verdict false; the
    hard keys are listed as undecided only when no violation was found."""
    bad_text = gen(seed=seed, hot=HOT, bad=("5",))
    ok_text = gen(seed=seed, hot=HOT)
    hard = hard_keys(ok_text, CAP)
    assert len(hard) >= 2, f"the generated hot keys should be hard under {CAP} configurations; got {hard}"
    assert "5" not in hard

    bad = check_ops(history_from_edn(bad_text).ops, get_model("kv"), max_configs=CAP)
    assert bad.valid is False
    assert [d["partition"] for d in bad.stats["linear"]] == ["5"]
    assert "key '5'" in bad.anomalies[0].message
    assert "undecided" not in bad.stats

    ok = check_ops(history_from_edn(ok_text).ops, get_model("kv"), max_configs=CAP)
    assert ok.valid == "unknown"
    assert sorted(d["partition"] for d in ok.stats["undecided"]) == hard
    assert all("search-space limit of 3000" in d["reason"] for d in ok.stats["undecided"])
    assert "every other partition is linearizable" in ok.reason


def test_the_hard_key_checked_first_does_not_stop_the_check() -> None:
    """Key "0" is the first partition (the old check stopped there); the
    violation is in the last key the model lists."""
    text = gen(seed=3, hot=("0",), bad=("9",))
    parts = [lbl for lbl, _p, _m in get_model("kv").partition(history_from_edn(text).ops)]
    assert parts[0] == "0" and parts.index("9") > 0
    assert "0" in hard_keys(text, CAP)
    r = check_ops(history_from_edn(text).ops, get_model("kv"), max_configs=CAP)
    assert r.valid is False and r.stats["linear"][0]["partition"] == "9"


def test_all_failures_reports_every_violating_key_and_the_undecided() -> None:
    text = gen(seed=1, hot=HOT, bad=("5", "7"))
    first = check_ops(history_from_edn(text).ops, get_model("kv"), max_configs=CAP)
    assert first.valid is False and len(first.anomalies) == 1
    every = check_ops(history_from_edn(text).ops, get_model("kv"), max_configs=CAP, all_failures=True)
    assert every.valid is False
    assert sorted(d["partition"] for d in every.stats["linear"]) == ["5", "7"]
    assert sorted(d["partition"] for d in every.stats["undecided"]) == hard_keys(gen(seed=1, hot=HOT), CAP)


def test_the_cap_is_per_partition() -> None:
    """Ten easy keys that each need some configurations: a cap above each
    one's need decides them all, though their sum is above the cap."""
    text = kv_history(seed=4, clients=10, ops_per_client=30)
    ops = history_from_edn(text).ops
    m = get_model("kv")
    needs = [check_ops(part, m).stats["configurations"] for _l, part, _m in m.partition(ops)]
    cap = max(needs) + 1
    assert sum(needs) > cap
    r = check_ops(ops, m, max_configs=cap)
    assert r.valid is True


def test_cli_max_configs_and_all_failures(tmp_path: Path) -> None:
    f = tmp_path / "kv50.edn"
    f.write_text(gen(seed=1, hot=HOT))
    cp = subprocess.run(
        [sys.executable, "-m", "nemesis.cli", "check", "--json", "--max-configs", str(CAP), str(f)],
        capture_output=True, text=True, cwd=REPO,
    )
    assert cp.returncode == 2, cp.stderr
    v = json.loads(cp.stdout)
    (lin,) = [c for c in v["checkers"] if c["checker"] == "linearizable"]
    assert sorted(d["partition"] for d in lin["stats"]["undecided"]) == hard_keys(f.read_text(), CAP)
    assert "search-space limit of 3000 configurations" in v["reason"]
    bad = tmp_path / "kv50-bad.edn"
    bad.write_text(gen(seed=1, hot=HOT, bad=("5", "7")))
    cp = subprocess.run(
        [sys.executable, "-m", "nemesis.cli", "check", "--json", "--all-failures", "--max-configs", str(CAP), str(bad)],
        capture_output=True, text=True, cwd=REPO,
    )
    assert cp.returncode == 1, cp.stderr
    assert len(json.loads(cp.stdout)["anomalies"]) == 2
    cp = subprocess.run([sys.executable, "-m", "nemesis.cli", "check", "--max-configs", "0", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert cp.returncode == 3 and "--max-configs" in cp.stderr
