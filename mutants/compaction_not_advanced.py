"""Compaction: a merge consolidates without advancing times below since to since, so the merged batch breaks its description (times below its since) and the trace never shrinks; no read at as_of >= since sees it; exposed by any run that compacts (none), through the fsck the harness runs at the end (the integrity checker)."""

from persist import columnar, compaction

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 6, "concurrency": 12}

_consolidate = columnar.consolidate_updates


def _not_advanced(table, advance_to=0):
    return _consolidate(table)  # bug: advance_to dropped


compaction.consolidate_updates = _not_advanced
