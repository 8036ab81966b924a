"""persist.check finds each kind of damage we plant (issue 3, "Must show" 4),
and a healthy location checks ok."""

import dataclasses
import os

import persist
from persist import metadata as md
from persist.storage.file_blob import FileBlob


def _populated(loc):
    p = persist.open(loc, background=False, debug=True)
    s = p.stream("s")
    s.write([(b"a", b"1", 0, 1), (b"b", b"2", 1, 1)])
    s.seal(2)
    s.write([(b"c", b"3", 2, 1), (b"d", b"4", 5, 1)])
    s.seal(3)  # leaves (d, 4, 5) unsealed
    p.close()
    return FileBlob(os.path.join(loc[len("file://"):], "blob"))


def _trace_keys(blob):
    meta = md.decode(blob.get(md.META_KEY))
    return [b.key for b in meta.streams["s"].trace if b.key]


def test_healthy_location_is_ok(loc):
    _populated(loc)
    report = persist.check(loc)
    assert report.ok, str(report)
    assert report.problems == []
    assert report.batches_checked == 3


def test_missing_blob(loc):
    blob = _populated(loc)
    victim = _trace_keys(blob)[0]
    blob.delete(victim)
    report = persist.check(loc)
    assert not report.ok
    assert [p.key for p in report.of_kind("missing-blob")] == [victim]


def test_orphan_blob(loc):
    blob = _populated(loc)
    blob.set(md.BATCH_PREFIX + "stray", b"whatever")
    report = persist.check(loc)
    assert report.orphans == [md.BATCH_PREFIX + "stray"]
    assert report.ok  # garbage, not damage
    # GC of the next writer removes it
    p = persist.open(loc, background=False)
    assert p.gc() == [md.BATCH_PREFIX + "stray"]
    p.close()
    assert persist.check(loc).problems == []


def test_corrupted_batch(loc):
    blob = _populated(loc)
    victim = _trace_keys(blob)[-1]
    data = bytearray(blob.get(victim))
    data[len(data) // 2] ^= 0x40
    blob.set(victim, bytes(data))
    report = persist.check(loc)
    assert not report.ok
    bad = report.of_kind("corrupt-batch")
    assert [p.key for p in bad] == [victim] and "checksum" in bad[0].message


def test_broken_metadata_invariant(loc):
    blob = _populated(loc)
    meta = md.decode(blob.get(md.META_KEY))
    sm = meta.streams["s"]
    first, second = sm.trace[0], sm.trace[1]
    gap = dataclasses.replace(second, lower=second.lower + 1)  # descriptions no longer contiguous
    broken = dataclasses.replace(meta, streams={"s": dataclasses.replace(sm, trace=(first, gap), since=sm.upper + 1)})
    blob.set(md.META_KEY, md.encode(broken))
    report = persist.check(loc)
    assert not report.ok
    msgs = [p.message for p in report.of_kind("invariant")]
    assert any("not contiguous" in m for m in msgs), msgs
    assert any("since" in m and "upper" in m for m in msgs), msgs


def test_corrupted_metadata(loc):
    blob = _populated(loc)
    data = bytearray(blob.get(md.META_KEY))
    data[-3] ^= 1
    blob.set(md.META_KEY, bytes(data))
    report = persist.check(loc)
    assert [p.kind for p in report.problems] == ["corrupt-metadata"]


def test_metadata_file_flipped_on_disk_is_corrupt_not_unreachable(loc):
    """A bit flipped in the file under the FileBlob (the corrupt nemesis's
    way) fails the store's own value checksum: that is corrupt metadata,
    not an unreachable store."""
    _populated(loc)
    path = os.path.join(loc[len("file://"):], "blob", "meta")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 4
    with open(path, "wb") as f:
        f.write(data)
    report = persist.check(loc)
    assert [p.kind for p in report.problems] == ["corrupt-metadata"], str(report)
    assert report.blobs_listed >= 3


def test_batch_content_out_of_description(loc):
    from persist.storage.batch import encode_batch, updates_table

    blob = _populated(loc)
    victim = _trace_keys(blob)[0]  # [0, 2) with 2 rows
    blob.set(victim, encode_batch(updates_table([b"a", b"b"], [b"1", b"2"], [0, 9], [1, 1])))
    report = persist.check(loc)
    assert [p.key for p in report.of_kind("batch-content")] == [victim]


def test_times_below_a_batch_since_are_reported(loc):
    """A compacted batch says the since it ran at; times below it were not
    advanced (the planted ``compaction_not_advanced`` bug). Reads at
    ``as_of >= since`` cannot see the difference; fsck can."""
    blob = _populated(loc)
    meta = md.decode(blob.get(md.META_KEY))
    sm = meta.streams["s"]
    first = sm.trace[0]  # [0, 2) holding times 0 and 1
    claimed = dataclasses.replace(first, since=1)
    blob.set(md.META_KEY, md.encode(dataclasses.replace(
        meta, streams={"s": dataclasses.replace(sm, trace=(claimed,) + sm.trace[1:], since=1)})))
    report = persist.check(loc)
    msgs = [p.message for p in report.of_kind("batch-content")]
    assert [p.key for p in report.of_kind("batch-content")] == [first.key], str(report)
    assert "below its since 1" in msgs[0]


def test_a_real_compaction_passes_fsck(loc):
    p = persist.open(loc, background=False, debug=True)
    s = p.stream("s")
    for t in range(8):
        s.write([(b"k", str(t).encode(), t, 1)])
        s.seal(t + 1)
    s.allow_compaction(6)
    assert p.compact() > 0
    p.close()
    report = persist.check(loc)
    assert report.ok and report.problems == [], str(report)
