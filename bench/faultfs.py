"""Fault filesystem overhead: the same small-I/O loops on the backing disk directly (**anchor**) and
through the fault filesystem's mount.

    python bench/faultfs.py [--dir DIR] [--seconds S] [--repeat R]

1. 200-byte ``write`` + ``fdatasync``, back to back, on one file (a Wal's durable append).
2. plain 4 KiB ``write``s (appends, no sync), back to back.
3. ``open`` + ``close`` of an existing file (a name lookup through the filesystem).

Each round measures the direct loop and the mounted loop one after the other, for ``--seconds``
each; figures are medians over ``--repeat`` rounds, with the ratio mounted / direct. This is a
shared 2-core virtual machine whose disk may not honour flushes: read ratios, not absolute rates.
Needs root and /dev/fuse (``nemesis.faultfs.available()``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

from nemesis.faultfs import FaultFS, available


def write_fdatasync(d: str, seconds: float) -> float:
    path = os.path.join(d, "wal")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    rec = b"w" * 200
    n, t0 = 0, time.perf_counter()
    try:
        while True:
            os.write(fd, rec)
            os.fdatasync(fd)
            n += 1
            if n % 16 == 0 and time.perf_counter() - t0 >= seconds:
                break
    finally:
        os.close(fd)
        os.unlink(path)
    return n / (time.perf_counter() - t0)


def plain_writes(d: str, seconds: float) -> float:
    path = os.path.join(d, "data")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    block = b"p" * 4096
    n, t0 = 0, time.perf_counter()
    try:
        while True:
            os.write(fd, block)
            n += 1
            if n % 64 == 0:
                if time.perf_counter() - t0 >= seconds:
                    break
                if n % 4096 == 0:  # keep the file (and the journal) bounded: 16 MiB, then start over
                    os.fsync(fd)
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
    finally:
        os.close(fd)
        os.unlink(path)
    return n / (time.perf_counter() - t0)


def open_close(d: str, seconds: float) -> float:
    path = os.path.join(d, "f")
    open(path, "wb").close()
    n, t0 = 0, time.perf_counter()
    while True:
        os.close(os.open(path, os.O_RDONLY))
        n += 1
        if n % 32 == 0 and time.perf_counter() - t0 >= seconds:
            break
    os.unlink(path)
    return n / (time.perf_counter() - t0)


LOOPS = [("200 B `write` + `fdatasync`", write_fdatasync, "ops/s"),
         ("4 KiB `write` (no sync)", plain_writes, "writes/s"),
         ("`open` + `close`", open_close, "ops/s")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="where to put the backing directory (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    ok, why = available()
    if not ok:
        print(f"skipped: {why}")
        return 0
    base = tempfile.mkdtemp(prefix="bench-faultfs-", dir=a.dir)
    direct = os.path.join(base, "direct")
    os.makedirs(direct)
    fs = FaultFS(os.path.join(base, "backing"), os.path.join(base, "mnt"))
    fs.mount()
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _, _ in LOOPS}
    try:
        for _ in range(a.repeat):
            for name, fn, _unit in LOOPS:
                results[name][0].append(fn(direct, a.seconds))
                results[name][1].append(fn(fs.mountpoint, a.seconds))
    finally:
        fs.unmount()
        shutil.rmtree(base, ignore_errors=True)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print(f"medians of {a.repeat} rounds, {a.seconds:g} s per loop\n")
    print("| loop | direct (**anchor**) | through faultfs | faultfs / direct |")
    print("|---|---|---|---|")
    for name, _fn, unit in LOOPS:
        dm, fm = statistics.median(results[name][0]), statistics.median(results[name][1])
        print(f"| {name} | {dm:,.0f} {unit} | {fm:,.0f} {unit} | {fm / dm:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
