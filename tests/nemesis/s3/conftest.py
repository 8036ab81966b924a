"""Fixtures for S3 fault tests: the worker's moto server with its rule table
cleared around every test."""

import pytest


@pytest.fixture
def rules(moto_server):
    """A :class:`~nemesis.s3.control.RuleControl` on the worker's moto server;
    every rule is cleared before and after the test."""
    from nemesis.s3.control import RuleControl

    c = RuleControl(moto_server.endpoint_url)
    c.clear()
    yield c
    c.clear()
