import pytest

from persist.errors import CorruptionError
from persist.storage.batch import HEADER_SIZE, decode_batch, encode_batch, updates_table


def test_round_trip_small():
    t = updates_table([b"a", b"b"], [b"x", b""], [0, 2**63], [1, -3])
    assert decode_batch(encode_batch(t)).equals(t)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda b: b"XBAT" + b[4:], "bad magic"),
        (lambda b: b[:4] + b"\x09\x00" + b[6:], "header checksum"),
        (lambda b: b[:-1], "payload is"),
        (lambda b: b[:HEADER_SIZE + 3] + bytes([b[HEADER_SIZE + 3] ^ 1]) + b[HEADER_SIZE + 4:], "payload checksum"),
        (lambda b: b[:10], "shorter than"),
    ],
)
def test_damage_is_named(mutate, words):
    data = encode_batch(updates_table([b"k"], [b"v"], [1], [1]))
    with pytest.raises(CorruptionError, match=words):
        decode_batch(mutate(data), name="b1")
