"""The controller: runs one test.

It starts the workload's worker processes, gives each client process a
seeded generator, dispatches their operations to the workers, and records
every invoke and completion in one history. Meanwhile it injects the seeded
nemesis schedule (each fault an ``invoke``/``info`` pair under process
``"nemesis"``; restarts and resumes likewise). It stops on the time limit or
the operation limit, then heals every fault, restarts every worker, waits for
what is in flight, and runs the workload's final reads one at a time, so that
lost data shows in the history; last, with every worker stopped, it runs
``persist.check`` on the location and records its report as a ``harness``
event ``fsck`` (``nemesis/fsck.py``), for damage no read shows.

A run can also replay a given schedule (``RunConfig.faults``), each fault at
an exact operation count (``fault_ops``: the *fault gate*, used by
``persist-nemesis shrink`` and the regression seeds), with only some client
processes (``processes``); left unset, nothing changes (``docs/shrinking.md``).

Rules it keeps (``docs/history.md``): a client process has one operation
outstanding; an operation whose worker died under it completes as ``info``
and its process number is retired (the client continues under a fresh one);
the history's times are monotonic nanoseconds since the run started.

The disk fault model (``RunConfig.fs``, :mod:`nemesis.faultmodel`): with
the fault filesystem the run's data directory ``<run>/data`` is a
:class:`nemesis.faultfs.FaultFS` mount over ``<run>/data.backing``,
mounted before any worker starts and unmounted after the final reads and
the fsck on every way out (an exception, SIGINT: :meth:`Controller.run`'s
``finally``, and :meth:`Controller.close`); after the unmount the backing
directory takes the name ``data`` (so a kept data directory is the backing
one, what the disk held). Workers then run without the tracer (it is
installed only for ``corrupt``, which picks its damage from its reports).

A worker that exits before it says it is ready, without being killed by a
nemesis, is a broken setup (a mutant that does not import, an engine that
crashes on open): on the first start the run stops at once with
:class:`RunAborted`, later it is retried and the run stops after three
failed starts in a row, in both cases quoting the worker's log.
"""

from __future__ import annotations

import os
import selectors
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from nemesis.faults.base import Fault, RunContext
from nemesis.fsck import fsck
from nemesis.fsync_watch import DurableState
from nemesis.generator import make, schedule
from nemesis.recorder import Recorder
from nemesis.worker import Worker
from workloads.base import load
from nemesis.config import RunConfig
from nemesis.errors import Stopped

READY_TIMEOUT = 60.0
DRAIN_TIMEOUT = 30.0


class RunAborted(Stopped):
    """The run could not go on (a worker dies at start, ...). The message says
    what happened and where to look."""


@dataclass
class Proc:
    slot: int  # the client process slot (stable); also its generator's identity
    worker: int
    number: int  # the history's process number (retired after an info)
    gen: Any
    inflight: dict[str, Any] | None = None  # {"id", "f", "value", "index"}
    next_time: float = 0.0


@dataclass
class Outcome:
    faults: list[Fault]
    notes: list[str] = field(default_factory=list)
    ops: int = 0
    restarts: list[float] = field(default_factory=list)  # seconds from restart to ready
    elapsed: float = 0.0
    final_ok: bool = True
    fsck: dict[str, Any] | None = None  # persist.check of the location at the end (nemesis/fsck.py)


class Controller:
    def __init__(self, cfg: RunConfig, run_dir: str, progress: Callable[[dict[str, Any]], None] | None = None):
        self.cfg = cfg
        self.run_dir = run_dir
        self.progress = progress
        self.wl = load(cfg.workload).WORKLOAD
        self.data_dir = os.path.realpath(os.path.join(run_dir, "data"))
        os.makedirs(self.data_dir, exist_ok=True)
        self.fault_model = cfg.resolve_fs()
        self.fs = None  # the fault filesystem mounted at data_dir (faultfs), unmounted by _unmount()
        self._unmounted = False
        if self.fault_model == "faultfs":
            self._mount(run_dir)
        self.reports_dir = os.path.join(run_dir, "reports")
        self.url = "file://" + self.data_dir
        self.s3 = None  # --blob s3: the run's moto server, started before any worker, stopped by close()
        options: dict[str, Any] = {}
        if cfg.blob == "s3":
            from nemesis.s3.runstore import RunS3

            try:
                self.s3 = RunS3(port=cfg.s3_port, rules=cfg.s3_faults,  # MotoStartError if it cannot
                                log_path=os.path.join(run_dir, "moto.log")).start()
            except BaseException:
                self._unmount()
                raise
            self.url = self.s3.url
            options = {"persist": self.s3.persist_options(os.path.join(self.data_dir, "wal"))}
        if self.op_clock:  # no background drains/compaction: what the engine does follows the operations only
            options = {**options, "persist": {**options.get("persist", {}), "background": False}}
        try:
            self._setup(cfg, run_dir, options)
        except BaseException:
            self.close()
            raise

    #: on the operation clock, one second of the schedule is this many operations
    OPS_PER_SECOND = 20

    @property
    def op_clock(self) -> bool:
        """A run with one client process whose faults are all failpoints runs
        on the *operation clock*: each fault is injected, and its end taken,
        between two operations at an operation count (its scheduled time x
        :attr:`OPS_PER_SECOND`), and persist runs without its background
        thread, so the same seed (with ``--op-limit``) gives the same history,
        wall times aside."""
        return self.cfg.op_clock

    def _idle(self, seconds: float) -> None:
        """``RunContext.idle``: keep the run going for ``seconds`` while a
        nemesis waits inside its ``invoke`` (lose-unsynced looking for a
        moment with unsynced data): dispatch to idle client processes and
        take completions. On the operation clock or with a fault gate (a
        replayed schedule) it only sleeps, so operation counts stay exact."""
        if self._fault_ops is not None or self.op_clock:
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            for p in self.procs:
                if p.inflight is not None or not self.workers[p.worker].ready or p.next_time > now:
                    continue
                if self.cfg.op_limit and self.outcome.ops >= self.cfg.op_limit:
                    break
                op = p.gen.next_op()
                if op is not None:
                    self._invoke(p, op, flush=False)
            for w in self.workers.values():
                w.flush()
            left = end - time.monotonic()
            if left <= 0:
                return
            self._pump(min(0.005, left))

    def _gate(self) -> int | None:
        """With ``fault_ops``: the operation count no dispatch may pass until
        the next fault is injected; None when no fault is waiting."""
        return self._fault_ops[0] if self._fault_ops else None

    def _due(self, fault: Fault, start: float, now: float) -> bool:
        if self._fault_ops is not None:  # the fault gate: at its count, as soon as every worker is up
            ready = (self.outcome.ops >= self._fault_ops[0] and not self._pending
                     and all(w.ready for w in self.workers.values()))
            return ready and (not self.op_clock or not self._inflight)
        if self.op_clock:  # exactly between two operations; no settling time (that would let operations slip in)
            return (not self._inflight and self.outcome.ops >= round(fault.at * self.OPS_PER_SECOND)
                    and not self._pending and all(w.ready for w in self.workers.values()))
        return start + fault.at <= now and self._settled()

    def _run_pending_ops(self, everything: bool = False) -> None:
        """Fault ends on the operation clock: between operations, at their count."""
        while self._pending_ops and (everything or (not self._inflight and self._pending_ops[0][0] <= self.outcome.ops)):
            _, action, value = self._pending_ops.pop(0)
            self._act(action, value)

    @property
    def fsck_options(self) -> dict[str, Any]:
        """Keyword arguments ``persist.check(self.url, ...)`` needs."""
        return self.s3.check_options() if self.s3 is not None else {}

    def _mount(self, run_dir: str) -> None:
        from nemesis.faultfs import FaultFS

        backing = os.path.join(os.path.realpath(run_dir), "data.backing")
        os.makedirs(backing, exist_ok=True)
        fs = FaultFS(backing, self.data_dir, log_path=os.path.join(run_dir, "faultfs.log"))
        self.backing_dir = backing
        try:
            fs.mount()
        except BaseException as e:  # a failed or interrupted mount leaves no server and no mount behind
            try:
                fs.unmount()
            except Exception:
                pass
            if not isinstance(e, Exception):
                raise
            from nemesis.faultmodel import MountError

            raise MountError(f"could not mount the fault filesystem at {self.data_dir}: {type(e).__name__}: {e} "
                             f"(its log: {os.path.join(run_dir, 'faultfs.log')}); --fs tracer runs without it") from e
        self.fs = fs

    def _unmount(self) -> None:
        """Thaw and unmount the fault filesystem (once), then give the backing
        directory the name ``data``. Never raises: a failure is a note."""
        fs, self.fs = self.fs, None
        if fs is None or self._unmounted:
            return
        self._unmounted = True
        for step in (fs.clear_faults, fs.thaw, fs.unmount):
            try:
                step()
            except Exception as e:
                self._note(f"fault filesystem: {step.__name__} failed: {type(e).__name__}: {e}")
        try:
            if not os.path.ismount(self.data_dir):
                os.rmdir(self.data_dir)
                os.rename(self.backing_dir, self.data_dir)
        except OSError as e:
            self._note(f"could not move {self.backing_dir} to {self.data_dir}: {e}")

    def _note(self, text: str) -> None:
        outcome = getattr(self, "outcome", None)
        if outcome is not None:
            outcome.notes.append(text)

    def close(self) -> None:
        """Unmount the fault filesystem if still mounted; stop the run's moto
        server (after any ``persist.check`` of its data); with ``keep_data``
        its objects are copied to ``data/s3/`` first."""
        self._unmount()
        if self.s3 is not None:
            try:
                if self.cfg.keep_data and self.s3.server.pid is not None:
                    self.s3.dump(os.path.join(self.data_dir, "s3"))
            except Exception as e:  # a post-mortem aid; never fails the run
                self.outcome.notes.append(f"could not copy the S3 objects into data/s3: {e}")
            finally:
                self.s3.stop()

    def _setup(self, cfg: RunConfig, run_dir: str, options: dict[str, Any]) -> None:
        self.sel = selectors.DefaultSelector()
        specs = self.wl.workers(cfg.concurrency)
        assign = self.wl.assign(cfg.concurrency)
        per_worker = {s.slot: assign.count(s.slot) for s in specs}
        self.workers: dict[int, Worker] = {
            s.slot: Worker(s, workload=cfg.workload, url=self.url, run_dir=run_dir, events=None,
                           threads=max(1, per_worker[s.slot]) + 1, options=options, mutant=cfg.mutant,
                           watch_root=self.data_dir, spare=True,
                           watch=self.fs is None or "corrupt" in cfg.nemeses,
                           system=getattr(cfg, "system", "persist"))
            for s in specs
        }
        by_slot = {s.slot: s for s in specs}
        cfg.check_replay()
        chosen = range(cfg.concurrency) if cfg.processes is None else sorted(cfg.processes)
        self.procs = [Proc(i, assign[i], i, self.wl.generator(i, by_slot[assign[i]], cfg.seed)) for i in chosen]
        self.next_number = cfg.concurrency
        self.faults = cfg.faults if cfg.faults is not None else schedule(
            cfg.seed, cfg.nemeses, cfg.time_limit, sorted(self.workers), 0, cfg.interval)
        self.durable = DurableState()
        self.durable.settle(self.data_dir)
        self.ctx = RunContext(self.workers, self.data_dir, self.reports_dir, self.durable, writer_slot=0)
        self.ctx.kill = self.kill_worker  # type: ignore[method-assign]
        self.ctx.idle = self._idle  # type: ignore[method-assign]
        self.ctx.s3 = self.s3.context() if self.s3 is not None else None
        self.ctx.fs = self.fs
        self.nemeses = {n: make(n) for n in cfg.nemeses}
        for n in self.nemeses.values():
            n.start(self.ctx)
        self.rec = Recorder(os.path.join(run_dir, "history.jsonl"))
        self.outcome = Outcome(self.faults)
        self._op_id = 0
        self._inflight: dict[int, Proc] = {}  # op id -> proc
        self._killed: set[tuple[int, int]] = set()  # (slot, incarnation) we killed
        self._restarting: dict[int, float] = {}  # slot -> monotonic start of the restart
        self._start_failures: dict[int, int] = {}
        self._pending: list[tuple[float, str, dict[str, Any]]] = []  # (at, action, value)
        self._pending_ops: list[tuple[int, str, dict[str, Any]]] = []  # (op count, action, value): op clock
        self._aborted: str | None = None
        self._healing = False  # set by _finish: no more spares
        self._last_ready = 0.0
        #: the fault gate (``cfg.fault_ops``): operation counts of the faults not yet injected
        self._fault_ops: list[int] | None = list(cfg.fault_ops) if cfg.fault_ops is not None else None

    # --- worker lifecycle --------------------------------------------------

    def kill_worker(self, slot: int) -> dict[str, Any]:
        w = self.workers[slot]
        was_alive = w.alive
        pid = w.kill()
        self._killed.add((slot, w.incarnation))
        self._forget_pipe(w)
        self._settle_worker(slot, "worker killed by the nemesis")
        self._restarting.pop(slot, None)
        return {"worker": slot, "pid": pid, **({} if was_alive else {"note": "was not running"})}

    def _forget_pipe(self, w: Worker) -> None:
        """Stop listening to a dead incarnation (what it still says is moot)."""
        fd, w.out_fd = w.out_fd, None
        if fd is not None:
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
            os.close(fd)
            w._bufs.pop(fd, None)

    def _settle_worker(self, slot: int, why: str) -> None:
        """Every operation in flight on ``slot`` becomes ``info``."""
        for op_id, p in list(self._inflight.items()):
            if p.worker == slot:
                self._complete(p, {"id": op_id, "type": "info", "error": why})

    def _start(self, slot: int) -> None:
        w = self.workers[slot]
        if w.alive:
            return
        began = time.monotonic()
        w.start()
        self.sel.register(w.out_fd, selectors.EVENT_READ, (slot, w.incarnation))
        self._restarting[slot] = began
        self.rec.record("nemesis", "invoke", "restart" if w.incarnation > 1 else "start", {"worker": slot})

    def _on_eof(self, slot: int, incarnation: int) -> None:
        w = self.workers[slot]
        if (slot, incarnation) in self._killed or incarnation != w.incarnation:
            return
        was_ready = w.ready
        code = w.exit_code()
        w.kill()  # reap (the process is gone or going)
        self._settle_worker(slot, f"worker exited unexpectedly (exit code {code})")
        if was_ready:
            note = f"worker {slot} ({w.spec.role}) exited unexpectedly with code {code}; restarting it"
            self.outcome.notes.append(note)
            self.rec.record("nemesis", "info", "crash", {"worker": slot, "exit_code": code})
            self._pending.append((time.monotonic() + 0.2, "restart", {"worker": slot}))
            return
        fails = self._start_failures[slot] = self._start_failures.get(slot, 0) + 1
        msg = (f"worker {slot} ({w.spec.role}) exited with code {code} before it was ready "
               f"(start {w.incarnation}); its log {w.log_path} ends with:\n{w.log_tail()}")
        if w.incarnation == 1 or fails >= 3:
            self._aborted = msg
        else:
            self.outcome.notes.append(msg)
            self._pending.append((time.monotonic() + 0.3, "restart", {"worker": slot}))

    def _on_ready(self, slot: int, msg: dict[str, Any]) -> None:
        w = self.workers[slot]
        w.ready = True
        self._last_ready = time.monotonic()
        w.open_error = msg.get("open_error")
        self._start_failures[slot] = 0
        began = self._restarting.pop(slot, None)
        value = {"worker": slot, "pid": msg.get("pid")}
        if began is not None:
            secs = time.monotonic() - began
            value["seconds"] = round(secs, 4)
            if w.incarnation > 1:
                self.outcome.restarts.append(secs)
        if w.open_error:
            value["open_error"] = w.open_error
        self.rec.record("nemesis", "info", "restart" if w.incarnation > 1 else "start", value)
        if not self._healing:  # the spare for its next restart, once it is up (none needed after the run)
            w.ensure_spare()

    # --- operations --------------------------------------------------------

    def _invoke(self, p: Proc, op: dict[str, Any], flush: bool = True) -> None:
        self._op_id += 1
        op_id = self._op_id
        e = self.rec.record(p.number, "invoke", op["f"], op["value"], worker=p.worker)
        p.inflight = {"id": op_id, "f": op["f"], "value": op["value"], "index": e["index"], "op": op}
        self._inflight[op_id] = p
        self.outcome.ops += 1
        self.workers[p.worker].send({"id": op_id, "f": op["f"], "value": op["value"]}, flush=flush)

    def _complete(self, p: Proc, msg: dict[str, Any]) -> None:
        op = p.inflight
        assert op is not None
        self._inflight.pop(op["id"], None)
        type_ = msg["type"]
        value = msg.get("value") if type_ == "ok" else op["value"]
        self.rec.record(p.number, type_, op["f"], value, worker=p.worker, error=msg.get("error"))
        p.gen.completed(op["op"], type_, value)
        p.inflight = None
        p.next_time = time.monotonic() + self.wl.pace(self.workers[p.worker].spec.role)
        if type_ == "fail" and (msg.get("error") or "").startswith("open failed"):
            p.next_time += 0.05  # the worker cannot serve; don't spin
        if type_ == "info":
            p.number = self.next_number
            self.next_number += 1

    def _handle(self, item: tuple[int, int, dict[str, Any] | None]) -> None:
        slot, incarnation, msg = item
        if msg is None:
            self._on_eof(slot, incarnation)
            return
        if incarnation != self.workers[slot].incarnation:
            return
        if "ready" in msg:
            self._on_ready(slot, msg)
            return
        p = self._inflight.get(msg.get("id"))
        if p is not None:
            self._complete(p, msg)

    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` for worker messages and handle them all."""
        for key, _ in self.sel.select(max(0.0, timeout)):
            slot, incarnation = key.data
            w = self.workers[slot]
            msgs = w.read_messages(key.fd)
            if msgs is None:
                if w.out_fd == key.fd:
                    self._forget_pipe(w)
                else:
                    self.sel.unregister(key.fd)
                    os.close(key.fd)
                self._handle((slot, incarnation, None))
                continue
            for msg in msgs:
                self._handle((slot, incarnation, msg))

    #: seconds between two checks that the fault filesystem still serves (``_check_fs``)
    FS_CHECK_EVERY = 0.25

    def _check_aborted(self) -> None:
        self._check_fs()
        if self._aborted:
            raise RunAborted(self._aborted)

    def _check_fs(self, now: bool = False) -> None:
        """Stop the run if the fault filesystem stopped serving ``data/`` (its
        server was signalled or died, or someone unmounted it): the workers
        would go on in the empty directory under the mount point, where the
        engine finds no metadata (a writer "fenced by the writer with Wal None
        at epoch 0", readers that see no streams) or misses the blobs the
        metadata names, and the history would blame the system for what the
        harness lost. Such a run is stopped (``unknown``), never judged.
        Checked at most every ``FS_CHECK_EVERY`` seconds, or ``now``."""
        fs = self.fs
        if fs is None or self._aborted:
            return
        t = time.monotonic()
        if not now and t - getattr(self, "_fs_checked", 0.0) < self.FS_CHECK_EVERY:
            return
        self._fs_checked = t
        why = fs.lost()
        if why:
            self._aborted = (f"the fault filesystem over {self.data_dir} stopped serving during the run: {why} "
                             f"({os.path.join(self.run_dir, 'faultfs.log')}). What the workers did after that "
                             f"went to the directory under the mount point, so the history is not the system's "
                             f"and is not judged; run again")

    # --- faults ------------------------------------------------------------

    def _inject(self, fault: Fault) -> None:
        if self._fault_ops:
            self._fault_ops.pop(0)
            self._run_pending_ops(everything=True)  # a previous fault still on (op clock) ends first
        retarget = getattr(self.wl, "retarget", None)
        if retarget is not None:  # the writer moves between workers (multi-writer): aim at the current holder
            fault, self.ctx.writer_slot = retarget(fault, [p.gen for p in self.procs])
        nem = self.nemeses[fault.nemesis]
        self.rec.record("nemesis", "invoke", fault.nemesis, fault.to_json())
        value = nem.invoke(fault)
        self.rec.record("nemesis", "info", fault.nemesis, value)
        if self.op_clock:
            at_op = self.outcome.ops + max(1, round(fault.duration * self.OPS_PER_SECOND))
            for action, v in nem.recover(fault):
                if action in ("restart", "resume"):  # no operation runs meanwhile: wall time is safe (and needed)
                    self._pending.append((time.monotonic() + fault.duration, action, v))
                else:
                    self._pending_ops.append((at_op, action, v))
            return
        at = time.monotonic() + fault.duration
        for action, v in nem.recover(fault):
            self._pending.append((at, action, v))

    def _act(self, action: str, value: dict[str, Any]) -> None:
        if action not in ("restart", "resume") and "nemesis" in value:  # a nemesis's own step (s3, failpoint)
            done = self.nemeses[value["nemesis"]].act(action, value)
            if done is not None:
                self.rec.record("nemesis", "info", value["nemesis"], done)
            return
        slot = value["worker"]
        w = self.workers[slot]
        if action == "restart":
            if not w.alive:
                self._start(slot)
        elif action == "resume":
            if w.alive and w.paused:
                w.resume()
                self.rec.record("nemesis", "info", "resume", {"worker": slot, "pid": w.pid})

    def _run_pending(self, now: float, everything: bool = False) -> None:
        self._pending.sort(key=lambda x: x[0])
        while self._pending and (everything or self._pending[0][0] <= now):
            _, action, value = self._pending.pop(0)
            self._act(action, value)

    # --- the run -----------------------------------------------------------

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(w.ready for w in self.workers.values()):
            self._check_aborted()
            self._run_pending(time.monotonic())
            if time.monotonic() > deadline:
                slow = [f"worker {w.slot} ({w.spec.role})" for w in self.workers.values() if not w.ready]
                raise RunAborted(f"{', '.join(slow)} not ready after {timeout:.0f} s; see {self.run_dir}/workers/")
            self._pump(0.05)
        self._check_aborted()

    def run(self) -> Outcome:
        try:
            return self._run()
        except BaseException:  # interrupted (nemesis/lifecycle.py) or aborted: heal what can be healed, then stop
            for nem in self.nemeses.values():
                try:
                    nem.heal()
                except Exception:  # noqa: BLE001 - stopping matters more than healing
                    pass
            raise
        finally:
            try:
                if self.fs is not None:
                    self.fs.thaw()  # a worker stuck on a frozen mount cannot die
            except Exception:
                pass
            for w in self.workers.values():
                if w.alive:
                    w.kill()
                self._forget_pipe(w)
                w.drop_spare()
            self.sel.close()
            self.rec.close()
            self._unmount()

    def _run(self) -> Outcome:
        cfg = self.cfg
        for slot in sorted(self.workers):
            self._start(slot)
        self._wait_ready(READY_TIMEOUT)
        start = time.monotonic()
        deadline = start + cfg.time_limit
        faults = list(self.faults)
        last_progress = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline or (cfg.op_limit and self.outcome.ops >= cfg.op_limit):
                break
            self._check_aborted()
            # A fault is due at its scheduled time, but never while a worker is
            # still (re)starting from the previous one: the schedule's content
            # is the seed's, only its timing stretches.
            while faults and self._due(faults[0], start, now):
                self._inject(faults.pop(0))
            self._run_pending_ops()
            self._run_pending(now)
            wake = deadline
            if faults:
                wake = min(wake, start + faults[0].at)
            if self._pending:
                wake = min(wake, min(x[0] for x in self._pending))
            for p in self.procs:
                if p.inflight is not None:
                    continue
                w = self.workers[p.worker]
                if not w.ready:
                    continue
                if p.next_time > now:
                    wake = min(wake, p.next_time)
                    continue
                if cfg.op_limit and self.outcome.ops >= cfg.op_limit:
                    break
                gate = self._gate()
                if gate is not None and self.outcome.ops >= gate:
                    break
                op = p.gen.next_op()
                if op is not None:
                    self._invoke(p, op, flush=False)
            for w in self.workers.values():
                w.flush()  # one write per worker for the round's operations
            if self.progress and now - last_progress > 0.25:
                last_progress = now
                self.progress({**self._progress(now - start), "phase": "running"})
            self._pump(min(0.05, max(0.0, wake - time.monotonic())))
        self.outcome.elapsed = time.monotonic() - start
        self._finish()
        return self.outcome

    #: seconds a fault waits after the last worker became ready (let work resume)
    SETTLE = 0.3

    def _settled(self) -> bool:
        return (not self._pending and all(w.ready for w in self.workers.values())
                and time.monotonic() - self._last_ready >= self.SETTLE)

    def _progress(self, elapsed: float) -> dict[str, Any]:
        ok = sum(n for (f, t), n in self.rec.counts.items() if t == "ok")
        return {"elapsed": elapsed, "time_limit": self.cfg.time_limit, "ops": self.outcome.ops, "ok": ok,
                "faults": sum(n for f, n in self.rec.faults.items() if f not in ("start", "restart", "resume"))}

    def _phase(self, name: str) -> None:
        """Name the phase on the progress bar (running, healing, final reads, fsck)."""
        if self.progress:
            self.progress({**self._progress(self.cfg.time_limit), "phase": name})

    def _finish(self) -> None:
        """Heal, restart, drain, final reads, stop, fsck the location."""
        self._phase("healing")
        self._healing = True
        self._run_pending_ops(everything=True)
        for nem in self.nemeses.values():
            nem.heal()
        for w in self.workers.values():
            if w.alive and w.paused:
                w.resume()
                self.rec.record("nemesis", "info", "resume", {"worker": w.slot, "pid": w.pid})
        self._run_pending(time.monotonic(), everything=True)
        for slot, w in self.workers.items():
            if not w.alive:
                self._start(slot)
        self._wait_ready(READY_TIMEOUT)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self._inflight and time.monotonic() < deadline:
            self._check_aborted()
            self._pump(0.05)
        for op_id, p in list(self._inflight.items()):
            self._complete(p, {"id": op_id, "type": "info", "error": f"no completion within {DRAIN_TIMEOUT:.0f} s of the end"})
        self.rec.flush()
        self._phase("final reads")
        # final reads, one at a time
        for slot, op in self.wl.final_ops([p.gen for p in self.procs]):
            p = next((q for q in self.procs if q.worker == slot), None)
            if p is None:
                continue
            w = self.workers[p.worker]
            if not w.alive:  # it died during an earlier final read: give it back before the next one
                self._run_pending(time.monotonic(), everything=True)
                if not w.alive:
                    self._start(p.worker)
                self._wait_ready(READY_TIMEOUT)
            self._invoke(p, op)
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while p.inflight is not None and time.monotonic() < deadline:
                self._check_aborted()
                self._pump(0.05)
            if p.inflight is not None:
                self._complete(p, {"id": p.inflight["id"], "type": "info", "error": "final read timed out"})
        for w in self.workers.values():
            w.stop()
        self._check_fs(now=True)  # the final reads ran on the fault filesystem, not beside it
        self._check_aborted()
        if getattr(self.wl, "own_format", False) and getattr(self.cfg, "system", "persist") != "persist":
            return  # the location holds the system's own files (the kv workload on another store): no persist fsck
        self._phase("fsck")
        self.outcome.fsck = fsck(self.url, **self.fsck_options)
        self._check_fs(now=True)  # ... and so did the fsck
        self._check_aborted()
        self.rec.record("harness", "info", "fsck", self.outcome.fsck)
        self.rec.flush()
