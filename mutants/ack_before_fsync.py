"""Wal: acknowledges an append before any fsync covers it (the fdatasync is skipped); exposed by lose-unsynced."""

from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 5}


def _fsync(self, fd, path, size):
    # bug: no os.fdatasync(fd); the engine still believes the bytes are durable
    if self._on_fsync is not None:
        self._on_fsync(path, size)


file_wal.FileWal._fsync = _fsync
