"""``check --explain``: the smallest failing core (checker/explain.py).

Must show 3 (issue 12): on every non-linearizable shared history, the core's
witness is not linearizable and dropping any one op of the core makes it
linearizable (checked here with the checker itself, independently of the
shrinker's memo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.explain import Oracle, explain, shrink
from checker.formats import read_history
from checker.history import pair
from checker.linear import check, check_ops
from checker.models import get_model
from tests.checker.test_jepsen_histories import DATA

REPO = Path(__file__).resolve().parents[2]


def bad_histories() -> list:
    tsv = DATA / "expected.tsv"
    if not tsv.exists():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=f"shared Jepsen histories not found at {DATA}"))]
    out = []
    for line in tsv.read_text().splitlines()[1:]:
        if line.strip():
            f, fmt, model, lin = line.split("\t")
            if lin == "false":
                out.append(pytest.param(f, fmt, model, id=f))
    return out


@pytest.mark.parametrize("name,fmt,model", bad_histories())
def test_core_is_not_linearizable_and_one_minimal(name: str, fmt: str, model: str) -> None:
    h = read_history(DATA / name, fmt)
    r = check(h, get_model(model))
    assert r.valid is False
    f = r.failures[0]
    core, stats = explain(f)
    assert f.core == core and stats["core"] == len(core) >= 1
    part = {id(o) for o in f.part_ops}
    assert all(id(o) in part for o in core)
    # a fresh oracle (no memo) over the same partition
    oracle = Oracle(f.model, f.part_ops, None, 1_000_000)
    witness = oracle.witness(core)
    assert check_ops(witness, f.model, partition=False).valid is False
    for i in range(len(core)):
        smaller = oracle.witness(core[:i] + core[i + 1:])
        assert check_ops(smaller, f.model, partition=False).valid is True, f"{name}: the core stays non-linearizable without op {core[i].index}"
    # every core op is named by the input line of its invoke
    lines = (DATA / name).read_text().splitlines()
    for o in core:
        text = lines[h.lines[o.index] - 1]
        assert "invoke" in text and str(o.process) in text


def h(*evs):
    """(process, type, f, value, time)"""
    return pair([dict(zip(("process", "type", "f", "value", "time"), e)) for e in evs])


def test_a_dropped_write_is_weakened_not_removed() -> None:
    """w1; w2; read 1, sequential: the read of 1 alone would be "not
    linearizable" as a plain subset, but w1 happened; the witness keeps
    every other write as may-have-happened, so the core needs w1 (done
    before w2 began), w2 and the read."""
    hist = h((0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1), (1, "invoke", "write", 2, 2), (1, "ok", "write", 2, 3),
             (0, "invoke", "read", None, 4), (0, "ok", "read", 1, 5))
    r = check(hist, get_model("register"))
    core, _ = explain(r.failures[0])
    assert [o.index for o in core] == [0, 2, 4]


def test_the_core_is_one_of_the_small_explanations() -> None:
    """w1, read 1, w2, read 2, read 1 (sequential): either {w1, w2, the
    last read} or the three reads (1, 2, 1: the one write of 1 cannot take
    effect twice) is a 1-minimal core; the shrinker returns one of them."""
    hist = h((0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1), (2, "invoke", "read", None, 2), (2, "ok", "read", 1, 3),
             (1, "invoke", "write", 2, 4), (1, "ok", "write", 2, 5), (2, "invoke", "read", None, 6), (2, "ok", "read", 2, 7),
             (0, "invoke", "read", None, 8), (0, "ok", "read", 1, 9))
    core, stats = shrink(hist.ops, get_model("register"))
    assert [o.index for o in core] in ([0, 4, 8], [2, 6, 8]) and stats["candidates"] == 5


def test_a_linearizable_history_has_nothing_to_explain() -> None:
    hist = h((0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1), (0, "invoke", "read", None, 2), (0, "ok", "read", 1, 3))
    with pytest.raises(ValueError, match="nothing to explain"):
        shrink(hist.ops, get_model("register"))


def test_cli_explain_json_gives_input_lines(tmp_path: Path) -> None:
    src = DATA / "kv" / "c10-bad.txt"
    if not src.exists():
        pytest.skip(f"shared Jepsen histories not found at {DATA}")
    cp = subprocess.run([sys.executable, "-m", "nemesis.cli", "check", "--explain", "--json", str(src)], capture_output=True, text=True, cwd=REPO)
    assert cp.returncode == 1, cp.stderr
    v = json.loads(cp.stdout)
    lines = src.read_text().splitlines()
    assert v["core"] and len(v["core"]) == len(v["core_ops"])
    for n in v["core"]:
        assert ":type :invoke" in lines[n - 1]
    cp = subprocess.run([sys.executable, "-m", "nemesis.cli", "check", "--explain", str(src)], capture_output=True, text=True, cwd=REPO)
    assert "smallest failing core: " in cp.stdout
    assert sum(1 for t in cp.stdout.splitlines() if t.startswith("    line ")) == len(v["core"])
