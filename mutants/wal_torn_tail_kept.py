"""Wal: recovery finds a torn tail but does not cut it, so new records are appended after the garbage and the next open finds corruption in the middle of the log; exposed by lose-unsynced (torn writes) then a restart."""

import os

from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "kill,lose-unsynced", "blob": "file", "time_limit": 6}


def _recover(self):
    self.recovered_cut = None
    found = self._list_segments()
    if not found:
        self._create_segment(1)
        return [file_wal._Segment(1, os.path.join(self.dir, file_wal.segment_name(1)), 0, 0)]
    segments = []
    seal = None
    for i, (base, path) in enumerate(found):
        with open(path, "rb") as f:
            data = f.read()
        newest = i == len(found) - 1
        recs, good_end, seal = file_wal.scan_segment(path, data, base, newest=newest)
        segments.append(file_wal._Segment(base, path, len(recs), good_end))
        # bug: a torn tail (good_end < len(data)) is left in the file
    if seal is not None:
        path = self._create_segment(seal)
        segments.append(file_wal._Segment(seal, path, 0, 0))
    return segments


file_wal.FileWal._recover = _recover
