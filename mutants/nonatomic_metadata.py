"""Metadata: the record's temp file is renamed into place without being fsynced first, so the replace is not crash-atomic (a power loss leaves a torn record under the real name); exposed by lose-unsynced."""

import os
import secrets

from persist import metadata
from persist.storage import file_blob

EXPOSED_BY = {"workload": "append", "nemesis": "lose-unsynced", "blob": "file", "time_limit": 5}

_orig = file_blob.FileBlob._prepare


def _prepare(self, key, value):
    if key != metadata.META_KEY:
        return _orig(self, key, value)
    name = file_blob.escape_key(key)
    token = secrets.token_bytes(16)
    tmp = os.path.join(self.root, file_blob.TMP_PREFIX + secrets.token_hex(8))
    with open(tmp, "wb") as f:  # bug: no fsync before the rename
        f.write(file_blob.encode_entry(token, bytes(value)))
    return name, tmp, token.hex()


file_blob.FileBlob._prepare = _prepare
