"""Metadata: the writer installs a new record in memory before the compare-and-set and does not roll it back when the write fails, so it serves (and builds later commits on) state that is not durable; exposed by s3 (error-before / conflict on the metadata put)."""

from persist import metadata as md
from persist import persister
from persist.errors import ConflictError, PersistError
from persist.failpoints import failpoint

EXPOSED_BY = {"workload": "rehydrate", "nemesis": "s3", "blob": "s3", "time_limit": 6, "concurrency": 2,
              "s3_faults": ["error-before method=PUT key=*meta p=1", "conflict method=PUT key=*meta p=1"]}


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
            self._meta = new  # bug: memory first
            failpoint("metadata.before_cas")
            try:
                token = self.blob.compare_and_set(md.META_KEY, self._token, data)
            except ConflictError:
                self._resync = True
                self._adopt_or_fence()
                continue
            except PersistError:
                raise  # bug: no rollback of self._meta, no re-read before the next commit
            self._outstanding.clear()
            self._install(new, token)
            failpoint("metadata.after_cas")
            return new
        raise ConflictError(f"{self.url}: metadata kept changing under this writer; giving up this commit")


persister.Persister._commit = _commit
