"""Restart: the newest seal of every stream is lost (upper falls back to the previous trace batch's bound, that batch is dropped); exposed by kill."""

import dataclasses

from persist import persister

EXPOSED_BY = {"workload": "append", "nemesis": "kill", "blob": "file", "time_limit": 5}

_orig = persister.Persister._open_writer


def _open_writer(self):
    _orig(self)
    streams = {}
    for name, sm in self._meta.streams.items():
        if sm.trace:  # bug: forget the last sealed range
            last = sm.trace[-1]
            sm = dataclasses.replace(sm, trace=sm.trace[:-1], upper=last.lower, since=min(sm.since, last.lower))
        streams[name] = sm
    self._meta = dataclasses.replace(self._meta, streams=streams)


persister.Persister._open_writer = _open_writer
