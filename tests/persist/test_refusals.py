"""Every refused call raises its own error class, and the message names the
values that were wrong (issue 3, "Must show" 5)."""

import re

import pytest

import persist
from persist import errors


def test_write_below_upper(writer):
    s = writer.stream("s")
    s.seal(10)
    with pytest.raises(errors.WriteBelowUpperError) as e:
        s.write([(b"k", b"v", 10, 1), (b"k", b"v", 7, 1)])
    assert "ts=7" in str(e.value) and "upper=10" in str(e.value) and "'s'" in str(e.value)
    assert isinstance(e.value, errors.Determinate)
    s.seal(11)
    assert s.snapshot(10).to_list() == []  # nothing of the refused write landed


def test_write_multi_below_upper_writes_nothing(writer):
    a, b = writer.stream("a"), writer.stream("b")
    b.seal(5)
    with pytest.raises(errors.WriteBelowUpperError, match=r"'b'.*ts=3.*upper=5"):
        writer.write_multi({"a": [(b"x", b"", 9, 1)], "b": [(b"y", b"", 3, 1)]})
    a.seal(10)
    assert a.snapshot(9).to_list() == []


def test_seal_backwards(writer):
    s = writer.stream("s")
    s.seal(8)
    s.seal(8)  # equal: a no-op
    with pytest.raises(errors.SealBackwardsError) as e:
        s.seal(3)
    assert "t=3" in str(e.value) and "upper=8" in str(e.value)
    assert s.upper == 8


@pytest.mark.parametrize("since", [2, 11])
def test_allow_compaction_outside_since_upper(writer, since):
    s = writer.stream("s")
    s.seal(10)
    s.allow_compaction(5)
    with pytest.raises(errors.SinceError) as e:
        s.allow_compaction(since)
    msg = str(e.value)
    assert f"allow_compaction({since})" in msg and "since=5" in msg and "upper=10" in msg
    assert s.since == 5


@pytest.mark.parametrize("as_of", [3, 10, 12])
def test_snapshot_as_of_outside(writer, as_of):
    s = writer.stream("s")
    s.seal(10)
    s.allow_compaction(4)
    with pytest.raises(errors.AsOfError) as e:
        s.snapshot(as_of)
    msg = str(e.value)
    assert f"as_of={as_of}" in msg and "since=4" in msg and "upper=10" in msg
    with pytest.raises(errors.AsOfError, match=f"as_of={as_of}"):
        s.listen(as_of)


def test_snapshot_before_any_seal(writer):
    with pytest.raises(errors.AsOfError, match=r"as_of=0 .*upper=0.*nothing is sealed"):
        writer.stream("s").snapshot(0)


def test_unknown_stream(writer, loc):
    with pytest.raises(errors.UnknownStreamError, match=r"'nope' is not registered.*streams: none"):
        writer.write_multi({"nope": [(b"k", b"v", 1, 1)]})
    with pytest.raises(errors.UnknownStreamError, match="'nope'"):
        writer.destroy("nope")
    s = writer.stream("s")
    writer.destroy("s")
    with pytest.raises(errors.UnknownStreamError, match="'s' was destroyed"):
        s.write([(b"k", b"v", 1, 1)])
    with pytest.raises(errors.UnknownStreamError, match="'s' was destroyed"):
        _ = s.upper
    r = persist.open_reader(loc)
    with pytest.raises(errors.UnknownStreamError, match="'ghost' is not registered"):
        r.stream("ghost")
    r.close()


def test_closed_handle(loc):
    p = persist.open(loc, background=False)
    s = p.stream("s")
    p.close()
    for call in (lambda: s.write([(b"k", b"v", 1, 1)]), lambda: s.seal(3), lambda: s.upper,
                 lambda: p.stream("t"), lambda: s.snapshot(0)):
        with pytest.raises(errors.ClosedError, match=re.escape(loc)):
            call()
    p.close()  # idempotent


def test_read_only_refuses_mutation(writer, loc):
    writer.stream("s").seal(1)
    r = persist.open(loc, read_only=True)
    with pytest.raises(errors.ReadOnlyError, match="read-only"):
        r.stream("s").write([(b"k", b"v", 1, 1)])
    with pytest.raises(errors.ReadOnlyError):
        r.stream("s").seal(5)
    r.close()


@pytest.mark.parametrize(
    "bad, words",
    [
        ([(b"k", b"v", -1, 1)], "ts=-1"),
        ([(b"k", b"v", 1, 0)], "diff=0"),
        ([("k", b"v", 1, 1)], "'k'"),
        ([(b"k", b"v", 1)], "(key, val, ts, diff)"),
        ([(b"k", b"v", 1.5, 1)], "ts=1.5"),
    ],
)
def test_bad_updates(writer, bad, words):
    with pytest.raises(errors.InvalidArgumentError) as e:
        writer.stream("s").write(bad)
    assert words in str(e.value)


def test_second_writer_same_process_is_locked(writer, loc):
    with pytest.raises(errors.LockedError) as e:
        persist.open(loc)
    assert "pid" in str(e.value) or "held" in str(e.value)
