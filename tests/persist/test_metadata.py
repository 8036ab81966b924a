"""The metadata record: its frame, and that each invariant is detected."""

import dataclasses

import pytest

from persist import metadata as md
from persist.errors import CorruptionError


def valid():
    trace = (md.TraceBatch("batch/a", 0, 5, 0, 2, 100), md.TraceBatch(None, 5, 8, 0, 0, 0))
    unsealed = (md.UnsealedBatch("batch/b", 1, 3, 8, 9, 1, 50), md.UnsealedBatch("batch/c", 4, 4, 10, 10, 1, 50))
    sm = md.StreamMeta(id=0, upper=8, since=2, trace=trace, unsealed=unsealed)
    return md.Metadata(version=3, nonce="ab", epoch=2, writer={"wal_id": "h:/w"}, wal_absorbed=4,
                       next_stream_id=1, streams={"s": sm})


def test_round_trip_and_valid():
    m = valid()
    assert md.decode(md.encode(m)) == m
    assert md.invariant_problems(m) == []
    n = m.successor(epoch=3)
    assert n.version == 4 and n.nonce != m.nonce and n.epoch == 3


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda b: b"XMET" + b[4:], "bad magic"),
        (lambda b: b[:-1], "body is"),
        (lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:], "checksum"),
        (lambda b: b[:5], "shorter than"),
    ],
)
def test_damage_is_named(mutate, words):
    with pytest.raises(CorruptionError, match=words):
        md.decode(mutate(md.encode(valid())))


def _with_stream(**changes):
    m = valid()
    return dataclasses.replace(m, streams={"s": dataclasses.replace(m.streams["s"], **changes)})


@pytest.mark.parametrize(
    "meta, words",
    [
        (_with_stream(since=9), "since <= upper"),
        (_with_stream(upper=9), "trace covers [0, 8) but upper is 9"),
        (_with_stream(trace=(md.TraceBatch("batch/a", 0, 5, 0, 2), md.TraceBatch(None, 6, 8, 0, 0))), "not contiguous"),
        (_with_stream(trace=(md.TraceBatch("batch/a", 0, 5, 3, 2), md.TraceBatch(None, 5, 8, 0, 0))), "beyond stream since"),
        (_with_stream(trace=(md.TraceBatch("batch/a", 0, 5, 0, 2), md.TraceBatch("batch/z", 5, 8, 0, 0))), "blob iff"),
        (_with_stream(unsealed=(md.UnsealedBatch("batch/b", 1, 3, 8, 9, 1), md.UnsealedBatch("batch/c", 3, 4, 10, 10, 1))), "overlaps"),
        (_with_stream(unsealed=(md.UnsealedBatch("batch/b", 1, 5, 8, 9, 1),)), "beyond wal_absorbed"),
        (_with_stream(unsealed=(md.UnsealedBatch("batch/b", 1, 3, 7, 9, 1),)), "below the stream's upper"),
        (_with_stream(unsealed=(md.UnsealedBatch("batch/a", 1, 3, 8, 9, 1),)), "also named"),
        (dataclasses.replace(valid(), next_stream_id=0), "next_stream_id"),
    ],
)
def test_each_invariant_is_detected(meta, words):
    problems = md.invariant_problems(meta)
    assert any(words in p for p in problems), problems
