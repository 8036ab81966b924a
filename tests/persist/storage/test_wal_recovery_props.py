"""Property: for any Wal contents and any cut point or flipped byte,
recovery returns exactly the records fully written before the damage (damage
in the newest segment's tail) or raises CorruptionError (damage with good
records after it, or inside an older, fully fsynced segment), and never
returns a wrong record. A raised error leaves every byte as it was."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from persist.errors import CorruptionError
from persist.storage import FileWal
from persist.storage.file_wal import HEADER_SIZE

payloads_st = st.lists(st.binary(max_size=80), min_size=1, max_size=12)
segment_bytes_st = st.sampled_from([64, 150, 400, 1 << 20])


def build(d: str, payloads: list[bytes], segment_bytes: int):
    """Write the Wal; return files [(path, [(seqno, payload, start, end)], seal_start)].

    Record boundaries come from the lengths we wrote, not from parsing."""
    with FileWal(d, segment_bytes=segment_bytes) as w:
        seqnos = [w.append(p) for p in payloads]
    files = []
    it = iter(zip(seqnos, payloads))
    pending = next(it, None)
    names = sorted(n for n in os.listdir(d) if n.endswith(".wal"))
    for i, name in enumerate(names):
        path = os.path.join(d, name)
        sealed = i < len(names) - 1
        size, off, recs = os.path.getsize(path), 0, []
        while off < size - (HEADER_SIZE if sealed else 0):
            seqno, p = pending
            recs.append((seqno, p, off, off + HEADER_SIZE + len(p)))
            off += HEADER_SIZE + len(p)
            pending = next(it, None)
        assert off == size - (HEADER_SIZE if sealed else 0)
        files.append((path, recs))
    assert pending is None
    return files


def snapshot(files):
    return {path: open(path, "rb").read() for path, _ in files}


def check_outcome(d, files, expected, before, segment_bytes):
    """``expected`` is a list of (seqno, payload) or the CorruptionError class."""
    if expected is CorruptionError:
        try:
            w = FileWal(d, segment_bytes=segment_bytes)
        except CorruptionError as e:
            assert "offset" in str(e) and "\n" not in str(e)
            assert snapshot(files) == before  # nothing rewritten
            return
        got = list(w.records())
        w.close()
        raise AssertionError(f"expected CorruptionError, recovered {got}")
    with FileWal(d, segment_bytes=segment_bytes) as w:
        assert list(w.records()) == expected
        nxt = w.append(b"after-recovery")
    with FileWal(d, segment_bytes=segment_bytes) as w:  # the cut was clean and durable
        assert list(w.records()) == expected + [(nxt, b"after-recovery")]
        assert nxt > (expected[-1][0] if expected else 0)


@given(payloads_st, segment_bytes_st, st.data())
def test_cut_point(payloads, segment_bytes, data):
    with tempfile.TemporaryDirectory() as d:
        files = build(d, payloads, segment_bytes)
        f = data.draw(st.integers(0, len(files) - 1), label="file")
        path, recs = files[f]
        size = os.path.getsize(path)
        cut = data.draw(st.integers(0, size), label="cut")
        garbage = data.draw(st.binary(max_size=40), label="garbage") if cut < size else b""
        original = open(path, "rb").read()
        with open(path, "r+b") as fh:
            fh.truncate(cut)
            fh.seek(cut)
            fh.write(garbage)
        before = snapshot(files)
        older = [(s, p) for _, rs in files[:f] for s, p, _, _ in rs]
        if cut == size and not garbage:
            expected = older + [(s, p) for s, p, _, _ in recs] + [(s, p) for _, rs in files[f + 1 :] for s, p, _, _ in rs]
        elif f == len(files) - 1:
            # garbage may happen to repeat the original bytes: a record is intact
            # when it ends before the first byte that differs from what was written
            damaged = open(path, "rb").read()
            q = next((i for i, (a, b) in enumerate(zip(damaged, original)) if a != b), min(len(damaged), size))
            expected = older + [(s, p) for s, p, _, end in recs if end <= q]
        else:
            expected = CorruptionError
        check_outcome(d, files, expected, before, segment_bytes)


@given(payloads_st, segment_bytes_st, st.data())
def test_flipped_byte(payloads, segment_bytes, data):
    with tempfile.TemporaryDirectory() as d:
        files = build(d, payloads, segment_bytes)
        nonempty = [i for i, (path, _) in enumerate(files) if os.path.getsize(path)]
        f = data.draw(st.sampled_from(nonempty), label="file")
        path, recs = files[f]
        pos = data.draw(st.integers(0, os.path.getsize(path) - 1), label="pos")
        mask = data.draw(st.integers(1, 255), label="mask")
        raw = bytearray(open(path, "rb").read())
        raw[pos] ^= mask
        open(path, "wb").write(raw)
        before = snapshot(files)
        k = next((i for i, (_, _, start, end) in enumerate(recs) if start <= pos < end), None)  # None: the seal
        if f == len(files) - 1 and k == len(recs) - 1:  # damage in the tail
            expected = [(s, p) for _, rs in files[:f] for s, p, _, _ in rs] + [(s, p) for s, p, _, _ in recs[:k]]
        else:
            expected = CorruptionError
        check_outcome(d, files, expected, before, segment_bytes)
