"""``persist-nemesis campaign``: many seeded runs in parallel, one verdict.

    persist-nemesis campaign --seeds 3 --workloads append,rehydrate --nemeses kill,lose-unsynced+pause,s3 \\
        --time-limit 5 --jobs 2 --junit campaign.xml

runs the cross product workloads x nemesis mixes x seeds (mixes separated by
commas, the nemeses of one mix joined by ``+``; default: every workload of
the registry, every nemesis on its own, seed 1), ``--jobs`` runs at a time,
each exactly as ``persist-nemesis run`` would (the engine is
:mod:`nemesis.campaign`). It shows a progress bar (runs done, failures so
far), then a table per workload x mix (runs, valid, invalid, unknown, error,
median operations), and for every run that was not valid its seed, the
checker's complaint and the command that reproduces it, then the engine
failpoints hit over all runs and those never hit (:mod:`nemesis.coverage`).
It writes JUnit XML (``--junit``), ``<store>/index.html`` and
``<store>/campaign-<time>.json`` (with ``coverage``: failpoints hit, never hit).

Exit code as for ``run``: 0 every run valid, 1 any invalid, 2 any unknown (or
a run that could not finish), 3 bad input (refused before any run starts),
128 + the signal when interrupted (130 Ctrl-C, 143 SIGTERM): what finished is
still reported (table, JUnit with an error case for the interruption, index,
record).
"""

from __future__ import annotations

import os
import sys

import click

from nemesis.cli import EXIT_USAGE

DEFAULT_STORE = "runs"


def _fail(msg: str) -> int:
    click.echo(f"error: {msg}", err=True)
    return EXIT_USAGE


def cp_error(msg: str) -> Exception:
    from nemesis.campaign import CampaignError

    return CampaignError(msg, "--junit")


def _check_junit(path: str) -> str:
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise cp_error(f"{path} is a directory; give a file name, e.g. {path}/campaign.xml")
    from nemesis.store import ensure_writable_dir

    try:
        ensure_writable_dir(parent)
    except OSError as e:
        raise cp_error(f"cannot write {path}: {e.strerror or e}; give a writable path") from None
    return path


@click.command("campaign")
@click.option("--seeds", type=int, default=None, help="run seeds 1..N (default: 1)")
@click.option("--seed-range", default=None, metavar="A-B", help="run seeds A..B (inclusive)")
@click.option("--workloads", default=None, help="comma-separated (default: every workload)")
@click.option("--nemeses", default=None,
              help="comma-separated mixes, nemeses of one mix joined by '+', e.g. kill,lose-unsynced+pause,s3 "
                   "(default: every nemesis on its own; disk-error and slow-disk only on the fault filesystem)")
@click.option("--time-limit", type=float, default=5.0, show_default=True, help="seconds of each run")
@click.option("--jobs", type=int, default=None, help="runs at a time (default: CPU cores)")
@click.option("--shard", default=None, metavar="K/N", help="run only the K-th of N shards (1 <= K <= N)")
@click.option("--junit", "junit_path", default=None, metavar="FILE", help="write JUnit XML here")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="where runs are stored")
@click.option("--mutant", default=None, metavar="FILE.py", help="a planted bug imported in every worker")
@click.option("--blob", default="auto", show_default=True,
              help="auto: s3 for mixes with the s3 nemesis, else file; file; s3 (every run on a moto server)")
@click.option("--s3-fault", "s3_faults", multiple=True, metavar="RULE",
              help="for mixes with s3: a rule the s3 nemesis draws from (repeatable); see nemesis/s3/rules.py")
@click.option("--s3-port", type=int, default=0, help="the moto server's port (0: any free one; needs --jobs 1)")
@click.option("--concurrency", type=int, default=8, show_default=True, help="client processes per run")
@click.option("--op-limit", type=int, default=0, help="stop each run after this many operations (0: none)")
@click.option("--keep-data", is_flag=True, help="keep each run's persist data directory")
@click.option("--no-report", is_flag=True, help="skip each run's timeline and plots (the index is still written)")
@click.option("--quiet", is_flag=True, help="no progress bar and no line per run")
@click.option("--dry-run", is_flag=True, help="print the runs of this shard and stop")
@click.option("--fs", "fs", default="auto", show_default=True,
              help="every run's disk fault model: fuse (the fault filesystem), tracer, auto (fuse where it works)")
@click.option("--duration", default=None, metavar="TIME",
              help="a soak: keep drawing seeds (from the first of --seed-range, default 1) across the cross product "
                   "until TIME is spent, e.g. 600, 10m, 1h")
@click.option("--system", "system", default="persist", show_default=True,
              help="every run's system under test (docs/protocol.md): persist, module:Class, or "
                   "'exec:CMD {data_dir}', e.g. 'exec:python examples/persist_server.py {data_dir}'")
def campaign(seeds, seed_range, workloads, nemeses, time_limit, jobs, shard, junit_path, store, mutant, blob,
             s3_faults, s3_port, concurrency, op_limit, keep_data, no_report, quiet, dry_run, fs, duration,
             system) -> int:
    """Run workloads x nemesis mixes x seeds in parallel and judge them all."""
    try:
        return _campaign(seeds, seed_range, workloads, nemeses, time_limit, jobs, shard, junit_path, store, mutant,
                         blob, s3_faults, s3_port, concurrency, op_limit, keep_data, no_report, quiet, dry_run,
                         duration, fs, system)
    except KeyboardInterrupt as e:  # before a plan existed: still a JUnit that says the campaign never ran
        from nemesis import campaign as cp
        from nemesis import junit, lifecycle

        o = cp.Outcome(interrupted=True, signal=lifecycle.signal_name(e), exit=lifecycle.exit_code(e))
        if junit_path:
            junit.write(junit_path, [], interruption=o.interruption(0))
            click.echo(f"interrupted ({o.signal}) while planning; junit: {os.path.abspath(junit_path)}", err=True)
        return o.exit


def _campaign(seeds, seed_range, workloads, nemeses, time_limit, jobs, shard, junit_path, store, mutant, blob,
              s3_faults, s3_port, concurrency, op_limit, keep_data, no_report, quiet, dry_run, duration,
              fs="auto", system="persist") -> int:
    from nemesis import campaign as cp

    try:
        soak_seconds = None
        if duration is not None:
            from nemesis.soak import parse_duration

            soak_seconds = parse_duration(duration)
            if seeds is not None:
                raise cp.CampaignError("a soak draws seeds until the time is spent: give --duration or --seeds, "
                                       "not both (--seed-range A-B sets the first seed)", "--duration")
        seed_list = cp.parse_seeds(seeds, seed_range)
        shard_kn = cp.parse_shard(shard)
        wls = cp.parse_workloads(workloads)
        mixes = cp.parse_mixes(nemeses, fs)
        jobs = jobs if jobs is not None else max(1, os.cpu_count() or 1)
        if junit_path is not None:
            junit_path = _check_junit(junit_path)
        p = cp.plan(workloads=wls, mixes=mixes, seeds=seed_list, time_limit=time_limit, store=store,
                    concurrency=concurrency, op_limit=op_limit, mutant=mutant, blob=blob, s3_faults=s3_faults,
                    s3_port=s3_port, jobs=jobs, keep_data=keep_data, shard=shard_kn, fs=fs, system=system)
        if not p.runs:
            what = "this shard has no runs" if p.total else "every combination was skipped"
            raise cp.CampaignError(f"nothing to run: {what} ({p.total} runnable in all"
                                   + (f", shard {shard_kn[0]}/{shard_kn[1]}" if shard_kn != (1, 1) else "") + ")")
        if soak_seconds is not None:  # the plan of the first seed; the soak makes the next ones as it goes
            from functools import partial

            p = _soak_plan(cp, partial(cp.plan, workloads=wls, mixes=mixes, time_limit=time_limit, store=store,
                                       concurrency=concurrency, op_limit=op_limit, mutant=mutant, blob=blob,
                                       s3_faults=s3_faults, s3_port=s3_port, jobs=jobs, keep_data=keep_data,
                                       shard=shard_kn, fs=fs, system=system), seed_list[0], soak_seconds)
        if dry_run:
            for r in p.runs:
                click.echo(r.command)
            return 0
        try:
            cp.preflight(p)
        except KeyboardInterrupt as e:  # interrupted while starting: still a JUnit that says so
            from nemesis import lifecycle

            o = cp.Outcome(interrupted=True, signal=lifecycle.signal_name(e), exit=lifecycle.exit_code(e),
                           never_ran=len(p.runs))
            _report(_console(), p, o, junit_path)
            return o.exit
    except cp.CampaignError as e:
        return _fail(str(e))
    return _run(p, jobs, junit_path, quiet, not no_report)


def _soak_plan(cp, make, first_seed: int, seconds: float):
    """The first seed's plan, carrying the :class:`nemesis.soak.Soak` that draws the next seeds."""
    from nemesis.soak import Soak

    p = make(seeds=[first_seed])
    p.soak = Soak(lambda seed: p.runs if seed == first_seed else make(seeds=[seed]).runs, first_seed, seconds)
    return p


def _console():
    from rich.console import Console

    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    if not out.is_terminal:  # a log or a pipe: never squeeze the table
        out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=160)
    return out


def _run(p, jobs: int, junit_path: str | None, quiet: bool, reports: bool) -> int:
    from rich.console import Console

    from nemesis import campaign as cp

    out = _console()
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    shard = f" (shard {p.shard[0]}/{p.shard[1]} of {p.total})" if p.shard != (1, 1) else ""
    soak = getattr(p, "soak", None)
    stop = lambda: None  # noqa: E731
    try:
        if soak is not None:
            secs = soak.deadline - soak.clock()
            out.print(f"campaign: a soak of {secs:.0f} s, {len(p.runs)} runs a seed{shard}, {jobs} at a time, "
                      f"store {p.store}")
        else:
            out.print(f"campaign: {len(p.runs)} runs{shard}, {jobs} at a time, store {p.store}")
        for s in p.skipped:
            out.print(f"skipped: {s.workload} / {'+'.join(s.mix)}: {s.reason}")
        on_start, on_done, stop = _progress(err, None if soak else len(p.runs), quiet)
        o = cp.execute(p, jobs, reports=reports, on_start=on_start, on_done=on_done, todo=soak)
    except KeyboardInterrupt as e:  # before execute took charge (it reports an interruption itself)
        from nemesis import lifecycle

        o = cp.Outcome(interrupted=True, signal=lifecycle.signal_name(e), exit=lifecycle.exit_code(e),
                       never_ran=len(p.runs))
    finally:
        stop()
    if soak is not None:  # the runs it drew; a soak has no runs that never ran
        p.runs = list(soak.started)
        o.never_ran = 0
    _report(out, p, o, junit_path)
    return cp.exit_code(o.results, (o.exit or True) if o.interrupted else False)


def _progress(err, total: int, quiet: bool):
    if quiet:
        return None, None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("[bold]campaign"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), console=err, transient=True)  # total None (a soak): a pulsing bar
    task = prog.add_task("runs", total=total, info="starting")
    state = {"done": 0, "failed": 0, "unknown": 0, "running": 0}
    prog.start()
    colour = {"valid": "green", "invalid": "bold red", "unknown": "yellow", "error": "yellow"}

    def info() -> str:
        return (f"{state['failed']} invalid, {state['unknown']} unknown/error, {state['running']} running")

    def on_start(r) -> None:
        state["running"] += 1
        prog.update(task, info=info())

    def on_done(res) -> None:
        state["running"] -= 1
        state["done"] += 1
        if res["verdict"] == "invalid":
            state["failed"] += 1
        elif res["verdict"] != "valid":
            state["unknown"] += 1
        prog.console.print(f"[{colour.get(res['verdict'], 'yellow')}]{res['verdict']:>7}[/]  {res['workload']} / "
                           f"{res['mix']} / seed {res['seed']}  ({res['seconds']:.1f} s"
                           + (f", {res['ops']} ops" if res.get("ops") is not None else "") + ")", markup=True)
        prog.update(task, advance=1, info=info())

    return on_start, on_done, prog.stop


def _report(out, p, o, junit_path: str | None) -> None:
    from rich.table import Table

    from nemesis import campaign as cp
    from nemesis import junit

    t = Table(title="campaign", show_edge=False)
    for col in ("workload", "nemeses", "runs", "valid", "invalid", "unknown", "error", "median ops", "median s"):
        t.add_column(col, justify="left" if col in ("workload", "nemeses") else "right")
    for row in cp.table(o.results):
        t.add_row(row["workload"], row["mix"], *(str(row[k]) for k in ("runs", "valid", "invalid", "unknown", "error")),
                  "" if row["median_ops"] is None else f"{row['median_ops']:g}",
                  "" if row["median_seconds"] is None else f"{row['median_seconds']:g}")
    out.print(t)
    bad = [r for r in o.results if r["verdict"] != "valid"]
    for r in bad:
        cat = f" (category {r['category']})" if r.get("category") else ""
        out.print(f"[bold]{r['verdict'].upper()}[/]{cat}: {r['workload']} / {r['mix']} / seed {r['seed']}"
                  + (f": {r['message']}" if r.get("message") else ""), markup=True)
        if r.get("run_dir"):
            out.print(f"  run: {r['run_dir']}")
        out.print(f"  reproduce: {r['command']}")
    counts = {v: sum(1 for r in o.results if r["verdict"] == v) for v in ("valid", "invalid", "unknown", "error")}
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no runs finished"
    rate = len(o.results) / (o.wall / 60) if o.wall > 0 else 0.0
    out.print(f"{len(o.results)} of {len(p.runs)} runs in {o.wall:.1f} s ({rate:.1f} runs/minute): {tally}")
    interruption = o.interruption(len(p.runs))
    if interruption:
        out.print(f"[bold]INTERRUPTED[/]: {junit.interruption_message(interruption)}", markup=True)
    cov = cp.failpoint_coverage(o.results)
    out.print("failpoints hit: " + (", ".join(f"{k} {v}" for k, v in cov["failpoints"].items()) or "none"))
    out.print("failpoints never hit: " + (", ".join(cov["never_hit"]) or "none (every failpoint hit)"))
    from nemesis.soak import history_stats

    stats = history_stats(o.results)
    if stats:
        out.print(stats)
    skipped = [{"workload": s.workload, "mix": "+".join(s.mix), "reason": s.reason} for s in p.skipped]
    if junit_path:
        out.print(f"junit: {junit.write(junit_path, o.results, skipped, wall=o.wall, interruption=interruption)}")
    try:
        from nemesis.report import write_index

        out.print(f"index: {write_index(p.store)}")
    except Exception as e:  # noqa: BLE001 - the verdicts stand without the page
        out.print(f"index not written: {type(e).__name__}: {e}")
    out.print(f"record: {cp.record(p, o, sys.argv)}")
