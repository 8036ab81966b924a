"""Batches: consolidation (seal and compaction) sums runs of equal (key, val, ts) in one pass but never flushes the last run, so every sealed or merged batch loses its greatest update; exposed by any run that seals (none)."""

import pyarrow as pa

from persist import columnar, compaction, persister
from persist.operators import persisted, upsert

EXPOSED_BY = {"workload": "append", "nemesis": "none", "blob": "file", "time_limit": 3}


def consolidate_updates(table, advance_to=0):
    if not len(table):
        return columnar.EMPTY_UPDATES
    d = table.select(["key", "val", "ts", "diff"]).to_pydict()
    rows = sorted(zip(d["key"], d["val"], [max(t, advance_to) for t in d["ts"]], d["diff"]))
    out = []
    cur, acc = None, 0
    for k, v, t, diff in rows:
        if (k, v, t) == cur:
            acc += diff
            continue
        if cur is not None and acc:
            out.append((*cur, acc))
        cur, acc = (k, v, t), diff
    # bug: the last run (cur, acc) is never appended
    cols = list(zip(*out)) if out else [[], [], [], []]
    return pa.Table.from_arrays([pa.array(cols[0], pa.binary()), pa.array(cols[1], pa.binary()),
                                 pa.array(cols[2], pa.uint64()), pa.array(cols[3], pa.int64())],
                                schema=columnar.EMPTY_UPDATES.schema)


for mod in (columnar, compaction, persister, persisted, upsert):
    mod.consolidate_updates = consolidate_updates
