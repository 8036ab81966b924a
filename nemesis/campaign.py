"""Campaigns: many seeded runs, the cross product workloads x nemesis mixes x seeds.

A campaign is *planned* first and only then run, so that every bad input is
refused before any run starts (:class:`CampaignError`, exit 3 on the command
line):

1. :func:`plan` expands the cross product in a fixed order (seed outermost,
   then workload, then mix, each in the order given), builds each run's
   :class:`~nemesis.config.RunConfig` with the same checks as
   ``persist-nemesis run`` (``build_config``), drops the combinations that
   make no sense (each kept as a :class:`Skipped` with the reason: the
   workload declares it cannot take that nemesis on that blob store), and
   finally keeps the shard ``K/N``: the configurations at positions
   ``K-1, K-1+N, K-1+2N, ...`` of that list. The same arguments give the
   same list on every machine, so N shards partition the campaign.
2. :func:`preflight` proves what a run would find out too late: with any run
   on S3, moto is installed and a server actually starts (on ``--s3-port``
   when given) and stops again.
3. :func:`execute` runs the configurations ``jobs`` at a time, each in its
   own process (forked from a ``forkserver`` that has paid for the imports),
   through :func:`nemesis.runner.run_one`; each run is a controller
   with its own worker processes and, with ``--blob s3``, its own moto
   server. A run is exactly what ``persist-nemesis run`` with the flags of
   its ``command`` does, into the same store; a child that dies or outlives
   its deadline is an ``error`` of that run only, never of the campaign.

Blob store per run (``blob``): ``auto`` puts a run on S3 exactly when its mix
has the ``s3`` nemesis; ``file`` and ``s3`` put every run there (``file``
with an ``s3`` mix is refused). ``s3_faults`` apply to the mixes with ``s3``.

A workload may declare combinations it cannot run: an optional method
``incompatible(nemeses: list[str], blob: str) -> str | None`` on its
``WORKLOAD`` returns the reason, and the campaign skips them.

Verdicts per run: ``valid``, ``invalid``, ``unknown`` (a checker gave up or
the run stopped half-way) or ``error`` (it could not run or be judged). The
campaign's exit code (:func:`exit_code`) is ``run``'s: 1 if any run is
invalid, else 2 if any is unknown or error, else 0; 3 if nothing could run.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import shlex
import shutil
import signal
import socket
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable
from nemesis.errors import BadInput

#: seconds a run may take beyond its time limit before it is stopped (start,
#: ready waits, drain and final reads, judging, reports)
GRACE = 240.0
#: seconds between SIGTERM and SIGKILL when a run is stopped
STOP_GRACE = 15.0
PRELOAD = ["nemesis.campaign", "nemesis.runner", "nemesis.controller", "nemesis.judge", "nemesis.report",
           "checker.workloads"]


# A run's process re-imports the main module as __mp_main__; under `python -m nemesis.cli` runpy then warns
# that nemesis.cli is already imported (harmless). Installed here, in the forkserver too (it preloads this).
warnings.filterwarnings("ignore", message=r".*found in sys\.modules after import of package", category=RuntimeWarning)


class CampaignError(BadInput):
    """Bad campaign input; the message says what was wrong and what to do."""

    def __init__(self, msg: str, param: str | None = None) -> None:
        super().__init__(f"{param}: {msg}" if param else msg)
        self.message = msg
        self.param = param


@dataclass
class Planned:
    index: int  # position in the whole (unsharded) campaign
    workload: str
    mix: list[str]
    seed: int
    cfg: Any  # RunConfig
    command: str  # the `persist-nemesis run` line reproducing it (with --store)

    @property
    def label(self) -> str:
        return f"{self.workload} / {'+'.join(self.mix)} / seed {self.seed}"


@dataclass
class Skipped:
    workload: str
    mix: list[str]
    reason: str


@dataclass
class Plan:
    runs: list[Planned]
    skipped: list[Skipped]
    total: int  # runnable configurations of the whole campaign, all shards
    shard: tuple[int, int]
    store: str


@dataclass
class Outcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    interrupted: bool = False
    signal: str | None = None  # what interrupted it: SIGINT, SIGTERM, SIGHUP
    never_ran: int = 0  # planned runs that never started (interrupted)
    exit: int | None = None  # 128 + the signal, when interrupted
    shipping: list[dict[str, Any]] = field(default_factory=list)  # on a cluster: per run shipped, its cost

    def interruption(self, planned: int) -> dict[str, Any] | None:
        """What JUnit and the record say of an interrupted campaign (None if it was not)."""
        if not self.interrupted:
            return None
        cut = sum(1 for r in self.results if r.get("error") == "interrupted")
        return {"signal": self.signal or "SIGINT", "planned": planned, "finished": len(self.results) - cut,
                "stopped": cut, "never_ran": self.never_ran}


# --- parsing ------------------------------------------------------------------

def parse_seeds(seeds: int | None, seed_range: str | None) -> list[int]:
    """``--seeds N`` (seeds 1..N) or ``--seed-range A-B`` (A..B inclusive); default 1 seed."""
    if seeds is not None and seed_range is not None:
        raise CampaignError("give --seeds N or --seed-range A-B, not both", "--seeds")
    if seed_range is not None:
        a, sep, b = seed_range.partition("-")
        try:
            lo, hi = int(a), int(b)
        except ValueError:
            lo = hi = -1
        if not sep or lo < 0 or hi < lo:
            raise CampaignError(f"expected A-B with 0 <= A <= B (e.g. 1-20), got {seed_range!r}", "--seed-range")
        return list(range(lo, hi + 1))
    n = 1 if seeds is None else seeds
    if n < 1:
        raise CampaignError(f"must be >= 1, got {n}", "--seeds")
    return list(range(1, n + 1))


def parse_workloads(text: str | None) -> list[str]:
    """Comma-separated names from the registry (read now: new workloads count); default all."""
    from workloads.base import WORKLOADS

    if not text:
        return sorted(WORKLOADS)
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in WORKLOADS]
    if bad or not names:
        what = f"unknown workload {bad[0]!r}" if bad else "no workload given"
        raise CampaignError(f"{what}; accepted: {', '.join(sorted(WORKLOADS))} (comma-separated)", "--workloads")
    return names


def parse_mixes(text: str | None, fs: str = "auto") -> list[list[str]]:
    """``kill,lose-unsynced+pause`` -> ``[["kill"], ["lose-unsynced", "pause"]]``: mixes
    separated by commas, the nemeses of one mix joined by ``+``. Default: every
    nemesis on its own (``none`` aside; ``disk-error`` and ``slow-disk`` only
    when ``fs`` gives the fault filesystem here, see :mod:`nemesis.faultmodel`)."""
    from nemesis.faultmodel import FS_ONLY, FaultModelError, resolve
    from nemesis.generator import NEMESES, UnknownNemesis, parse_names

    if not text:
        try:
            fuse = resolve(fs).name == "faultfs"
        except FaultModelError:
            fuse = False  # plan() says why --fs cannot be honoured
        return [[n] for n in NEMESES if n != "none" and (fuse or n not in FS_ONLY)]
    mixes: list[list[str]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise CampaignError(f"an empty mix in {text!r} (a doubled, leading or trailing comma); mixes are "
                                "separated by one comma, e.g. kill,lose-unsynced+pause", "--nemeses")
        if any(not n.strip() for n in part.split("+")):
            raise CampaignError(f"an empty nemesis in the mix {part!r} (a doubled, leading or trailing '+'); "
                                "join the nemeses of one mix with one '+', e.g. kill+pause", "--nemeses")
        try:
            mix = parse_names(part.replace("+", ","))
        except UnknownNemesis as e:
            raise CampaignError(f"in the mix {part!r}: {e}; join the nemeses of one mix with '+'",
                                "--nemeses") from None
        if mix not in mixes:
            mixes.append(mix)
    if not mixes:
        raise CampaignError(f"no nemesis given; accepted: {', '.join(NEMESES)} (mixes comma-separated, "
                            "nemeses of one mix joined with '+')", "--nemeses")
    return mixes


def parse_shard(text: str | None) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N; default ``1/1``."""
    if text is None:
        return (1, 1)
    k, sep, n = text.partition("/")
    try:
        ki, ni = int(k), int(n)
    except ValueError:
        ki = ni = 0
    if not sep or ni < 1 or ki < 1:
        raise CampaignError(f"expected K/N with 1 <= K <= N (e.g. 2/4: the second of four shards), got {text!r}",
                            "--shard")
    if ki > ni:
        raise CampaignError(f"shard {ki} of {ni} does not exist: K must be between 1 and N={ni}", "--shard")
    return (ki, ni)


# --- planning -----------------------------------------------------------------

def blob_for(blob: str, mix: list[str]) -> str:
    if blob == "auto":
        return "s3" if "s3" in mix else "file"
    return blob


def _incompatible(workload: str, mix: list[str], blob: str) -> str | None:
    from workloads.base import load

    wl = load(workload).WORKLOAD
    check = getattr(wl, "incompatible", None)
    return check(list(mix), blob) if callable(check) else None


def plan(*, workloads: list[str], mixes: list[list[str]], seeds: list[int], time_limit: float, store: str,
         concurrency: int = 8, op_limit: int = 0, mutant: str | None = None, blob: str = "auto",
         s3_faults: list[str] | tuple[str, ...] = (), s3_port: int = 0, jobs: int = 1, keep_data: bool = False,
         shard: tuple[int, int] = (1, 1), fs: str = "auto", system: str = "persist") -> Plan:
    """Check everything and lay the campaign out (no run starts here). ``system``
    (``--system``) is every run's system under test (``docs/protocol.md``). ``fs``
    (``--fs``) is every run's disk fault model, resolved once per run as
    ``persist-nemesis run`` does; each run's command names the model it got."""
    from nemesis.runner import ConfigError, build_config, command_line

    if blob not in ("auto", "file", "s3"):
        raise CampaignError(f"unknown blob store {blob!r}; accepted: auto (s3 for mixes with the s3 nemesis), "
                            "file, s3", "--blob")
    if blob == "file" and any("s3" in m for m in mixes):
        bad = next("+".join(m) for m in mixes if "s3" in m)
        raise CampaignError(f"the mix {bad!r} has the s3 nemesis, which needs a run on S3: use --blob auto "
                            "or --blob s3, or drop it from --nemeses", "--blob")
    s3_faults = list(s3_faults or ())
    if s3_faults and not any("s3" in m for m in mixes):
        raise CampaignError("S3 fault rules are drawn by the s3 nemesis: add a mix with s3 to --nemeses",
                            "--s3-fault")
    if s3_port and jobs > 1:
        raise CampaignError(f"a fixed moto port serves one run at a time; with --s3-port give --jobs 1 "
                            f"(got --jobs {jobs}), or drop --s3-port (each run then takes a free port)", "--s3-port")
    if jobs < 1:
        raise CampaignError(f"must be >= 1, got {jobs}", "--jobs")
    store = os.path.abspath(store)
    runnable: list[tuple[str, list[str], int, Any]] = []
    skipped: list[Skipped] = []
    seen_skip: set[tuple[str, str]] = set()
    for seed in seeds:
        for wl in workloads:
            for mix in mixes:
                b = blob_for(blob, mix)
                reason = _incompatible(wl, mix, b)
                if reason:
                    if (wl, "+".join(mix)) not in seen_skip:
                        seen_skip.add((wl, "+".join(mix)))
                        skipped.append(Skipped(wl, mix, reason))
                    continue
                try:
                    cfg = build_config(wl, ",".join(mix), seed, time_limit, concurrency, op_limit, mutant, keep_data,
                                       blob=b, s3_faults=s3_faults if "s3" in mix else (), s3_port=s3_port,
                                       fs=fs, system=system)
                except ConfigError as e:
                    raise CampaignError(e.message, e.param) from None
                runnable.append((wl, mix, seed, cfg))
    k, n = shard
    runs = [Planned(i, wl, mix, seed, cfg, command_line(cfg) + " --store " + shlex.quote(store))
            for i, (wl, mix, seed, cfg) in enumerate(runnable) if i % n == k - 1]
    return Plan(runs, skipped, len(runnable), shard, store)


def preflight(p: Plan) -> None:
    """What would otherwise fail half-way: the store is writable; with a run
    on S3, a moto server starts (on ``--s3-port`` if given) and stops."""
    from nemesis import store as st

    try:
        st.check_store(p.store)
    except st.StoreError as e:
        raise CampaignError(str(e)) from None
    s3 = [r for r in p.runs if r.cfg.blob == "s3"]
    if not s3:
        return
    from nemesis.s3.runstore import check_available
    from nemesis.s3.server import MotoServer, MotoStartError

    port = s3[0].cfg.s3_port
    try:
        check_available()
        if port:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError as e:
                    raise MotoStartError(f"could not start the moto server on 127.0.0.1:{port}: the port is in use "
                                         f"({e.strerror or e}); pass a free --s3-port or 0") from None
        MotoServer(port=port).start().stop()
    except MotoStartError as e:
        raise CampaignError(f"{e}; no run was started", "--blob") from None


# --- running ------------------------------------------------------------------

def _child(cfg: Any, store: str, reports: bool, out_path: str) -> None:
    """One run, in its own process: ``run_one`` and its result as JSON in ``out_path``."""
    from nemesis import lifecycle
    from nemesis.runner import run_one

    lifecycle.release_forkserver()  # so the forkserver goes when the campaign does, even by SIGKILL
    lifecycle.die_with_parent(os.getppid())  # and this run with it

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise lifecycle.Interrupted(signum)  # run_one closes its workers and marks the run interrupted

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the campaign; it stops us
    signal.signal(signal.SIGTERM, stop)
    try:
        res = run_one(cfg, store, quiet=True, reports=False)
    except BaseException as e:  # noqa: BLE001 - a harness bug costs this run, reported as error
        res = {"code": 3, "verdict": "error", "valid": None, "run_dir": None,
               "error": f"the run crashed: {type(e).__name__}: {e}"}
    if reports and res.get("run_dir") and res["verdict"] != "error":
        try:
            from nemesis.report import write_reports

            write_reports(res["run_dir"], plots="lazy")
        except Exception as e:  # noqa: BLE001 - reports never fail a run
            res["report_error"] = f"{type(e).__name__}: {e}"
    res["failpoints"] = ((res.pop("results", None) or {}).get("coverage") or {}).get("failpoints")
    tmp = out_path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(res, f, default=str)
        os.replace(tmp, out_path)
    except OSError:  # the campaign is gone (its temporary directory with it): nobody to tell
        pass


def summarize(res: dict[str, Any], run_dir: str | None) -> dict[str, Any]:
    """The first thing a person should read about a non-valid run."""
    if res.get("error"):
        return {"message": res["error"]}
    if not run_dir:
        return {"message": ""}
    try:
        with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        return {"message": f"results.json unreadable: {e}"}
    msgs = []
    checkers = results.get("checkers", [])
    # what failed first, then what gave up: an invalid run's first line names the checker that found it
    for c in [c for c in checkers if c.get("valid") is False] + [c for c in checkers if c.get("valid") not in (True, False)]:
        for a in c.get("anomalies") or []:
            msgs.append(f"{c['checker']}: {a['message']}")
        if c.get("reason"):
            msgs.append(f"{c['checker']}: {c['reason']}")
    return {"message": msgs[0] if msgs else "", "details": msgs[:10], "faults": results.get("faults", {}),
            "category": results.get("category")}


def _result(r: Planned, res: dict[str, Any], seconds: float) -> dict[str, Any]:
    out = {"index": r.index, "workload": r.workload, "mix": "+".join(r.mix), "nemesis": r.mix, "seed": r.seed,
           "blob": r.cfg.blob, "verdict": res.get("verdict", "error"), "code": res.get("code", 3),
           "run_dir": res.get("run_dir"), "command": r.command, "ops": res.get("ops"), "seconds": round(seconds, 2),
           "error": res.get("error"), "failpoints": res.get("failpoints"), "history_bytes": res.get("history_bytes"),
           "judge_seconds": res.get("judge_seconds")}
    if out["verdict"] != "valid":
        out.update(summarize(res, out["run_dir"]))
        if out["run_dir"]:
            out["repro"] = f"persist-nemesis repro {shlex.quote(out['run_dir'])}"
    return out


def execute(p: Plan, jobs: int, *, reports: bool = True,
            on_start: Callable[[Planned], None] | None = None,
            on_done: Callable[[dict[str, Any]], None] | None = None, todo: Any = None) -> Outcome:
    """Run the plan, ``jobs`` runs at a time. Ctrl-C (KeyboardInterrupt)
    stops the runs in flight (each records itself as interrupted), starts no
    more and returns what finished, with ``interrupted`` set. ``todo``: the
    runs to start instead of ``p.runs`` (anything with ``pop(0)`` and
    ``len``: a soak's, :class:`nemesis.soak.Soak`)."""
    from nemesis import lifecycle

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    tmpdir = tempfile.mkdtemp(prefix="campaign-")
    todo = list(p.runs) if todo is None else todo
    running: dict[int, tuple[Any, Planned, str, float]] = {}  # sentinel -> (proc, planned, out, started)
    outcome = Outcome()
    began = time.monotonic()

    def finish(sentinel: int, forced: str | None = None) -> None:
        proc, r, out, started = running.pop(sentinel)
        proc.join(5)
        try:
            with open(out, encoding="utf-8") as f:
                res = json.load(f)
        except (OSError, ValueError):
            why = forced or f"the run's process exited with code {proc.exitcode} without a result"
            res = {"verdict": "error", "code": 3, "error": why, "run_dir": _guess_run_dir(p.store, r, started)}
        if forced:  # stopped: whatever the run said, it did not finish
            res = {**res, "verdict": "error" if res.get("verdict") in ("valid", None) else res["verdict"],
                   "error": forced}
        result = _result(r, res, time.time() - started)
        outcome.results.append(result)
        if on_done:
            on_done(result)

    try:
        _start_forkserver()
        while todo or running:
            while todo and len(running) < jobs:
                r = todo.pop(0)
                out = os.path.join(tmpdir, f"{r.index}.json")
                proc = ctx.Process(target=_child, args=(r.cfg, p.store, reports, out), daemon=False)
                started = time.time()
                proc.start()
                running[proc.sentinel] = (proc, r, out, started)
                if on_start:
                    on_start(r)
            ready = multiprocessing.connection.wait(list(running), timeout=1.0)
            for s in ready:
                finish(s)
            now = time.time()
            for s, (proc, r, out, started) in list(running.items()):
                if now - started > r.cfg.time_limit + GRACE:
                    _stop(proc)
                    finish(s, forced=f"the run took more than {r.cfg.time_limit + GRACE:.0f} s and was stopped")
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM, SIGHUP (nemesis/lifecycle.py)
        outcome.interrupted = True
        outcome.signal = lifecycle.signal_name(e)
        outcome.exit = lifecycle.exit_code(e)
        for s, (proc, r, out, started) in list(running.items()):
            _stop(proc)
        for s in list(running):
            finish(s, forced="interrupted")
        outcome.never_ran = len(p.runs) - len(outcome.results)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    outcome.results.sort(key=lambda x: x["index"])
    outcome.wall = time.monotonic() - began
    return outcome


def _start_forkserver() -> None:
    """Start the forkserver with SIGINT ignored: its preload (matplotlib and
    the harness, a few seconds) must not die of the terminal's Ctrl-C with a
    traceback (the campaign stops its runs itself), and the runs it forks
    inherit the same (each stops on SIGTERM from the campaign)."""
    from multiprocessing import forkserver

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, old)


def _stop(proc: Any) -> None:
    """SIGTERM (the run closes its workers and says interrupted), then SIGKILL."""
    if proc.exitcode is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        proc.join(STOP_GRACE)
    if proc.exitcode is None:
        proc.kill()
        proc.join(5)


def _guess_run_dir(store: str, r: Planned, started: float) -> str | None:
    """The run directory a child that died made (newest of its workload and seed since it started)."""
    parent = os.path.join(store, r.workload)
    try:
        cands = [os.path.join(parent, d) for d in os.listdir(parent) if d.split("-seed")[-1].split("-")[0] == str(r.seed)]
    except OSError:
        return None
    cands = [c for c in cands if os.path.getmtime(c) >= started - 1]
    return max(cands, key=os.path.getmtime) if len(cands) == 1 else None


# --- judging the campaign -----------------------------------------------------

def exit_code(results: list[dict[str, Any]], interrupted: bool | int = False) -> int:
    """``run``'s exit code over the results; ``interrupted``: True (130) or the exit code 128 + signal."""
    if interrupted:
        return 130 if interrupted is True else int(interrupted)
    verdicts = [r["verdict"] for r in results]
    if "invalid" in verdicts:
        return 1
    if verdicts and all(r["verdict"] == "error" and r["code"] == 3 for r in results):
        return 3
    if "unknown" in verdicts or "error" in verdicts:
        return 2
    return 0


def table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per workload x mix, in the order met: runs, valid, invalid,
    unknown, error, median ops, median seconds."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault((r["workload"], r["mix"]), {"workload": r["workload"], "mix": r["mix"], "runs": 0,
                                                          "valid": 0, "invalid": 0, "unknown": 0, "error": 0,
                                                          "_ops": [], "_secs": []})
        row["runs"] += 1
        row[r["verdict"]] = row.get(r["verdict"], 0) + 1
        if r.get("ops") is not None:
            row["_ops"].append(r["ops"])
        row["_secs"].append(r["seconds"])
    out = []
    for row in rows.values():
        ops, secs = row.pop("_ops"), row.pop("_secs")
        row["median_ops"] = statistics.median(ops) if ops else None
        row["median_seconds"] = round(statistics.median(secs), 1) if secs else None
        out.append(row)
    return out


def failpoint_coverage(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine failpoints hit over all runs (``{name: hits}``, summed) and
    those never hit (every known failpoint, :func:`nemesis.coverage.known_failpoints`)."""
    from nemesis.coverage import known_failpoints

    hits: dict[str, int] = {}
    for r in results:
        for k, v in (r.get("failpoints") or {}).items():
            hits[k] = hits.get(k, 0) + v
    return {"failpoints": dict(sorted(hits.items())), "never_hit": [n for n in known_failpoints() if not hits.get(n)]}


def record(p: Plan, o: Outcome, argv: list[str] | None = None) -> str:
    """``<store>/campaign-<UTC time>.json``: the plan's shape and every result."""
    import datetime as dt

    from nemesis import store as st

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path = os.path.join(p.store, f"campaign-{stamp}.json")
    st.write_json(path, {"argv": argv, "shard": list(p.shard), "total": p.total, "runs": len(p.runs),
                         "wall_seconds": round(o.wall, 2), "interrupted": o.interrupted,
                         "interruption": o.interruption(len(p.runs)),
                         "exit_code": exit_code(o.results, (o.exit or True) if o.interrupted else False),
                         "skipped": [{"workload": s.workload, "mix": "+".join(s.mix), "reason": s.reason}
                                     for s in p.skipped],
                         "table": table(o.results), "coverage": failpoint_coverage(o.results),
                         "results": o.results})
    return path


from nemesis.api import make_callable  # noqa: E402 - nemesis.campaign(...) is nemesis.api.campaign

make_callable(__name__, "campaign")
