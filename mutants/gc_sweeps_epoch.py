"""GC: an orphan batch blob is taken for the leftovers of a dead writer, and GC sweeps its whole epoch (every listed batch/<epoch>-* key) instead of the orphan alone, deleting live batches that the metadata still names; the store then lacks batches it needs (fsck: missing blobs; the next seal or read fails); exposed by GC that really deletes orphans: a kill mid-drain or mid-seal leaves one, and the append workload's gc operations (or a background GC after a merge) then sweep; kill."""

from persist import compaction
from persist import metadata as md
from persist.failpoints import failpoint

EXPOSED_BY = {"workload": "append", "nemesis": "kill", "blob": "file", "time_limit": 6, "seeds": [1, 2]}


def gc(p):
    p._clean_stale_tmp()
    listed = p.blob.list_keys(md.BATCH_PREFIX)
    with p._meta_lock:
        p._check_open()
        named = p._meta.batch_keys()
        with p._state_lock:
            busy = set(p._inflight)
    orphans = [k for k in listed if k not in named and k not in busy]
    if orphans:
        failpoint("gc.before_delete")
    # bug: "a dead writer's epoch": every listed key of an orphan's epoch goes (was: the orphans alone)
    epochs = {k[: len(md.BATCH_PREFIX) + 6] for k in orphans}
    doomed = [k for k in listed if k[: len(md.BATCH_PREFIX) + 6] in epochs]
    for k in doomed:
        p.cache.discard(p.location.id, k)
        p.blob.delete(k)
        failpoint("gc.after_delete")
    return doomed


compaction.gc = gc
