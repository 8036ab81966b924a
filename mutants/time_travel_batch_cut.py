"""Reads: a snapshot reads only the trace batches that end at or below as_of + 1 (b.upper <= as_of + 1 instead of b.lower <= as_of), so the sealed batch that straddles as_of is skipped; at as_of = upper - 1 every batch qualifies, so only a read further back misses rows; exposed by the append workload's time-travel snapshots (as_of anywhere in [since, upper)), no fault needed."""

from persist import stream
from persist.columnar import snapshot_of

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 6}


def snapshot(self, as_of):
    def pick(meta):
        sm = self.persister._stream_meta(self.name, self.sid, meta)
        stream._check_as_of(self.name, as_of, sm)
        return [b.key for b in sm.trace if b.key and b.upper <= as_of + 1]  # bug: was b.lower <= as_of

    meta, tables = self.persister.read_tables(pick)
    return stream.Snapshot(snapshot_of(tables, as_of), as_of, meta.version)


stream.Stream.snapshot = snapshot
