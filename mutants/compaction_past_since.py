"""Compaction: a merge advances the times of its updates to the stream's upper instead of its since, so a read at an as_of in [since, upper) misses them; exposed by any run that compacts (none)."""

import pyarrow as pa

from persist import compaction
from persist import metadata as md
from persist.columnar import consolidate_updates
from persist.compaction import plan
from persist.failpoints import failpoint

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 6, "concurrency": 12}


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
        merged = consolidate_updates(pa.concat_tables(tables), advance_to=sm.upper) if tables else None  # bug: upper, not since
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


compaction.compact_stream = compact_stream
