"""Restart: the Wal records the metadata has not absorbed are replayed twice, so their updates are applied twice; exposed by kill."""

from persist import persister

EXPOSED_BY = {"workload": "append", "nemesis": "kill", "blob": "file", "time_limit": 5}

_orig = persister.Persister._open_writer


def _open_writer(self):
    _orig(self)
    meta = self._meta
    for seqno, payload in self._wal.records(meta.wal_absorbed + 1):  # bug: a second replay pass
        if seqno > meta.wal_absorbed:
            self._add_pending(seqno, persister.walcodec.decode(payload, "replay"))


persister.Persister._open_writer = _open_writer
