"""Wal: recovery finds a torn tail but does not cut it (the segment keeps its full length), so replay and later appends meet the torn record as corruption in the middle of the log and the writer cannot open; exposed by lose-unsynced (a torn write)."""

import os

from persist.storage import file_wal

# Measured 2026-12-02: on the fault filesystem (whole writes torn, in some power-loss models) the hinted hunt
# needed 16 runs (seed 12); on the tracer (files cut at any byte past the durable prefix) seeds 1, 2, 3 all
# INVALID: persist-nemesis run --workload append --nemesis lose-unsynced --seed S --time-limit 6 \
#     --concurrency 16 --mutant mutants/wal_torn_tail_kept.py --fs tracer
EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 6, "concurrency": 16,
              "fs": "tracer", "seeds": [1, 2, 3]}


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
