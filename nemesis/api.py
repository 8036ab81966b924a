"""The library: the harness from Python, ``import nemesis`` is the door.

    import nemesis

    result = nemesis.campaign(workloads=["append"], nemeses=["kill", "lose-unsynced"], seeds=3, time_limit=5)
    assert result.valid, result.summary

Four calls, each the library form of a ``persist-nemesis`` subcommand, with
keyword arguments named like its flags (``--time-limit`` is
``time_limit=``):

- :func:`run` — one test (``persist-nemesis run``) -> :class:`RunResult`;
- :func:`campaign` — workloads x nemesis mixes x seeds in parallel
  (``persist-nemesis campaign``) -> :class:`CampaignResult`;
- :func:`hunt` — hunt one planted bug until a run catches it
  (``persist-nemesis mutants FILE``) -> :class:`HuntResult`;
- :func:`shrink` — shrink a failing run (``persist-nemesis shrink RUN_DIR``)
  -> :class:`ShrinkResult`.

Every result carries the verdict (``valid``: ``True``, ``False`` or
:data:`UNKNOWN`), the run directories (``run_dir`` / ``run_dirs``), the
command that reproduces a failure (``repro_command``) and ``summary``, a
short text for a person (a failing assertion's message). A run is exactly
what the command line makes: the same checks, the same run directory in the
same store, the same exit code (``exit_code``).

**Verdicts.** ``valid`` follows Jepsen: ``True``, ``False`` or
``"unknown"`` (a checker gave up, a run stopped half-way or could not be
judged). The unknown value is :data:`UNKNOWN`, a ``str`` equal to
``"unknown"`` that is *false* in a boolean context, so ``assert
result.valid`` passes only on a valid result, and ``result.valid ==
"unknown"`` still reads as Jepsen writes it.

**Errors.** Bad input raises before anything runs, a
:class:`nemesis.errors.BadInput` whose ``param`` names the flag (the
keyword argument) and whose message says what was wrong and what is
accepted (:class:`nemesis.runner.ConfigError`,
:class:`nemesis.campaign.CampaignError`, :class:`nemesis.store.StoreError`,
:class:`nemesis.mutation.MutantError`); a part that cannot start (a moto
server, the fault filesystem) raises :class:`nemesis.errors.StartError`.
Ctrl-C (or SIGTERM under :mod:`nemesis.lifecycle`) stops the workers, marks
the run interrupted and raises ``KeyboardInterrupt``. A verdict is never an
exception.

Importing :mod:`nemesis` imports none of this: each function imports the
harness on its first call (``nemesis.__getattr__``).
"""

from __future__ import annotations

import functools
import importlib
import os
import shlex
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Union

__all__ = ["run", "campaign", "hunt", "shrink", "RunResult", "CampaignResult", "HuntResult", "ShrinkResult",
           "UNKNOWN", "Unknown"]


class Unknown(str):
    """Jepsen's ``"unknown"`` verdict: equal to the string, false as a truth value."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "'unknown'"


#: the unknown verdict (``== "unknown"``, ``bool(UNKNOWN) is False``)
UNKNOWN = Unknown("unknown")

Valid = Union[bool, Unknown]


def verdict_of(valid: Any) -> Valid:
    """``results.json``'s ``valid`` (True, False, "unknown", None) as a verdict."""
    if valid is True or valid is False:
        return valid
    return UNKNOWN


def _where(run_dir: str | None, repro: str | None, command: str | None) -> list[str]:
    """The lines of a summary that say where a run is and how to reproduce it."""
    return ([f"  run: {run_dir}"] if run_dir else []) + ([f"  reproduce: {repro}"] if repro else []) + (
        [f"         or: {command}"] if command else [])


def _word(verdict: str) -> str:
    return verdict.upper()


# --- results ------------------------------------------------------------------

@dataclass
class RunResult:
    """One run: what ``persist-nemesis run`` prints, as data.

    ``verdict`` is ``"valid"``, ``"invalid"``, ``"unknown"`` (a checker gave
    up, or the run stopped half-way) or ``"error"`` (it could not run or be
    judged; ``error`` says why); ``valid`` is the same as True / False /
    :data:`UNKNOWN` (unknown for an error). ``run_dir`` is the run's
    directory (None when none was made), ``command`` the ``persist-nemesis
    run`` line that makes the same run again (with ``--store``),
    ``repro_command`` the ``persist-nemesis repro RUN_DIR`` line (None
    without a directory). ``message`` is the first complaint of a checker
    (empty when valid); ``results`` what ``results.json`` holds (None when
    not judged, or in a campaign's results, which keep only the summary)."""

    valid: Valid
    verdict: str
    run_dir: str | None
    command: str | None
    repro_command: str | None
    workload: str
    nemeses: list[str]
    seed: int
    exit_code: int
    ops: int | None = None
    seconds: float | None = None
    error: str | None = None
    message: str = ""
    results: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def run_dirs(self) -> list[str]:
        return [self.run_dir] if self.run_dir else []

    @property
    def label(self) -> str:
        return f"{self.workload} / {'+'.join(self.nemeses)} / seed {self.seed}"

    @property
    def summary(self) -> str:
        """A few lines: the verdict and its first complaint, the run directory,
        and for anything not valid the commands that reproduce it."""
        head = f"{_word(self.verdict)}: {self.label}"
        if self.ops is not None:
            head += f" ({self.ops} ops" + (f", {self.seconds:.1f} s)" if self.seconds is not None else ")")
        if self.message or self.error:
            head += f": {self.message or self.error}"
        lines = [head]
        return "\n".join(lines + _where(self.run_dir, self.repro_command if self.verdict != "valid" else None,
                                         self.command if self.verdict != "valid" else None))

    def __str__(self) -> str:
        return self.summary


@dataclass
class CampaignResult:
    """A campaign: every run's :class:`RunResult` (in plan order), and one verdict.

    ``valid`` is True when every run was valid (and at least one ran), False
    when any run was invalid, else :data:`UNKNOWN` (a run unknown or in
    error, or the campaign interrupted). ``exit_code`` is the command's (0,
    1, 2; 3 when nothing could run; 128 + the signal when interrupted).
    ``failures`` are the runs that were not valid; ``run_dirs`` and
    ``repro_commands`` list every run's directory and every failure's
    reproduce command; ``summary`` the counts and each failure's lines.
    ``junit``, ``record`` and ``index`` are the files written (JUnit XML when
    asked, ``<store>/campaign-<time>.json``, ``<store>/index.html``);
    ``coverage`` the failpoints hit and never hit. ``plan`` and ``outcome``
    are the engine's own objects (:mod:`nemesis.campaign`), for a caller that
    prints its own report."""

    valid: Valid
    exit_code: int
    runs: list[RunResult]
    store: str
    planned: int
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    junit: str | None = None
    record: str | None = None
    index: str | None = None
    coverage: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list, repr=False)
    plan: Any = field(default=None, repr=False)
    outcome: Any = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (f"CampaignResult(valid={self.valid!r}, exit_code={self.exit_code}, runs={len(self.runs)}, "
                f"failures={len(self.failures)}, store={self.store!r})")

    @property
    def failures(self) -> list[RunResult]:
        return [r for r in self.runs if r.verdict != "valid"]

    @property
    def run_dirs(self) -> list[str]:
        return [r.run_dir for r in self.runs if r.run_dir]

    @property
    def repro_commands(self) -> list[str]:
        return [r.repro_command or r.command for r in self.failures if r.repro_command or r.command]

    @property
    def summary(self) -> str:
        counts = {v: sum(1 for r in self.runs if r.verdict == v) for v in ("valid", "invalid", "unknown", "error")}
        tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no runs finished"
        word = {True: "VALID", False: "INVALID"}.get(self.valid, "UNKNOWN")  # type: ignore[arg-type]
        lines = [f"campaign {word}: {len(self.runs)} of {self.planned} runs in {self.seconds:.1f} s: {tally}"
                 + (" (interrupted)" if self.interrupted else "") + f"; store {self.store}"]
        for r in self.failures:
            lines.append(r.summary)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary


@dataclass
class HuntResult:
    """A hunt for one planted bug (:func:`nemesis.mutation.hunt`).

    ``caught`` says whether a run caught it (invalid, with the mutant's
    patched code run in it); then ``valid`` is False (the verdict of the
    catching run), ``run_dir`` that run, ``checker`` the checkers that
    caught it, ``seed`` and ``config`` its configuration, ``command`` and
    ``repro_command`` what reruns it. Not caught: ``valid`` is True when
    every run was valid, :data:`UNKNOWN` when a run was unknown or could not
    run (``error``). ``runs`` is the number of runs made, ``run_dirs`` their
    directories, ``seconds`` the time to catch (or the time spent);
    ``control`` the verdict of the correct engine on the catching
    configuration (with ``control=True``); ``raw`` the hunt's own dict."""

    name: str
    caught: bool
    valid: Valid
    runs: int
    seconds: float | None
    run_dir: str | None
    run_dirs: list[str]
    command: str | None
    repro_command: str | None
    seed: int | None = None
    config: str | None = None
    checker: str | None = None
    detail: str | None = None
    error: str | None = None
    control: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def summary(self) -> str:
        if self.caught:
            lines = [f"CAUGHT {self.name} in {self.seconds:.1f} s, run {self.runs}: {self.config}, seed {self.seed}"
                     f" by {self.checker}" + (f": {self.detail}" if self.detail else "")]
            if self.control:
                lines.append(f"  control (the correct engine): {self.control}")
        else:
            lines = [f"NOT CAUGHT {self.name} after {self.runs} runs in {self.seconds or 0:.1f} s"
                     + (f": {self.error}" if self.error else "")]
        return "\n".join(lines + _where(self.run_dir, self.repro_command, self.command))

    def __str__(self) -> str:
        return self.summary


@dataclass
class ShrinkResult:
    """A shrink of one failing run (:class:`nemesis.shrink.Shrinker`).

    ``found`` says whether a smaller run failed again; then ``run_dir`` is the
    shrunk run (its ``shrink.json`` says where it came from), ``valid`` its
    verdict (False), ``original`` and ``shrunk`` the sizes (operations,
    processes, faults, failing checkers), ``confirmed`` how many confirmation
    runs failed again (``"3/3"``), ``repro_command`` the ``persist-nemesis
    repro`` line, ``entry`` the regression case (``saved_to``: the file it
    was added to with ``save=True``). Not found: ``valid`` is
    :data:`UNKNOWN` (the failure did not come back within the budget)."""

    found: bool
    valid: Valid
    original: dict[str, Any]
    run_dir: str | None
    repro_command: str | None
    shrunk: dict[str, Any] | None = None
    confirmed: str | None = None
    seconds: float = 0.0
    candidates: int = 0
    budget_spent: bool = False
    entry: dict[str, Any] | None = None
    saved_to: str | None = None
    save_error: str | None = None
    trial_run_dirs: list[str] = field(default_factory=list)

    @property
    def run_dirs(self) -> list[str]:
        return [self.run_dir] if self.run_dir else []

    @property
    def summary(self) -> str:
        o = self.original
        if not self.found:
            return (f"NOT SHRUNK {o['run_dir']}: no candidate failed again in {self.seconds:.0f} s "
                    f"({self.candidates} candidates)")
        s = self.shrunk or {}
        return "\n".join([
            f"SHRUNK {o['run_dir']}: {o['ops']} -> {s.get('ops')} operations, {o['processes']} -> "
            f"{s.get('processes')} processes, {o['faults']} -> {s.get('faults')} faults; failing "
            f"{', '.join(s.get('failing') or [])}; failed again in {self.confirmed or 'not all'} runs",
            f"  run: {self.run_dir}", f"  reproduce: {self.repro_command}"])

    def __str__(self) -> str:
        return self.summary


# --- the calls ----------------------------------------------------------------

def _names(value: str | Iterable[str] | None, sep: str = ",") -> str | None:
    """A list of names as the command line's comma-separated text."""
    if value is None or isinstance(value, str):
        return value
    return sep.join(str(v) for v in value)


def _mixes(value: str | Iterable[str | Iterable[str]] | None) -> str | None:
    """``nemeses=``: ``"kill,lose-unsynced+pause"``, or a list of mixes, each
    ``"kill+pause"`` or ``["kill", "pause"]``."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(m if isinstance(m, str) else "+".join(m) for m in value)


def repro_line(run_dir: str | None) -> str | None:
    return f"persist-nemesis repro {shlex.quote(run_dir)}" if run_dir else None


def run(*, workload: str, nemesis: str | Iterable[str] = "none", seed: int = 1, time_limit: float = 5.0,
        concurrency: int = 8, op_limit: int = 0, store: str | os.PathLike = "runs", keep_data: bool = False,
        mutant: str | os.PathLike | None = None, blob: str = "file", s3_faults: Iterable[str] = (),
        s3_port: int = 0, fs: str = "auto", replay: str | dict[str, Any] | None = None, report: bool = True,
        quiet: bool = True, system: str = "persist") -> RunResult:
    """Run one test and judge it: ``persist-nemesis run``.

    ``workload``: ``append``, ``rehydrate``, ``upsert``, ``multi-writer``
    (the registry, :mod:`workloads.base`). ``nemesis``: the faults drawn
    during the run, ``"kill,lose-unsynced"`` or ``["kill", "lose-unsynced"]``
    (``none``, ``kill``, ``pause``, ``lose-unsynced``, ``corrupt``,
    ``failpoint``, ``s3`` with ``blob="s3"``, ``disk-error`` and
    ``slow-disk`` on the fault filesystem). ``seed`` fixes the operations
    and the fault schedule; ``time_limit`` the seconds of operations and
    faults; ``concurrency`` the client processes; ``op_limit`` stops after
    that many operations (0: none). ``store``: the run store the run
    directory goes in (``<store>/<workload>/<time>-seed<N>``).
    ``keep_data`` keeps the engine's data directory; ``mutant`` is a
    ``FILE.py`` imported in every worker before persist starts (a planted
    bug). ``blob``: ``file`` or ``s3`` (a moto server per run), with
    ``s3_faults`` rules for the s3 nemesis and ``s3_port``. ``fs``: the disk
    fault model, ``fuse`` (the fault filesystem), ``tracer`` or ``auto``.
    ``replay``: a schedule to replay instead of the seed's (a dict with
    ``faults``, ``fault_ops``, ``processes``, or the JSON text / file path
    ``--replay`` takes). ``report``: write ``timeline.html``, the plots and
    the store's index. ``quiet=False`` prints what the command prints.
    ``system``: the system under test, ``persist`` (the reference engine),
    ``module:Class`` or ``"exec:CMD {data_dir}"`` (any executable speaking
    ``docs/protocol.md``).

    Returns a :class:`RunResult`. Raises :class:`nemesis.runner.ConfigError`
    (bad input: nothing ran), :class:`nemesis.store.StoreError` (a store
    that cannot be written), :class:`nemesis.errors.StartError` (a part
    could not start; nothing ran), ``KeyboardInterrupt`` (interrupted; the
    run directory says so)."""
    from nemesis import store as st
    from nemesis.errors import StartError
    from nemesis.runner import ConfigError, build_config, load_replay, run_one

    cfg = build_config(workload, _names(nemesis) or "", int(seed), time_limit, concurrency, op_limit,
                       os.fspath(mutant) if mutant is not None else None, keep_data, blob=blob,
                       s3_faults=list(s3_faults or ()), s3_port=s3_port, fs=fs, system=system)
    if replay is not None:
        from nemesis.regressions import RegressionError, apply_overrides

        try:
            apply_overrides(cfg, replay if isinstance(replay, dict) else load_replay(replay))
        except RegressionError as e:
            raise ConfigError(str(e), "--replay") from None
    store = st.check_store(os.fspath(store))  # raises StoreError before a directory is made
    return _run_result(cfg, store, run_one(cfg, store, quiet=quiet, reports=report), StartError)


def _run_result(cfg: Any, store: str, res: dict[str, Any], start_error: type[Exception]) -> RunResult:
    from nemesis.campaign import summarize

    if res.get("code") == 130 or (res.get("stopped") and res.get("error") == "interrupted"):
        raise KeyboardInterrupt(f"interrupted; partial run in {res.get('run_dir')}")
    if res["verdict"] == "error" and res.get("code") == 3 and not res.get("stopped"):
        raise start_error(res.get("error") or "the run could not start")
    command = f"{res['command']} --store {shlex.quote(store)}" if res.get("command") else None
    message = summarize(res, res.get("run_dir"))["message"] if res["verdict"] != "valid" else ""
    return RunResult(valid=verdict_of(res.get("valid")), verdict=res["verdict"], run_dir=res.get("run_dir"),
                     command=command, repro_command=repro_line(res.get("run_dir")), workload=cfg.workload,
                     nemeses=list(cfg.nemeses), seed=cfg.seed, exit_code=res["code"], ops=res.get("ops"),
                     seconds=res.get("elapsed"), error=res.get("error"), message=message,
                     results=res.get("results"))


def _from_campaign(r: dict[str, Any]) -> RunResult:
    v = r.get("verdict", "error")
    return RunResult(valid={"valid": True, "invalid": False}.get(v, UNKNOWN), verdict=v, run_dir=r.get("run_dir"),
                     command=r.get("command"), repro_command=repro_line(r.get("run_dir")),
                     workload=r["workload"], nemeses=list(r.get("nemesis") or r["mix"].split("+")), seed=r["seed"],
                     exit_code=r.get("code", 3), ops=r.get("ops"), seconds=r.get("seconds"), error=r.get("error"),
                     message=r.get("message") or "")


def campaign(*, workloads: str | Iterable[str] | None = None,
             nemeses: str | Iterable[str | Iterable[str]] | None = None,
             seeds: int | Iterable[int] | None = None, seed_range: str | None = None, time_limit: float = 5.0,
             jobs: int | None = None, shard: str | None = None, junit: str | os.PathLike | None = None,
             store: str | os.PathLike = "runs", mutant: str | os.PathLike | None = None, blob: str = "auto",
             s3_faults: Iterable[str] = (), s3_port: int = 0, concurrency: int = 8, op_limit: int = 0,
             keep_data: bool = False, report: bool = True, fs: str = "auto", dry_run: bool = False,
             duration: str | float | None = None, system: str = "persist", cluster: str | None = None,
             ship_to: str | None = None,
             on_plan: Callable[[Any], None] | None = None, on_start: Callable[[Any], None] | None = None,
             on_done: Callable[[dict[str, Any]], None] | None = None) -> CampaignResult:
    """Run the cross product workloads x nemesis mixes x seeds, ``jobs`` runs
    at a time, and judge them all: ``persist-nemesis campaign``.

    ``workloads``: names (a list or ``"append,upsert"``; default every
    workload). ``nemeses``: the mixes, each run on its own: ``["kill",
    "lose-unsynced"]`` is two mixes, ``["kill+pause"]`` or ``[["kill",
    "pause"]]`` one mix of two nemeses, ``"kill,lose-unsynced+pause"`` the
    command line's form (default: every nemesis on its own). ``seeds``: N
    (seeds 1..N; default 1) or a list of seeds; ``seed_range``: ``"A-B"``
    instead. ``time_limit``, ``concurrency``, ``op_limit``, ``mutant``,
    ``keep_data``, ``s3_faults``, ``s3_port``, ``fs``, ``system``: each run's, as for
    :func:`run`. ``blob``: ``auto`` (s3 for mixes with the s3 nemesis, else
    file), ``file`` or ``s3``. ``jobs``: runs at a time (default: the CPU
    cores). ``shard``: ``"K/N"``, run only the K-th of N shards. ``junit``:
    write JUnit XML there. ``store``: the run store (each run's directory,
    the campaign record, ``index.html``). ``report``: each run's timeline
    and plots (the index is always written). ``dry_run``: plan only; the
    result's ``commands`` are the runs that would be made, ``runs`` is
    empty. ``duration``: a soak (``--duration``): seconds, or ``"10m"``,
    ``"1h"``...; seeds are drawn (from the first of ``seed_range``, default
    1) across the cross product until the time is spent, the runs in flight
    then finish (:mod:`nemesis.soak`; not with ``seeds``). ``cluster``
    (``--cluster``): run every run as a task of a ``dask.distributed``
    cluster, ``"local:N"`` (a LocalCluster of N worker processes started
    here) or ``"tcp://HOST:PORT"`` (a running scheduler); ``jobs`` then caps
    the runs in flight (default: the cluster's worker threads), runs are
    shipped back into ``store``, or written directly to a shared store given
    as ``"file:///PATH"`` (:mod:`nemesis.cluster`, ``docs/cluster.md``);
    ``ship_to`` (``--ship-to``): ``"s3://BUCKET/PREFIX"``, where the workers
    put each run's archive (kept there) for the campaign to fetch.
    ``on_plan(plan)`` is called once everything is checked, before
    any run starts; ``on_start(planned)`` and ``on_done(result dict)`` as
    each run starts and ends (progress).

    Every input is checked before any run starts: bad input raises
    :class:`nemesis.campaign.CampaignError` (``param`` names the flag).
    Returns a :class:`CampaignResult`; an interrupted campaign (Ctrl-C,
    SIGTERM) returns what finished with ``interrupted`` set (and JUnit and
    the record saying so)."""
    from nemesis import campaign as cp
    from nemesis import junit as ju

    soak_seconds = None
    if duration is not None:
        from nemesis.soak import parse_duration

        soak_seconds = parse_duration(str(duration))
        if seeds is not None:
            raise cp.CampaignError("a soak draws seeds until the time is spent: give --duration or --seeds, "
                                   "not both (--seed-range A-B sets the first seed)", "--duration")
    if seeds is not None and not isinstance(seeds, int):
        seed_list = [int(s) for s in seeds]
        if seed_range is not None:
            raise cp.CampaignError("give seeds or seed_range, not both", "--seeds")
        if not seed_list or any(s < 0 for s in seed_list):
            raise cp.CampaignError(f"seeds must be a count >= 1 or a non-empty list of seeds >= 0, got {seed_list}",
                                   "--seeds")
    else:
        seed_list = cp.parse_seeds(seeds, seed_range)
    shard_kn = cp.parse_shard(shard)
    address, shared = None, False
    if cluster is not None:
        from nemesis import cluster as cl

        address = cl.parse_address(cluster)
        if not dry_run:
            cl.check_available()
        store, shared = cl.parse_store(os.fspath(store))
        if s3_port:
            raise cp.CampaignError("a fixed moto port cannot serve runs spread over a cluster's workers: drop "
                                   "--s3-port (each run then takes a free port on its worker)", "--s3-port")
        if ship_to is not None:
            cl.parse_ship_to(ship_to)
            if shared:
                raise cp.CampaignError("a shared file:// store needs no shipping: drop --ship-to, or give --store "
                                       "a plain path to fetch the runs into", "--ship-to")
    elif ship_to is not None:
        raise cp.CampaignError("runs are shipped only from a cluster's workers: add --cluster local:N or "
                               "--cluster tcp://HOST:PORT, or drop --ship-to", "--ship-to")
    wls = cp.parse_workloads(_names(workloads))
    mixes = cp.parse_mixes(_mixes(nemeses), fs)
    cluster_jobs = jobs  # on a cluster: a cap on the runs in flight (None: the cluster's worker threads)
    jobs = jobs if jobs is not None else max(1, os.cpu_count() or 1)
    junit_path = _check_junit(os.fspath(junit)) if junit is not None else None
    make = functools.partial(cp.plan, workloads=wls, mixes=mixes, time_limit=time_limit, store=os.fspath(store),
                             concurrency=concurrency, op_limit=op_limit, mutant=os.fspath(mutant) if mutant else None,
                             blob=blob, s3_faults=list(s3_faults or ()), s3_port=s3_port, jobs=jobs,
                             keep_data=keep_data, shard=shard_kn, fs=fs, system=system)
    p = make(seeds=seed_list[:1] if soak_seconds is not None else seed_list)
    if not p.runs:
        what = "this shard has no runs" if p.total else "every combination was skipped"
        raise cp.CampaignError(f"nothing to run: {what} ({p.total} runnable in all"
                               + (f", shard {shard_kn[0]}/{shard_kn[1]}" if shard_kn != (1, 1) else "") + ")")
    soak = None
    if soak_seconds is not None:  # the first seed's plan; the soak makes the next seeds' as it goes
        from nemesis.soak import Soak

        first, first_runs = seed_list[0], p.runs
        soak = p.soak = Soak(lambda seed: first_runs if seed == first else make(seeds=[seed]).runs, first,
                             soak_seconds)
    skipped = [{"workload": s.workload, "mix": "+".join(s.mix), "reason": s.reason} for s in p.skipped]
    commands = [r.command for r in p.runs]
    if dry_run:
        return CampaignResult(valid=UNKNOWN, exit_code=0, runs=[], store=p.store, planned=len(p.runs),
                              skipped=skipped, commands=commands, plan=p)
    conn = None
    try:
        cp.preflight(p)
        if address is not None:
            from nemesis import cluster as cl

            if ship_to is not None:
                cl.check_ship_to(ship_to)
            conn = cl.connect(address)
            p.cluster = {"address": address.text, "shared_store": shared, **conn.info}
        if on_plan:
            on_plan(p)
        if conn is not None:
            o = cl.execute(p, conn, cluster_jobs, shared=shared, ship_to=ship_to, reports=report,
                           on_start=on_start, on_done=on_done, todo=soak)
        else:
            o = cp.execute(p, jobs, reports=report, on_start=on_start, on_done=on_done, todo=soak)
    except KeyboardInterrupt as e:  # while starting, before execute took charge: still a report that says so
        from nemesis import lifecycle

        o = cp.Outcome(interrupted=True, signal=lifecycle.signal_name(e), exit=lifecycle.exit_code(e),
                       never_ran=len(p.runs))
    finally:
        if conn is not None:
            conn.close()
    if soak is not None:  # the runs it drew; a soak has no runs that never ran
        p.runs = list(soak.started)
        o.never_ran = 0
    code = cp.exit_code(o.results, (o.exit or True) if o.interrupted else False)
    interruption = o.interruption(len(p.runs))
    runs = [_from_campaign(r) for r in o.results]
    res = CampaignResult(valid=_campaign_valid(runs, o.interrupted), exit_code=code, runs=runs, store=p.store,
                         planned=len(p.runs), skipped=skipped, seconds=round(o.wall, 2), interrupted=o.interrupted,
                         coverage=cp.failpoint_coverage(o.results), commands=commands, plan=p, outcome=o)
    if junit_path:
        res.junit = ju.write(junit_path, o.results, skipped, wall=o.wall, interruption=interruption)
    try:
        from nemesis.report import write_index

        res.index = str(write_index(p.store))
    except Exception:  # noqa: BLE001 - the verdicts stand without the page
        res.index = None
    res.record = cp.record(p, o, list(sys.argv))
    return res


def _campaign_valid(runs: list[RunResult], interrupted: bool) -> Valid:
    if any(r.verdict == "invalid" for r in runs):
        return False
    if runs and not interrupted and all(r.verdict == "valid" for r in runs):
        return True
    return UNKNOWN


def _check_junit(path: str) -> str:
    """The JUnit path, absolute, in a writable directory (CampaignError, ``--junit``, otherwise)."""
    from nemesis.campaign import CampaignError
    from nemesis.store import ensure_writable_dir

    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise CampaignError(f"{path} is a directory; give a file name, e.g. {path}/campaign.xml", "--junit")
    try:
        ensure_writable_dir(os.path.dirname(path))
    except OSError as e:
        raise CampaignError(f"cannot write {path}: {e.strerror or e}; give a writable path", "--junit") from None
    return path


def hunt(mutant: str | os.PathLike, *, budget: float = 300.0, store: str | os.PathLike | None = None,
         control: bool = False, no_hints: bool = False,
         on_run: Callable[[dict[str, Any]], None] | None = None) -> HuntResult:
    """Hunt one planted bug: seeded runs against ``mutant`` (a ``FILE.py``
    of the zoo's form, :mod:`nemesis.mutation`) until a run catches it or
    ``budget`` seconds are spent: ``persist-nemesis mutants FILE``.

    The file's ``EXPOSED_BY`` hint is tried first (``no_hints=True``: spread
    the budget over every configuration instead). A catch is an invalid run
    in which the mutant's patched code ran. ``store``: where the runs go
    (default ``runs/mutants/<name>``). ``control``: after a catch, run the
    catching configuration on the correct engine too (``control`` in the
    result). ``on_run(event)`` after each run (its verdict, seed,
    configuration, run directory).

    Returns a :class:`HuntResult`. Raises
    :class:`nemesis.mutation.MutantError` for a file that is not a mutant."""
    from nemesis import mutation

    m = mutation.load(os.fspath(mutant))
    store = os.fspath(store) if store is not None else os.path.join("runs", "mutants", m.name)
    seen: list[dict[str, Any]] = []

    def each(event: dict[str, Any]) -> None:
        seen.append(event)
        if on_run:
            on_run(event)

    r = mutation.hunt(m, budget, store, on_run=each, control=control, no_hints=no_hints)
    verdicts = [e.get("verdict") for e in seen]
    valid: Valid = False if r["caught"] else (True if verdicts and all(v == "valid" for v in verdicts) else UNKNOWN)
    return HuntResult(name=r["name"], caught=bool(r["caught"]), valid=valid, runs=r["runs"], seconds=r["seconds"],
                      run_dir=r.get("run_dir"), run_dirs=[e["run_dir"] for e in seen if e.get("run_dir")],
                      command=r.get("command"), repro_command=repro_line(r.get("run_dir")), seed=r.get("seed"),
                      config=r.get("config"), checker=r.get("checker"), detail=r.get("detail"),
                      error=r.get("error"), control=r.get("control"), raw=r)


def shrink(run_dir: str | os.PathLike, *, budget: float = 120.0, tries: int = 2,
           store: str | os.PathLike | None = None, goal_ops: int = 0, save: bool = False,
           regressions: str | os.PathLike | None = None, on_trial: Callable[[Any], None] | None = None,
           on_start: Callable[[Any], None] | None = None) -> ShrinkResult:
    """Shrink a failing run to a smaller one that still fails: ``persist-nemesis shrink RUN_DIR``.

    Candidates drop faults, client processes and operations
    (``docs/shrinking.md``); each is a real run into ``store`` (default: the
    store ``run_dir`` is in), tried up to ``tries`` times before it counts as
    passing, until ``budget`` seconds are spent (``goal_ops`` > 0: stop at
    the first failing run with at most that many operations). The best one
    is confirmed by running it again. ``save=True`` adds it as a regression
    case to ``regressions`` (default ``regressions/seeds.json``).
    ``on_start(shrinker)`` once the original run is read
    (:class:`nemesis.shrink.Shrinker`: its ``original`` sizes), ``on_trial(trial)``
    after each candidate (:class:`nemesis.shrink.Trial`).

    Returns a :class:`ShrinkResult` (``save_error`` says why a case could not
    be saved). Raises :class:`nemesis.shrink.ShrinkError` when ``run_dir`` is
    not a finished, failing run."""
    from nemesis import regressions as rg
    from nemesis import shrink as sk

    run_dir = os.fspath(run_dir)
    store = os.fspath(store) if store is not None else sk.default_store(run_dir)
    sh = sk.Shrinker(run_dir, store, budget=budget, tries=tries, on_trial=on_trial, goal_ops=goal_ops)
    if on_start:
        on_start(sh)
    out = sh.run()
    trial_dirs = [r["run_dir"] for t in out.trials for r in t.runs if r.get("run_dir")]
    if out.best is None:
        return ShrinkResult(found=False, valid=UNKNOWN, original=sh.original, run_dir=None, repro_command=None,
                            seconds=round(out.seconds, 1), candidates=len(out.trials),
                            budget_spent=out.budget_spent, trial_run_dirs=trial_dirs)
    b = out.best_run
    sk.write_lineage(b["run_dir"], out)
    try:
        from nemesis import store as st

        st.point_latest(os.path.abspath(store), b["run_dir"])  # <store>/latest: the shrunk run
    except OSError:
        pass
    try:
        from nemesis.report import update_reports

        update_reports(b["run_dir"], store)
    except Exception:  # noqa: BLE001 - reports are an aid; a missing one never fails the shrink
        pass
    entry = sk.regression_entry(sh, out)
    saved_to = save_error = None
    if save:
        path = os.fspath(regressions) if regressions is not None else rg.DEFAULT_FILE
        try:
            entry, saved_to = rg.add(entry, path), path
        except (rg.RegressionError, OSError) as e:
            save_error = f"could not save the regression case to {path}: {e}"
    return ShrinkResult(found=True, valid=False, original=sh.original, run_dir=b["run_dir"],
                        repro_command=repro_line(b["run_dir"]),
                        shrunk={"ops": b["ops"], "processes": len(out.best.processes),
                                "faults": len(out.best.faults), "failing": b["failing"]},
                        confirmed=out.confirmed, seconds=round(out.seconds, 1), candidates=len(out.trials),
                        budget_spent=out.budget_spent, entry=entry, saved_to=saved_to, save_error=save_error,
                        trial_run_dirs=trial_dirs)


# --- nemesis.campaign(...) and nemesis.shrink(...) ------------------------------

def make_callable(module_name: str, function: str) -> None:
    """Make the module ``module_name`` callable as :mod:`nemesis.api`'s
    ``function``. ``nemesis.campaign`` and ``nemesis.shrink`` are both the
    engine's module (``from nemesis import campaign as cp; cp.plan(...)``)
    and, called, the library's call (``nemesis.campaign(workloads=...)``):
    a package's submodule is bound to the package's attribute of the same
    name once imported, so a plain function there would be replaced by the
    module. Module ``__class__`` assignment is Python's supported way."""
    mod = sys.modules[module_name]
    target = globals()[function]

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(__name__), function)(*args, **kwargs)

    CallableModule.__call__.__doc__ = target.__doc__
    CallableModule.__name__ = f"callable module {module_name}"
    mod.__class__ = CallableModule
