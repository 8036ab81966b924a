"""Every real Jepsen history in ../shared/data/jepsen-histories gets the
verdict its expected.tsv gives (Porcupine's test data; see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.formats import read_history
from checker.linear import check
from checker.models import get_model

REPO = Path(__file__).resolve().parents[2]
DATA = (REPO / ".." / "shared" / "data" / "jepsen-histories").resolve()


def cases() -> list:
    tsv = DATA / "expected.tsv"
    if not tsv.exists():
        return [pytest.param(None, None, None, None, marks=pytest.mark.skip(reason=f"shared Jepsen histories not found at {DATA} (CI keeps them beside the clone)"))]
    out = []
    for line in tsv.read_text().splitlines()[1:]:
        if line.strip():
            f, fmt, model, lin = line.split("\t")
            out.append(pytest.param(f, fmt, model, lin == "true", id=f))
    return out


@pytest.mark.parametrize("name,fmt,model,expected", cases())
def test_verdict_matches_expected_tsv(name: str, fmt: str, model: str, expected: bool) -> None:
    h = read_history(DATA / name, fmt)
    r = check(h, get_model(model), time_limit=60)
    assert r.valid is expected, r.summary()
    if expected is False:
        a = r.anomalies[0]
        assert a.ops and f"op {a.ops[0]}" in a.message


@pytest.mark.parametrize("algorithm", ["dfs", "sweep", "wgl"])
@pytest.mark.parametrize("name,fmt,model,expected", cases())
def test_verdict_without_refutations_or_partitions(name: str, fmt: str, model: str, expected: bool, algorithm: str) -> None:
    """The search alone (no cheap refutation; no partitioning by key, which
    the README says the kv verdicts do not depend on, except for the
    10-client kv files: unpartitioned they take ~10-30 s, see BENCHMARKS.md),
    depth first or breadth first, reaches the same verdict."""
    h = read_history(DATA / name, fmt)
    partition = name.startswith("kv/c10")
    r = check(h, get_model(model), time_limit=60, refute=False, partition=partition, algorithm=algorithm)
    assert r.valid is expected, r.summary()


def test_format_inferred_from_extension() -> None:
    if not DATA.exists():
        pytest.skip(f"shared Jepsen histories not found at {DATA}")
    h = read_history(DATA / "etcd" / "etcd_000.log")
    assert len(h.ops) == 85
    # fail :cas is a cas that ran and failed; ok :cas succeeded
    cas = [o for o in h.ops if o.f == "cas"]
    assert {o.result for o in cas if o.type == "ok"} <= {True, False}
    assert any(o.result is False for o in cas)
