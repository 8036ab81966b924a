"""``persist-nemesis shrink``: shrink a failing run; replay the regression seeds.

    persist-nemesis shrink RUN_DIR [--budget S] [--tries N] [--goal-ops N] [--store DIR] [--save]
                           [--regressions FILE]
    persist-nemesis shrink --replay-regressions [--regressions FILE] [--only NAME ...] [--store DIR]

The first form runs candidates (real runs, into ``--store``, default the
original run's store), prints one line per candidate, then a table original
vs shrunk, the shrunk run's directory and the command that reproduces it;
with ``--save`` it adds the case to ``regressions/seeds.json`` (a tracked
file: never rewritten unasked), with ``--regressions FILE`` to that file. Exit 0 when a
failing run no larger than the original was found, 2 when no candidate
failed again within the budget, 3 for bad input. Method: ``nemesis/shrink.py``
and ``docs/shrinking.md``.

The second form replays every entry of the regressions file
(``nemesis/regressions.py``), one line each, and exits 0 only if every entry
got its expected verdict (1 otherwise, 3 for a broken file).
"""

from __future__ import annotations

import datetime as _dt
import os
import time

import click

from nemesis.cli import EXIT_USAGE


def _default_store(run_dir: str) -> str:
    """The store the run directory is in now (``<store>/<workload>/<run>``),
    not the one recorded: a run copied from another machine shrinks here."""
    return os.path.dirname(os.path.dirname(os.path.realpath(run_dir)))


def regression_entry(shrinker, outcome) -> dict:
    """The regression case for a shrink outcome (see nemesis/regressions.py)."""
    from nemesis.regressions import repo_path

    cfg = shrinker.config(outcome.best)
    mutant = repo_path(cfg.mutant)
    stem = os.path.splitext(os.path.basename(mutant))[0] if mutant else "engine"
    o, b = outcome.original, outcome.best_run
    overrides = {"faults": [f.to_json() for f in cfg.faults], "fault_ops": list(cfg.fault_ops)}
    if cfg.processes is not None:
        overrides["processes"] = list(cfg.processes)
    return {
        "name": f"{stem}-{cfg.workload}-{'-'.join(cfg.nemeses)}-seed{cfg.seed}",
        "workload": cfg.workload, "nemesis": list(cfg.nemeses), "seed": cfg.seed, "time_limit": cfg.time_limit,
        "concurrency": cfg.concurrency, "op_limit": cfg.op_limit, "mutant": mutant, "blob": cfg.blob,
        "s3_faults": list(cfg.s3_faults), "interval": list(cfg.interval), "overrides": overrides,
        "expect": "invalid", "checkers": b["failing"], "tries": 5,
        "note": (f"shrunk from {o['run_dir']}: {o['ops']} -> {b['ops']} operations, {o['processes']} -> "
                 f"{len(outcome.best.processes)} processes, {o['faults']} -> {len(outcome.best.faults)} faults; "
                 f"failed in {outcome.confirmed or 'not all'} runs when shrunk"),
        "from_run": b["run_dir"], "added": _dt.date.today().isoformat(),
    }


def shrink_run(run_dir: str, store: str | None, budget: float, tries: int, regressions: str | None,
               save: bool, echo=click.echo, goal_ops: int = 0) -> tuple[int, dict | None]:
    """Shrink ``run_dir``, print as the command does; returns (exit code, the
    summary: original, shrunk, run_dir, command, entry)."""
    from nemesis import regressions as rg
    from nemesis.shrink import Shrinker, ShrinkError

    store = store or _default_store(run_dir)

    def on_trial(t) -> None:
        last = t.runs[-1] if t.runs else {}
        verdict = "FAILS" if t.failed else "passes"
        tries = f" ({len(t.runs)} runs)" if len(t.runs) > 1 else ""
        kind = "confirm  " if t.confirm else "candidate"
        if t.confirm:
            verdict = "FAILS every time" if t.failed else "passed once: not kept"
        echo(f"{kind} {t.n:>3}: {t.plan.describe():<58} -> {verdict}{tries}, {last.get('ops')} ops, "
             f"{sum(r['seconds'] for r in t.runs):.1f} s  {last.get('run_dir', '')}")

    try:
        sh = Shrinker(run_dir, store, budget=budget, tries=tries, on_trial=on_trial, goal_ops=goal_ops)
    except ShrinkError as e:
        echo(f"error: {e}", err=True)
        return EXIT_USAGE, None
    o = sh.original
    echo(f"shrinking {o['run_dir']}: {o['ops']} operations, {o['processes']} processes, {o['faults']} faults; "
         f"failing checkers {', '.join(o['failing']) or '?'}; budget {budget:g} s, up to {sh.tries} run(s) "
         "a candidate")
    try:
        out = sh.run()
    except ShrinkError as e:
        echo(f"error: {e}", err=True)
        return EXIT_USAGE, None
    if out.best is None:
        echo(f"no candidate failed again in {out.seconds:.0f} s ({len(out.trials)} candidates); the failure may "
             "depend on timing: try --tries 3 or a larger --budget")
        return 2, None
    b = out.best_run
    rows = [("operations", o["ops"], b["ops"]), ("processes", o["processes"], len(out.best.processes)),
            ("faults", o["faults"], len(out.best.faults))]
    goal = " (goal reached)" if goal_ops and (b.get("ops") or 0) <= goal_ops else ""
    echo(f"\nshrunk in {out.seconds:.0f} s, {len(out.trials)} candidates"
         f"{' (budget spent)' if out.budget_spent else goal}:")
    echo(f"  {'':<18}{'original':>12}{'shrunk':>12}")
    for name, a, c in rows:
        echo(f"  {name:<18}{a!s:>12}{c!s:>12}")
    faults = ", ".join(f"{f.nemesis} on worker {f.target} at op {n}"
                       for f, n in zip(out.best.faults, out.best.fault_ops)) or "none"
    echo(f"  failing checkers: {', '.join(o['failing'])} -> {', '.join(b['failing'])}")
    echo(f"  failed again in {out.confirmed} runs" if out.confirmed else
         "  warning: the shrunk run did not fail again in every confirmation run (flaky); its regression case "
         "may need more tries")
    echo(f"  faults replayed: {faults}; op limit {out.best.op_limit}")
    echo(f"shrunk run: {b['run_dir']}")
    _write_lineage(b["run_dir"], sh, out)
    try:
        from nemesis import store as st

        st.point_latest(os.path.abspath(store), b["run_dir"])  # <store>/latest: the shrunk run, not the last candidate
    except OSError:
        pass
    try:
        from nemesis.report import update_reports

        update_reports(b["run_dir"], store)
    except Exception:  # reports are an aid; a missing one never fails the shrink
        pass
    entry = regression_entry(sh, out)
    summary = {"original": o, "shrunk": {"ops": b["ops"], "processes": len(out.best.processes),
                                         "faults": len(out.best.faults), "failing": b["failing"]},
               "confirmed": out.confirmed,
               "run_dir": b["run_dir"], "seconds": round(out.seconds, 1), "candidates": len(out.trials),
               "entry": entry}
    if save:
        path = regressions or rg.DEFAULT_FILE
        try:
            entry = rg.add(entry, path)
        except (rg.RegressionError, OSError) as e:
            echo(f"error: could not save the regression case to {path}: {e}", err=True)
            return EXIT_USAGE, summary
        summary["entry"] = entry
        flag = "" if path == rg.DEFAULT_FILE else f" --regressions {path}"
        echo(f"saved as regression case {entry['name']!r} in {path}")
        echo(f"reproduce: persist-nemesis shrink --replay-regressions{flag} --only {entry['name']}")
        echo(f"       or: persist-nemesis repro {b['run_dir']}")
    else:
        echo(f"reproduce: persist-nemesis repro {b['run_dir']}")
        echo("not saved as a regression case: add --save (regressions/seeds.json) or --regressions FILE")
    summary["command"] = f"persist-nemesis repro {b['run_dir']}"
    return 0, summary


def _write_lineage(run_dir: str, sh, out) -> None:
    """``shrink.json`` in the shrunk run: where it came from and every candidate tried."""
    from nemesis.store import write_json

    write_json(os.path.join(run_dir, "shrink.json"), {
        "original": out.original, "seconds": round(out.seconds, 2), "budget_spent": out.budget_spent,
        "plan": {"faults": [f.to_json() for f in out.best.faults], "fault_ops": list(out.best.fault_ops),
                 "processes": list(out.best.processes), "op_limit": out.best.op_limit},
        "confirmed": out.confirmed,
        "trials": [{"n": t.n, "confirm": t.confirm, "faults": len(t.plan.faults), "fault_ops": list(t.plan.fault_ops),
                    "processes": list(t.plan.processes), "op_limit": t.plan.op_limit, "failed": t.failed,
                    "runs": t.runs} for t in out.trials]})


def replay_regressions(path: str | None, only: tuple[str, ...], store: str, echo=click.echo) -> int:
    from nemesis import regressions as rg

    path = path or rg.DEFAULT_FILE
    try:
        entries = rg.load(path)
    except rg.RegressionError as e:
        echo(f"error: {e}", err=True)
        return EXIT_USAGE
    if only:
        missing = set(only) - {e["name"] for e in entries}
        if missing:
            echo(f"error: no entry named {', '.join(sorted(missing))} in {path}; "
                 f"there are: {', '.join(e['name'] for e in entries)}", err=True)
            return EXIT_USAGE
        entries = [e for e in entries if e["name"] in only]
    echo(f"replaying {len(entries)} regression seed(s) from {path}")
    t0 = time.monotonic()
    bad = 0
    for e in entries:
        try:
            r = rg.replay_one(e, store, on_run=lambda x: echo(
                f"  {x['name']}: {x['verdict']}{' (' + ', '.join(x['failing']) + ')' if x['failing'] else ''}, "
                f"{x['ops']} ops, {x['seconds']:.1f} s  {x['run_dir']}"))
        except rg.RegressionError as err:
            echo(f"error: {err}", err=True)
            return EXIT_USAGE
        ok = "ok  " if r["ok"] else "FAIL"
        rate = ""
        if e["expect"] == "invalid":
            rate = f", failed as recorded {r['rate']} (" + (f"recorded {r['recorded']})" if e.get("rate") else
                                                            f"no rate recorded: needs 1; add \"rate\": \"{r['rate']}\")")
        echo(f"{ok} {e['name']} (expect {e['expect']}{rate}){': ' + r['why'] if not r['ok'] else ''}")
        bad += not r["ok"]
    echo(f"{len(entries) - bad} passed, {bad} failed in {time.monotonic() - t0:.0f} s")
    return 0 if not bad else 1


@click.command("shrink")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--budget", type=float, default=120.0, show_default=True, help="seconds to spend on candidates")
@click.option("--tries", type=int, default=2, show_default=True,
              help="runs of a candidate before it counts as passing (crash tests are not fully deterministic)")
@click.option("--store", default=None, help="where candidate runs go (default: the original run's store)")
@click.option("--regressions", "regressions", default=None, type=click.Path(dir_okay=False),
              help="the regressions file (default: regressions/seeds.json in the repo)")
@click.option("--goal-ops", type=int, default=0, show_default=True,
              help="stop at the first failing run with at most this many operations (0: shrink to the end)")
@click.option("--save", is_flag=True,
              help="add the shrunk run to the regressions file (regressions/seeds.json, tracked: a change to commit)")
@click.option("--no-save", is_flag=True, hidden=True, help="the default (kept for old command lines)")
@click.option("--replay-regressions", is_flag=True, help="replay every regression seed instead (no RUN_DIR)")
@click.option("--only", multiple=True, metavar="NAME", help="with --replay-regressions: only these entries")
def shrink(run_dir, budget, tries, store, regressions, goal_ops, save, no_save, replay_regressions, only) -> int:
    """Shrink a failing run to a smaller one that still fails; save it as a regression seed."""
    if replay_regressions:
        if run_dir:
            raise click.BadParameter("--replay-regressions takes no RUN_DIR", param_hint="RUN_DIR")
        return replay_regressions_cmd(regressions, only, store)
    if only:
        raise click.BadParameter("--only goes with --replay-regressions", param_hint="--only")
    if not run_dir:
        raise click.BadParameter("give a RUN_DIR to shrink (e.g. runs/latest), or --replay-regressions",
                                 param_hint="RUN_DIR")
    if not os.path.isdir(run_dir):
        raise click.BadParameter(f"no such directory: {run_dir}", param_hint="RUN_DIR")
    if not budget > 0:
        raise click.BadParameter(f"must be > 0 seconds, got {budget:g}", param_hint="--budget")
    if tries < 1:
        raise click.BadParameter(f"must be >= 1, got {tries}", param_hint="--tries")
    if goal_ops < 0:
        raise click.BadParameter(f"must be >= 0 (0: no goal), got {goal_ops}", param_hint="--goal-ops")
    if save and no_save:
        raise click.BadParameter("give --save or --no-save, not both", param_hint="--save")
    # saved only when asked: --save, or --regressions FILE (a file of one's own); never the tracked file by default
    code, _ = shrink_run(run_dir, store, budget, tries, regressions, (save or regressions is not None) and not no_save,
                         goal_ops=goal_ops)
    return code


def replay_regressions_cmd(regressions, only, store) -> int:
    from nemesis.commands.run import DEFAULT_STORE

    return replay_regressions(regressions, tuple(only), store or DEFAULT_STORE)
