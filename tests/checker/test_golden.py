"""Hand-written Knossos-convention histories (histories/, verdicts in
histories/expected.tsv): :fail did not happen, :info may have happened,
a nil read constrains nothing; both a vector and one map a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.formats import read_history
from checker.linear import check
from checker.models import get_model

HERE = Path(__file__).parent / "histories"
CASES = [line.split("\t") for line in (HERE / "expected.tsv").read_text().splitlines()[1:] if line.strip()]


@pytest.mark.parametrize("name,model,valid", CASES, ids=[c[0] for c in CASES])
def test_golden(name: str, model: str, valid: str) -> None:
    r = check(read_history(HERE / name), get_model(model))
    assert r.valid is (valid == "true"), r.summary()
    if r.valid is False:
        assert r.anomalies[0].message.startswith("op ")


def test_conventions_as_read() -> None:
    h = read_history(HERE / "knossos-vector-ok.edn")
    by = {o.index: o for o in h.ops}
    assert by[2].type == "fail"  # did not happen
    assert by[6].type == "ok" and by[6].unknown_result  # nil read
    assert by[4].unknown_result is False
    assert by[9].type == "info" and by[9].ret is None
    assert [e["f"] for e in h.nemesis] == ["start"]
    assert by[0].call == 0 and by[0].ret == 10  # :time used when every event has it


def test_flicker_names_the_read_that_saw_the_old_value() -> None:
    r = check(read_history(HERE / "knossos-lines-info-flicker.edn"), get_model("register"))
    assert r.valid is False
    assert r.anomalies[0].ops[0] == 6
    lin = r.stats["linear"][0]
    assert lin["failed_op"] == 6
    assert lin["prefix"][-1] == 4  # ... after the read of 2
