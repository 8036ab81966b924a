"""Running one test: the core every door into the harness goes through.

``build_config`` checks every input of a run and returns its
:class:`~nemesis.config.RunConfig` (or raises :class:`ConfigError`, a
:class:`~nemesis.errors.BadInput` naming the flag that was wrong);
``run_one`` runs a configuration into a new run directory of a store, judges
it and returns what happened as a dict; ``execute`` does the same and prints
what ``persist-nemesis run`` prints, returning its exit code;
``command_line`` is the ``persist-nemesis run`` line that reproduces a
configuration; ``load_config`` reads a stored run's configuration back
(``repro``, ``shrink``).

This is a library module: it never parses a command line and never imports
:mod:`nemesis.commands` (the CLI imports it). The public, documented door is
:mod:`nemesis.api` (``nemesis.run``, ``nemesis.campaign``, ...); campaign,
mutation, regressions and shrink call this module.

Exit codes (``code`` of ``run_one``) follow Jepsen: 0 valid, 1 invalid,
2 unknown (or the run stopped half-way), 3 bad input (unknown name, bad
value, unwritable store, a mutant that does not load, a worker that dies at
start).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from typing import Any

from nemesis.errors import EXIT_USAGE, BadInput

#: where runs go when no store is given (relative to the working directory)
DEFAULT_STORE = "runs"
MAX_CONCURRENCY = 256


class ConfigError(BadInput):
    """A run's input refused before anything ran. ``param`` names the
    command-line flag it came from (``--workload``, ``--seed``...; the
    library's keyword argument of the same name), ``message`` says what was
    wrong and what is accepted."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.message = message
        self.param = param


def build_config(workload: str, nemesis: str, seed: int, time_limit: float, concurrency: int, op_limit: int,
                 mutant: str | None, keep_data: bool, blob: str = "file", s3_faults=(), s3_port: int = 0,
                 fs: str = "auto", system: str = "persist"):
    """Check every input; returns a RunConfig or raises :class:`ConfigError`.

    ``fs`` (``--fs``) is resolved here (:mod:`nemesis.faultmodel`): the
    config carries the fault model that will run, or the error says why it
    cannot (``--fs fuse`` where FUSE does not work; ``disk-error`` or
    ``slow-disk`` on the tracer)."""
    from nemesis.config import RunConfig
    from nemesis.generator import UnknownNemesis, parse_names
    from workloads.base import WORKLOADS

    if workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {workload!r}; accepted: {', '.join(sorted(WORKLOADS))}", "--workload")
    try:
        names = parse_names(nemesis)
    except UnknownNemesis as e:
        raise ConfigError(str(e), "--nemesis") from None
    if not (time_limit > 0) or not math.isfinite(time_limit):
        raise ConfigError(f"must be a finite number of seconds > 0, got {time_limit:g}", "--time-limit")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"must be between 1 and {MAX_CONCURRENCY}, got {concurrency}", "--concurrency")
    if op_limit < 0:
        raise ConfigError(f"must be >= 0 (0: no limit), got {op_limit}", "--op-limit")
    if seed < 0:
        raise ConfigError(f"must be >= 0, got {seed}", "--seed")
    if mutant is not None:
        mutant = os.path.abspath(mutant)
        if not os.path.isfile(mutant):
            raise ConfigError(f"no such file: {mutant}", "--mutant")
        try:
            with open(mutant, encoding="utf-8") as f:
                compile(f.read(), mutant, "exec")
        except (SyntaxError, UnicodeDecodeError, ValueError) as e:
            raise ConfigError(f"{mutant} does not compile: {e}", "--mutant") from None
    s3_faults = _check_s3(blob, names, list(s3_faults or ()), s3_port)
    cfg = RunConfig(workload, names, seed, float(time_limit), concurrency, op_limit, mutant, keep_data,
                    blob=blob, s3_faults=s3_faults, s3_port=s3_port, fs=fs)
    from nemesis.faultmodel import FaultModelError

    try:
        cfg.resolve_fs()
    except FaultModelError as e:
        raise ConfigError(str(e), "--fs") from None
    from nemesis.system import SystemChoiceError, check

    try:
        check(system, workload, names, cfg.fault_model)
    except SystemChoiceError as e:
        raise ConfigError(str(e), "--system") from None
    cfg.system = system
    return cfg


def _check_s3(blob: str, names: list[str], s3_faults: list[str], s3_port: int) -> list[str]:
    """``--blob``, ``--s3-fault`` and ``--s3-port``: every rule parses, the s3
    nemesis has a run on S3, and the moto server can be started at all."""
    if blob not in ("file", "s3"):
        raise ConfigError(f"unknown blob store {blob!r}; accepted: file, s3", "--blob")
    if blob != "s3":
        if "s3" in names:
            raise ConfigError("the s3 nemesis needs a run on S3: add --blob s3", "--nemesis")
        if s3_faults:
            raise ConfigError("S3 fault rules need a run on S3: add --blob s3", "--s3-fault")
        return []
    from nemesis.s3.rules import RuleError, parse
    from nemesis.s3.runstore import check_available
    from nemesis.s3.server import MotoStartError

    for text in s3_faults:
        try:
            parse(text)
        except RuleError as e:
            raise ConfigError(str(e), "--s3-fault") from None
    if s3_faults and "s3" not in names:
        raise ConfigError("S3 fault rules are drawn by the s3 nemesis: add s3 to --nemesis", "--s3-fault")
    if not 0 <= s3_port <= 65535:
        raise ConfigError(f"must be a port number (0: any free one), got {s3_port}", "--s3-port")
    try:
        check_available()
    except MotoStartError as e:
        raise ConfigError(str(e), "--blob") from None
    return s3_faults


def command_line(cfg) -> str:
    parts = ["persist-nemesis", "run", "--workload", cfg.workload, "--nemesis", ",".join(cfg.nemeses),
             "--seed", str(cfg.seed), "--time-limit", f"{cfg.time_limit:g}", "--concurrency", str(cfg.concurrency)]
    if cfg.op_limit:
        parts += ["--op-limit", str(cfg.op_limit)]
    if cfg.mutant:
        parts += ["--mutant", cfg.mutant]
    if getattr(cfg, "blob", "file") != "file":
        parts += ["--blob", cfg.blob]
        for rule in cfg.s3_faults:
            parts += ["--s3-fault", rule]
        if cfg.s3_port:
            parts += ["--s3-port", str(cfg.s3_port)]
    fs = {"faultfs": "fuse", "tracer": "tracer"}.get(cfg.fault_model or "", cfg.fs)
    if getattr(cfg, "system", "persist") != "persist":
        parts += ["--system", cfg.system]
    if fs != "auto":  # the model that ran, so the line reruns the same one (auto may fall back elsewhere)
        parts += ["--fs", fs]
    replay = {k: v for k, v in cfg.to_json().items() if k in REPLAY_KEYS}
    if replay:  # a shrunk run or a regression seed: its schedule, inline, so the line alone reruns it
        parts += ["--replay", json.dumps(replay, separators=(",", ":"))]
    return shlex.join(parts)


#: the config keys of a replayed schedule (``RunConfig.faults``, ``fault_ops``, ``processes``)
REPLAY_KEYS = ("faults", "fault_ops", "processes")


def load_replay(text: str) -> dict[str, Any]:
    """``--replay``: inline JSON (``{"faults": [...], "fault_ops": [...],
    "processes": [...]}``) or the path of a JSON file holding those keys (a
    run's ``config.json``, say). Raises :class:`ConfigError` saying what is wrong."""
    hint = "--replay"
    if text.lstrip().startswith("{"):
        src = "the inline JSON"
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"not JSON: {e}", hint) from None
    else:
        src = text
        try:
            with open(text, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read {text}: {e.strerror}", hint) from None
        except ValueError as e:
            raise ConfigError(f"{text} is not JSON: {e}", hint) from None
    if not isinstance(data, dict) or not any(k in data for k in REPLAY_KEYS):
        raise ConfigError(f"{src} names none of {', '.join(REPLAY_KEYS)} (a shrunk run's config.json "
                          "or its printed command carries them)", hint)
    return {k: data[k] for k in REPLAY_KEYS if k in data}


def load_config(run_dir: str):
    """The configuration a stored run ran with: ``(RunConfig, the raw
    config.json dict)``, through the same checks as ``build_config``
    (workload, nemeses, seed, time limit, concurrency, operation limit,
    mutant, blob store, the disk fault model it ran with: :func:`fs_of`) and
    its replayed schedule if it had one. Raises :class:`ConfigError`
    (``RUN_DIR``) when ``run_dir`` is not a readable run directory."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise ConfigError(f"{run_dir} is not a run directory (no config.json); pass a directory under the "
                          "store, e.g. runs/latest", "RUN_DIR")
    from nemesis.store import StoreError, resolve_mutant

    try:
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
        try:  # a run copied from another machine: its mutant as this checkout has it
            c["mutant"] = resolve_mutant(c.get("mutant"), c.get("paths"), run_dir)
        except StoreError as e:
            raise ConfigError(str(e), "RUN_DIR") from None
        nemeses = c["nemesis"]
        cfg = build_config(c["workload"], ",".join(nemeses) if isinstance(nemeses, list) else nemeses,
                           int(c["seed"]), float(c["time_limit"]), int(c.get("concurrency", 4)),
                           int(c.get("op_limit", 0)), c.get("mutant"), bool(c.get("keep_data", False)),
                           blob=c.get("blob", "file"), s3_faults=c.get("s3_faults", []),
                           s3_port=int(c.get("s3_port", 0)), fs=fs_of(c), system=c.get("system", "persist"))
        if any(k in c for k in REPLAY_KEYS):  # a replayed schedule (shrink, regressions)
            from nemesis.regressions import apply_overrides

            apply_overrides(cfg, {k: c[k] for k in REPLAY_KEYS if k in c})
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path} is not a readable run configuration: {e}", "RUN_DIR") from None
    if c.get("interval"):
        cfg.interval = tuple(c["interval"])
    return cfg, c


def fs_of(c: dict) -> str:
    """The ``--fs`` that reruns the fault model a stored configuration ran
    with: the one it resolved to (``fault_model``), else its ``fs``; a
    configuration older than ``--fs`` ran on the tracer."""
    model = c.get("fault_model")
    if model in ("faultfs", "tracer"):
        return "fuse" if model == "faultfs" else "tracer"
    return str(c.get("fs", "tracer"))


def execute(cfg, store: str, quiet: bool = False, reports: bool = True) -> int:
    """Run ``cfg`` into a new run directory under ``store``, judge it, print
    the summary; returns the exit code. ``quiet``: no progress bar."""
    from rich.console import Console

    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    res = _execute(cfg, store, out, err, progress=not quiet, reports=reports)
    if res.get("error") and res["code"] == EXIT_USAGE and not res.get("stopped"):
        err.print(f"Error: {res['error']}", markup=False)
    return res["code"]


def run_one(cfg, store: str, quiet: bool = True, reports: bool = True) -> dict[str, Any]:
    """Run ``cfg`` into a new run directory under ``store`` and judge it, as
    ``persist-nemesis run`` does; returns what happened instead of printing it
    (``quiet=False``: print as ``run`` does). The dict always has:

    - ``code``: the exit code ``run`` would give (0 valid, 1 invalid, 2 unknown
      or stopped half-way, 3 bad input / nothing ran, 130 interrupted);
    - ``verdict``: ``"valid"``, ``"invalid"``, ``"unknown"`` or ``"error"``
      (the run could not be judged: ``error`` says why);
    - ``valid`` (the verdict as ``results.json`` says it: True, False or
      ``"unknown"``; None when not judged), ``run_dir`` (None when no directory was
      made), ``command`` (the ``persist-nemesis run`` line reproducing it),
      ``seed``, ``workload``, ``nemesis``, ``error`` (None or a message);
    - when judged: ``results`` (what ``results.json`` holds), ``ops``, ``elapsed``,
      ``judge_seconds`` (the checkers' time), ``history_bytes``;
    - ``stopped``: True when the run stopped half-way (aborted or interrupted).

    Exceptions other than the run's own failures (a bug in the harness)
    propagate, after the run's status says ``crashed``."""
    from rich.console import Console

    if quiet:
        out = err = Console(quiet=True)
    else:
        out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    return _execute(cfg, store, out, err, progress=not quiet, reports=reports)


def _execute(cfg, store: str, out, err, progress: bool, reports: bool) -> dict[str, Any]:
    from checker.result import exit_code
    from nemesis import store as st
    from nemesis.controller import Controller, RunAborted
    from nemesis.judge import judge
    from nemesis.errors import StartError

    res: dict[str, Any] = {"code": EXIT_USAGE, "verdict": "error", "valid": None, "run_dir": None,
                           "command": command_line(cfg), "seed": cfg.seed, "workload": cfg.workload,
                           "nemesis": list(cfg.nemeses), "error": None}
    try:
        store = st.check_store(store)
    except st.StoreError as e:
        return {**res, "error": str(e)}
    run_dir = st.new_run_dir(store, cfg.workload, cfg.seed, cfg.nemeses)
    res["run_dir"] = run_dir
    st.write_json(os.path.join(run_dir, "config.json"),
                  {**cfg.to_json(), "command": command_line(cfg), "code": st.code_version(),
                   "python": sys.version.split()[0], "store": store, "paths": st.relative_paths(run_dir, cfg)})
    st.set_status(run_dir, "running")
    st.point_latest(store, run_dir)
    out.print(f"run {run_dir}  (seed {cfg.seed})")
    out.print(fault_model_line(cfg))

    progress_cb, stop_progress = _progress(err, cfg, not progress)
    ctl = None
    try:
        ctl = Controller(cfg, run_dir, progress_cb)
        st.write_json(os.path.join(run_dir, "schedule.json"), [f.to_json() for f in ctl.faults])
        outcome = ctl.run()
    except StartError as e:  # --blob s3 and the server cannot start, or the fault filesystem cannot mount: nothing ran
        stop_progress()
        st.set_status(run_dir, "aborted", reason=str(e))
        return {**res, "error": f"{e}; nothing was run (run directory: {run_dir})"}
    except RunAborted as e:
        stop_progress()
        if ctl is not None:
            ctl.close()
        first = ctl is not None and not ctl.outcome.ops
        st.set_status(run_dir, "aborted", reason=str(e))
        err.print(f"[bold red]run stopped:[/] {e}", markup=True)
        err.print(f"run directory: {run_dir}")
        return {**res, "code": EXIT_USAGE if first else 2, "verdict": "error" if first else "unknown",
                "error": f"run stopped: {e}", "stopped": True}
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM, SIGHUP (nemesis/lifecycle.py): the workers are gone already
        from nemesis import lifecycle

        stop_progress()
        if ctl is not None:
            ctl.close()
        st.set_status(run_dir, "interrupted", reason=f"stopped by {lifecycle.signal_name(e)}")
        err.print(f"interrupted ({lifecycle.signal_name(e)}); partial run in {run_dir}")
        return {**res, "code": lifecycle.exit_code(e), "error": "interrupted", "stopped": True}
    except BaseException as e:
        stop_progress()
        if ctl is not None:
            ctl.close()
        st.set_status(run_dir, "crashed", reason=f"{type(e).__name__}: {e}")
        raise
    if progress_cb:
        progress_cb({"phase": "judging"})
    judged = time.perf_counter()
    try:
        results = judge(run_dir, cfg.workload)
    except KeyboardInterrupt as e:  # stopped while judging: the history is whole, the verdict never came
        from nemesis import lifecycle

        stop_progress()
        ctl.close()
        st.set_status(run_dir, "interrupted", reason=f"stopped by {lifecycle.signal_name(e)} while judging; "
                                                     f"persist-nemesis check {run_dir} judges it")
        err.print(f"interrupted ({lifecycle.signal_name(e)}) while judging; run in {run_dir}")
        return {**res, "code": lifecycle.exit_code(e), "error": "interrupted", "stopped": True}
    judge_seconds = round(time.perf_counter() - judged, 3)
    results.update({"seed": cfg.seed, "workload": cfg.workload, "nemesis": cfg.nemeses, "ops": outcome.ops,
                    "elapsed": round(outcome.elapsed, 3), "faults": dict(ctl.rec.faults),
                    "restart_seconds": [round(x, 4) for x in outcome.restarts], "notes": outcome.notes,
                    "fault_model": cfg.fault_model})
    from nemesis.system import applicability

    results["system"] = applicability(cfg.system, cfg.nemeses, cfg.fault_model)
    if cfg.fs_reason:
        results["fs_reason"] = cfg.fs_reason
    if outcome.fsck is not None:
        results["fsck"] = outcome.fsck
    ctl.close()  # --blob s3: stop the moto server (its memory was the store)
    st.write_json(os.path.join(run_dir, "results.json"), results)
    if not cfg.keep_data:
        st.drop_data(run_dir)  # with the fault filesystem also its backing directory (data.backing/)
    st.set_status(run_dir, "finished", valid=results["valid"])
    if reports:
        if progress_cb:
            progress_cb({"phase": "reports"})
        paths = _reports(run_dir, store)
    stop_progress()
    _summary(out, ctl, outcome, results, run_dir, cfg)
    if reports:
        timeline = [p for p in paths if str(p).endswith("timeline.html")]
        if timeline:
            out.print(f"timeline: {timeline[0]}")
    word = {True: "valid", False: "invalid"}.get(results["valid"], "unknown")
    return {**res, "code": exit_code(results["valid"]), "verdict": word, "valid": results["valid"],
            "results": results, "ops": outcome.ops, "elapsed": round(outcome.elapsed, 3),
            "judge_seconds": judge_seconds, "history_bytes": _size(os.path.join(run_dir, "history.jsonl"))}


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _reports(run_dir: str, store: str) -> list:
    """timeline.html, plots and the store's index (nemesis/report), if present; the paths written."""
    try:
        from nemesis.report import update_reports
    except ImportError:
        return []
    return update_reports(run_dir, store, plots="lazy")  # plots drawn on first view (serve) or by report


def _progress(err, cfg, quiet: bool):
    if quiet:
        return None, lambda: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), console=err, transient=True)
    task = prog.add_task(f"{cfg.workload} / {','.join(cfg.nemeses)}", total=cfg.time_limit,
                         info="starting: workers and their imports")
    prog.start()
    stopped = []

    def cb(p: dict[str, Any]) -> None:
        """A progress report from the controller, or ``{"phase": ...}`` alone (judging, reports)."""
        counts = p if "ops" in p else last
        last.update({k: v for k, v in p.items() if k != "phase"})
        prog.update(task, completed=min(p.get("elapsed", cfg.time_limit), cfg.time_limit),
                    info=f"{p.get('phase', 'running')}: {counts.get('ops', 0)} ops, {counts.get('ok', 0)} ok, "
                         f"{counts.get('faults', 0)} faults")
        prog.refresh()

    last: dict[str, Any] = {}

    def stop() -> None:
        if not stopped:
            stopped.append(1)
            prog.stop()

    return cb, stop


def fault_model_line(cfg) -> str:
    """What the summary says about the disk fault model (never silently the weaker one)."""
    if cfg.fault_model == "faultfs":
        return "fault model: faultfs (the fault filesystem is mounted over the data directory)"
    why = f"; {cfg.fs_reason}" if cfg.fs_reason else " (--fs tracer)"
    return (f"fault model: tracer (in-process: only Python's os calls are seen, renames are never undone){why}")


def _count(n: Any, one: str, many: str | None = None) -> str:
    """``1 problem``, ``3 problems``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _summary(out, ctl, outcome, results: dict[str, Any], run_dir: str, cfg) -> None:
    from rich.table import Table

    counts = ctl.rec.counts
    fs = sorted({f for f, _ in counts})
    t = Table(title="operations", show_edge=False)
    t.add_column("f")
    for typ in ("ok", "fail", "info"):
        t.add_column(typ, justify="right")
    for f in fs:
        t.add_row(f, *(str(counts.get((f, typ), 0)) for typ in ("ok", "fail", "info")))
    out.print(t)
    acked = sum(n for (f, typ), n in counts.items() if typ == "ok")
    out.print(f"{outcome.ops} operations in {outcome.elapsed:.1f} s; {acked} acknowledged "
              f"({acked / max(outcome.elapsed, 1e-9):.0f}/s)")
    # restarts and resumes are the harness healing, not faults; a power loss kills every worker, so
    # restarts can outnumber kills by far
    healing = ("start", "restart", "resume")
    faults = {k: v for k, v in ctl.rec.faults.items() if k not in healing}
    heals = ", ".join(f"{k} {ctl.rec.faults[k]}" for k in healing[1:] if ctl.rec.faults.get(k))
    out.print("faults: " + (", ".join(f"{k} {v}" for k, v in sorted(faults.items())) or "none")
              + (f"; healing: {heals}" if heals else ""))
    fk = results.get("fsck")
    if fk:
        said = ("could not run: " + fk["error"]) if fk.get("error") else (
            f"{'ok' if fk.get('ok') else 'PROBLEMS'}, {_count(fk.get('batches_checked', 0), 'batch', 'batches')} checked, "
            f"{_count(fk.get('problem_count', 0), 'problem')} (orphans included)")
        out.print(f"fsck of the location at the end: {said} in {fk.get('seconds', 0):.2f} s")
    out.print(fault_model_line(cfg))
    from nemesis.system import line as system_line

    out.print(system_line(cfg.system, cfg.nemeses, cfg.fault_model))
    if results.get("coverage") and getattr(cfg, "system", "persist") == "persist":  # exec: runs no engine in the worker
        from nemesis.coverage import describe_failpoints

        out.print("failpoints hit: " + describe_failpoints(results["coverage"]))
        if results["coverage"].get("patched"):
            out.print("mutant's patched functions called: " + ", ".join(
                f"{k} {v}" for k, v in results["coverage"]["patched_ran"].items()))
    for note in outcome.notes:
        out.print(f"note: {note}")
    v = Table(title="verdicts" + (f" (category: {results['category']})" if results.get("category") else ""),
              show_edge=False)
    v.add_column("checker")
    v.add_column("valid")
    v.add_column("detail", overflow="fold")
    for r in results["checkers"]:
        detail = ""
        if r.get("anomalies"):
            a = r["anomalies"][0]
            detail = a["message"] + (f" (+{len(r['anomalies']) - 1} more)" if len(r["anomalies"]) > 1 else "")
        elif r.get("reason"):
            detail = r["reason"]
        v.add_row(r["checker"], str(r["valid"]), detail[:300])
    out.print(v)
    word = {True: "VALID", False: "INVALID"}.get(results["valid"], "UNKNOWN")
    out.print(f"verdict: {word}   seed {cfg.seed}")
    out.print(f"run: {run_dir}")
    if results["valid"] is not True:
        out.print(f"reproduce: persist-nemesis repro {run_dir}")
        out.print(f"       or: {command_line(cfg)}")
