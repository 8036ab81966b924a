"""Readers: a listener keeps only updates with ts > its frontier (instead of ts >= frontier), so every update written exactly at the previous progress (the upper it last announced) is never delivered; snapshots are unaffected; exposed by the append workload's listens (reader processes), no fault needed."""

import pyarrow as pa
import pyarrow.compute as pc

from persist import stream
from persist.errors import AsOfError

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 6}


def _events(self, meta, sm):
    f = self.frontier
    seen = {}

    def pick(m):
        sm_ = m.streams.get(self.stream.name, sm) if m.version != meta.version else sm
        chosen = []
        for b in sm_.trace:
            if b.upper <= f:
                continue
            if b.lower < f and b.since > f:
                raise AsOfError(f"listener on stream {self.stream.name!r} at frontier {f} fell behind compaction")
            if b.key:
                chosen.append(b.key)
        seen["upper"] = sm_.upper
        return chosen

    _, tables = self.stream.persister.read_tables(pick)
    upper = seen["upper"]
    events = []
    if tables:
        t = pa.concat_tables(tables)
        t = t.filter(pc.greater(t.column("ts"), pa.scalar(f, pa.uint64())))  # bug: was greater_equal
        if len(t):
            events.append(stream.ListenEvent("data", updates=t))
    events.append(stream.ListenEvent("progress", upper=upper))
    self.frontier = upper
    return events


stream.Listener._events = _events
