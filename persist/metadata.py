"""The metadata record: the one versioned object that says what a location holds.

It is stored under the Blob key ``META_KEY`` and only ever replaced whole by
compare-and-set (data first, metadata second, deletes last). Byte layout
(integers little-endian)::

    offset  size  field
    0       4     magic            b"PMET"
    4       2     format version   u16, currently 1
    6       2     reserved         u16, must be 0
    8       8     body length      u64 (n)
    16      4     body crc32       u32, zlib.crc32 of the body
    20      4     header crc32     u32, zlib.crc32 of bytes 0..20
    24      n     body             UTF-8 JSON, the object below

Body (JSON)::

    {"version": 7,                # +1 on every rewrite
     "nonce": "9f0c...",          # random per rewrite: tells an indeterminate
                                  # compare-and-set whether it landed, and
                                  # defeats ABA under content-derived ETags
     "epoch": 3,                  # bumped by every writer's open; fences older writers
     "writer": {"wal_id": "host:/abs/wal/dir", "pid": 123, "host": "h"},
     "wal_absorbed": 41,          # every Wal record with seqno <= this is in batches
     "next_stream_id": 2,
     "streams": {"name": {"id": 0, "upper": 10, "since": 4,
         "trace":    [{"key": "batch/..", "lower": 0, "upper": 10, "since": 0,
                       "len": 3, "bytes": 900}],
         "unsealed": [{"key": "batch/..", "seqno_lo": 3, "seqno_hi": 41,
                       "ts_min": 10, "ts_max": 12, "len": 2, "bytes": 700}]}}}

Trace batches hold updates with ``lower <= ts < upper`` or ``ts == since``
(a compaction advanced every time below the batch's ``since`` to it, so none
is below it; a sealed batch has ``since`` 0), key-sorted and consolidated; a batch with ``len == 0`` has ``key: null`` and no blob.
Unsealed batches hold drained Wal updates with ``ts >= upper`` of their
stream, for seqnos in ``[seqno_lo, seqno_hi]``.

Invariants (``invariant_problems``; asserted in debug mode, reported by
``persist.check``): per stream ``0 <= since <= upper``; trace descriptions
contiguous from 0 to ``upper`` with ``lower < upper`` each (none when
``upper == 0``), batch ``since <= `` stream ``since``; unsealed seqno ranges
sorted, non-overlapping, ``<= wal_absorbed``, with ``ts_min >= upper``;
every batch key unique across the record; ``len == 0`` iff no key; stream
ids unique and below ``next_stream_id``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field, replace

from persist.errors import CorruptionError

META_KEY = "meta"
BATCH_PREFIX = "batch/"
MAGIC = b"PMET"
VERSION = 1
HEADER = struct.Struct("<4sHHQII")
HEADER_SIZE = HEADER.size


@dataclass(frozen=True)
class TraceBatch:
    key: str | None
    lower: int
    upper: int
    since: int
    len: int
    bytes: int = 0


@dataclass(frozen=True)
class UnsealedBatch:
    key: str
    seqno_lo: int
    seqno_hi: int
    ts_min: int
    ts_max: int
    len: int
    bytes: int = 0


@dataclass(frozen=True)
class StreamMeta:
    id: int
    upper: int = 0
    since: int = 0
    trace: tuple[TraceBatch, ...] = ()
    unsealed: tuple[UnsealedBatch, ...] = ()

    def batch_keys(self) -> list[str]:
        return [b.key for b in self.trace if b.key] + [b.key for b in self.unsealed]


@dataclass(frozen=True)
class Metadata:
    version: int = 0
    nonce: str = ""
    epoch: int = 0
    writer: dict = field(default_factory=dict)
    wal_absorbed: int = 0
    next_stream_id: int = 0
    streams: dict[str, StreamMeta] = field(default_factory=dict)

    def successor(self, **changes) -> Metadata:
        """The next record: version + 1, a fresh nonce, ``changes`` applied."""
        return replace(self, version=self.version + 1, nonce=os.urandom(12).hex(), **changes)

    def with_stream(self, name: str, sm: StreamMeta | None) -> dict[str, StreamMeta]:
        """A copy of ``streams`` with ``name`` set to ``sm`` (removed if None)."""
        streams = dict(self.streams)
        if sm is None:
            streams.pop(name, None)
        else:
            streams[name] = sm
        return streams

    def by_id(self) -> dict[int, tuple[str, StreamMeta]]:
        return {sm.id: (name, sm) for name, sm in self.streams.items()}

    def batch_keys(self) -> set[str]:
        keys: set[str] = set()
        for sm in self.streams.values():
            keys.update(sm.batch_keys())
        return keys


def _to_json(meta: Metadata) -> dict:
    return {
        "version": meta.version,
        "nonce": meta.nonce,
        "epoch": meta.epoch,
        "writer": meta.writer,
        "wal_absorbed": meta.wal_absorbed,
        "next_stream_id": meta.next_stream_id,
        "streams": {
            name: {
                "id": sm.id,
                "upper": sm.upper,
                "since": sm.since,
                "trace": [b.__dict__ for b in sm.trace],
                "unsealed": [b.__dict__ for b in sm.unsealed],
            }
            for name, sm in sorted(meta.streams.items())
        },
    }


def encode(meta: Metadata) -> bytes:
    body = json.dumps(_to_json(meta), separators=(",", ":"), sort_keys=True).encode()
    head = struct.pack("<4sHHQI", MAGIC, VERSION, 0, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def decode(data: bytes, name: str = META_KEY) -> Metadata:
    """Check the frame and parse the body; any damage raises CorruptionError."""
    view = memoryview(data)
    if len(view) < HEADER_SIZE:
        raise CorruptionError(f"{name}: {len(view)} bytes, shorter than the {HEADER_SIZE}-byte metadata header")
    magic, version, reserved, length, body_crc, header_crc = HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise CorruptionError(f"{name}: bad magic {bytes(magic)!r} at offset 0 (expected {MAGIC!r}); not persist metadata")
    if zlib.crc32(view[:20]) != header_crc:
        raise CorruptionError(f"{name}: metadata header checksum mismatch at offset 20")
    if version != VERSION:
        raise CorruptionError(f"{name}: metadata format version {version} is not supported (this build reads {VERSION})")
    if reserved != 0:
        raise CorruptionError(f"{name}: reserved field at offset 6 is {reserved}, expected 0")
    if len(view) - HEADER_SIZE != length:
        raise CorruptionError(f"{name}: body is {len(view) - HEADER_SIZE} bytes but the header at offset 8 says {length}")
    body = view[HEADER_SIZE:]
    if zlib.crc32(body) != body_crc:
        raise CorruptionError(f"{name}: metadata body checksum mismatch (bytes {HEADER_SIZE}..{len(view)})")
    try:
        obj = json.loads(bytes(body))
        streams = {
            name_: StreamMeta(
                id=s["id"],
                upper=s["upper"],
                since=s["since"],
                trace=tuple(TraceBatch(**b) for b in s["trace"]),
                unsealed=tuple(UnsealedBatch(**b) for b in s["unsealed"]),
            )
            for name_, s in obj["streams"].items()
        }
        return Metadata(
            version=obj["version"],
            nonce=obj["nonce"],
            epoch=obj["epoch"],
            writer=obj["writer"],
            wal_absorbed=obj["wal_absorbed"],
            next_stream_id=obj["next_stream_id"],
            streams=streams,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptionError(f"{name}: metadata body passed its checksum but does not parse: {e!r}") from e


def invariant_problems(meta: Metadata) -> list[str]:
    """Every broken invariant of ``meta`` (see the module docstring), in words."""
    problems: list[str] = []
    seen_keys: dict[str, str] = {}
    seen_ids: dict[int, str] = {}
    if meta.version < 0 or meta.epoch < 0 or meta.wal_absorbed < 0:
        problems.append(f"negative counter: version={meta.version} epoch={meta.epoch} wal_absorbed={meta.wal_absorbed}")
    for name, sm in meta.streams.items():
        where = f"stream {name!r}"
        if sm.id in seen_ids:
            problems.append(f"{where}: id {sm.id} also used by stream {seen_ids[sm.id]!r}")
        seen_ids[sm.id] = name
        if sm.id >= meta.next_stream_id:
            problems.append(f"{where}: id {sm.id} >= next_stream_id {meta.next_stream_id}")
        if not 0 <= sm.since <= sm.upper:
            problems.append(f"{where}: since {sm.since} / upper {sm.upper} break 0 <= since <= upper")
        expected_lower = 0
        for i, b in enumerate(sm.trace):
            bw = f"{where} trace batch {i} ({b.key})"
            if b.lower != expected_lower:
                problems.append(f"{bw}: lower {b.lower} != previous upper {expected_lower} (descriptions not contiguous)")
            if b.lower >= b.upper:
                problems.append(f"{bw}: empty or inverted range [{b.lower}, {b.upper})")
            if b.since > sm.since:
                problems.append(f"{bw}: batch since {b.since} beyond stream since {sm.since}")
            if (b.key is None) != (b.len == 0):
                problems.append(f"{bw}: len {b.len} with key {b.key!r} (a batch has a blob iff it has rows)")
            expected_lower = b.upper
        if expected_lower != sm.upper:
            problems.append(f"{where}: trace covers [0, {expected_lower}) but upper is {sm.upper}")
        prev_hi = None
        for i, b in enumerate(sm.unsealed):
            bw = f"{where} unsealed batch {i} ({b.key})"
            if b.seqno_lo > b.seqno_hi:
                problems.append(f"{bw}: seqno range [{b.seqno_lo}, {b.seqno_hi}] inverted")
            if prev_hi is not None and b.seqno_lo <= prev_hi:
                problems.append(f"{bw}: seqno range [{b.seqno_lo}, {b.seqno_hi}] overlaps or precedes the previous batch ending at {prev_hi}")
            if b.seqno_hi > meta.wal_absorbed:
                problems.append(f"{bw}: seqno_hi {b.seqno_hi} beyond wal_absorbed {meta.wal_absorbed}")
            if b.ts_min < sm.upper:
                problems.append(f"{bw}: ts_min {b.ts_min} below the stream's upper {sm.upper} (should be in the trace)")
            if b.ts_min > b.ts_max or b.len <= 0:
                problems.append(f"{bw}: ts range [{b.ts_min}, {b.ts_max}] or len {b.len} invalid")
            prev_hi = b.seqno_hi
        for key in sm.batch_keys():
            if key in seen_keys:
                problems.append(f"{where}: batch key {key!r} also named by {seen_keys[key]}")
            seen_keys[key] = where
    return problems
