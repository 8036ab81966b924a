"""Fencing: GC takes any listed batch blob of another epoch (epoch != its own, instead of a newer one) for a sign that another writer holds the location and refuses with FencedError, so after the first restart of the one writer every gc fails fenced although nobody took it over; the data is untouched (GC only deletes garbage); exposed by the no-fencing checker of the append workload's gc operations under kill."""

from persist import compaction
from persist import metadata as md
from persist.errors import FencedError

EXPOSED_BY = {"workload": "append", "nemesis": "kill", "blob": "file", "time_limit": 6}

_gc = compaction.gc


def gc(p):
    for k in p.blob.list_keys(md.BATCH_PREFIX):
        epoch = k[len(md.BATCH_PREFIX):].split("-", 1)[0]
        if epoch.isdigit() and int(epoch) != p.epoch:  # bug: was int(epoch) > p.epoch
            raise FencedError(f"{p.url}: batch {k} of epoch {int(epoch)} found by the writer of epoch {p.epoch}; "
                              f"another writer holds the location")
    return _gc(p)


compaction.gc = gc
