"""Fencing: a writer that finds another writer's epoch in the record adopts that record and carries on instead of fencing itself, so a stalled writer that was taken over keeps writing to the stream; exposed by the multi-writer workload under pause (its standby, with its own Wal, takes over from a stalled holder)."""

from persist import metadata as md
from persist import persister
from persist.errors import ConflictError

EXPOSED_BY = {"workload": "multi-writer", "nemesis": "pause", "blob": "file", "time_limit": 6}


def _fence(self, cur):
    # bug: "someone else changed the record: take theirs and go on" (the epoch is ignored)
    got = self.blob.get_versioned(md.META_KEY)
    if got is not None:
        self._meta, self._token = md.decode(got[0], f"{self.url} metadata"), got[1]
        self._outstanding.clear()
        self._resync = False
    return ConflictError(f"{self.url}: the record changed under this writer; try again")


persister.Persister._fence = _fence
