"""Drain: after a drain (not a seal) commits, the writer empties its whole pending list instead of dropping only the records the metadata absorbed, so a write acknowledged while the drain was writing its batch (it holds only the drain lock, not the writers' lock) is forgotten in memory: the next seal leaves it out and it is lost from sealed time (it is still in the Wal, so a restart may bring it back); exposed by the append workload's drain operations racing its writes, no fault needed."""

from persist import persister

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 6}

_drain_once = persister.Persister._drain_once


def drain_once(self, seals):
    _drain_once(self, seals)
    if not seals:  # bug: "the drain took everything" (records appended meanwhile are dropped too)
        with self._state_lock:
            self._pending = []
            self._pending_bytes = 0


persister.Persister._drain_once = drain_once
