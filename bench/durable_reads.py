"""What durable reads cost a reader: ``FileBlob.get_versioned`` fsyncs the
blob directory the first time it sees a version it did not make durable
(docs/semantics.md, "Readers").

    python bench/durable_reads.py [--dir DIR] [--n N] [--repeat R]

Per round, on one directory (a writer handle and a reader handle):

1. **anchor**: the plain read of a 200-byte record (``FileBlob._read``: what
   ``get_versioned`` cost before, and still costs for a version seen before);
2. ``get_versioned`` of a version seen before (no fsync);
3. ``get_versioned`` of a new version each time (the writer's
   ``compare_and_set`` in between, not timed): one directory fsync per read;
4. the raw ``fsync`` of the directory alone.

Medians over ``--repeat`` rounds of ``--n`` reads each, in microseconds per
read. A shared 2-core virtual machine whose disk may not honour flushes:
read ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from persist.storage.file_blob import FileBlob
from persist.storage.fsutil import fsync_dir

VALUE = b"m" * 200


def round_(d: str, n: int) -> dict[str, float]:
    w, r = FileBlob(d), FileBlob(d)
    tok = w.compare_and_set("meta", None, VALUE)
    r.get_versioned("meta")
    out = {}
    t = time.perf_counter()
    for _ in range(n):
        r._read("meta")
    out["plain read (anchor)"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        r.get_versioned("meta")
    out["get_versioned, version seen before"] = (time.perf_counter() - t) / n
    total = 0.0
    for _ in range(n):
        tok = w.compare_and_set("meta", tok, VALUE)
        t = time.perf_counter()
        r.get_versioned("meta")
        total += time.perf_counter() - t
    out["get_versioned, a new version each time"] = total / n
    t = time.perf_counter()
    for _ in range(n):
        fsync_dir(d)
    out["directory fsync alone"] = (time.perf_counter() - t) / n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="where to measure (default: a temp dir)")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    rounds = []
    for _ in range(a.repeat):
        d = tempfile.mkdtemp(dir=a.dir)
        rounds.append(round_(d, a.n))
    anchor = statistics.median(x["plain read (anchor)"] for x in rounds)
    for k in rounds[0]:
        med = statistics.median(x[k] for x in rounds)
        print(f"{k:45s} {med * 1e6:8.1f} us   {med / anchor:5.2f}x anchor")


if __name__ == "__main__":
    main()
