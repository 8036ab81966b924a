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

import os
import time

import click

from nemesis.errors import EXIT_USAGE


def shrink_run(run_dir: str, store: str | None, budget: float, tries: int, regressions: str | None,
               save: bool, echo=click.echo, goal_ops: int = 0) -> tuple[int, dict | None]:
    """Shrink ``run_dir`` through the library (:func:`nemesis.api.shrink`),
    printing as the command does; returns (exit code, the summary: original,
    shrunk, run_dir, command, entry, confirmed, seconds, candidates)."""
    from nemesis import api
    from nemesis.shrink import ShrinkError

    def on_trial(t) -> None:
        last = t.runs[-1] if t.runs else {}
        verdict = "FAILS" if t.failed else "passes"
        n_runs = f" ({len(t.runs)} runs)" if len(t.runs) > 1 else ""
        kind = "confirm  " if t.confirm else "candidate"
        if t.confirm:
            verdict = "FAILS every time" if t.failed else "passed once: not kept"
        echo(f"{kind} {t.n:>3}: {t.plan.describe():<58} -> {verdict}{n_runs}, {last.get('ops')} ops, "
             f"{sum(r['seconds'] for r in t.runs):.1f} s  {last.get('run_dir', '')}")

    began = []

    def started(sh) -> None:
        began.append(sh)
        o = sh.original
        echo(f"shrinking {o['run_dir']}: {o['ops']} operations, {o['processes']} processes, {o['faults']} faults; "
             f"failing checkers {', '.join(o['failing']) or '?'}; budget {budget:g} s, up to {sh.tries} run(s) "
             "a candidate")

    try:
        r = api.shrink(run_dir, budget=budget, tries=tries, store=store, goal_ops=goal_ops, save=save,
                       regressions=regressions, on_trial=on_trial, on_start=started)
    except ShrinkError as e:
        if not began:  # RUN_DIR is not a finished, failing run: bad input, in click's usage format
            raise click.BadParameter(str(e), param_hint="RUN_DIR") from None
        echo(f"Error: {e}", err=True)
        return EXIT_USAGE, None
    if not r.found:
        echo(f"no candidate failed again in {r.seconds:.0f} s ({r.candidates} candidates); the failure may "
             "depend on timing: try --tries 3 or a larger --budget")
        return 2, None
    o, b = r.original, r.shrunk or {}
    goal = " (goal reached)" if goal_ops and (b.get("ops") or 0) <= goal_ops else ""
    echo(f"\nshrunk in {r.seconds:.0f} s, {r.candidates} candidates{' (budget spent)' if r.budget_spent else goal}:")
    echo(f"  {'':<18}{'original':>12}{'shrunk':>12}")
    for name, key in (("operations", "ops"), ("processes", "processes"), ("faults", "faults")):
        echo(f"  {name:<18}{o[key]!s:>12}{b[key]!s:>12}")
    ov = (r.entry or {}).get("overrides", {})
    faults = ", ".join(f"{f['nemesis']} on worker {f['target']} at op {n}"
                       for f, n in zip(ov.get("faults", []), ov.get("fault_ops", []))) or "none"
    echo(f"  failing checkers: {', '.join(o['failing'])} -> {', '.join(b['failing'])}")
    echo(f"  failed again in {r.confirmed} runs" if r.confirmed else
         "  warning: the shrunk run did not fail again in every confirmation run (flaky); its regression case "
         "may need more tries")
    echo(f"  faults replayed: {faults}; op limit {(r.entry or {}).get('op_limit')}")
    echo(f"shrunk run: {r.run_dir}")
    summary = {"original": o, "shrunk": b, "confirmed": r.confirmed, "run_dir": r.run_dir, "seconds": r.seconds,
               "candidates": r.candidates, "entry": r.entry, "command": r.repro_command}
    if r.save_error:
        echo(f"Error: {r.save_error}", err=True)
        return EXIT_USAGE, summary
    if r.saved_to:
        from nemesis import regressions as rg

        flag = "" if r.saved_to == rg.DEFAULT_FILE else f" --regressions {r.saved_to}"
        echo(f"saved as regression case {r.entry['name']!r} in {r.saved_to}")
        echo(f"reproduce: persist-nemesis shrink --replay-regressions{flag} --only {r.entry['name']}")
        echo(f"       or: {r.repro_command}")
    else:
        echo(f"reproduce: {r.repro_command}")
        echo("not saved as a regression case: add --save (regressions/seeds.json) or --regressions FILE")
    return 0, summary


def replay_regressions(path: str | None, only: tuple[str, ...], store: str, echo=click.echo) -> int:
    from nemesis import regressions as rg

    path = path or rg.DEFAULT_FILE
    try:
        entries = rg.load(path)
    except rg.RegressionError as e:
        raise click.BadParameter(str(e), param_hint="--regressions") from None
    if only:
        missing = set(only) - {e["name"] for e in entries}
        if missing:
            raise click.BadParameter(f"no entry named {', '.join(sorted(missing))} in {path}; "
                                     f"there are: {', '.join(e['name'] for e in entries)}", param_hint="--only")
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
            echo(f"Error: {err}", err=True)
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
    from nemesis.runner import DEFAULT_STORE

    return replay_regressions(regressions, tuple(only), store or DEFAULT_STORE)
