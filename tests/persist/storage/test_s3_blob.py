"""S3Blob's classification of botocore outcomes, against a real moto behind
the nemesis middleware (in a thread of this process, so that each test can
install fault hooks): determinate failures, conflicts, and the indeterminate
cases (5xx after apply, dropped connection after apply, read timeout, 412 on
the retry of a create-only put)."""

from __future__ import annotations

import threading
import time

import pytest

from persist.errors import ConflictError, Determinate, Indeterminate, StorageIndeterminateError, StorageUnavailableError
from persist.storage import S3Blob

pytestmark = pytest.mark.s3

ERROR_XML = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message></Error>'


class Fault:
    """A test hook: for the first ``times`` requests matching ``method``,
    answer ``status`` before or after applying, drop the connection after
    applying, or sleep ``delay`` first. Counts the matching requests."""

    def __init__(self, method="PUT", times=1, status=None, code="InternalError", after=False, drop=False, delay=0.0):
        self.method, self.times, self.status, self.code = method, times, status, code
        self.after, self.drop, self.delay = after, drop, delay
        self.seen = 0

    def __call__(self, req, forward):
        from nemesis.s3.middleware import DropConnection, S3Response

        if req.method != self.method or req.bucket is None:
            return forward()
        self.seen += 1
        if self.seen > self.times:
            return forward()
        if self.delay:
            time.sleep(self.delay)
        if self.drop:
            forward()
            raise DropConnection()
        if self.status is None:
            return forward()
        if self.after:
            forward()
        body = ERROR_XML.format(code=self.code).encode()
        return S3Response(f"{self.status} Injected", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body)


@pytest.fixture(scope="module")
def faulty_server():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from nemesis.s3 import CREDENTIALS
    from nemesis.s3.middleware import NemesisMiddleware

    app = NemesisMiddleware(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    opts = {"endpoint_url": f"http://127.0.0.1:{server.server_address[1]}", **CREDENTIALS}
    import boto3

    boto3.session.Session().client("s3", **opts).create_bucket(Bucket="faults")
    yield app, opts
    server.shutdown()


@pytest.fixture
def s3(faulty_server, request):
    app, opts = faulty_server
    app.hooks.clear()
    prefix = request.node.name.replace("[", "-").replace("]", "")

    def make(**kw):
        return S3Blob("faults", prefix=prefix, **{**opts, **kw})

    yield app, make
    app.hooks.clear()


def test_conflict_on_first_attempt_is_determinate(s3):
    app, make = s3
    b = make()
    b.compare_and_set("k", None, b"mine")
    with pytest.raises(ConflictError) as e:
        b.compare_and_set("k", None, b"theirs")
    assert isinstance(e.value, Determinate)


def test_create_applied_then_5xx_then_412_on_retry_is_indeterminate(s3):
    app, make = s3
    b = make()
    app.hooks.append(Fault(status=500, after=True))
    with pytest.raises(StorageIndeterminateError, match="412") as e:
        b.compare_and_set("k", None, b"v1")
    assert isinstance(e.value, Indeterminate)
    assert b.get("k") == b"v1"  # it had in fact been applied


def test_create_dropped_after_apply_is_indeterminate(s3):
    app, make = s3
    b = make()
    app.hooks.append(Fault(drop=True))
    with pytest.raises(StorageIndeterminateError):
        b.compare_and_set("k", None, b"v1")
    assert b.get("k") == b"v1"


def test_cas_applied_then_5xx_is_indeterminate(s3):
    app, make = s3
    b = make()
    t = b.compare_and_set("k", None, b"v1")
    app.hooks.append(Fault(status=503, code="SlowDown", after=True))
    with pytest.raises(StorageIndeterminateError):
        b.compare_and_set("k", t, b"v2")


def test_5xx_before_apply_then_success_on_retry(s3):
    app, make = s3
    b = make()
    fault = Fault(status=500)
    app.hooks.append(fault)
    token = b.compare_and_set("k", None, b"v1")
    assert fault.seen == 2 and b.get_versioned("k") == (b"v1", token)


def test_total_max_attempts_counts_attempts_and_5xx_is_indeterminate(s3):
    app, make = s3
    fault = Fault(status=500, times=100)
    app.hooks.append(fault)
    with pytest.raises(StorageIndeterminateError, match="after 2 attempt"):
        make(total_max_attempts=2).set("k", b"v")
    assert fault.seen == 2


def test_4xx_on_first_attempt_is_determinate(s3):
    app, make = s3
    app.hooks.append(Fault(status=400, code="InvalidRequest"))
    with pytest.raises(StorageUnavailableError, match="nothing was written"):
        make(total_max_attempts=1).set("k", b"v")
    assert make().get("k") is None


def test_read_timeout_write_indeterminate_read_determinate(s3):
    app, make = s3
    b = make(total_max_attempts=1, read_timeout=0.3)
    app.hooks.append(Fault(delay=0.8))
    with pytest.raises(StorageIndeterminateError, match="may or may not"):
        b.set("k", b"v")
    app.hooks.append(Fault(method="GET", delay=0.8))
    with pytest.raises(StorageUnavailableError):
        b.get("k")


def test_failed_reads_are_determinate(s3):
    app, make = s3
    app.hooks.append(Fault(method="GET", status=500, times=100))
    with pytest.raises(StorageUnavailableError):
        make(total_max_attempts=2).get("k")


@pytest.mark.parametrize("fault", [dict(status=503, code="SlowDown", times=100), dict(delay=0.8, times=100)],
                         ids=["5xx", "timeout"])
def test_a_failed_read_says_nothing_changed_and_what_to_do(s3, fault):
    app, make = s3
    b = make(total_max_attempts=2, read_timeout=0.3)
    b.set("k", b"v")
    app.hooks.append(Fault(method="GET", **fault))
    for read in (lambda: b.get_versioned("k"), lambda: b.list_keys()):
        with pytest.raises(StorageUnavailableError) as e:
            read()
        assert e.value.determinate
        msg = str(e.value)
        assert "nothing changed" in msg and "try again" in msg and "endpoint" in msg, msg
    app.hooks.clear()
    assert b.get("k") == b"v"


def test_cas_on_absent_key_with_a_version_is_a_conflict(s3):
    app, make = s3
    with pytest.raises(ConflictError, match="absent"):
        make().compare_and_set("nope", '"0123"', b"v")
