"""Fixtures for engine tests: a fresh file:// location per test."""

import pytest

import persist


@pytest.fixture
def loc(tmp_path):
    return f"file://{tmp_path / 'loc'}"


@pytest.fixture
def writer(loc):
    p = persist.open(loc, background=False, debug=True)
    yield p
    p.crash() if not p._closed else None
