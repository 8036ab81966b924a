"""Compaction frontier: allow_compaction re-checks its argument after its compare-and-set, against the record it just committed, with "since must move forward" written as since < s, so it sees its own effect and reports every compaction that moved since as refused (SinceError, a determinate error) although since moved; exposed by the append workload's failed-no-effect checker (a determinate failure must have had no effect), no fault needed."""

from persist import persister
from persist.errors import SinceError

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 6}

_allow = persister.Persister.allow_compaction


def allow_compaction(self, name, sid, s):
    _allow(self, name, sid, s)
    sm = self._stream_meta(name, sid, self._meta)
    if not sm.since < s:  # bug: an after-the-fact check that reads its own commit (and is off by one)
        raise SinceError(f"allow_compaction({s}) on stream {name!r} did not move since={sm.since} forward")


persister.Persister.allow_compaction = allow_compaction
