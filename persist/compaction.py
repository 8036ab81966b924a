"""Compaction (a spine of trace batches) and garbage collection.

Compaction merges *adjacent* trace batches whose ``upper <= since`` of the
stream. Policy (``plan``), a size-tiered spine: walking from the newest
eligible batch back, merge a batch into its older neighbour when the older
one is at most twice as large (so sizes grow geometrically and a stream
keeps O(log n) batches), and always fold empty descriptions into a
neighbour. A merge concatenates the inputs, advances times below ``since``
to ``since``, consolidates per ``(key, val, ts)`` and sorts by key; the
result's description is ``[first.lower, last.upper)`` with that ``since``.
A read at ``as_of >= since`` answers the same before and after: advancing
``ts < since <= as_of`` to ``since`` keeps every update counted.

Order: merged blob written -> metadata swapped by compare-and-set (only if
the inputs are still exactly there) -> the inputs deleted.

GC deletes blobs under ``batch/`` that the *durable* metadata does not name
and that no commit of this writer is still writing (``_inflight``). It lists
first and then, under the metadata lock, takes the committed record and the
in-flight set, so a blob written before the listing is either named, in
flight, or abandoned by a failed commit: never live. A fenced writer's
stray blobs are orphans and go too.
"""

from __future__ import annotations

import pyarrow as pa

from persist import metadata as md
from persist.columnar import consolidate_updates
from persist.failpoints import failpoint


def plan(trace: tuple[md.TraceBatch, ...], since: int) -> tuple[int, int] | None:
    """The index range ``[i, j)`` (j - i >= 2) of one merge to do, or None."""
    eligible = 0
    while eligible < len(trace) and trace[eligible].upper <= since:
        eligible += 1
    if eligible < 2:
        return None
    for i in range(eligible - 1, 0, -1):
        older, newer = trace[i - 1], trace[i]
        if older.len == 0 or newer.len == 0 or older.len <= 2 * newer.len:
            return (i - 1, i + 1)
    return None


def compact_stream(p, name: str) -> bool:
    """One merge on stream ``name`` if the policy finds one; True if done."""
    with p._compact_lock:
        meta = p.current_meta()
        sm = meta.streams.get(name)
        if sm is None:
            return False
        rng = plan(sm.trace, sm.since)
        if rng is None:
            return False
        i, j = rng
        inputs = sm.trace[i:j]
        failpoint("compaction.before_blob")
        tables = [p.fetch(b.key) for b in inputs if b.key]
        merged = consolidate_updates(pa.concat_tables(tables), advance_to=sm.since) if tables else None
        written = []
        if merged is not None and len(merged):
            key, size = p._write_batch(merged)
            written.append(key)
            out = md.TraceBatch(key, inputs[0].lower, inputs[-1].upper, sm.since, len(merged), size)
        else:
            out = md.TraceBatch(None, inputs[0].lower, inputs[-1].upper, sm.since, 0, 0)
        failpoint("compaction.before_metadata")

        def transform(cur: md.Metadata):
            s = cur.streams.get(name)
            if s is None or s.id != sm.id:
                return None
            keyed = [(b.key, b.lower, b.upper) for b in s.trace]
            want = [(b.key, b.lower, b.upper) for b in inputs]
            for k in range(len(keyed) - len(want) + 1):
                if keyed[k : k + len(want)] == want:
                    trace = s.trace[:k] + (out,) + s.trace[k + len(want) :]
                    return cur.successor(streams=cur.with_stream(name, md.StreamMeta(s.id, s.upper, s.since, trace, s.unsealed)))
            return None

        try:
            done = p._commit(transform)
        except Exception as e:
            from persist.errors import StorageIndeterminateError

            if not isinstance(e, StorageIndeterminateError):
                p._abandon(written)
            else:  # in flight until the commit is settled
                with p._state_lock:
                    p._doubtful.update(written)
            raise
        if done is None:
            p._abandon(written)
            return False
        failpoint("compaction.after_metadata")
        p._delete_blobs(b.key for b in inputs if b.key)
        return True


def compact_all(p, max_merges: int = 1000) -> int:
    merges = 0
    for name in list(p.current_meta().streams):
        while merges < max_merges and compact_stream(p, name):
            merges += 1
    return merges


def gc(p) -> list[str]:
    """Delete orphan batch blobs; return their keys. Also removes the temp
    files that dead processes left in a local blob directory."""
    p._clean_stale_tmp()
    listed = p.blob.list_keys(md.BATCH_PREFIX)
    with p._meta_lock:
        p._check_open()
        named = p._meta.batch_keys()
        with p._state_lock:
            busy = set(p._inflight)
    orphans = [k for k in listed if k not in named and k not in busy]
    if orphans:
        failpoint("gc.before_delete")
    for k in orphans:
        p.cache.discard(p.location.id, k)
        p.blob.delete(k)
        failpoint("gc.after_delete")
    return orphans
