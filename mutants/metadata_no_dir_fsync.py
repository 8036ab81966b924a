"""Metadata: a new metadata record replaces the old one by a rename without fsyncing its directory (a replace over an existing name is atomic, the author reasoned, so only a first create needs the sync), so a power loss can bring back the old record after the Wal it absorbed was truncated; exposed by lose-unsynced on the fault filesystem."""

# The tracer never undoes a rename over an existing name (it cannot tell a
# replaced name's durable state), so this mutant is valid on ``--fs tracer``;
# the fault filesystem undoes the unsynced rename (the power loss's report
# lists "rename blob/.tmp-... -> blob/meta (replacing)" under dirops_undone)
# and the old record comes back after the Wal it absorbed was truncated.
# Found by running (2026-12-02, issue 11):
#
#     persist-nemesis run --workload append --nemesis lose-unsynced --seed SEED --time-limit 6 --concurrency 4 \
#         --mutant mutants/metadata_no_dir_fsync.py --fs fuse      # INVALID for seeds 1, 2, 3 (lost-writes;
#                                                   after the engine merge 1, 2 invalid, 3 valid: timing;
#                                                   with append's drains, merges and GC (more blob-directory
#                                                   fsyncs that make the rename durable by the way), seeds 4, 5
#                                                   invalid and 1-3, 6-11 valid at concurrency 4; 16, 17 at 8)
#     ... the same with --fs tracer                                 # VALID for seeds 1, 2, 3, 4, 5

import os

from persist.errors import ConflictError
from persist.storage import file_blob

# (2 Dec, 13:30 UTC, engine with durable reads and the Wal's cut-back: 6 s runs 1 of 12 seeds invalid, 12 s runs
#  3 of 8: seeds 1, 5, 6)
EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 12, "fs": "fuse",
              "seeds": [1, 5, 6, 11]}


def compare_and_set(self, key, expected, value):
    self._check()
    name, tmp, token = self._prepare(key, value)
    try:
        with self._locked():
            current = self._read(key)
            found = None if current is None else current[1]
            if found != expected:
                raise ConflictError(
                    f"compare_and_set on blob {key!r} expected version {expected!r}, found {found!r}; "
                    "re-read the key and retry"
                )
            os.replace(tmp, os.path.join(self.root, name))
            if expected is None:  # a new name: made durable
                file_blob.fsync_dir(self.root)
            # bug: a replace (expected is not None) is not fsynced: not durable until some later directory fsync
    finally:
        file_blob._unlink_quietly(tmp)
    return token


def get_versioned(self, key):
    # the same belief on the read side: a record that is visible is as good as durable, so a reader never fsyncs
    # the directory before answering from a new version (the engine's readers do, which would make the unsynced
    # rename durable by the way and hide the bug whenever a reader reads in the window; see FileBlob's
    # "Durable reads")
    self._check()
    return self._read(key)


file_blob.FileBlob.compare_and_set = compare_and_set
file_blob.FileBlob.get_versioned = get_versioned
