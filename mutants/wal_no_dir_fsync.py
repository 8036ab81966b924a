"""Wal and Blob: files are created and renamed into place without fsyncing their directory, so a power loss drops the new names (segments, batches); exposed by lose-unsynced."""

from persist.storage import file_blob, file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 5}


def _no_fsync_dir(path):
    pass  # bug: the create/rename is not durable until some later directory fsync


file_wal.fsync_dir = _no_fsync_dir
file_blob.fsync_dir = _no_fsync_dir
