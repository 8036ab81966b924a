"""Fault rules: the parser (text and JSON forms, clear refusals), matching,
the seeded probability and the hit count."""

from __future__ import annotations

import pytest

from nemesis.s3.rules import MODES, Rule, RuleError, RuleTable, parse


def test_text_and_json_forms_agree_and_round_trip():
    r = parse("error-after method=put key=*/meta p=0.5 count=2 seed=7 status=503")
    assert (r.mode, r.method, r.key, r.p, r.count, r.seed, r.status, r.code) == (
        "error-after", "PUT", "*/meta", 0.5, 2, 7, 503, "SlowDown")
    assert parse(r.to_json()) == r
    assert parse(r.to_text()) == r
    assert parse({"mode": "timeout", "apply": "yes", "seconds": 1.5}).to_json()["apply"] is True


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_parses_with_defaults_and_says_if_it_applies(mode):
    r = parse(mode)
    j = r.to_json()
    assert j["mode"] == mode and isinstance(j["applies"], bool)
    assert j["applies"] == (mode in ("error-after", "drop-after", "latency"))
    if mode == "timeout":
        assert j["apply"] is False and j["seconds"] > 10  # past S3Blob's default 10 s read timeout
    assert parse(r.to_text()) == r


@pytest.mark.parametrize("text, names", [
    ("", "empty"),
    ("explode", "unknown mode 'explode'"),
    ("error-before p=0", "p=0 must be in (0, 1]"),
    ("error-before p=1.5", "must be in (0, 1]"),
    ("error-before p=often", "not a number"),
    ("error-before count=-1", "count=-1"),
    ("error-before count=1.5", "not an integer"),
    ("error-before method=PATCH", "method 'PATCH'"),
    ("error-before key=re:([", "does not compile"),
    ("error-before colour=red", "unknown field 'colour'"),
    ("error-before oops", "'oops' is not name=value"),
    ("error-after status=404", "never answers 4xx after applying"),
    ("error-before status=200", "400..599"),
    ("latency status=500", "status= is for"),
    ("conflict status=412", "conflict is always 409"),
    ("drop-after seconds=3", "seconds= is for timeout and latency"),
    ("latency apply=true", "apply= is for timeout only"),
    ("timeout apply=maybe", "not true or false"),
    ("error-before code='Slow Down'", "must be a word"),
    ("timeout key='unclosed", "does not tokenize"),
])
def test_bad_rules_say_what_is_wrong_and_what_is_accepted(text, names):
    with pytest.raises(RuleError) as e:
        parse(text)
    msg = str(e.value)
    assert names in msg
    assert "error-before, error-after, drop-after, timeout, latency, conflict" in msg  # what is accepted


def test_non_text_non_object_is_refused():
    with pytest.raises(RuleError, match="text or a JSON object"):
        parse(42)  # type: ignore[arg-type]


def test_matching_by_method_key_and_bucket():
    r = parse("error-before method=PUT key=*/meta bucket=bk")
    assert r.matches("PUT", "bk", "run1/meta")
    assert not r.matches("GET", "bk", "run1/meta")
    assert not r.matches("PUT", "other", "run1/meta")
    assert not r.matches("PUT", "bk", "run1/batch/meta-x")
    assert not r.matches("PUT", "bk", None)  # a key pattern needs an object
    rx = parse("error-before key=re:run[0-9]/batch/.*")
    assert rx.matches("DELETE", "bk", "run3/batch/000001-ab") and not rx.matches("DELETE", "bk", "xrun3/batch/a")
    anyreq = parse("latency")
    assert anyreq.matches("GET", "bk", None) and anyreq.matches("HEAD", "bk", "k")


def test_count_limits_hits_and_probability_is_seeded():
    r = parse("error-before count=2")
    assert [r.decide() for _ in range(4)] == [True, True, False, False]
    assert (r.matched, r.hits) == (2, 2)

    def draws(seed):
        x = parse(f"error-before p=0.3 seed={seed}")
        return [x.decide() for _ in range(200)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)
    assert 30 < sum(draws(5)) < 90  # about 60 of 200


def test_table_first_firing_rule_wins_and_clear_returns_counts():
    t = RuleTable()
    a, b = t.add([parse("conflict method=PUT count=1"), parse("latency seconds=0")])
    assert (a.id, b.id) == (1, 2)
    assert t.pick("PUT", "bk", "k") is a
    assert t.pick("PUT", "bk", "k") is b  # a's count is used up
    assert t.pick("GET", "bk", "k") is b
    assert t.fired == {"conflict": 1, "latency": 2}
    gone = t.clear([1])
    assert [r.id for r in gone] == [1] and [r.id for r in t.rules] == [2]
    assert t.snapshot()[0]["hits"] == 2
    assert t.clear() == [b] and t.rules == []


def test_rule_equality_ignores_runtime_counts():
    x, y = Rule("latency"), Rule("latency")
    x.decide()
    assert x == y
