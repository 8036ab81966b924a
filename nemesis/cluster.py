"""Campaigns on a cluster: every run a task on ``dask.distributed`` workers.

    persist-nemesis campaign --cluster local:2 ...               # a LocalCluster of 2 worker processes
    persist-nemesis campaign --cluster tcp://10.0.0.5:8786 ...   # a running scheduler (docs/cluster.md)

The engine is dask's (an optional extra: ``pip install -e '.[cluster]'``); this
module only plans what each task does and what the campaign makes of it, so
that a campaign on a cluster is a local campaign's in every file it writes
(summary, JUnit, ``index.html``, ``campaign-<time>.json``, the run
directories) and only faster.

**A task is one run**, exactly as ``persist-nemesis run`` makes it and as
:func:`nemesis.campaign.execute` runs it locally: :func:`run_task` starts a
child process (:class:`_RunProcess`: forked from a preloaded forkserver
where the worker may have children, else a new interpreter) in its own
session (its own process group, dying with the dask worker) that runs
:func:`nemesis.campaign._child` (``run_one``, its own worker processes, its own
moto server for a run on S3, the fault filesystem where *this* worker allows
it: ``--fs auto`` is resolved again on the worker). The run goes into a
temporary store on the worker; the task then returns the run directory as a
gzipped tar, which the campaign unpacks into its own store
(:func:`unpack`), with ``config.json``'s ``store`` pointing there, so that
``persist-nemesis repro RUN_DIR`` works on the machine that reads the store.
With a *shared* store (``--store file:///mnt/shared/runs``: the same path on
every machine) the run is written there directly and nothing is shipped.
With ``--ship-to s3://BUCKET/PREFIX`` the worker puts the archive in S3
(``<prefix>/<workload>/<name>.tar.gz``, kept there: the shared copy) and the
campaign fetches it from there instead of through dask.

**A fault never leaves its run; a run is never lost nor made twice.** The
campaign keeps at most as many tasks in flight as the cluster has worker
threads (``--jobs`` caps it further), so a task submitted is a run started.
Each task first sets a ``distributed.Event`` of its own (the *claim*); dask
reschedules the tasks of a worker that died on another worker, and a task
that finds its claim already set returns ``error`` ("the worker running it
died") at once instead of running the run again. A task whose workers all
died (dask's ``KilledWorker``), that raised, or that outlived its deadline is
an ``error`` of that run only. On a ``LocalCluster`` the scheduler is also
told to give up on the first death (``allowed-failures`` 0).

**Interrupted** (Ctrl-C, SIGTERM): the campaign sets its *stop* event; each
running task sends its run SIGTERM (the run marks itself interrupted and
stops its workers; SIGKILL to the process group after
:data:`nemesis.campaign.STOP_GRACE`), ships what it has, and the campaign
cancels the tasks not started. What finished is reported as locally.

A soak (``--duration``) is the same loop with the soak's runs to start
(:class:`nemesis.soak.Soak`).
"""

from __future__ import annotations

import glob
import io
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from nemesis.campaign import GRACE, STOP_GRACE, CampaignError, Outcome, Plan, Planned, _result

#: what to install when dask is missing
INSTALL = "pip install -e '.[cluster]'"
#: seconds to reach a scheduler before giving up
CONNECT_TIMEOUT = 15.0
#: seconds beyond a run's own deadline (its time limit + GRACE, enforced by the task) before the campaign
#: gives up on a task that never answered (a worker that hangs rather than dies)
LOST_GRACE = 120.0
#: seconds the campaign waits for a worker when the cluster has none left before it gives up on the runs left
NO_WORKERS = 60.0
#: a task's temporary store on its worker (``/tmp/nemesis-task-XXXX``)
TASK_PREFIX = "nemesis-task-"
#: a LocalCluster's scheduler: how often a task whose worker died is run again (dask's default is 3); 0 fails it
#: at the first death (KilledWorker). Either way a run is never made twice (the claim, :func:`run_task`)
ALLOWED_FAILURES = 0
_LOCAL = re.compile(r"local:(\d+)$")


@dataclass
class Address:
    """A parsed ``--cluster``: ``local`` with ``workers`` processes, or a scheduler ``url``."""

    text: str
    workers: int = 0  # local:N
    url: str | None = None  # tcp://host:port (or tls://...)

    @property
    def local(self) -> bool:
        return self.url is None


def parse_address(text: str) -> Address:
    """``local:N`` (N >= 1 worker processes here) or ``tcp://host:port`` /
    ``tls://host:port`` (a running scheduler); :class:`CampaignError` otherwise."""
    t = (text or "").strip()
    m = _LOCAL.match(t)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise CampaignError(f"local:N needs N >= 1 worker processes (e.g. local:2), got {t!r}; or give a "
                                f"running scheduler's address, tcp://HOST:PORT", "--cluster")
        return Address(t, workers=n)
    m = re.match(r"(tcp|tls)://([^:/\s]+):(\d+)/?$", t)
    if m and 0 < int(m.group(3)) < 65536:
        return Address(t, url=t.rstrip("/"))
    raise CampaignError(f"expected local:N (a local cluster of N worker processes, e.g. local:2) or the address of "
                        f"a running dask scheduler, tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786), got {text!r}",
                        "--cluster")


def check_available() -> None:
    """dask.distributed is installed (:class:`CampaignError` naming the extra otherwise)."""
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise CampaignError(f"campaigns on a cluster need dask.distributed, which is not installed here ({e}); "
                            f"install the extra: {INSTALL}", "--cluster") from None


def parse_store(store: str) -> tuple[str, bool]:
    """``--store``: ``(path, shared)``. ``file:///mnt/runs`` is a shared store
    (every machine sees it at that path: the workers write there directly); a
    plain path is the campaign's own (runs are shipped back into it)."""
    s = os.fspath(store)
    if s.startswith("file://"):
        path = s[len("file://"):]
        if not path.startswith("/"):
            raise CampaignError(f"a file:// store needs an absolute path, file:///mnt/shared/runs, got {s!r}",
                                "--store")
        return path, True
    if re.match(r"[a-z][a-z0-9+.-]*://", s):
        raise CampaignError(f"unsupported store URL {s!r}: give a path (runs are shipped back into it) or "
                            "file:///PATH on a mount every machine shares; to keep the runs in S3 too, give "
                            "--store a path and --ship-to s3://BUCKET/PREFIX", "--store")
    return s, False


# --- connecting -------------------------------------------------------------------

@dataclass
class Connection:
    """A dask client, and the LocalCluster it started (if any)."""

    address: Address
    client: Any
    cluster: Any = None
    restore: Any = None  # the dask configuration set for a LocalCluster, put back on close
    info: dict[str, Any] = field(default_factory=dict)

    def slots(self) -> int:
        """Worker threads in the cluster now (the runs it can hold at once)."""
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
        except TypeError:  # an older distributed without n_workers
            workers = self.client.scheduler_info()["workers"]
        except Exception:  # noqa: BLE001 - the scheduler is gone: nothing more starts
            return 0
        return sum(int(w.get("nthreads", 1)) for w in workers.values())

    def close(self) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception:  # noqa: BLE001 - closing a cluster that is going anyway
                    pass
        if self.restore is not None:
            self.restore.__exit__(None, None, None)
            self.restore = None


def connect(address: Address) -> Connection:
    """A client of ``address``: a new LocalCluster of ``address.workers``
    processes (one thread each), or the running scheduler at ``address.url``
    (:class:`CampaignError` when it cannot be reached, or has no worker that
    can import this harness)."""
    check_available()
    import logging

    import dask
    from distributed import Client, LocalCluster

    if address.local:
        # allowed-failures: the first death of a worker fails its task (KilledWorker) instead of rescheduling
        # it (the claim, run_task, keeps a rescheduled run from running twice on any scheduler, this one
        # included). daemon False: a worker may fork its runs from a preloaded forkserver (_RunProcess); read by
        # the nannies (in this process) at every worker (re)start, so it holds until close()
        config = dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                                  "distributed.worker.daemon": False})
        try:
            cluster = LocalCluster(n_workers=address.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
            client = Client(cluster)
        except BaseException:
            config.__exit__(None, None, None)
            raise
        conn = Connection(address, client, cluster, restore=config)
    else:
        try:
            client = Client(address.url, timeout=f"{CONNECT_TIMEOUT:g}s")
        except (OSError, TimeoutError) as e:
            raise CampaignError(f"could not reach a dask scheduler at {address.url} within {CONNECT_TIMEOUT:g} s "
                                f"({type(e).__name__}: {e}); start one there with `dask scheduler` and workers "
                                "with `dask worker ADDRESS` (docs/cluster.md), or use --cluster local:N",
                                "--cluster") from None
        conn = Connection(address, client)
    try:
        conn.info = probe(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def probe(conn: Connection) -> dict[str, Any]:
    """Ask every worker what it runs (host, Python, this harness's commit);
    a cluster with no worker, or with one that cannot import the harness, is
    a :class:`CampaignError`."""
    client = conn.client
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while conn.slots() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    if conn.slots() == 0:
        raise CampaignError(f"the dask scheduler at {conn.address.text} has no workers; start some with "
                            f"`dask worker {conn.address.url or 'ADDRESS'}` (docs/cluster.md)", "--cluster")
    try:
        seen = client.run(_worker_facts)
    except Exception as e:  # noqa: BLE001 - a worker without this package fails to unpickle the probe
        raise CampaignError(f"a worker of {conn.address.text} cannot run the harness ({type(e).__name__}: {e}); "
                            f"install this checkout on every worker machine: {INSTALL}", "--cluster") from None
    return {"workers": len(seen), "slots": conn.slots(), "hosts": sorted({f["host"] for f in seen.values()}),
            "facts": seen}


def _worker_facts() -> dict[str, Any]:
    from nemesis.store import code_version

    return {"host": socket.gethostname(), "python": sys.version.split()[0], "commit": code_version().get("commit")}


# --- the task (on a worker) -----------------------------------------------------

def run_task(cfg: Any, *, claim: str, stop: str, shared_store: str | None, reports: bool,
             deadline: float, ship_to: str | None = None) -> dict[str, Any]:
    """One run on a dask worker (see the module docstring). Returns
    ``{"res": run_one's dict (as the local executor's child writes it),
    "archive": bytes of a tar.gz of the run directory or None, "rel":
    the run directory relative to its store, "host", "archive_seconds"}``."""
    from distributed import Event

    here = socket.gethostname()
    task_start = time.time()
    _sweep()
    if Event(claim).is_set():  # this run started before, on a worker that died: never run it twice
        return {"res": {"verdict": "error", "code": 3, "error": "the worker running this run died mid-run (the "
                        "cluster rescheduled it; it was not run again)", "run_dir": None}, "archive": None,
                "rel": None, "host": here, "retried": True}
    Event(claim).set()
    from nemesis import lifecycle

    if cfg.fs == "auto":  # the fault filesystem where this worker allows it
        from nemesis.faultmodel import FaultModelError

        cfg.fault_model = cfg.fs_reason = None
        try:
            cfg.resolve_fs()
        except FaultModelError as e:
            return {"res": {"verdict": "error", "code": 3, "error": f"on {here}: {e}", "run_dir": None},
                    "archive": None, "rel": None, "host": here}
    tmp = tempfile.mkdtemp(prefix=TASK_PREFIX)
    try:
        with open(os.path.join(tmp, "owner.json"), "w", encoding="utf-8") as f:
            json.dump(lifecycle.me(), f)
        store = shared_store or os.path.join(tmp, "store")
        spec, out = os.path.join(tmp, "cfg.pickle"), os.path.join(tmp, "result.json")
        with open(spec, "wb") as f:
            pickle.dump(cfg, f)
        started = time.time()
        proc = _RunProcess(cfg, spec, store, reports, out)
        with open(os.path.join(tmp, "run.json"), "w", encoding="utf-8") as f:  # which run, for a person (and tests)
            json.dump({"pid": proc.pid, "how": proc.how, "workload": cfg.workload, "seed": cfg.seed,
                       "nemeses": list(cfg.nemeses), "started": started}, f)
        forced = None
        stop_ev = Event(stop)
        while not proc.wait(1.0):
            if time.time() - started > deadline:
                forced = f"the run took more than {deadline:.0f} s and was stopped"
            elif _is_set(stop_ev):
                forced = "interrupted"
            if forced:
                proc.stop()
                break
        try:
            with open(out, encoding="utf-8") as f:
                res = json.load(f)
        except (OSError, ValueError):
            res = {"verdict": "error", "code": 3, "run_dir": _only_run_dir(store, cfg) if not shared_store else None,
                   "error": forced or f"the run's process exited with code {proc.returncode} without a result"}
        if forced:
            res = {**res, "verdict": "error" if res.get("verdict") in ("valid", None) else res["verdict"],
                   "error": forced}
        run_dir = res.get("run_dir")
        payload: dict[str, Any] = {"res": res, "archive": None, "rel": None, "host": here, "task_start": task_start,
                                   "run_seconds": time.time() - started, "how": proc.how}
        if run_dir and os.path.isdir(run_dir):
            payload["rel"] = os.path.relpath(run_dir, store)
            if not shared_store:
                t0 = time.perf_counter()
                payload["archive"] = archive(run_dir, payload["rel"])
                payload["archive_seconds"] = time.perf_counter() - t0
                if ship_to:
                    _upload(payload, ship_to)
        payload["finished_at"] = time.time()  # the transfer's start, for outcome.shipping (one clock: bench only)
        return payload
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parse_ship_to(url: str) -> tuple[str, str]:
    """``--ship-to s3://BUCKET/PREFIX``: ``(bucket, prefix)`` (:class:`CampaignError` otherwise)."""
    m = re.match(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$", (url or "").strip())
    if not m:
        raise CampaignError(f"expected s3://BUCKET/PREFIX (e.g. s3://nightly-runs/persist), got {url!r}",
                            "--ship-to")
    return m.group(1), (m.group(2) or "").strip("/")


def _s3() -> Any:
    """An S3 client from the machine's own configuration (``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``..., a profile), with short timeouts."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3}))


def check_ship_to(url: str) -> None:
    """The bucket of ``--ship-to`` is there and this machine can write to it
    (a probe object, removed); :class:`CampaignError` saying what failed."""
    bucket, prefix = parse_ship_to(url)
    key = "/".join(x for x in (prefix, f".probe-{uuid.uuid4().hex[:8]}") if x)
    try:
        c = _s3()
        c.put_object(Bucket=bucket, Key=key, Body=b"ok")
        c.delete_object(Bucket=bucket, Key=key)
    except Exception as e:  # noqa: BLE001 - botocore's many ways of saying no: each one a clear refusal here
        raise CampaignError(f"cannot write to {url} ({type(e).__name__}: {e}); check the bucket, the credentials "
                            "and AWS_ENDPOINT_URL on this machine and on every worker", "--ship-to") from None


def _upload(payload: dict[str, Any], ship_to: str) -> None:
    """Put the run's archive at ``<ship_to>/<workload>/<name>.tar.gz``; on a
    failure the archive goes back through dask instead (``ship_error`` says why)."""
    bucket, prefix = parse_ship_to(ship_to)
    key = "/".join(x for x in (prefix, payload["rel"] + ".tar.gz") if x)
    t0 = time.perf_counter()
    try:
        _s3().put_object(Bucket=bucket, Key=key, Body=payload["archive"])
    except Exception as e:  # noqa: BLE001 - never lose the run for want of S3
        payload["ship_error"] = f"could not put s3://{bucket}/{key} ({type(e).__name__}: {e}); sent through dask"
        return
    payload["upload_seconds"] = time.perf_counter() - t0
    payload["s3"], payload["archive"] = f"s3://{bucket}/{key}", None


def _download(url: str) -> bytes:
    bucket, _, key = url[len("s3://"):].partition("/")
    return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def _sweep() -> None:
    """Remove the temporary stores of tasks whose worker died (SIGKILL leaves
    them behind): those whose ``owner.json`` names a process gone from this
    host, and whose run's process (``run.json``) is gone too."""
    from nemesis import lifecycle

    for d in glob.glob(os.path.join(tempfile.gettempdir(), TASK_PREFIX + "*")):
        try:
            with open(os.path.join(d, "owner.json"), encoding="utf-8") as f:
                owner = json.load(f)
        except (OSError, ValueError):
            continue  # not ours, or being made right now
        try:
            with open(os.path.join(d, "run.json"), encoding="utf-8") as f:
                run_pid = json.load(f).get("pid")
        except (OSError, ValueError):
            run_pid = None
        if owner.get("host") == socket.gethostname() and not lifecycle.alive(owner.get("pid"),
                                                                                owner.get("pid_started")) \
                and not lifecycle.alive(run_pid):  # (a run outliving its worker dies soon: see _forked_child)
            for root, dirs, _ in os.walk(d):  # a fault filesystem left mounted: never recurse into it
                if any(os.path.ismount(os.path.join(root, x)) for x in dirs):
                    break
            else:
                shutil.rmtree(d, ignore_errors=True)


def _is_set(ev: Any) -> bool:
    try:
        return bool(ev.is_set())
    except Exception:  # noqa: BLE001 - the scheduler is unreachable: nobody left to tell us to stop
        return False


class _RunProcess:
    """The run's process on a worker, in its own session (its own process
    group), dying with the worker. Where the worker may have children of its
    own (a non-daemonic dask worker: a LocalCluster here, or ``dask worker``
    with ``DASK_DISTRIBUTED__WORKER__DAEMON=False``) it is forked from a
    forkserver that has paid for the harness's imports, as the local
    executor's runs are; in a daemonic worker (dask's default: it may not
    start ``multiprocessing`` children) it is a new interpreter."""

    def __init__(self, cfg: Any, spec: str, store: str, reports: bool, out: str) -> None:
        import multiprocessing

        from nemesis import lifecycle

        self.proc: Any = None
        self.popen: subprocess.Popen | None = None
        if not multiprocessing.current_process().daemon:
            from multiprocessing import forkserver

            from nemesis.campaign import PRELOAD

            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            forkserver.ensure_running()
            self.proc = ctx.Process(target=_forked_child, args=(cfg, store, reports, out), daemon=False)
            self.proc.start()
            self.how, self.pid = "forkserver", self.proc.pid
        else:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", "import sys; from nemesis.cluster import _child_main; "
                 "_child_main(sys.argv[1:])", spec, store, "1" if reports else "0", out],
                start_new_session=True, preexec_fn=lifecycle.preexec(), stdin=subprocess.DEVNULL)
            self.how, self.pid = "interpreter", self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.exitcode if self.proc is not None else self.popen.returncode  # type: ignore[union-attr]

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True once the process has exited."""
        if self.proc is not None:
            self.proc.join(timeout)
            return self.proc.exitcode is not None
        try:
            self.popen.wait(timeout)  # type: ignore[union-attr]
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """SIGTERM to the run (it marks itself and stops its workers), then SIGKILL to its process group."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        self.wait(STOP_GRACE)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait(5)


def _forked_child(cfg: Any, store: str, reports: bool, out: str) -> None:
    """The run's process forked from the worker's forkserver: its own session, then the local executor's child.

    The forkserver hands each child a copy of its "alive" pipe's write end,
    and lives as long as any copy is open; the child dies with the
    forkserver (``die_with_parent``). With that copy open here, a dask worker
    killed mid-run would leave forkserver and run alive, each waiting for
    the other; closed, the forkserver ends with its worker and the run with it."""
    from nemesis import lifecycle

    lifecycle.release_forkserver()
    try:
        os.setsid()
    except OSError:
        pass
    from nemesis.campaign import _child

    _child(cfg, store, reports, out)


def _only_run_dir(store: str, cfg: Any) -> str | None:
    """The run directory of a run that died without a result (the task's store holds only it)."""
    parent = os.path.join(store, cfg.workload)
    try:
        dirs = [os.path.join(parent, d) for d in os.listdir(parent)]
    except OSError:
        return None
    return dirs[0] if len(dirs) == 1 else None


def _child_main(argv: list[str]) -> None:
    """The run's process on a worker: the local executor's child (:func:`nemesis.campaign._child`)."""
    spec, store, reports, out = argv
    with open(spec, "rb") as f:
        cfg = pickle.load(f)
    from nemesis.campaign import _child

    _child(cfg, store, reports == "1", out)


def archive(run_dir: str, rel: str) -> bytes:
    """The run directory as a gzipped tar, its members under ``rel`` (``<workload>/<name>``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(run_dir, arcname=rel)
    return buf.getvalue()


# --- the campaign's side ----------------------------------------------------------

def unpack(data: bytes, rel: str, store: str) -> str:
    """Unpack a run's archive into ``store``; returns the run directory there
    (``<store>/<workload>/<name>``, with a ``-2``... suffix if that name is
    taken). ``config.json``'s ``store`` and ``paths.checkout`` are made true
    for this machine (``persist-nemesis repro`` reads them)."""
    from nemesis import store as st

    parts = rel.split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a run directory's place in a store: {rel!r}")
    dest = base = os.path.join(store, *parts)
    n = 1
    while os.path.exists(dest):
        n += 1
        dest = f"{base}-{n}"
    stage = tempfile.mkdtemp(prefix=".unpack-", dir=store)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(stage, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.rename(os.path.join(stage, *parts), dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    cpath = os.path.join(dest, "config.json")
    try:
        c = st.read_json(cpath)
        c["shipped_from"] = {"store": c.get("store"), "run_dir": os.path.join(c.get("store") or "", rel)}
        c["store"] = store
        c.setdefault("paths", {})["checkout"] = os.path.relpath(st.REPO, dest)
        st.write_json(cpath, c)
    except (OSError, ValueError, AttributeError):
        pass
    return dest


def execute(p: Plan, conn: Connection, jobs: int | None = None, *, shared: bool = False,
            ship_to: str | None = None, reports: bool = True,
            on_start: Callable[[Planned], None] | None = None,
            on_done: Callable[[dict[str, Any]], None] | None = None, todo: Any = None) -> Outcome:
    """:func:`nemesis.campaign.execute` on the cluster of ``conn``: as many
    runs in flight as it has worker threads (at most ``jobs`` when given);
    the same :class:`~nemesis.campaign.Outcome`. ``shared``: ``p.store`` is
    on a mount every worker shares (runs are written there, not shipped).
    ``ship_to``: ``s3://BUCKET/PREFIX``, where each worker puts its run's
    archive (``<workload>/<name>.tar.gz``, kept there) for the campaign to
    fetch and unpack, instead of sending it through dask.
    ``outcome.shipping`` lists, per shipped run, the archive's bytes and the
    seconds to archive (on the worker), transfer and unpack."""
    from distributed import Event, wait
    from nemesis import lifecycle
    from nemesis import store as st

    client = conn.client
    cid = uuid.uuid4().hex[:12]
    stop = f"nemesis-stop-{cid}"
    todo = list(p.runs) if todo is None else todo
    running: dict[Any, tuple[Planned, float, str]] = {}  # future -> (planned, started, its claim)
    outcome = Outcome()
    began = time.monotonic()

    def finish(fut: Any, forced: str | None = None) -> None:
        r, started, claim = running.pop(fut)
        res: dict[str, Any]
        try:
            payload = fut.result() if fut.done() else None
            received = time.time()
        except BaseException as e:  # noqa: BLE001 - KilledWorker, CancelledError, a task that raised
            payload = None
            res = {"verdict": "error", "code": 3, "run_dir": None, "error": _task_error(e)}
        else:
            if payload is None:
                res = {"verdict": "error", "code": 3, "run_dir": None,
                       "error": forced or "the task never answered"}
            else:
                res = dict(payload["res"])
                res["run_dir"] = _land(payload, res, p.store, shared, outcome, received, started)
        if forced and payload is not None:
            res = {**res, "verdict": "error" if res.get("verdict") in ("valid", None) else res["verdict"],
                   "error": forced}
        elif forced:
            res = {**res, "error": forced}
        if fut.done():  # its task will not run again: the claim can go (a long-lived scheduler keeps no trace)
            try:
                Event(claim).clear()
            except Exception:  # noqa: BLE001 - the scheduler is gone, and its events with it
                pass
        result = _result(r, res, time.time() - started)
        if res.get("command"):  # the line of the run as it ran (--fs auto resolves on the worker)
            result["command"] = f"{res['command']} --store {shlex.quote(p.store)}"
        outcome.results.append(result)
        if result.get("run_dir"):
            try:
                st.point_latest(p.store, result["run_dir"])
            except OSError:
                pass
        if on_done:
            on_done(result)

    def cap() -> int:
        n = conn.slots()
        return min(n, jobs) if jobs else n

    try:
        Event(stop).clear()
        slots, checked, idle = cap(), time.monotonic(), 0.0
        while todo or running:
            if time.monotonic() - checked > 5:
                slots, checked = cap(), time.monotonic()
            if not running and slots == 0 and todo:  # every worker gone: wait a while for one, then give up
                idle = idle or time.monotonic()
                if time.monotonic() - idle > NO_WORKERS:
                    _give_up(p, todo, outcome, on_start, on_done)
                    break
                time.sleep(1.0)
                slots, checked = cap(), time.monotonic()
                continue
            idle = 0.0
            while todo and len(running) < slots:
                r = todo.pop(0)
                deadline = r.cfg.time_limit + GRACE
                claim = f"nemesis-claim-{cid}-{r.index}"
                fut = client.submit(run_task, r.cfg, claim=claim, stop=stop,
                                    shared_store=p.store if shared else None, reports=reports, deadline=deadline,
                                    ship_to=ship_to,
                                    key=f"nemesis-run-{cid}-{r.index}", pure=False, retries=0)
                running[fut] = (r, time.time(), claim)
                if on_start:
                    on_start(r)
            try:
                wait(list(running), timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            for fut in [f for f in running if f.done()]:
                finish(fut)
            now = time.time()
            for fut, (r, started, _) in list(running.items()):
                if now - started > r.cfg.time_limit + GRACE + STOP_GRACE + LOST_GRACE:
                    fut.cancel()
                    finish(fut, forced=f"the run's task did not answer within "
                                       f"{r.cfg.time_limit + GRACE + STOP_GRACE + LOST_GRACE:.0f} s and was "
                                       "cancelled (its worker hangs or is unreachable)")
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM, SIGHUP (nemesis/lifecycle.py)
        outcome.interrupted = True
        outcome.signal = lifecycle.signal_name(e)
        outcome.exit = lifecycle.exit_code(e)
        _interrupt(client, stop, running)
        for fut in list(running):
            finish(fut, forced="interrupted")
        outcome.never_ran = len(p.runs) - len(outcome.results)
    finally:
        try:
            Event(stop).clear()
        except Exception:  # noqa: BLE001 - the scheduler went away: nothing to clean there
            pass
    outcome.results.sort(key=lambda x: x["index"])
    outcome.wall = time.monotonic() - began
    return outcome


def _give_up(p: Plan, todo: Any, outcome: Outcome, on_start: Callable[[Planned], None] | None,
             on_done: Callable[[dict[str, Any]], None] | None) -> None:
    """No worker came back: each planned run not started is an ``error`` saying
    so (a soak just stops: it has no fixed list of runs)."""
    if not isinstance(todo, list):
        return
    why = (f"never started: the cluster had no worker for {NO_WORKERS:.0f} s; start workers "
           "(`dask worker ADDRESS`) and run the campaign again")
    while todo:
        r = todo.pop(0)
        if on_start:
            on_start(r)
        result = _result(r, {"verdict": "error", "code": 3, "run_dir": None, "error": why}, 0.0)
        outcome.results.append(result)
        if on_done:
            on_done(result)


def _interrupt(client: Any, stop: str, running: dict[Any, Any]) -> None:
    """Tell the running tasks to stop their runs and wait for what they ship;
    cancel the tasks that never started."""
    from distributed import Event, wait

    try:
        Event(stop).set()
    except Exception:  # noqa: BLE001 - no scheduler: nothing is running anywhere we could reach
        pass
    try:
        wait(list(running), timeout=STOP_GRACE + 20)
    except BaseException:  # noqa: BLE001 - a timeout, or a second signal: cancel what is left
        pass
    left = [f for f in running if not f.done()]
    if left:
        try:
            client.cancel(left, force=True)
        except Exception:  # noqa: BLE001
            pass


def _land(payload: dict[str, Any], res: dict[str, Any], store: str, shared: bool, outcome: Outcome,
          received: float, submitted: float) -> str | None:
    """The run directory in the campaign's store: unpacked from the archive,
    or as written on the shared store."""
    if shared:
        return res.get("run_dir")
    data, rel = payload.get("archive"), payload.get("rel")
    download = 0.0
    if payload.get("s3") and rel:
        t0 = time.perf_counter()
        try:
            data = _download(payload["s3"])
        except Exception as e:  # noqa: BLE001 - the run happened; its directory is still in S3
            res["verdict"], res["code"] = "error", 3
            res["error"] = f"the run's archive could not be fetched from {payload['s3']} ({type(e).__name__}: {e})"
            return None
        download = time.perf_counter() - t0
    if not data or not rel:
        return None
    t0 = time.perf_counter()
    try:
        dest = unpack(data, rel, store)
    except (OSError, ValueError, tarfile.TarError) as e:
        res["verdict"], res["code"] = "error", 3
        res["error"] = f"the run's archive from {payload.get('host')} could not be unpacked into {store}: {e}"
        return None
    if payload.get("s3"):
        _note_s3(dest, payload["s3"])
    outcome.shipping.append({"bytes": len(data), "archive_seconds": payload.get("archive_seconds"),
                             "unpack_seconds": time.perf_counter() - t0, "host": payload.get("host"),
                             "transfer_seconds": (received - payload["finished_at"] + download
                                                  + payload.get("upload_seconds", 0.0))
                             if payload.get("finished_at") else None, "via": "s3" if payload.get("s3") else "dask",
                             # the rest of the cluster's cost (one clock: meaningful on one machine only)
                             "to_task_seconds": payload["task_start"] - submitted if payload.get("task_start") else None,
                             "run_seconds": payload.get("run_seconds"), "how": payload.get("how")})
    return dest


def _note_s3(run_dir: str, url: str) -> None:
    """``config.json``'s ``shipped_from`` also names the archive kept in S3."""
    from nemesis import store as st

    path = os.path.join(run_dir, "config.json")
    try:
        c = st.read_json(path)
        c.setdefault("shipped_from", {})["archive"] = url
        st.write_json(path, c)
    except (OSError, ValueError, AttributeError):
        pass


def _task_error(e: BaseException) -> str:
    name = type(e).__name__
    if name == "KilledWorker":
        return "the worker running this run died mid-run (dask KilledWorker); it was not run again"
    if name in ("CancelledError", "FutureCancelledError"):
        return "the run's task was cancelled (the cluster lost it)"
    return f"the run's task failed on the cluster: {name}: {e}"
