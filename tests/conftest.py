"""Shared fixtures. Tests mirror the source folders; slow tests are marked
``@pytest.mark.slow`` and S3 tests ``@pytest.mark.s3``."""

import os
import re
import uuid

import pytest

# the nemesis fixture (nemesis/pytest_plugin.py): the pytest11 entry point registers it once the package is
# installed; loading it by name here also works from a checkout (the same name: registered once either way).
# pytester: tests of the plugin run pytest on small test files.
pytest_plugins = ["nemesis.pytest_plugin", "pytester"]

# --- Hypothesis profiles ------------------------------------------------------
# "default" keeps example counts small for CI; HYPOTHESIS_PROFILE=thorough runs more.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("default", max_examples=60, deadline=None)
    settings.register_profile(
        "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # pragma: no cover
    pass


# --- S3: one moto server per xdist worker, one bucket per test ----------------


@pytest.fixture(scope="session")
def moto_server():
    """A moto S3 server process (behind nemesis' write-serialising middleware)
    on 127.0.0.1, port 0; one per xdist worker. Use ``moto_server.endpoint_url``
    or ``moto_server.client_options()`` (endpoint + dummy credentials)."""
    from nemesis.s3 import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3_client(moto_server):
    """A boto3 S3 client on the worker's moto server."""
    import boto3

    return boto3.session.Session().client("s3", **moto_server.client_options())


@pytest.fixture
def s3_bucket(request, s3_client) -> str:
    """A fresh, empty bucket named after the test (valid S3 name, unique)."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "t"
    name = f"{base}-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=name)
    return name
