"""Persisted-stream operator: after a restart it forgets which unsealed updates it already re-emitted, so the source's re-sent copies are written and emitted again; exposed by kill (rehydrate workload)."""

from persist.operators import persisted

EXPOSED_BY = {"workload": "rehydrate", "nemesis": "kill", "blob": "file", "time_limit": 5, "concurrency": 2}

_orig = persisted.PersistedStream.rehydrate


def rehydrate(self):
    events = _orig(self)
    self._replayed.clear()  # bug: the replayed multiset is lost
    return events


persisted.PersistedStream.rehydrate = rehydrate
