"""FileBlob specifics: key escaping, leftovers of a crashed write, damaged entries."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persist.errors import CorruptionError, InvalidArgumentError
from persist.storage import FileBlob
from persist.storage.file_blob import HEADER_SIZE, escape_key, unescape_key


@given(st.text(min_size=1, max_size=60))
def test_escape_round_trips_to_a_plain_file_name(key):
    raw = key.encode()
    length = sum(1 if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.-") else 3 for b in raw)
    length += 2 if raw[:1] == b"." else 0
    if length > 255:  # refused, not truncated
        with pytest.raises(InvalidArgumentError, match="too long"):
            escape_key(key)
        return
    name = escape_key(key)
    assert unescape_key(name) == key
    assert "/" not in name and not name.startswith(".") and "\x00" not in name


@given(st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=8, unique=True))
def test_escape_is_injective(keys):
    assert len({escape_key(k) for k in keys}) == len(keys)


def test_a_crashed_write_leaves_the_old_value(tmp_path):
    b = FileBlob(tmp_path)
    b.set("k", b"old")
    (tmp_path / ".tmp-deadbeef").write_bytes(b"half of a new value")  # what a crash before rename leaves
    assert b.get("k") == b"old"
    assert b.list_keys() == ["k"]


@pytest.mark.parametrize("cut", [0, 10, HEADER_SIZE, HEADER_SIZE + 3])
def test_a_cut_entry_is_corruption(tmp_path, cut):
    b = FileBlob(tmp_path)
    b.set("k", b"0123456789")
    path = tmp_path / "k"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CorruptionError, match=str(path)):
        b.get_versioned("k")


def test_values_survive_reopen_and_other_instances(tmp_path):
    a, b = FileBlob(tmp_path), FileBlob(tmp_path)
    token = a.compare_and_set("m", None, b"1")
    assert b.get_versioned("m") == (b"1", token)
    b.compare_and_set("m", token, b"2")
    assert FileBlob(tmp_path).get("m") == b"2"
    assert sorted(os.listdir(tmp_path)) == [".lock", "m"]
