"""The Blob contract, run against every implementation (MemBlob, FileBlob,
S3Blob on a moto server process)."""

from __future__ import annotations

import pytest

from persist.errors import ConflictError, Determinate, InvalidArgumentError
from persist.storage import Blob, FileBlob, MemBlob, S3Blob

KINDS = ["mem", "file", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=KINDS)
def blob(request, tmp_path):
    if request.param == "mem":
        b = MemBlob()
    elif request.param == "file":
        b = FileBlob(tmp_path / "blob")
    else:
        server = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")
        b = S3Blob(bucket, prefix="pfx", **server.client_options())
    yield b
    b.close()


def test_is_a_blob(blob):
    assert isinstance(blob, Blob)


def test_missing_key(blob):
    assert blob.get("nope") is None
    assert blob.get_versioned("nope") is None
    blob.delete("nope")  # deleting a missing key is a no-op
    assert blob.list_keys() == []


@pytest.mark.parametrize("value", [b"", b"x", bytes(range(256)) * 5, b"\x00" * 70000])
def test_set_get_round_trip(blob, value):
    blob.set("k", value)
    assert blob.get("k") == value
    got = blob.get_versioned("k")
    assert got is not None and got[0] == value and isinstance(got[1], str)


def test_overwrite_and_delete(blob):
    blob.set("k", b"one")
    blob.set("k", b"two")
    assert blob.get("k") == b"two"
    blob.delete("k")
    assert blob.get("k") is None
    assert blob.list_keys() == []


def test_list_keys_sorted_with_prefix_and_slashes(blob):
    keys = ["b/2", "a", "b/1", "b", "c/x/y", "ü-key", "a b%c"]
    for k in keys:
        blob.set(k, k.encode())
    assert blob.list_keys() == sorted(keys)
    assert blob.list_keys("b") == ["b", "b/1", "b/2"]
    assert blob.list_keys("b/") == ["b/1", "b/2"]
    assert blob.list_keys("zzz") == []
    for k in keys:
        assert blob.get(k) == k.encode()


def test_create_only(blob):
    token = blob.compare_and_set("m", None, b"v1")
    assert isinstance(token, str)
    assert blob.get_versioned("m") == (b"v1", token)
    with pytest.raises(ConflictError) as e:
        blob.compare_and_set("m", None, b"v2")
    assert isinstance(e.value, Determinate) and "Conflict" in type(e.value).__name__
    assert blob.get("m") == b"v1"


def test_compare_and_set_chain(blob):
    t1 = blob.compare_and_set("m", None, b"v1")
    t2 = blob.compare_and_set("m", t1, b"v2")
    assert t2 != t1
    assert blob.get_versioned("m") == (b"v2", t2)
    with pytest.raises(ConflictError):
        blob.compare_and_set("m", t1, b"v3")  # stale token
    assert blob.get("m") == b"v2"
    t3 = blob.compare_and_set("m", t2, b"v3")
    assert blob.get_versioned("m") == (b"v3", t3)


def test_cas_against_plain_set_and_delete(blob):
    t1 = blob.compare_and_set("m", None, b"v1")
    blob.set("m", b"other")
    with pytest.raises(ConflictError):
        blob.compare_and_set("m", t1, b"v2")
    blob.delete("m")
    with pytest.raises(ConflictError):
        blob.compare_and_set("m", t1, b"v2")  # version of a deleted key
    assert blob.get("m") is None
    blob.compare_and_set("m", None, b"again")
    assert blob.get("m") == b"again"


def test_bad_key_is_refused(blob):
    if isinstance(blob, MemBlob):
        pytest.skip("MemBlob accepts any string key")
    with pytest.raises(InvalidArgumentError):
        blob.set("", b"x")


@pytest.mark.parametrize("kind", ["mem", "file"])
def test_tokens_never_repeat(kind, tmp_path):
    """No ABA for Mem/File: rewriting the same bytes, or deleting and
    recreating, gives a new token. (S3's ETag is an MD5 and does repeat;
    that is why the metadata carries a nonce.)"""
    b = MemBlob() if kind == "mem" else FileBlob(tmp_path)
    t1 = b.compare_and_set("m", None, b"same")
    t2 = b.compare_and_set("m", t1, b"same")
    b.delete("m")
    t3 = b.compare_and_set("m", None, b"same")
    b.set("m", b"same")
    t4 = b.get_versioned("m")[1]
    assert len({t1, t2, t3, t4}) == 4
    with pytest.raises(ConflictError):
        b.compare_and_set("m", t1, b"x")
