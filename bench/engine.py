"""Engine benchmarks: persist against SQLite, side by side in one run.

    python bench/engine.py [--quick] [--only write,concurrent,snapshot,restart,memory,s3]
                           [--repeats R] [--n N] [--dir DIR] [--markdown]

The anchor is the stdlib ``sqlite3`` in WAL mode with ``synchronous=FULL``
(so every COMMIT fsyncs its WAL), on a table ``(key BLOB, val BLOB, ts
INTEGER, diff INTEGER)`` without an index, fed the very same updates, one
transaction per batch. Both get the updates as Python tuples.

Sections (each prints rows of one table: persist, SQLite, and the ratio
"how many times persist's figure beats SQLite's", > 1 is better for persist):

1. ``write``: durable write throughput (updates/s) at batch sizes 1, 100,
   1 000 and 10 000 on ``file://``: one ``Stream.write`` per batch vs one
   ``BEGIN; INSERT...; COMMIT`` per batch. Goal: >= SQLite at every size.
2. ``concurrent``: 8 threads each writing single updates. persist: one
   Persister shared by the threads (group commit: one Wal fsync for every
   writer queued behind the leader). SQLite has no group commit; it is
   measured two ways, (a) one connection per thread (WAL allows one writer,
   others wait in SQLite's busy handler) and (b) one connection shared under
   a Python lock; the goal (>= 2x) is judged against the better of the two.
3. ``snapshot``: 1M updates (distinct keys in random order, 100 distinct
   times, written in batches of 10 000, sealed every 100 000 updates), read
   back at ``upper - 1``. persist: ``snapshot(as_of).to_arrow()`` on a fresh
   read-only handle with an empty batch cache (blob files read, checked,
   decoded and consolidated; the OS page cache is warm for both engines).
   SQLite: the same consolidated answer, ``SELECT key, val, sum(diff) ...
   WHERE ts <= ? GROUP BY key, val HAVING sum(diff) != 0 ORDER BY key, val``
   fetched in full; also shown, the cheapest possible read back (``SELECT
   key, val, diff FROM t``, no consolidation, no order) and persist's answer
   turned into Python tuples. Goal: >= 2x the equivalent SQLite query.
4. ``restart``: a fresh child process times ``persist.open`` (a writer:
   flock, epoch bump, Wal recovery and replay) up to the first snapshot of the
   1M persisted updates; once after a clean close, once after a crash that
   left 10% more unsealed updates in the Wal. SQLite: connect + the same
   consolidated query in a fresh child. The interpreter start and the imports
   are not in the figure (shown apart).
5. ``memory``: peak memory of one 1M-update snapshot in a fresh child process
   (read-only handle, empty cache). Measured from outside: the parent samples
   the child's RSS with psutil every ~1 ms and reports the peak minus the RSS
   the child had just before the snapshot (after imports and open); the child
   also reports pyarrow's memory pool peak (``ru_maxrss`` is no use here: a
   child started by fork + exec inherits the parent's high-water mark). The
   encoded size is the sum of the batch blobs the snapshot reads (as stored,
   framed Arrow IPC). Goal: peak <= 3x the encoded size.
6. ``s3``: the same writes (batch sizes 1 and 10 000), the 1M snapshot and
   the restart on ``s3://`` (S3Blob on a moto server started with
   ``nemesis.s3.MotoServer``; the Wal stays local), to show the remote
   store's cost. The SQLite column repeats the local anchor.

Figures are medians over ``--repeats`` runs; persist and SQLite runs are
interleaved (ABAB...) so both see the same noise, and throughput ratios are
medians of per-repeat ratios. This is a shared, noisy 2-core virtual machine
(about six engineers run tests on it at once) whose virtual disk may not
honour flushes (fsync of 4 KiB ~0.2 ms median, with stretches of ~4 ms): read
the ratios, not the absolute rates. ``--quick`` uses small sizes and one
repeat; a test runs it to keep the script from rotting.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SECTIONS = ("write", "concurrent", "snapshot", "restart", "memory", "s3")
KEY_LEN, VAL_LEN = 16, 32
SQL_SNAPSHOT = (
    "SELECT key, val, sum(diff) FROM t WHERE ts <= ? GROUP BY key, val HAVING sum(diff) != 0 ORDER BY key, val"
)
SQL_ALL = "SELECT key, val, diff FROM t"


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------


def make_updates(n: int, seed: int, ts0: int = 0, times: int = 100) -> list[tuple[bytes, bytes, int, int]]:
    """``n`` updates with distinct keys in random order, ``times`` distinct ts from ``ts0``."""
    rng = random.Random(seed)
    ids = rng.sample(range(n * 4), n)
    per = max(1, n // times)
    return [(b"k%015d" % k, b"v%031d" % (seed * 1_000_003 + i), ts0 + i // per, 1) for i, k in enumerate(ids)]


def chunks(rows: list, size: int) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


# --- SQLite anchor --------------------------------------------------------------


def sqlite_open(path: str, *, create: bool = True, check_same_thread: bool = True) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread, timeout=60)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=FULL")
    if create:
        c.execute("CREATE TABLE IF NOT EXISTS t (key BLOB, val BLOB, ts INTEGER, diff INTEGER)")
    return c


def sqlite_commit(c: sqlite3.Connection, batch: list) -> None:
    c.execute("BEGIN")
    c.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", batch)
    c.execute("COMMIT")


def sqlite_load(path: str, batches: list[list]) -> None:
    c = sqlite_open(path)
    for b in batches:
        sqlite_commit(c, b)
    c.close()


# --- persist helpers -------------------------------------------------------------


def file_url(d: str) -> str:
    return "file://" + os.path.abspath(d)


class S3Env:
    """A moto server and the means to make fresh ``s3://`` locations on it."""

    def __init__(self, workdir: str) -> None:
        import boto3

        from nemesis.s3 import MotoServer
        from nemesis.s3.server import CREDENTIALS

        self.creds = dict(CREDENTIALS)
        self.server = MotoServer().start()
        self.endpoint = self.server.endpoint_url
        self.client = boto3.session.Session().client("s3", **self.server.client_options())
        self.bucket = "bench-engine"
        self.client.create_bucket(Bucket=self.bucket)
        self.workdir = workdir
        self._n = 0

    def location(self) -> tuple[str, str]:
        """(url, wal_dir) of a fresh location."""
        self._n += 1
        wal = tempfile.mkdtemp(prefix="s3wal-", dir=self.workdir)
        return f"s3://{self.bucket}/loc{self._n}", wal

    def open(self, url: str, wal_dir: str | None = None, **kw):
        import persist

        return persist.open(url, wal_dir=wal_dir, endpoint_url=self.endpoint, blob_options=self.creds, **kw)

    def close(self) -> None:
        self.server.stop()


def persist_load(p, batches: list[list], seal_every: int) -> int:
    """Write ``batches`` to stream "s", sealing after every ``seal_every``
    batches at the next time past the ones written; return the final upper."""
    s = p.stream("s")
    upper = 0
    for i, b in enumerate(batches, 1):
        s.write(b)
        if i % seal_every == 0 or i == len(batches):
            upper = max(r[2] for r in b) + 1
            s.seal(upper)
    return upper


def trace_bytes(p) -> tuple[int, int]:
    """(encoded bytes, batch count) of stream "s"'s trace."""
    sm = p.current_meta().streams["s"]
    return sum(b.bytes for b in sm.trace if b.key), sum(1 for b in sm.trace if b.key)


# --- results ----------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, section, measure, persist, sqlite, unit, ratio=None, goal=None, note="", goal_text=None, met=None):
        if ratio is None and persist is not None and sqlite:
            higher_better = unit.endswith("/s")
            ratio = persist / sqlite if higher_better else (sqlite / persist if persist else None)
        if met is None and goal is not None and ratio is not None:
            met = ratio >= goal
        row = dict(section=section, measure=measure, persist=persist, sqlite=sqlite, unit=unit, ratio=ratio,
                   goal=goal, met=met, note=note, goal_text=goal_text)
        self.rows.append(row)
        progress(f"  => {measure}: persist {fmt(persist, unit)}, SQLite {fmt(sqlite, unit)}, ratio {fmt_ratio(ratio)}")
        return row


    def find(self, section: str, prefix: str):
        """The persist figure of the first row of ``section`` whose measure starts with ``prefix``."""
        for r in self.rows:
            if r["section"] == section and r["measure"].startswith(prefix):
                return r["persist"]
        return None


def fmt(v, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1e3:,.1f} ms" if v < 1 else f"{v:,.2f} s"
    if unit == "MB":
        return f"{v:,.1f} MB"
    if unit.endswith("/s"):
        return f"{v:,.0f} {unit}"
    return f"{v:,.2f} {unit}"


def fmt_ratio(r) -> str:
    return "-" if r is None else f"{r:.2f}x"


def goal_text(row) -> str:
    if row["met"] is None:
        return ""
    verdict = "met" if row["met"] else "MISSED"
    text = row["goal_text"] or f">= {row['goal']:g}x"
    return f"{text}: {verdict}"


def print_table(results: Results, machine: str, markdown: bool) -> None:
    headers = ["section", "measure", "persist", "SQLite", "persist vs SQLite", "goal", "note"]
    lines = [
        [r["section"], r["measure"], fmt(r["persist"], r["unit"]), fmt(r["sqlite"], r["unit"]),
         fmt_ratio(r["ratio"]), goal_text(r), r["note"]]
        for r in results.rows
    ]
    if markdown:
        print(f"Machine: {machine}\n")
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" for _ in headers) + "|")
        for ln in lines:
            print("| " + " | ".join(ln) + " |")
        return
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain fallback
        print(machine)
        for ln in [headers] + lines:
            print("  ".join(ln))
        return
    table = Table(title=f"persist engine vs SQLite (WAL, synchronous=FULL) — {machine}", show_lines=False)
    for h in headers:
        table.add_column(h, overflow="fold")
    for ln in lines:
        table.add_row(*ln)
    Console(width=200, force_terminal=False).print(table)


def machine_line() -> str:
    import platform

    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        mem = "? RAM"
    fs = "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if parts[1] == "/":
                    fs = parts[2]
    except OSError:
        pass
    return (f"{platform.node()}: {os.cpu_count()} vCPU, {mem}, {fs} on a virtual disk, Linux {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


# --- 1. durable write throughput -------------------------------------------------------


def bench_write(res: Results, cfg, workdir: str, s3: S3Env | None = None, sizes=None) -> None:
    import persist

    label = "s3" if s3 else "write"
    sizes = sizes or cfg.write_sizes
    for size, count in sizes:
        rows = make_updates(size * count, seed=size)
        batches = chunks(rows, size)
        p_rates, s_rates, ratios = [], [], []
        reps = cfg.repeats if cfg.quick or size > 100 else 2 * cfg.repeats + 1  # small batches: cheap, noisiest
        for rep in range(reps):
            progress(f"[{label}] batch {size:,} x {count} writes, repeat {rep + 1}/{reps}")
            d = tempfile.mkdtemp(dir=workdir)

            def run_persist():
                if s3:
                    url, wal = s3.location()
                    p = s3.open(url, wal)
                else:
                    p = persist.open(file_url(os.path.join(d, "loc")))
                s = p.stream("s")
                t = time.perf_counter()
                for b in batches:
                    s.write(b)
                dt = time.perf_counter() - t
                p.close()
                return len(rows) / dt

            def run_sqlite():
                c = sqlite_open(os.path.join(d, "sq.db"))
                t = time.perf_counter()
                for b in batches:
                    sqlite_commit(c, b)
                dt = time.perf_counter() - t
                c.close()
                return len(rows) / dt

            if rep % 2 == 0:
                pr, sr = run_persist(), run_sqlite()
            else:
                sr, pr = run_sqlite(), run_persist()
            p_rates.append(pr)
            s_rates.append(sr)
            ratios.append(pr / sr)
            shutil.rmtree(d, ignore_errors=True)
        where = "s3 (moto)" if s3 else "file://"
        note = f"{count} writes; median of {reps}; per-repeat ratios {min(ratios):.2f}-{max(ratios):.2f}x"
        local = res.find("write", f"durable writes, batch {size:,} ") if s3 else None
        if local:
            note += f"; file:// in this run {local:,.0f} upd/s (s3 at {statistics.median(p_rates) / local:.2f}x)"
        res.add(label, f"durable writes, batch {size:,} ({where})", statistics.median(p_rates),
                statistics.median(s_rates), "upd/s", ratio=statistics.median(ratios), goal=None if s3 else 1.0,
                note=note)


# --- 2. concurrent single-update writers ----------------------------------------------


def bench_concurrent(res: Results, cfg, workdir: str) -> None:
    import persist

    threads, per = 8, cfg.concurrent_per_thread
    rows = make_updates(threads * per, seed=8)
    parts = [[[r] for r in rows[i::threads]] for i in range(threads)]

    def run_threads(fn) -> float:
        errors: list[BaseException] = []
        start = threading.Barrier(threads + 1)

        def body(i):
            try:
                start.wait()
                for u in parts[i]:
                    fn(i, u)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        ts = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return threads * per / dt

    def run_persist() -> tuple[float, float]:
        d = tempfile.mkdtemp(dir=workdir)
        p = persist.open(file_url(os.path.join(d, "loc")))
        s = p.stream("s")
        seqnos: set[int] = set()

        def w(i, u):
            seqnos.add(s.write(u))

        rate = run_threads(w)
        p.close()
        shutil.rmtree(d, ignore_errors=True)
        return rate, threads * per / len(seqnos)

    def run_sqlite_own() -> float:
        d = tempfile.mkdtemp(dir=workdir)
        path = os.path.join(d, "sq.db")
        sqlite_open(path).close()
        conns = [sqlite_open(path, create=False, check_same_thread=False) for _ in range(threads)]

        def w(i, u):
            c = conns[i]
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO t VALUES (?, ?, ?, ?)", u[0])
            c.execute("COMMIT")

        rate = run_threads(w)
        for c in conns:
            c.close()
        shutil.rmtree(d, ignore_errors=True)
        return rate

    def run_sqlite_shared() -> float:
        d = tempfile.mkdtemp(dir=workdir)
        c = sqlite_open(os.path.join(d, "sq.db"), check_same_thread=False)
        lock = threading.Lock()

        def w(i, u):
            with lock:
                sqlite_commit(c, u)

        rate = run_threads(w)
        c.close()
        shutil.rmtree(d, ignore_errors=True)
        return rate

    p_rates, groups, own, shared, ratios = [], [], [], [], []
    for rep in range(cfg.repeats):
        progress(f"[concurrent] 8 threads x {per} single-update writes, repeat {rep + 1}/{cfg.repeats}")
        order = [run_persist, run_sqlite_own, run_sqlite_shared]
        if rep % 2:
            order.reverse()
        out = {f: f() for f in order}
        pr, g = out[run_persist]
        p_rates.append(pr)
        groups.append(g)
        own.append(out[run_sqlite_own])
        shared.append(out[run_sqlite_shared])
        ratios.append(pr / max(own[-1], shared[-1]))
        progress(f"  persist {pr:,.0f}/s ({g:.1f} per fsync), SQLite own {own[-1]:,.0f}/s, shared {shared[-1]:,.0f}/s")
    best = max(statistics.median(own), statistics.median(shared))
    which = "own connections" if statistics.median(own) >= statistics.median(shared) else "shared connection"
    res.add("concurrent", "8 threads, single-update writes", statistics.median(p_rates), best, "commits/s",
            ratio=statistics.median(ratios), goal=2.0,
            note=f"per-repeat ratios {min(ratios):.2f}-{max(ratios):.2f}x; SQLite best of: own connection per thread {statistics.median(own):,.0f}/s, one shared "
                 f"connection {statistics.median(shared):,.0f}/s ({which} used); persist "
                 f"{statistics.median(groups):.1f} writes per Wal fsync")


# --- 3./4./5. the 1M dataset ------------------------------------------------------


class Dataset:
    """The snapshot dataset, persisted on file:// (and optionally on s3://) and in SQLite."""

    def __init__(self, cfg, workdir: str) -> None:
        import persist

        self.n = cfg.n
        self.dir = tempfile.mkdtemp(prefix="dataset-", dir=workdir)
        progress(f"[dataset] generating {self.n:,} updates")
        rows = make_updates(self.n, seed=1)
        self.batches = chunks(rows, max(1, self.n // 100))
        self.seal_every = 10
        self.url = file_url(os.path.join(self.dir, "loc"))
        progress(f"[dataset] writing them to persist ({self.url}) in {len(self.batches)} writes, sealing every "
                 f"{self.seal_every}")
        t = time.perf_counter()
        p = persist.open(self.url)
        self.upper = persist_load(p, self.batches, self.seal_every)
        self.encoded, self.nbatches = trace_bytes(p)
        p.close()
        self.persist_load_s = time.perf_counter() - t
        self.sqlite = os.path.join(self.dir, "sq.db")
        progress(f"[dataset] writing them to SQLite ({self.sqlite})")
        t = time.perf_counter()
        sqlite_load(self.sqlite, self.batches)
        self.sqlite_load_s = time.perf_counter() - t
        self.as_of = self.upper - 1
        self.crash_url: str | None = None

    def with_unsealed_wal(self) -> str:
        """A copy of the location, reopened, given 10% more unsealed updates
        and crashed before any drain (so a restart replays them from the Wal)."""
        import persist

        if self.crash_url is None:
            src = os.path.join(self.dir, "loc")
            dst = os.path.join(self.dir, "loc-crashed")
            shutil.copytree(src, dst)
            self.crash_url = file_url(dst)
            extra = make_updates(max(1, self.n // 10), seed=2, ts0=self.upper)
            p = persist.open(self.crash_url, drain_bytes=2**62, compaction=False)
            s = p.stream("s")
            for b in chunks(extra, max(1, self.n // 100)):
                s.write(b)
            p.crash()
        return self.crash_url


def bench_snapshot(res: Results, cfg, ds: Dataset, s3: S3Env | None = None, s3_url: str | None = None) -> None:
    import persist
    from persist.cache import BatchCache

    label = "s3" if s3 else "snapshot"
    p_cold, p_warm, p_rows, s_group, s_all = [], [], [], [], []
    rows_out = None
    for rep in range(cfg.repeats):
        progress(f"[{label}] snapshot of {ds.n:,} updates, repeat {rep + 1}/{cfg.repeats}")

        def run_persist():
            if s3:
                r = s3.open(s3_url, read_only=True, cache=BatchCache())
            else:
                r = persist.open(ds.url, read_only=True, cache=BatchCache())
            s = r.stream("s")
            t = time.perf_counter()
            table = s.snapshot(ds.as_of).to_arrow()
            p_cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            s.snapshot(ds.as_of).to_arrow()
            p_warm.append(time.perf_counter() - t)
            if not s3:
                t = time.perf_counter()
                s.snapshot(ds.as_of).to_list()
                p_rows.append(time.perf_counter() - t)
            r.close()
            return table.num_rows

        def run_sqlite():
            c = sqlite_open(ds.sqlite, create=False)
            t = time.perf_counter()
            out = c.execute(SQL_SNAPSHOT, (ds.as_of,)).fetchall()
            s_group.append(time.perf_counter() - t)
            t = time.perf_counter()
            c.execute(SQL_ALL).fetchall()
            s_all.append(time.perf_counter() - t)
            c.close()
            return len(out)

        if rep % 2 == 0:
            n_p, n_s = run_persist(), run_sqlite()
        else:
            n_s, n_p = run_sqlite(), run_persist()
        if n_p != n_s:
            raise AssertionError(f"persist's snapshot has {n_p} rows, SQLite's {n_s}")
        rows_out = n_p
    med = statistics.median
    if s3:
        local = res.find("snapshot", f"snapshot of {ds.n:,} updates → Arrow, cold")
        extra = f"; file:// in this run {fmt(local, 's')} (s3 at {med(p_cold) / local:.2f}x the time)" if local else ""
        res.add("s3", f"snapshot of {ds.n:,} updates → Arrow (s3, cold cache)", med(p_cold), med(s_group), "s",
                note="vs SQLite GROUP BY; blobs fetched from moto over HTTP" + extra)
        return
    note = f"{rows_out:,} rows out of {ds.nbatches} trace batches; {cfg.repeats} repeats"
    res.add("snapshot", f"snapshot of {ds.n:,} updates → Arrow, cold cache", med(p_cold), med(s_group), "s",
            goal=2.0, note="vs SQLite's consolidated query (GROUP BY/ORDER BY) fetchall; " + note)
    res.add("snapshot", f"snapshot of {ds.n:,} updates → Arrow, warm cache", med(p_warm), med(s_group), "s",
            note="vs the same SQLite query (its pages are cached too)")
    res.add("snapshot", "snapshot → Arrow (cold) vs SQLite reading all rows", med(p_cold), med(s_all), "s",
            note="SQLite: SELECT key, val, diff FROM t fetchall (no consolidation, no order)")
    res.add("snapshot", "snapshot → Python tuples (warm) vs SQLite GROUP BY", med(p_rows), med(s_group), "s",
            note="persist: Snapshot.to_list(); both sides end with Python tuples")


# --- child processes: restart and memory -----------------------------------------------------


def child_main(argv: list[str]) -> None:
    """``--child KIND ARGS_JSON``: run one measurement in this fresh process
    and print one JSON line."""
    kind, args = argv[0], json.loads(argv[1])
    t0 = time.perf_counter()
    import pyarrow as pa

    import persist
    from persist.cache import BatchCache

    if args.get("s3"):
        import boto3  # noqa: F401  (its import cost is not part of the restart figure)
    import_s = time.perf_counter() - t0
    out: dict = {"import_s": import_s}
    open_kw = {}
    if args.get("s3"):
        open_kw = {"endpoint_url": args["endpoint"], "blob_options": args["creds"], "wal_dir": args.get("wal_dir")}
    if kind == "restart-persist":
        t = time.perf_counter()
        p = persist.open(args["url"], **open_kw)
        out["open_s"] = time.perf_counter() - t
        s = p.stream("s")
        snap = s.snapshot(s.upper - 1 if args.get("as_of") is None else args["as_of"]).to_arrow()
        out["total_s"] = time.perf_counter() - t
        out["rows"] = snap.num_rows
        out["replayed"] = p.pending_count()
        p.crash()  # leave the location as it was (no drain)
    elif kind == "restart-sqlite":
        t = time.perf_counter()
        c = sqlite_open(args["path"], create=False)
        rows = c.execute(SQL_SNAPSHOT, (args["as_of"],)).fetchall()
        out["total_s"] = time.perf_counter() - t
        out["rows"] = len(rows)
    elif kind in ("memory-persist", "memory-sqlite"):
        if kind == "memory-persist":
            r = persist.open(args["url"], read_only=True, cache=BatchCache())
            s = r.stream("s")
        else:
            c = sqlite_open(args["path"], create=False)
        pool0 = pa.total_allocated_bytes()
        print("READY", flush=True)
        sys.stdin.readline()  # the parent has its baseline now
        if kind == "memory-persist":
            snap = s.snapshot(args["as_of"]).to_arrow()
            out["rows"], out["result_bytes"] = snap.num_rows, snap.nbytes
            out["pool_peak"] = pa.default_memory_pool().max_memory()
        else:
            rows = c.execute(SQL_SNAPSHOT, (args["as_of"],)).fetchall()
            out["rows"] = len(rows)
        out["pool0"] = pool0
        print("DONE", flush=True)
        sys.stdin.readline()  # keep the result alive until the parent has sampled
    print(json.dumps(out), flush=True)


def run_child(kind: str, args: dict) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, json.dumps(args)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"child {kind} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_memory_child(kind: str, args: dict) -> dict:
    """Run a memory child, sampling its RSS from outside; add ``rss_peak_growth``."""
    import psutil

    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, json.dumps(args)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    ps = psutil.Process(proc.pid)
    try:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"child {kind}: {line!r} {proc.stderr.read()[-2000:]}")
        base = ps.memory_info().rss
        peak = base
        stop = threading.Event()
        done_line: list[str] = []

        def reader():
            done_line.append(proc.stdout.readline())
            stop.set()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        proc.stdin.write("\n")
        proc.stdin.flush()
        while not stop.is_set():
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.001)
        peak = max(peak, ps.memory_info().rss)
        if not done_line or done_line[0].strip() != "DONE":
            raise RuntimeError(f"child {kind}: {done_line!r} {proc.stderr.read()[-2000:]}")
        proc.stdin.write("\n")
        proc.stdin.flush()
        result = json.loads(proc.stdout.readline())
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result["rss_base"] = base
    result["rss_peak_growth"] = peak - base
    return result


def bench_restart(res: Results, cfg, ds: Dataset, s3: S3Env | None = None, s3_args: dict | None = None) -> None:
    med = statistics.median
    sq_args = {"path": ds.sqlite, "as_of": ds.as_of}
    if s3:
        ps, ss = [], []
        for rep in range(cfg.repeats):
            progress(f"[s3] restart: open + first snapshot of {ds.n:,} (s3), repeat {rep + 1}/{cfg.repeats}")
            ps.append(run_child("restart-persist", s3_args)["total_s"])
            ss.append(run_child("restart-sqlite", sq_args)["total_s"])
        local = res.find("restart", f"open → first snapshot of {ds.n:,}, after a clean")
        extra = f"; file:// in this run {fmt(local, 's')} (s3 at {med(ps) / local:.2f}x the time)" if local else ""
        res.add("s3", f"restart: open → first snapshot of {ds.n:,} (s3)", med(ps), med(ss), "s",
                note="writer open on S3 (epoch CAS over HTTP) + cold snapshot from moto" + extra)
        return
    crashed = ds.with_unsealed_wal()
    clean, crash, sql, imports, replayed = [], [], [], [], 0
    for rep in range(cfg.repeats):
        progress(f"[restart] open → first snapshot of {ds.n:,}, repeat {rep + 1}/{cfg.repeats}")
        a = run_child("restart-persist", {"url": ds.url})
        b = run_child("restart-persist", {"url": crashed, "as_of": ds.as_of})
        c = run_child("restart-sqlite", sq_args)
        if not a["rows"] == b["rows"] == c["rows"]:
            raise AssertionError(f"restart snapshots disagree: {a['rows']}, {b['rows']}, {c['rows']}")
        clean.append(a["total_s"])
        crash.append(b["total_s"])
        sql.append(c["total_s"])
        imports.append(a["import_s"])
        replayed = b["replayed"]
    res.add("restart", f"open → first snapshot of {ds.n:,}, after a clean close", med(clean), med(sql), "s",
            note=f"fresh process; imports (persist, pyarrow) {med(imports) * 1e3:.0f} ms not counted; SQLite: "
                 "connect + GROUP BY query")
    res.add("restart", f"open → first snapshot, after a crash with {ds.n // 10:,} unsealed updates in the Wal",
            med(crash), med(sql), "s", note=f"Wal recovered and {replayed} records replayed on open")


def bench_memory(res: Results, cfg, ds: Dataset) -> None:
    med = statistics.median
    growth, pool, sq = [], [], []
    result_bytes = 0
    for rep in range(max(1, min(cfg.repeats, 3))):
        progress(f"[memory] peak memory of a {ds.n:,}-update snapshot, repeat {rep + 1}")
        r = run_memory_child("memory-persist", {"url": ds.url, "as_of": ds.as_of})
        s = run_memory_child("memory-sqlite", {"path": ds.sqlite, "as_of": ds.as_of})
        growth.append(r["rss_peak_growth"])
        pool.append(r["pool_peak"])
        sq.append(s["rss_peak_growth"])
        result_bytes = r["result_bytes"]
    mb = 2**20
    enc = ds.encoded
    ratio = med(growth) / enc
    res.add("memory", f"peak memory of a {ds.n:,}-update snapshot", med(growth) / mb, med(sq) / mb, "MB",
            goal_text=f"peak <= 3x encoded ({ratio:.2f}x)", met=ratio <= 3.0,
            note=f"encoded size {enc / mb:.1f} MB in {ds.nbatches} blobs; RSS peak growth sampled from outside; "
                 f"pyarrow pool peak {med(pool) / mb:.1f} MB; result "
                 f"table {result_bytes / mb:.1f} MB; SQLite column: RSS growth of its GROUP BY fetchall")


# --- 6. S3 ------------------------------------------------------------------------------


def bench_s3(res: Results, cfg, ds: Dataset, workdir: str) -> None:
    progress("[s3] starting a moto server")
    s3 = S3Env(workdir)
    try:
        bench_write(res, cfg, workdir, s3=s3, sizes=[x for x in cfg.write_sizes if x[0] in (1, 10_000)])
        url, wal = s3.location()
        progress(f"[s3] loading {ds.n:,} updates into {url}")
        t = time.perf_counter()
        p = s3.open(url, wal)
        persist_load(p, ds.batches, ds.seal_every)
        p.close()
        load_s = time.perf_counter() - t
        res.add("s3", f"load {ds.n:,} updates in writes of {len(ds.batches[0]):,} + {len(ds.batches) // ds.seal_every} "
                f"seals (s3)", load_s, ds.sqlite_load_s, "s",
                note=f"file:// in this run {ds.persist_load_s:.2f} s (s3 at {load_s / ds.persist_load_s:.2f}x the "
                     "time); SQLite: the same inserts, no seals; one run")
        bench_snapshot(res, cfg, ds, s3=s3, s3_url=url)
        bench_restart(res, cfg, ds, s3=s3, s3_args={"url": url, "s3": True, "endpoint": s3.endpoint,
                                                     "creds": s3.creds, "wal_dir": wal})
    finally:
        s3.close()


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child_main(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (for the smoke test)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 5; quick 1)")
    ap.add_argument("--n", type=int, default=None, help="updates in the snapshot dataset (default 1M)")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir, removed after)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    cfg = ap.parse_args(argv)
    only = [s.strip() for s in cfg.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown sections {bad}; choose from {SECTIONS}")
    cfg.repeats = cfg.repeats or (1 if cfg.quick else 5)
    cfg.n = cfg.n or (20_000 if cfg.quick else 1_000_000)
    if cfg.quick:
        cfg.write_sizes = [(1, 20), (100, 5), (1_000, 3), (10_000, 2)]
        cfg.concurrent_per_thread = 10
    else:
        cfg.write_sizes = [(1, 300), (100, 100), (1_000, 50), (10_000, 20)]
        cfg.concurrent_per_thread = 100
    base = cfg.dir or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="bench-engine-", dir=base)
    machine = machine_line()
    progress(f"bench/engine.py: sections {only}, repeats {cfg.repeats}, dataset {cfg.n:,}; work dir {workdir}")
    progress(machine)
    res = Results()
    try:
        if "write" in only:
            bench_write(res, cfg, workdir)
        if "concurrent" in only:
            bench_concurrent(res, cfg, workdir)
        ds = None
        if any(s in only for s in ("snapshot", "restart", "memory", "s3")):
            ds = Dataset(cfg, workdir)
        if "snapshot" in only:
            bench_snapshot(res, cfg, ds)
        if "restart" in only:
            bench_restart(res, cfg, ds)
        if "memory" in only:
            bench_memory(res, cfg, ds)
        if "s3" in only:
            bench_s3(res, cfg, ds, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(res, machine, cfg.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
