"""Persisted-stream operator: after a (re)start it takes the source's first data batch for one it already re-emitted and drops it (never written, never emitted); exposed by kill (rehydrate workload)."""

from persist.operators import persisted

EXPOSED_BY = {"workload": "rehydrate", "nemesis": "kill", "blob": "file", "time_limit": 4, "concurrency": 2}

_rehydrate = persisted.PersistedStream.rehydrate
_push = persisted.PersistedStream.push


def rehydrate(self):
    events = _rehydrate(self)
    self._skip_next = True
    return events


def push(self, updates):
    if getattr(self, "_skip_next", False):
        self._skip_next = False
        return None  # bug: "already replayed"
    return _push(self, updates)


persisted.PersistedStream.rehydrate = rehydrate
persisted.PersistedStream.push = push
