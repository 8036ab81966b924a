"""Drain: the Wal is truncated before the metadata record names the drained batches, so a crash between the two loses acknowledged writes; exposed by failpoint (a crash at drain.before_metadata, seal.before_metadata or metadata.before_cas)."""

# The order of effects is data, then metadata, then deletes; this deletes first. The window is a
# fraction of a millisecond per drain, so ``kill`` at random times almost never lands in it; an error
# at one of those failpoints followed by any crash before the next drain exposes it too.

import sys

from persist import persister

EXPOSED_BY = {"workload": "append", "nemesis": "failpoint", "time_limit": 8, "seeds": [5, 6, 1]}  # seed 5 caught 2 of 2 runs, 6: 2 of 2, 1: 1 of 2; 2, 3: 0 of 2; 4, 7: 0 of 1

_orig = persister.failpoint


def _failpoint(name):
    if name in ("drain.before_metadata", "seal.before_metadata"):
        f = sys._getframe(1)
        while f is not None and f.f_code.co_name != "_drain_once":  # past any wrapper (the harness counts calls)
            f = f.f_back
        caller = f.f_locals  # Persister._drain_once: self, absorbed
        caller["self"]._wal.truncate(caller["absorbed"] + 1)  # bug: deletes before the metadata swap
    _orig(name)


persister.failpoint = _failpoint
