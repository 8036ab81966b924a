"""``persist-nemesis campaign``: many seeded runs in parallel, one verdict.

    persist-nemesis campaign --seeds 3 --workloads append,rehydrate --nemeses kill,lose-unsynced+pause,s3 \\
        --time-limit 5 --jobs 2 --junit campaign.xml

runs the cross product workloads x nemesis mixes x seeds (mixes separated by
commas, the nemeses of one mix joined by ``+``; default: every workload of
the registry, every nemesis on its own, seed 1), ``--jobs`` runs at a time,
each exactly as ``persist-nemesis run`` would. This module parses the
flags and prints; the campaign is the library's :func:`nemesis.api.campaign`
(``nemesis.campaign(...)`` from Python; the engine is
:mod:`nemesis.campaign`). It shows a progress bar (runs done, failures so
far), then a table per workload x mix (runs, valid, invalid, unknown, error,
median operations), and for every run that was not valid its seed, the
checker's complaint and the command that reproduces it, then the engine
failpoints hit over all runs and those never hit (:mod:`nemesis.coverage`).
It writes JUnit XML (``--junit``), ``<store>/index.html`` and
``<store>/campaign-<time>.json`` (with ``coverage``: failpoints hit, never hit).

``--cluster local:N`` or ``--cluster tcp://HOST:PORT`` runs every run as a
task of a dask cluster and ships it back into the store
(:mod:`nemesis.cluster`, ``docs/cluster.md``); the output is the same.

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

from nemesis.runner import DEFAULT_STORE


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
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="run every run as a task of a dask cluster: local:N (N worker processes here) or "
                   "tcp://HOST:PORT (a running scheduler); runs are shipped back into --store, or written to a "
                   "shared --store file:///PATH (docs/cluster.md; needs: pip install -e '.[cluster]')")
@click.option("--ship-to", "ship_to", default=None, metavar="s3://BUCKET/PREFIX",
              help="with --cluster: each worker puts its run's archive there (kept), the campaign fetches it into "
                   "--store (S3 settings from each machine's environment: AWS_ENDPOINT_URL, credentials)")
def campaign(seeds, seed_range, workloads, nemeses, time_limit, jobs, shard, junit_path, store, mutant, blob,
             s3_faults, s3_port, concurrency, op_limit, keep_data, no_report, quiet, dry_run, fs, duration,
             system, cluster, ship_to) -> int:
    """Run workloads x nemesis mixes x seeds in parallel and judge them all."""
    from rich.console import Console

    from nemesis import api

    out = _console()
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    progress = {"stop": lambda: None}

    def header(p) -> None:  # everything checked, before the first run: say what will run
        shard = f" (shard {p.shard[0]}/{p.shard[1]} of {p.total})" if p.shard != (1, 1) else ""
        soak = getattr(p, "soak", None)
        c = getattr(p, "cluster", None)
        at_once = jobs_of(jobs) if c is None else min(c["slots"], jobs) if jobs else c["slots"]
        where = "" if c is None else (f" on the cluster {c['address']} ({c['workers']} worker"
                                      f"{'s' if c['workers'] != 1 else ''} on {', '.join(c['hosts'])})")
        if soak is not None:
            secs = soak.deadline - soak.clock()
            out.print(f"campaign: a soak of {secs:.0f} s, {len(p.runs)} runs a seed{shard}, {at_once} at a "
                      f"time{where}, store {p.store}")
        else:
            out.print(f"campaign: {len(p.runs)} runs{shard}, {at_once} at a time{where}, store {p.store}")
        for s in p.skipped:
            out.print(f"skipped: {s.workload} / {'+'.join(s.mix)}: {s.reason}")
        on_start, on_done, progress["stop"] = _progress(err, None if soak else len(p.runs), quiet)
        progress.update(on_start=on_start, on_done=on_done)

    try:
        res = api.campaign(workloads=workloads, nemeses=nemeses, seeds=seeds, seed_range=seed_range,
                           time_limit=time_limit, jobs=jobs, shard=shard, junit=junit_path, store=store, mutant=mutant,
                           blob=blob, s3_faults=s3_faults, s3_port=s3_port, concurrency=concurrency,
                           op_limit=op_limit, keep_data=keep_data, report=not no_report, fs=fs, dry_run=dry_run,
                           duration=duration, system=system, cluster=cluster, ship_to=ship_to,
                           on_plan=header, on_start=lambda r: _call(progress, "on_start", r),
                           on_done=lambda r: _call(progress, "on_done", r))
    except KeyboardInterrupt as e:  # while planning, before a plan existed: still a JUnit that says it never ran
        from nemesis import campaign as cp
        from nemesis import junit, lifecycle

        o = cp.Outcome(interrupted=True, signal=lifecycle.signal_name(e), exit=lifecycle.exit_code(e))
        if junit_path:
            junit.write(junit_path, [], interruption=o.interruption(0))
            click.echo(f"interrupted ({o.signal}) while planning; junit: {os.path.abspath(junit_path)}", err=True)
        return o.exit
    finally:
        progress["stop"]()
    if dry_run:
        for c in res.commands:
            click.echo(c)
        return 0
    _report(out, res)
    return res.exit_code


def jobs_of(jobs: int | None) -> int:
    return jobs if jobs is not None else max(1, os.cpu_count() or 1)


def _call(progress: dict, name: str, arg) -> None:
    f = progress.get(name)
    if f is not None:
        f(arg)


def _console():
    from rich.console import Console

    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    if not out.is_terminal:  # a log or a pipe: never squeeze the table
        out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=160)
    return out


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


def _report(out, res) -> None:
    """The table, every run that was not valid with its reproduce command,
    the tally, the failpoints, and the files written."""
    from rich.table import Table

    from nemesis import campaign as cp
    from nemesis import junit

    p, o = res.plan, res.outcome
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
    cov = res.coverage
    out.print("failpoints hit: " + (", ".join(f"{k} {v}" for k, v in cov["failpoints"].items()) or "none"))
    out.print("failpoints never hit: " + (", ".join(cov["never_hit"]) or "none (every failpoint hit)"))
    from nemesis.soak import history_stats

    stats = history_stats(o.results)
    if stats:
        out.print(stats)
    if res.junit:
        out.print(f"junit: {res.junit}")
    out.print(f"index: {res.index}" if res.index else "index not written")
    out.print(f"record: {res.record}")
