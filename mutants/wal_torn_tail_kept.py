"""Wal: recovery finds a torn tail but does not cut it (the segment keeps its full length), so replay and later appends meet the torn record as corruption in the middle of the log and the writer cannot open; exposed by lose-unsynced (a torn write)."""

import os

from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 6, "concurrency": 16}


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
        # bug: a torn tail (good_end < len(data)) is left in the file, and the
        # segment's length (where appends go, what replay reads) is the file's
        segments.append(file_wal._Segment(base, path, len(recs), len(data)))
    if seal is not None:
        path = self._create_segment(seal)
        segments.append(file_wal._Segment(seal, path, 0, 0))
    return segments


file_wal.FileWal._recover = _recover
