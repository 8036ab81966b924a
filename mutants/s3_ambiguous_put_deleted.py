"""Drain: a metadata put of unknown outcome is treated as failed and the batches written for it are deleted, so a put that did land names missing batches (acknowledged writes lost); exposed by s3 (error-after / drop-after / timeout apply=true on the metadata put)."""

import threading

from persist import metadata as md
from persist import persister
from persist.errors import ConflictError, PersistError, StorageIndeterminateError, StorageUnavailableError
from persist.failpoints import failpoint

EXPOSED_BY = {"workload": "rehydrate", "nemesis": "s3", "blob": "s3", "time_limit": 6, "concurrency": 2,
              "s3_faults": ["error-after method=PUT key=*meta p=0.5", "drop-after method=PUT key=*meta p=0.5"]}

_written = threading.local()
_orig_write_batch = persister.Persister._write_batch


def _write_batch(self, table):
    key, size = _orig_write_batch(self, table)
    if not hasattr(_written, "keys"):
        _written.keys = []
    _written.keys.append(key)
    return key, size


def _commit(self, transform):
    keys, _written.keys = getattr(_written, "keys", []), []
    with self._meta_lock:
        self._check_open()
        if self._resync:
            self._adopt_or_fence()
        for _ in range(3):
            new = transform(self._meta)
            if new is None:
                return None
            data = md.encode(new)
            failpoint("metadata.before_cas")
            try:
                token = self.blob.compare_and_set(md.META_KEY, self._token, data)
            except ConflictError:
                self._adopt_or_fence()
                continue
            except StorageIndeterminateError as e:
                # bug: an ambiguous put is taken for a failed one; clean up its batches
                self._delete_blobs(keys)
                raise StorageUnavailableError(f"metadata update failed ({e}); its batches were removed") from None
            except PersistError:
                self._resync = True
                raise
            self._outstanding.clear()
            self._install(new, token)
            failpoint("metadata.after_cas")
            return new
        raise ConflictError(f"{self.url}: metadata kept changing under this writer; giving up this commit")


persister.Persister._write_batch = _write_batch
persister.Persister._commit = _commit
