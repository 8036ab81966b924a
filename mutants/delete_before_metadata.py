"""Compaction and GC: the batches a commit drops (merged compaction inputs, replaced unsealed batches) are deleted before its metadata compare-and-set is durable, so a crash or failed write leaves the record naming missing blobs; exposed by s3 (error-before on the metadata put) or a crash at metadata.before_cas."""

from persist import persister

EXPOSED_BY = {"workload": "rehydrate", "nemesis": "s3", "blob": "s3", "time_limit": 6, "concurrency": 2,
              "s3_faults": ["error-before method=PUT key=*meta p=1", "conflict method=PUT key=*meta p=1"]}

_orig = persister.Persister._commit


def _commit(self, transform):
    try:
        preview = transform(self._meta)
    except Exception:
        preview = None
    if preview is not None:
        # bug: "the new record will not name them": delete now, before it is written
        self._delete_blobs(sorted(self._meta.batch_keys() - preview.batch_keys()))
    return _orig(self, transform)


persister.Persister._commit = _commit
