"""Storage benchmarks, each printed next to its anchor measured in the same run.

    python bench/storage.py [--dir DIR] [--appends N] [--rows N] [--repeat R]

1. Durable Wal appends/s with 1 and with 8 concurrent appending threads
   (group commit), against the raw floor of the same disk: one small
   ``write`` + ``fdatasync`` per operation, back to back, on one file.
2. Encode + decode of 1M updates: framed Arrow (``encode_batch`` +
   ``decode_batch``, from and to columnar data) against ``pickle`` of the same
   updates as a list of Python tuples (protocol 5). Also shown: the Arrow path
   including building the table from Python lists (what a caller pays when
   its data is not columnar to begin with).

Figures are medians over ``--repeat`` rounds; each round measures the anchor
and its subjects one after the other, so noise hits them alike. This is a shared 2-core virtual
machine whose disk may not honour flushes: read ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import threading
import time

import pyarrow as pa

from persist.storage import FileWal
from persist.storage.batch import UPDATE_SCHEMA, decode_batch, encode_batch

PAYLOAD = b"x" * 100


def fsync_floor(d: str, n: int) -> float:
    """ops/s of write(~128 B) + fdatasync on one file, back to back."""
    path = os.path.join(d, "floor")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    rec = b"y" * 128
    t = time.perf_counter()
    for _ in range(n):
        os.write(fd, rec)
        os.fdatasync(fd)
    dt = time.perf_counter() - t
    os.close(fd)
    os.unlink(path)
    return n / dt


def wal_appends(d: str, n: int, threads: int) -> tuple[float, float]:
    """(appends/s, appends per fsync) with ``threads`` appenders, n appends in total."""
    wal_dir = tempfile.mkdtemp(dir=d)
    fsyncs = [0]

    def count(path: str, size: int) -> None:
        fsyncs[0] += 1

    wal = FileWal(wal_dir, on_fsync=count)
    per = n // threads

    def run() -> None:
        for _ in range(per):
            wal.append(PAYLOAD)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    dt = time.perf_counter() - t
    wal.close()
    shutil.rmtree(wal_dir)
    return per * threads / dt, per * threads / max(1, fsyncs[0])


def updates(n: int):
    keys = [b"key-%08d" % i for i in range(n)]
    vals = [b"val-%d" % (i % 1000) for i in range(n)]
    ts = list(range(n))
    diffs = [1 if i % 7 else -1 for i in range(n)]
    return keys, vals, ts, diffs


def table_from_lists(keys, vals, ts, diffs) -> pa.Table:
    return pa.Table.from_arrays(
        [pa.array(keys, pa.binary()), pa.array(vals, pa.binary()), pa.array(ts, pa.uint64()), pa.array(diffs, pa.int64())],
        schema=UPDATE_SCHEMA,
    )


def arrow_round_trip(table: pa.Table) -> float:
    t = time.perf_counter()
    back = decode_batch(encode_batch(table))
    dt = time.perf_counter() - t
    assert back.num_rows == table.num_rows
    return dt


def arrow_from_lists(cols) -> float:
    t = time.perf_counter()
    back = decode_batch(encode_batch(table_from_lists(*cols)))
    dt = time.perf_counter() - t
    assert back.num_rows == len(cols[0])
    return dt


def pickle_round_trip(tuples) -> float:
    t = time.perf_counter()
    back = pickle.loads(pickle.dumps(tuples, protocol=5))
    dt = time.perf_counter() - t
    assert len(back) == len(tuples)
    return dt


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="where to put files (default: a temp dir)")
    ap.add_argument("--appends", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    d = tempfile.mkdtemp(prefix="bench-storage-", dir=a.dir)
    r = a.repeat
    try:
        # interleaved rounds, so that noise from other jobs hits anchor and subject alike
        wal_rounds = [(fsync_floor(d, a.appends), wal_appends(d, a.appends, 1), wal_appends(d, a.appends, 8))
                      for _ in range(r)]
        floor = statistics.median(x[0] for x in wal_rounds)
        one_rate, one_per = (statistics.median(x[1][i] for x in wal_rounds) for i in (0, 1))
        eight_rate, eight_per = (statistics.median(x[2][i] for x in wal_rounds) for i in (0, 1))

        cols = updates(a.rows)
        table = table_from_lists(*cols)
        tuples = list(zip(*cols))
        arrow_round_trip(table)  # warm-up: first touches of large allocations
        codec_rounds = [(pickle_round_trip(tuples), arrow_round_trip(table), arrow_from_lists(cols)) for _ in range(r)]
        pick, arrow, arrow_lists = (statistics.median(x[i] for x in codec_rounds) for i in range(3))
    finally:
        shutil.rmtree(d, ignore_errors=True)

    rows = [
        ("raw write+fdatasync (anchor)", f"{floor:,.0f} ops/s", "1.00x", ""),
        ("Wal append, 1 appender", f"{one_rate:,.0f} appends/s", f"{one_rate / floor:.2f}x", f"{one_per:.1f} appends/fsync"),
        ("Wal append, 8 appenders", f"{eight_rate:,.0f} appends/s", f"{eight_rate / floor:.2f}x",
         f"{eight_per:.1f} appends/fsync; {eight_rate / one_rate:.1f}x the 1-appender rate"),
        (f"pickle {a.rows:,} tuples dumps+loads (anchor)", f"{pick * 1000:,.0f} ms", "1.00x", ""),
        (f"framed Arrow {a.rows:,} updates encode+decode", f"{arrow * 1000:,.0f} ms", f"{pick / arrow:.1f}x faster", ""),
        ("  same, incl. building the table from lists", f"{arrow_lists * 1000:,.0f} ms", f"{pick / arrow_lists:.1f}x faster", ""),
    ]
    w = [max(len(x[i]) for x in rows) for i in range(4)]
    print(f"storage bench: {a.appends} appends x {r} runs, {a.rows:,} rows x {r} runs; medians; "
          f"python {sys.version.split()[0]}, pyarrow {pa.__version__}, {os.cpu_count()} cpus")
    for row in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(row)).rstrip())


if __name__ == "__main__":
    main()
