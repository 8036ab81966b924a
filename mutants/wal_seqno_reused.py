"""Wal: truncation empties the newest segment in place and numbering restarts at its base, so new records reuse sequence numbers the metadata already absorbed and replay after a restart skips them (acknowledged writes lost); exposed by kill."""

import os

from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "kill", "blob": "file", "time_limit": 5}

_orig = file_wal.FileWal.truncate


def truncate(self, before_seqno):
    with self._sync_lock, self._write_lock:
        self._check()
        active = self._segments[-1]
        if active.count and self._next <= before_seqno and len(self._segments) == 1:
            # bug: empty the segment where it is instead of rolling to one named after the next seqno
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            active.count = active.size = 0
            self._synced_size = 0
            self._next = active.base
            self._written = self._synced = active.base - 1
            return
    _orig(self, before_seqno)


file_wal.FileWal.truncate = truncate
