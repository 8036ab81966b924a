"""Properties of the batch frame: encode/decode round-trips any updates, and
any flipped byte or cut is refused with CorruptionError (never a wrong table)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persist.errors import CorruptionError
from persist.storage.batch import UPDATE_SCHEMA, decode_batch, encode_batch, updates_table

updates_st = st.lists(
    st.tuples(
        st.binary(max_size=20),
        st.binary(max_size=20),
        st.integers(0, 2**64 - 1),
        st.integers(-(2**63), 2**63 - 1).filter(bool),
    ),
    max_size=30,
)


def table_of(updates):
    cols = list(zip(*updates)) if updates else [[], [], [], []]
    return updates_table(*cols)


@given(updates_st)
def test_round_trip(updates):
    t = table_of(updates)
    back = decode_batch(encode_batch(t))
    assert back.schema.equals(UPDATE_SCHEMA)
    assert back.equals(t)
    assert list(zip(*(back.column(i).to_pylist() for i in range(4)))) == updates


@given(updates_st, st.data())
def test_any_flipped_byte_is_refused(updates, data):
    raw = bytearray(encode_batch(table_of(updates)))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CorruptionError):
        decode_batch(bytes(raw), name="b")


@given(updates_st, st.data())
def test_any_cut_is_refused(updates, data):
    raw = encode_batch(table_of(updates))
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(CorruptionError):
        decode_batch(raw[:cut], name="b")
