"""Wal: a second writer is not refused because the Wal directory's flock is never taken (the lock file is still written, so nothing looks different); exposed by the multi-writer workload (two processes hold the location at once)."""

import os

from persist.storage import file_wal, fsutil

EXPOSED_BY = {"workload": "multi-writer", "nemesis": "none", "blob": "file", "time_limit": 3}


class _NoLock:
    def __init__(self, dir_path, name, what):
        self.path = os.path.join(dir_path, name)
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(fsutil.holder_line())  # bug: no fcntl.flock: every opener "holds" it

    def release(self):
        pass


file_wal.DirLock = _NoLock
