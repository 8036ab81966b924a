"""Metadata: a compare-and-set of unknown outcome is retried blindly (re-read, then the change redone on top, never asking whether its own attempt landed), so a landed drain commits twice; exposed by s3 (error-after / drop-after / timeout apply=true on the metadata put)."""

from persist import metadata as md
from persist import persister
from persist.errors import ConflictError, PersistError, StorageIndeterminateError
from persist.failpoints import failpoint

EXPOSED_BY = {"workload": "append", "nemesis": "s3", "blob": "s3", "time_limit": 8,
              "s3_faults": ["error-after method=PUT key=*meta p=0.5", "drop-after method=PUT key=*meta p=0.5"]}


def _commit(self, transform):
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
            except StorageIndeterminateError:
                # bug: "it failed, try again": take the record now stored as the
                # base (it may be our own attempt) and redo the change on top
                self._meta, self._token = self._read_meta()
                continue
            except PersistError:
                self._resync = True
                raise
            self._outstanding.clear()
            self._install(new, token)
            failpoint("metadata.after_cas")
            return new
        raise ConflictError(f"{self.url}: metadata kept changing under this writer; giving up this commit")


persister.Persister._commit = _commit
