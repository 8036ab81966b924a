"""FileBlob: compare-and-set does not compare (the stored version is never checked), so a writer whose location was taken over is never fenced and, after a stall, overwrites the new writer's metadata; exposed by the multi-writer workload under pause (its standby takes over from a stalled holder)."""

import os

from persist.storage import file_blob

EXPOSED_BY = {"workload": "multi-writer", "nemesis": "pause", "blob": "file", "time_limit": 6}


def compare_and_set(self, key, expected, value):
    self._check()
    name, tmp, token = self._prepare(key, value)
    try:
        with self._locked():
            # bug: no comparison of the found version with ``expected``
            os.replace(tmp, os.path.join(self.root, name))
            file_blob.fsync_dir(self.root)
    finally:
        file_blob._unlink_quietly(tmp)
    return token


file_blob.FileBlob.compare_and_set = compare_and_set
