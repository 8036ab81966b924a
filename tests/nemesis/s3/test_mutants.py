"""The S3 mutants are caught at the engine level: through the faulty moto,
the scenario's verdict (acknowledged writes, doubles, persist.check) breaks
the contract with each mutant loaded, and holds without one. Each run is a
child process, so a mutant's monkeypatching stays there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.nemesis.s3.engine_scenario import violations

pytestmark = pytest.mark.s3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MUTANTS = os.path.join(ROOT, "mutants")
RULE = "error-after method=PUT key=*/meta p=0.5"


def scenario(moto_server, bucket, tmp_path, mutant=None, rule=RULE, seed=3):
    cmd = [sys.executable, "-m", "tests.nemesis.s3.engine_scenario", moto_server.endpoint_url, bucket,
           str(tmp_path / "wal"), rule, str(seed)]
    if mutant:
        cmd += ["--mutant", os.path.join(MUTANTS, mutant)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_correct_engine_holds_under_the_rule_that_catches_the_mutants(moto_server, s3_bucket, rules, tmp_path):
    v = scenario(moto_server, s3_bucket, tmp_path)
    assert v["fired"] > 0
    assert violations(v) == []


@pytest.mark.parametrize("mutant, symptom", [
    ("s3_blind_cas_retry.py", ("doubled", "persist.check")),
    ("s3_ambiguous_put_deleted.py", ("lost", "final read failed", "persist.check")),
])
def test_s3_mutant_is_caught(moto_server, s3_bucket, rules, tmp_path, mutant, symptom):
    v = scenario(moto_server, s3_bucket, tmp_path, mutant)
    assert v["fired"] > 0
    bad = violations(v)
    assert bad, f"{mutant} was not caught: {v}"
    assert any(any(word in b for word in symptom) for b in bad), bad
