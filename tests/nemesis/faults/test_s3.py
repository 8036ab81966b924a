"""The ``s3`` nemesis against a real moto server: each fault installs one
seeded rule scoped to the run's bucket and its end removes it, reporting the
hits; the catalogue only draws rules a real S3 could produce."""

from __future__ import annotations

import random

import pytest

from nemesis.faults.base import Fault, RunContext
from nemesis.faults.s3 import S3Faults, catalogue_rule
from nemesis.s3.rules import MODES, parse
from tests.nemesis.s3.conftest import rules  # noqa: F401 - the fixture

pytestmark = pytest.mark.s3


def ctx_for(moto_server, bucket, rules=()):
    c = RunContext(workers={}, data_dir="/nonexistent", reports_dir="/nonexistent", durable=None)  # type: ignore[arg-type]
    c.s3 = {"endpoint_url": moto_server.endpoint_url, "bucket": bucket, "prefix": "loc", "read_timeout": 0.5,
            "rules": list(rules)}
    return c


def test_catalogue_draws_every_mode_and_only_real_s3_behaviour():
    seen = set()
    for seed in range(400):
        r = catalogue_rule(random.Random(seed), read_timeout=1.0)
        seen.add(r.mode)
        assert parse(r.to_json()) == r
        if r.mode == "error-after":
            assert r.status >= 500  # never a 4xx after applying
        if r.mode == "timeout":
            assert r.seconds > 1.0 and r.apply in (True, False) and r.count in (1, 2)
        if r.mode == "latency":
            assert r.seconds < 1.0  # stays under the read timeout: just slower
    assert seen == set(MODES)


def test_a_fault_sets_one_rule_and_its_end_clears_it(moto_server, s3_bucket, rules):
    nem = S3Faults()
    nem.start(ctx_for(moto_server, s3_bucket))
    fault = Fault(at=1.0, nemesis="s3", target=-1, duration=1.0, seed=42)
    value = nem.invoke(fault)
    (rule,) = value["rules"]
    assert rule["bucket"] == s3_bucket and rule["seed"] == 42 and isinstance(value["applies"], bool)
    assert [r["id"] for r in rules.rules()] == [rule["id"]]
    (action, v), = nem.recover(fault)
    assert action == "end" and v == {"nemesis": "s3", "ids": [rule["id"]]}
    done = nem.act(action, v)
    assert done["rules"] == [] and [r["id"] for r in done["cleared"]] == [rule["id"]]
    assert "hits" in done["cleared"][0]
    assert rules.rules() == []
    assert nem.act(action, v) is None  # nothing left to clear


def test_the_same_seed_draws_the_same_rule(moto_server, s3_bucket, rules):
    nem = S3Faults()
    nem.start(ctx_for(moto_server, s3_bucket))
    a = [nem.rule_for(Fault(0, "s3", -1, 1, s)).to_json() for s in range(20)]
    b = [nem.rule_for(Fault(0, "s3", -1, 1, s)).to_json() for s in range(20)]
    assert a == b and len({str(x) for x in a}) > 5


def test_user_rules_replace_the_catalogue(moto_server, s3_bucket, rules):
    nem = S3Faults()
    nem.start(ctx_for(moto_server, s3_bucket, rules=["conflict method=PUT key=*meta"]))
    for s in range(5):
        r = nem.rule_for(Fault(0, "s3", -1, 1, s))
        assert (r.mode, r.method, r.key, r.bucket, r.seed) == ("conflict", "PUT", "*meta", s3_bucket, s)


def test_heal_clears_at_once_and_the_end_still_reports(moto_server, s3_bucket, rules):
    nem = S3Faults()
    nem.start(ctx_for(moto_server, s3_bucket))
    fault = Fault(0, "s3", -1, 1, 7)
    nem.invoke(fault)
    (action, v), = nem.recover(fault)
    nem.heal()
    assert rules.rules() == []
    assert nem.act(action, v)["rules"] == []


def test_without_a_run_on_s3_it_refuses_to_start():
    c = RunContext(workers={}, data_dir="/x", reports_dir="/x", durable=None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="--blob s3"):
        S3Faults().start(c)
