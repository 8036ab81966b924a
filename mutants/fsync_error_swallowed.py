"""Wal: a failed fdatasync is logged and ignored (the author took EIO for a transient error the next fsync would cover, PostgreSQL's pre-2018 belief), so the append is acknowledged although its bytes never reached the disk; exposed by disk-error on the fault filesystem."""

# The tracer cannot fail a call, so no fsync ever fails there and this mutant
# is valid on ``--fs tracer``. On the fault filesystem a failed fdatasync
# poisons the file's unsynced writes (fsyncgate: a later good fsync does not
# save them), the mutant goes on acknowledging, and the power loss that ends
# the disk failure takes acknowledged appends. Found by running (2026-12-02):
#
#     persist-nemesis run --workload append --nemesis disk-error --seed SEED --time-limit 8 --concurrency 4 \
#         --mutant mutants/fsync_error_swallowed.py --fs fuse       # INVALID for seeds 21 (lost-writes), 6
#                                                                   # (a hole in the Wal: CorruptionError); 8 valid
#                                                                   # (after the engine merge: 21 invalid, 6 valid)
#     ... the same without --mutant                                 # VALID for seeds 21, 6, 8 (the correct engine)
#     persist-nemesis run --workload append --nemesis kill,lose-unsynced --seed SEED --time-limit 8 \
#         --concurrency 4 --mutant mutants/fsync_error_swallowed.py --fs tracer   # VALID for seeds 1-5

import os
import sys

from persist.storage import file_wal

EXPOSED_BY = {"workload": "append", "nemesis": "disk-error", "blob": "file", "time_limit": 8, "fs": "fuse",
              "seeds": [21, 6]}


def _fsync(self, fd, path, size):
    try:
        os.fdatasync(fd)
    except OSError as e:
        # bug: swallowed; the Wal is not poisoned and the caller acknowledges the append
        print(f"warning: fdatasync of {path} failed ({e}); continuing", file=sys.stderr, flush=True)
    if self._on_fsync is not None:
        self._on_fsync(path, size)


file_wal.FileWal._fsync = _fsync
