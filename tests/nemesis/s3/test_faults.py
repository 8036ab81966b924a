"""S3 fault rules against the real moto server over HTTP.

Storage level: for each mode, S3Blob's classification (determinate or
indeterminate) agrees with what the store holds afterwards. Engine level:
``persist.open("s3://...")`` keeps its contract under each mode: every
acknowledged write is there after a reopen, every failed one is not, no
update is doubled, and ``persist.check`` is clean at the end.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

import persist
from persist.errors import ConflictError, Determinate, Indeterminate, PersistError, StorageIndeterminateError
from persist.storage import S3Blob

pytestmark = pytest.mark.s3

READ_TIMEOUT = 0.5
HANG = READ_TIMEOUT + 0.4  # a timeout rule hangs just past the client's read timeout


@pytest.fixture
def blob(moto_server, s3_bucket):
    def make(**kw):
        opts = {"read_timeout": READ_TIMEOUT, "connect_timeout": 1.0, **moto_server.client_options(), **kw}
        return S3Blob(s3_bucket, prefix="pre", **opts)

    return make


# --- storage level ----------------------------------------------------------

# (rule, operation, expected outcome, stored afterwards). Operations:
#   "set": plain put of k; "create": compare_and_set(k, None); "cas": k exists
#   (v0), compare_and_set(k, its token, v1); "delete": k exists, delete it.
# Outcome: "ok", or the error class expected. Stored: the value of k after.
CASES = [
    # error-before: never applied
    ("error-before method=PUT count=1", "set", "ok", b"v1"),  # botocore's retry lands it
    ("error-before method=PUT", "set", StorageIndeterminateError, None),  # a 5xx can't say
    ("error-before method=PUT", "create", StorageIndeterminateError, None),
    ("error-before method=PUT", "cas", StorageIndeterminateError, b"v0"),
    ("error-before method=PUT status=400 code=InvalidRequest", "set", Determinate, None),
    ("error-before method=DELETE", "delete", StorageIndeterminateError, b"v0"),
    # error-after: applied, and the client must not call it failed
    ("error-after method=PUT", "set", StorageIndeterminateError, b"v1"),
    ("error-after method=PUT count=1", "set", "ok", b"v1"),  # the retry puts it again
    ("error-after method=PUT count=1", "create", StorageIndeterminateError, b"v1"),  # 412 on the retry
    ("error-after method=PUT count=1", "cas", StorageIndeterminateError, b"v1"),
    ("error-after method=DELETE", "delete", StorageIndeterminateError, None),
    # drop-after: applied, connection reset
    ("drop-after method=PUT", "set", StorageIndeterminateError, b"v1"),
    ("drop-after method=PUT count=1", "create", StorageIndeterminateError, b"v1"),
    ("drop-after method=PUT count=1", "cas", StorageIndeterminateError, b"v1"),
    ("drop-after method=DELETE count=1", "delete", "ok", None),
    # timeout: hangs past the read timeout, applied or not as the rule says
    (f"timeout method=PUT apply=true seconds={HANG}", "create", StorageIndeterminateError, b"v1"),
    (f"timeout method=PUT apply=false seconds={HANG}", "create", StorageIndeterminateError, None),
    (f"timeout method=PUT apply=false seconds={HANG}", "cas", StorageIndeterminateError, b"v0"),
    (f"timeout method=PUT apply=true seconds={HANG} count=1", "cas", StorageIndeterminateError, b"v1"),
    # latency below the read timeout: just slower
    (f"latency seconds={READ_TIMEOUT / 2}", "create", "ok", b"v1"),
    (f"latency seconds={READ_TIMEOUT / 2}", "cas", "ok", b"v1"),
    # conflict: a determinate refusal, never applied
    ("conflict method=PUT", "create", ConflictError, None),
    ("conflict method=PUT", "cas", ConflictError, b"v0"),
    ("conflict method=PUT", "set", ConflictError, None),
]


@pytest.mark.parametrize("rule, op, outcome, stored", CASES, ids=[f"{c[0].split()[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_blob_classification_agrees_with_the_store(blob, rules, s3_bucket, rule, op, outcome, stored):
    b = blob()
    token = None
    if op in ("cas", "delete"):
        token = b.compare_and_set("k", None, b"v0")
    rules.add(f"{rule} bucket={s3_bucket} key=pre/k")
    t0 = time.monotonic()
    calls = {"set": lambda: b.set("k", b"v1"), "create": lambda: b.compare_and_set("k", None, b"v1"),
             "cas": lambda: b.compare_and_set("k", token, b"v1"), "delete": lambda: b.delete("k")}
    if outcome == "ok":
        calls[op]()
    else:
        with pytest.raises(PersistError) as e:
            calls[op]()
        assert isinstance(e.value, outcome), f"{type(e.value).__name__}: {e.value}"
        if isinstance(e.value, Indeterminate):
            assert "may" in str(e.value) or "unknown" in str(e.value)
    elapsed = time.monotonic() - t0
    fired = rules.clear()
    assert fired[0]["hits"] >= 1, "the rule never fired: the test tested nothing"
    assert b.get("k") == stored
    if rule.startswith("latency"):
        assert elapsed >= READ_TIMEOUT / 2
    if rule.startswith("timeout"):
        assert elapsed >= READ_TIMEOUT  # the client gave up; the server had not answered


def test_reads_under_faults_are_determinate_and_change_nothing(blob, rules, s3_bucket):
    b = blob()
    b.set("k", b"v")
    for rule in ("error-before method=GET", "error-after method=GET", "drop-after method=GET",
                 f"timeout method=GET seconds={HANG}"):
        rules.add(f"{rule} bucket={s3_bucket}")
        with pytest.raises(PersistError) as e:
            b.get("k")
        assert isinstance(e.value, Determinate), rule
        rules.clear()
    assert b.get("k") == b"v"


def test_rules_only_hit_what_they_match(blob, rules, s3_bucket):
    b = blob()
    rules.add(f"conflict method=PUT bucket={s3_bucket} key=pre/meta")
    b.set("other", b"x")  # not matched
    with pytest.raises(ConflictError):
        b.compare_and_set("meta", None, b"m")
    rules.add(f"error-before method=PUT bucket=some-other-bucket")
    b.set("other2", b"y")
    listed = {r["mode"]: r for r in rules.rules()}
    assert listed["conflict"]["hits"] == 1 and listed["conflict"]["matched"] == 1
    assert listed["error-before"]["matched"] == 0


def test_control_endpoint_refuses_a_bad_rule_and_adds_none(moto_server, rules):
    req = urllib.request.Request(f"{moto_server.endpoint_url}/_nemesis/rules", method="POST",
                                 data=json.dumps({"rules": [{"mode": "latency"}, {"mode": "sometimes"}]}).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400
    assert "unknown mode 'sometimes'" in json.loads(e.value.read())["error"]
    assert rules.rules() == []
    # the text form is accepted as a body, one rule a line
    req = urllib.request.Request(f"{moto_server.endpoint_url}/_nemesis/rules", method="POST",
                                 data=b"latency seconds=0\nconflict method=PUT count=1\n")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert [x["mode"] for x in json.loads(r.read())["added"]] == ["latency", "conflict"]
    ids = [r["id"] for r in rules.rules()]
    assert [r["id"] for r in rules.clear(ids[:1])] == ids[:1]
    assert [r["id"] for r in rules.rules()] == ids[1:]


def test_clearing_releases_a_hanging_request_which_stays_unapplied(blob, rules, s3_bucket):
    import threading

    b = blob(read_timeout=30, total_max_attempts=1)
    rules.add(f"timeout method=PUT apply=false seconds=60 bucket={s3_bucket}")
    out = {}

    def put():
        try:
            b.set("k", b"v")
            out["r"] = "ok"
        except PersistError as e:
            out["r"] = e

    t = threading.Thread(target=put)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    rules.clear()
    t.join(10)
    assert not t.is_alive() and time.monotonic() - t0 < 5
    assert isinstance(out["r"], StorageIndeterminateError)
    assert b.get("k") is None


# --- engine level -------------------------------------------------------------

ENGINE_RULES = [
    "error-before p=0.3",
    "error-after method=PUT p=0.3",
    "error-after method=PUT key=*/meta p=0.5",
    "drop-after method=PUT p=0.3",
    "drop-after method=PUT key=*/meta p=0.5",
    f"timeout method=PUT apply=true seconds={HANG} p=0.15",
    f"timeout method=PUT apply=false seconds={HANG} p=0.15",
    "latency seconds=0.05 p=0.5",
    "conflict method=PUT p=0.3",
    "error-after method=DELETE p=0.5",
]


@pytest.mark.parametrize("rule", ENGINE_RULES)
def test_engine_keeps_its_contract_under_each_fault(moto_server, s3_bucket, rules, tmp_path, rule):
    from tests.nemesis.s3.engine_scenario import engine_options, run, violations

    v = run(rules, f"s3://{s3_bucket}/loc", str(tmp_path / "wal"), engine_options(moto_server.endpoint_url), rule,
            seed=3, debug=True)
    assert v["fired"] > 0, "the rule never fired: the test tested nothing"
    assert v["acked"] > 10
    assert not violations(v), violations(v)


def test_frontiers_never_go_back_across_handles_while_a_commit_hangs(moto_server, s3_bucket, rules, tmp_path):
    import threading

    from tests.nemesis.s3.engine_scenario import engine_options

    url, opts = f"s3://{s3_bucket}/loc", engine_options(moto_server.endpoint_url)
    with persist.open(url, wal_dir=str(tmp_path / "wal"), background=False, **opts) as p:
        s = p.stream("s")
        s.write([(b"a", b"v", 1, 1)])
        s.seal(10)
        rules.add(f"timeout method=PUT key=*meta apply=true seconds={HANG} count=1 bucket={s3_bucket}")
        t = threading.Thread(target=s.allow_compaction, args=(5,))
        t.start()
        time.sleep(0.2)  # the record has landed; the writer waits for an answer that will not come
        reader = persist.open(url, read_only=True, **opts)
        try:
            seen_by_reader = reader.stream("s").since
        finally:
            reader.close()
        seen_by_writer_after = s.since
        t.join(30)
    assert seen_by_reader == 5, "the scenario did not set up the race"
    assert seen_by_writer_after >= seen_by_reader, (
        f"since went back: a reader saw {seen_by_reader}, then the writer reported {seen_by_writer_after}")
