"""``persist.check(url)``: fsck for a location (module named fsck so that it
 does not shadow the function ``persist.check``).

Reads the metadata record and every blob, and reports (never raises for a
finding):

==================  ==========================================================
kind                meaning
==================  ==========================================================
unreachable         the Blob store could not be opened or listed
corrupt-metadata    the metadata record fails its frame checks or does not parse
invariant           the metadata breaks one of its invariants (persist.metadata)
missing-blob        the metadata names a batch blob that does not exist
corrupt-batch       a named batch fails its frame checks, or its row count
                    differs from the metadata's
batch-content       a batch's rows break its description: times outside its
                    range, times below its ``since`` (compaction advances
                    every time below the since it ran at to that since),
                    zero diffs, not sorted / not consolidated
orphan-blob         a batch blob no metadata names (left by a crash between
                    writing a batch and swapping the metadata, or by a fenced
                    writer; GC removes these). A live writer's in-flight
                    batches show up here too, briefly.
unknown-key         a key that is neither the metadata nor a batch
==================  ==========================================================

``report.ok`` is true when there is no problem other than orphans (which are
garbage, not damage); ``report.problems`` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from persist import metadata as md
from persist.errors import CorruptionError, PersistError
from persist.location import Location, open_blob
from persist.storage.batch import decode_batch

HARMLESS = frozenset({"orphan-blob"})


@dataclass(frozen=True)
class Problem:
    kind: str
    key: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass
class CheckReport:
    url: str
    problems: list[Problem] = field(default_factory=list)
    metadata_version: int | None = None
    streams: int = 0
    batches_checked: int = 0
    blobs_listed: int = 0

    @property
    def ok(self) -> bool:
        return all(p.kind in HARMLESS for p in self.problems)

    def of_kind(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    @property
    def orphans(self) -> list[str]:
        return [p.key for p in self.of_kind("orphan-blob")]

    def add(self, kind: str, key: str | None, message: str) -> None:
        self.problems.append(Problem(kind, key, message))

    def __str__(self) -> str:
        head = (
            f"persist.check({self.url}): {'ok' if self.ok else 'PROBLEMS'}; metadata version "
            f"{self.metadata_version}, {self.streams} streams, {self.batches_checked} batches checked, "
            f"{self.blobs_listed} blobs listed"
        )
        return "\n".join([head] + [f"  - {p}" for p in self.problems])


def check_location(loc: Location, blob_options: dict | None = None, blob=None) -> CheckReport:
    report = CheckReport(loc.url)
    try:
        blob = blob if blob is not None else open_blob(loc, **(blob_options or {}))
    except PersistError as e:
        report.add("unreachable", None, f"cannot open the Blob store of {loc.url}: {e}")
        return report
    try:
        return _check(blob, report)
    finally:
        blob.close()


def _check(blob, report: CheckReport) -> CheckReport:
    try:
        listed = blob.list_keys("")
    except PersistError as e:
        report.add("unreachable", None, f"cannot list {report.url}: {e}")
        return report
    try:
        raw = blob.get(md.META_KEY)
    except CorruptionError as e:  # the store's own checksum of the value (FileBlob) failed
        report.blobs_listed = len(listed)
        report.add("corrupt-metadata", md.META_KEY, str(e))
        return report
    except PersistError as e:
        report.add("unreachable", None, f"cannot read the metadata of {report.url}: {e}")
        return report
    report.blobs_listed = len(listed)
    if raw is None:
        meta = md.Metadata()
        if listed:
            report.add("corrupt-metadata", md.META_KEY, f"no metadata record but {len(listed)} blobs exist")
    else:
        try:
            meta = md.decode(raw, md.META_KEY)
        except PersistError as e:
            report.add("corrupt-metadata", md.META_KEY, str(e))
            return report
    report.metadata_version = meta.version
    report.streams = len(meta.streams)
    for problem in md.invariant_problems(meta):
        report.add("invariant", md.META_KEY, problem)
    named = meta.batch_keys()
    present = set(listed)
    for key in listed:
        if key == md.META_KEY:
            continue
        if not key.startswith(md.BATCH_PREFIX):
            report.add("unknown-key", key, f"key {key!r} is neither the metadata nor a batch")
        elif key not in named:
            report.add("orphan-blob", key, f"batch blob {key} is named by no metadata (garbage; GC removes it)")
    for name, sm in sorted(meta.streams.items()):
        for b in sm.trace:
            if b.key:
                _check_batch(blob, report, present, name, b.key, b.len, trace=b, sm=sm)
        for b in sm.unsealed:
            _check_batch(blob, report, present, name, b.key, b.len, unsealed=b, sm=sm)
    return report


def _check_batch(blob, report, present, name, key, length, *, sm, trace=None, unsealed=None) -> None:
    where = f"stream {name!r} batch {key}"
    if key not in present:
        report.add("missing-blob", key, f"{where} is named by the metadata but missing from the store")
        return
    try:
        data = blob.get(key)
        if data is None:
            report.add("missing-blob", key, f"{where} is named by the metadata but missing from the store")
            return
        table = decode_batch(data, key)
    except PersistError as e:
        report.add("corrupt-batch", key, f"{where}: {e}")
        return
    report.batches_checked += 1
    if table.num_rows != length:
        report.add("corrupt-batch", key, f"{where} has {table.num_rows} rows; the metadata says {length}")
    if not table.num_rows:
        return
    if table.column_names[:4] != ["key", "val", "ts", "diff"]:
        report.add("corrupt-batch", key, f"{where} has columns {table.column_names}, expected key, val, ts, diff")
        return
    ts, diff = table.column("ts"), table.column("diff")
    mm = pc.min_max(ts).as_py()
    if pc.any(pc.equal(diff, 0)).as_py():
        report.add("batch-content", key, f"{where} holds updates with diff 0")
    if trace is not None:
        bad = pc.and_(
            pc.greater_equal(ts, pa.scalar(trace.upper, pa.uint64())),
            pc.not_equal(ts, pa.scalar(trace.since, pa.uint64())),
        )
        if mm["min"] < trace.lower or pc.any(bad).as_py():
            report.add(
                "batch-content", key,
                f"{where} has times in [{mm['min']}, {mm['max']}] outside its description "
                f"[{trace.lower}, {trace.upper}) (since {trace.since})",
            )
        if trace.since and mm["min"] < trace.since:
            report.add(
                "batch-content", key,
                f"{where} holds times from {mm['min']}, below its since {trace.since}: compaction must advance "
                f"every time below since to since",
            )
        order = pc.sort_indices(table, sort_keys=[("key", "ascending"), ("val", "ascending"), ("ts", "ascending")])
        if not pc.all(pc.equal(order, pa.array(range(table.num_rows), pa.uint64()))).as_py():
            report.add("batch-content", key, f"{where} is not sorted by (key, val, ts)")
        g = table.group_by(["key", "val", "ts"], use_threads=False).aggregate([("diff", "count")])
        if g.num_rows != table.num_rows:
            report.add("batch-content", key, f"{where} is not consolidated: {table.num_rows - g.num_rows} repeated (key, val, ts)")
    if unsealed is not None:
        if mm["min"] < unsealed.ts_min or mm["max"] > unsealed.ts_max:
            report.add(
                "batch-content", key,
                f"{where} has times in [{mm['min']}, {mm['max']}], the metadata says [{unsealed.ts_min}, {unsealed.ts_max}]",
            )
