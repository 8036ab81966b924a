"""Disk faults: ``lose-unsynced`` and ``corrupt``.

On the tracer (``--fs tracer``) both trust only the fsync reports the
harness wrote from inside the workers (:mod:`nemesis.fsync_watch`), never
the engine's own account, so an engine that skips an fsync is caught. On
the fault filesystem (``--fs fuse``) ``lose-unsynced`` is the filesystem's
own power loss (:meth:`nemesis.faultfs.FaultFS.power_loss`), which saw
every call of every process on the mount.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
from typing import Any

from nemesis.faults.base import Fault, RunContext
from nemesis.fsync_watch import SLOW_FLAG

#: FileWal record header (docs/FORMAT.md): magic, version, reserved, seqno,
#: payload length, payload crc, header crc.
WAL_MAGIC = b"PWAL"
WAL_HEADER = 28


class LoseUnsynced:
    """``lose-unsynced``: stands for a power loss (every process on the
    machine dies, the page cache is gone, the disk keeps what was fsynced).

    Slows the disk (every fsync waits 20 ms first: ``fsync_watch.SLOW_FLAG``)
    and freezes the workers (SIGSTOP) at a moment when, per the fsync
    reports, something written is not yet durable (it looks up to 40 times,
    20 ms apart), kills every worker, then, for each file under the data directory:
    a name created or renamed in since its directory's last reported fsync is
    dropped; a file written since its last reported fsync is cut back to a
    random point at or after its fsynced length (or after the point it was
    later truncated to), and sometimes the lost tail is partly replaced by
    garbage (a torn write: the size reached the disk, the data did not).
    Restarts every worker after the fault's duration (a worker's idle spare,
    which has opened nothing, is left alone: it stands for a process started
    after the power came back).

    It never cuts below a reported fsynced length, never touches a file or
    name whose state since the last fsync is unknown in a way a crash could
    not produce (a name deleted or replaced since the directory's fsync is
    kept as it is now: the delete or rename may have reached the disk), and
    never grows a file beyond what was written to it.

    **On the fault filesystem** (``ctx.fs``) it is a power loss of the
    filesystem's model instead: it slows fsync (20 ms) while it looks for a
    moment when the filesystem holds something unsynced (as above), freezes
    the filesystem (every call on the mount waits), kills every worker and
    every other process with a file or its working directory under the mount
    (:func:`kill_users`), has the filesystem rebuild its backing directory
    into a state a real disk could be left in (``power_loss(seed)``, the
    fault's seed: unsynced writes lost, kept in part, torn or reordered;
    unsynced creates, renames and unlinks undone), records the filesystem's
    report (the model and what was lost, torn and undone) and thaws it. The
    same restarts follow."""

    name = "lose-unsynced"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx

    #: how often, and how far apart, to look for a moment with unsynced data
    AIM_TRIES, AIM_GAP = 40, 0.02

    def _at_risk(self, root: str) -> bool:
        """Would a power loss now lose anything (per the reports so far)?"""
        durable = self.ctx.durable
        for dirpath, dirnames, filenames in os.walk(root):
            names = durable.dirs.get(dirpath, set())
            if any(n not in names for n in dirnames + filenames):
                return True
            for f in filenames:
                st = durable.file(os.path.join(dirpath, f))
                try:
                    size = os.path.getsize(os.path.join(dirpath, f))
                except FileNotFoundError:  # a temp file renamed or removed since the walk listed it
                    return True  # the directory is changing: something is not yet durable
                if size > (st.low if st else 0):
                    return True
        return False

    def _aim(self, root: str) -> int:
        """Freeze the workers (SIGSTOP) at a moment when something written is
        not yet durable, so the power loss has something to take; a frozen
        machine is a moment a real power loss could hit. Gives up after
        ``AIM_TRIES`` looks (then the loss happens anyway). Returns the tries."""
        live = [w for w in self.ctx.workers.values() if w.alive]
        with open(os.path.join(self.ctx.reports_dir, SLOW_FLAG), "w"):
            pass  # a slow disk while aiming: unsynced data lingers (removed after the kill)
        for i in range(1, self.AIM_TRIES + 1):
            for w in live:
                w.pause()
            self.ctx.durable.apply_reports(self.ctx.reports_dir)
            if self._at_risk(root) or i == self.AIM_TRIES:
                return i
            for w in live:
                w.resume()
            self.ctx.idle(self.AIM_GAP)  # the run goes on meanwhile: new writes, new unsynced bytes
        return self.AIM_TRIES

    def _power_loss(self, fault: Fault) -> dict[str, Any]:
        """``lose-unsynced`` on the fault filesystem (see the class docstring)."""
        return fs_power_loss(self.ctx, fault.seed, aim=(self.AIM_TRIES, self.AIM_GAP))

    def invoke(self, fault: Fault) -> dict[str, Any]:
        ctx = self.ctx
        if getattr(ctx, "fs", None) is not None:
            return self._power_loss(fault)
        root = os.path.realpath(ctx.data_dir)
        tries = self._aim(root)
        killed = [ctx.kill(slot) for slot in sorted(ctx.workers)]
        self._disk_normal()
        ctx.durable.apply_reports(ctx.reports_dir)
        rng = fault.rng()
        cut: list[dict[str, Any]] = []
        dropped: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root, topdown=True):
            durable_names = ctx.durable.dirs.get(dirpath, set())
            for d in sorted(dirnames):
                if d not in durable_names:
                    shutil.rmtree(os.path.join(dirpath, d))
                    dropped.append(os.path.relpath(os.path.join(dirpath, d), root) + "/")
            dirnames[:] = sorted(d for d in dirnames if d in durable_names)
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                if f not in durable_names:
                    os.unlink(path)
                    dropped.append(rel)
                    continue
                st = ctx.durable.file(path)
                low = st.low if st else 0
                size = os.path.getsize(path)
                if size <= low:
                    continue
                point = rng.randint(low, size)
                if point == size:
                    continue
                garbage = 0
                with open(path, "r+b") as fh:
                    fh.truncate(point)
                    if rng.random() < 0.3:
                        garbage = rng.randint(1, min(64, size - point))
                        fh.seek(point)
                        fh.write(rng.randbytes(garbage))
                cut.append({"file": rel, "size": size, "fsynced": low, "cut_to": point, "garbage": garbage})
        ctx.durable.settle(root)
        return {"killed": killed, "aimed_tries": tries, "cut": cut, "dropped": dropped,
                "bytes_lost": sum(c["size"] - c["cut_to"] for c in cut)}

    def _disk_normal(self) -> None:
        try:
            os.unlink(os.path.join(self.ctx.reports_dir, SLOW_FLAG))
        except FileNotFoundError:
            pass

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        return [("restart", {"worker": slot}) for slot in sorted(self.ctx.workers)]

    def heal(self) -> None:
        self._disk_normal()


#: a moment is "rich" for a power loss when the filesystem holds at least this many unsynced writes (some
#: unsynced directory operation is nearly always there too): more for the loss to reorder, tear and undo
RICH_WRITES = 6
#: how slow fsync is while a power loss aims (ms): with the latency spent
#: before the filesystem's gate (``faultfs.server``), writes pile up behind a
#: slow fsync and a freeze catches several unsynced Wal records at once --
#: the state where a torn or reordered loss can keep a later record and lose
#: an earlier one
AIM_SLOW_MS = 100.0


def _fs_at_risk(fs, rich: bool) -> bool | None:
    """Does the fault filesystem hold anything unsynced (``rich``: a rich
    moment, see :data:`RICH_WRITES`)? None: its stats do not say."""
    try:
        st = fs.stats()
    except Exception:
        return None
    if not isinstance(st, dict) or not any(k in st for k in ("unsynced_bytes", "unsynced_writes", "unsynced_dirops")):
        return None
    writes, dirops = int(st.get("unsynced_writes") or 0), int(st.get("unsynced_dirops") or 0)
    if rich:
        return writes >= RICH_WRITES
    return writes > 0 or dirops > 0 or int(st.get("unsynced_bytes") or 0) > 0


def fs_power_loss(ctx: RunContext, seed: int, aim: tuple[int, float] | None = None) -> dict[str, Any]:
    """A power loss on the run's fault filesystem (``ctx.fs``): freeze it,
    kill every worker and every other process using the mount
    (:func:`kill_users`), have it rebuild the backing directory into a crash
    state chosen by ``seed`` (``FaultFS.power_loss``), thaw it. With
    ``aim = (tries, gap)`` it first slows fsync by ``gap`` and looks, up to
    ``tries`` times ``gap`` apart, for a moment when the filesystem holds
    something unsynced (per its stats; in the first half of the tries only a
    rich moment, :data:`RICH_WRITES`; when the stats cannot tell, it lets the
    run go on for three gaps). Any moment is one a real power loss could
    hit: aiming only makes the loss likelier to have something to take. Returns the event value: ``killed``,
    ``aimed_tries``, ``model`` and the filesystem's whole report
    (``power_loss``), ``others_killed`` if any. The restarts are the caller's."""
    fs = ctx.fs
    tries = 0
    try:
        if aim is None:
            fs.freeze()
        else:
            n, gap = aim
            fs.slow(fsync_ms=max(gap * 1000, AIM_SLOW_MS))  # a slow disk while aiming: unsynced data piles up
            for tries in range(1, n + 1):
                fs.freeze()
                risk = _fs_at_risk(fs, rich=tries <= n // 2)
                if risk is None or risk or tries == n:
                    break
                fs.thaw()
                ctx.idle(gap)  # the run goes on meanwhile
            if risk is None:  # the stats cannot tell: a moment the run was busy is the best aim
                fs.thaw()
                ctx.idle(gap * 3)
                fs.freeze()
        killed = [ctx.kill(slot) for slot in sorted(ctx.workers)]
        others = kill_users(ctx.data_dir)
        fs.slow(fsync_ms=0.0, write_ms=0.0)
        report = fs.power_loss(seed)
    finally:
        fs.slow(fsync_ms=0.0, write_ms=0.0)
        fs.thaw()
    ctx.durable.settle(os.path.realpath(ctx.data_dir))  # the tracer's reports (kept for corrupt) start over
    value: dict[str, Any] = {"killed": killed, "aimed_tries": tries, "fault_model": "faultfs",
                             "model": report.get("model") if isinstance(report, dict) else None,
                             "power_loss": report}
    if others:
        value["others_killed"] = others
    return value


def mount_users(mount: str, proc: str = "/proc") -> list[int]:
    """Processes (other than this one) with an open file, or their working
    or root directory, under ``mount``. Reads only ``/proc`` links, never a
    path under the mount itself (which may be frozen: not even a
    ``realpath`` of it, which would stat the mount point and wait for the
    thaw; pass the mount's real path)."""
    mount = os.path.abspath(mount)
    me = os.getpid()
    out = []
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == me:
            continue
        base = os.path.join(proc, name)
        links = [os.path.join(base, "cwd"), os.path.join(base, "root")]
        try:
            links += [os.path.join(base, "fd", fd) for fd in os.listdir(os.path.join(base, "fd"))]
        except OSError:
            pass  # gone, or not ours to look at
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target == mount or target.startswith(mount + os.sep):
                out.append(int(name))
                break
    return out


def kill_users(mount: str) -> list[dict[str, Any]]:
    """SIGKILL every process :func:`mount_users` finds (a power loss takes
    every process of the machine; those that never touched the mount do not
    matter to it). Returns ``[{"pid", "name"}]``."""
    killed = []
    for pid in mount_users(mount):
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                comm = f.read().strip()
        except OSError:
            comm = "?"
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        killed.append({"pid": pid, "name": comm})
    return killed


def wal_records(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of each whole record at the front of a Wal segment."""
    out, off = [], 0
    while off + WAL_HEADER <= len(data) and data[off:off + 4] == WAL_MAGIC:
        (length,) = struct.unpack_from("<I", data, off + 16)
        end = off + WAL_HEADER + length
        if end > len(data):
            break
        out.append((off, end))
        off = end
    return out


class Corrupt:
    """``corrupt``: stands for media corruption (bit rot, a misdirected or
    lost write inside data the disk had acknowledged as durable).

    Kills the writer, then flips a few bits in, or cuts bytes off, one file's
    *fsynced* contents: a blob entry, an older Wal segment, or a Wal record of
    the newest segment that has whole records after it. Restarts the writer
    after the fault's duration. persist must then refuse the damaged data
    with a corruption error, never serve wrong data; runs with this fault are
    judged in their own category (``corruption``).

    It never damages the last record of the newest Wal segment, nor cuts that
    segment: a damaged last record is indistinguishable from a torn write,
    which the Wal rightly cuts away, so that would be a harness artifact. It
    never touches lock files or temp files."""

    name = "corrupt"

    def start(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def _candidates(self, root: str) -> list[tuple[str, int, int, bool]]:
        """(path, lo, hi, may_cut): byte ranges that may be damaged."""
        durable = self.ctx.durable
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            wal = sorted(f for f in filenames if f.endswith(".wal"))
            for f in sorted(filenames):
                if f.startswith(".") or f == "LOCK" or f.endswith(".lock"):
                    continue
                path = os.path.join(dirpath, f)
                st = durable.file(path)
                size = min(st.durable if st else 0, os.path.getsize(path))
                if size <= 0:
                    continue
                if f.endswith(".wal") and f == wal[-1]:
                    with open(path, "rb") as fh:
                        recs = wal_records(fh.read(size))
                    if len(recs) >= 2:
                        out.append((path, recs[0][0], recs[-2][1], False))
                    continue
                out.append((path, 0, size, True))
        return out

    def invoke(self, fault: Fault) -> dict[str, Any]:
        ctx = self.ctx
        killed = ctx.kill(ctx.writer_slot)
        ctx.durable.apply_reports(ctx.reports_dir)
        rng = fault.rng()
        root = os.path.realpath(ctx.data_dir)
        cands = self._candidates(root)
        if not cands:
            return {"killed": killed, "skipped": "no fsynced data to corrupt yet"}
        path, lo, hi, may_cut = rng.choice(cands)
        rel = os.path.relpath(path, root)
        if may_cut and rng.random() < 0.3:
            point = rng.randint(lo, hi - 1)
            with open(path, "r+b") as fh:
                fh.truncate(point)
            return {"killed": killed, "file": rel, "kind": "cut", "size": hi, "cut_to": point}
        flips = []
        with open(path, "r+b") as fh:
            for off in sorted(rng.sample(range(lo, hi), min(hi - lo, rng.randint(1, 3)))):
                bit = rng.randrange(8)
                fh.seek(off)
                b = fh.read(1)[0]
                fh.seek(off)
                fh.write(bytes([b ^ (1 << bit)]))
                flips.append([off, bit])
        return {"killed": killed, "file": rel, "kind": "flip", "bits": flips}

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        return [("restart", {"worker": self.ctx.writer_slot})]

    def heal(self) -> None:
        pass
