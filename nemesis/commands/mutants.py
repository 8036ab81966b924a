"""``persist-nemesis mutants``: the mutation score of the harness.

    persist-nemesis mutants [--json] [--budget S] [--store DIR] [--jobs N] [--control] [--no-hints] [FILE.py ...]

For each mutant (the zoo ``mutants/*.py``, or only the files given) it hunts
with seeded runs until one is caught or the mutant's budget runs out
(:mod:`nemesis.mutation` says how), ``--jobs`` mutants at a time, each in its
own process with its own run store ``DIR/<mutant>/``. Progress goes to
stderr; stdout gets a table (mutant, caught, time to catch, runs, seed,
configuration, the checkers that caught it) and the mutation score with the
median time to catch. With ``--json`` the last stdout line is exactly::

    {"caught": N, "total": M, "mutants": [{"name", "caught", "seconds", "seed", "checker", "command", ...}]}

``--no-hints`` ignores every file's ``EXPOSED_BY``: each hunt spreads its
budget round-robin over every workload x nemesis x blob configuration
(``nemesis.mutation.SPREAD``), seeds varied per configuration and round; a
file without a hint is hunted that way anyway.

A run that is invalid although the mutant's patched code never ran in it is
not a catch: it is printed as a *catch not attributed* (the engine there was
the correct one, so it may be a real engine bug) and the hunt goes on.

``--control`` runs each catch's configuration on the correct engine with the
catching seed and two more, and reports ``valid`` only if all are (a sound
catch); a catch whose control is not valid is flagged: a configuration the
correct engine fails too would be the harness's artifact (or an engine bug),
not the mutant's.

Exit codes: 0 every mutant caught; 1 some not caught (or could not run);
3 bad input (a missing or unreadable file, a bad option), before anything runs.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import click

DEFAULT_STORE = os.path.join("runs", "mutants")
DEFAULT_BUDGET = 300.0


def _reader(proc: subprocess.Popen, name: str, q: queue.Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line:
            try:
                q.put((name, json.loads(line)))
            except json.JSONDecodeError:
                pass
    q.put((name, None))


def run_all(mutants, budget: float, store: str, jobs: int, err, control: bool = False,
            no_hints: bool = False) -> list[dict[str, Any]]:
    """Hunt every mutant (``jobs`` processes at a time); results in the given order."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    todo = list(mutants)
    results: dict[str, dict[str, Any]] = {}
    running: dict[str, subprocess.Popen] = {}
    q: queue.Queue = queue.Queue()
    prog = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal)
    tasks = {m.name: prog.add_task(m.name, info="waiting", start=False, total=1) for m in todo}
    logs: dict[str, Any] = {}

    def start(m) -> None:
        mstore = os.path.join(store, m.name)
        os.makedirs(mstore, exist_ok=True)
        log = logs[m.name] = open(os.path.join(mstore, "hunt.log"), "ab")
        argv = [sys.executable, "-m", "nemesis.mutation", m.path, "--budget", str(budget), "--store", mstore]
        argv += (["--control"] if control else []) + (["--no-hints"] if no_hints else [])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                                text=True, start_new_session=True)
        running[m.name] = proc
        threading.Thread(target=_reader, args=(proc, m.name, q), daemon=True).start()
        prog.start_task(tasks[m.name])
        prog.update(tasks[m.name], info="starting")

    by_name = {m.name: m for m in todo}
    pending = list(todo)
    prog.start()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                start(pending.pop(0))
            name, msg = q.get()
            if msg is None:
                proc = running.pop(name)
                proc.wait()
                logs.pop(name).close()
                if name not in results:
                    m = by_name[name]
                    results[name] = {"name": name, "file": m.path, "caught": False, "seconds": None, "seed": None,
                                     "checker": None, "command": None,
                                     "error": f"the hunt process exited with code {proc.returncode} "
                                              f"(log: {os.path.join(store, name, 'hunt.log')})"}
                r = results[name]
                info = (f"[green]caught[/] in {r['seconds']:.1f} s (seed {r['seed']}, {r['checker']})" if r["caught"]
                        else f"[red]NOT caught[/] {r.get('error') or ''}")
                prog.update(tasks[name], info=info, completed=1)
                prog.stop_task(tasks[name])
                if not err.is_terminal:
                    err.print(f"{name}: " + info)
            elif msg.get("event") == "run":
                prog.update(tasks[name], info=f"run {msg['n']} ({msg['config']}, seed {msg['seed']}): "
                                              f"{msg['verdict']}, {msg['elapsed']:.0f} s")
            elif msg.get("event") == "done":
                results[name] = msg["result"]
    except BaseException:  # Ctrl-C: each hunt ends its run cleanly (workers, moto server), then stops
        for proc in running.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in running.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        prog.stop()
    return [results[m.name] for m in todo]


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    caught = [r for r in results if r.get("caught")]
    times = [r["seconds"] for r in caught]
    return {"caught": len(caught), "total": len(results),
            "median_seconds": round(statistics.median(times), 2) if times else None}


def table(out, results: list[dict[str, Any]], control: bool = False) -> None:
    from rich.table import Table

    t = Table(title="mutants", show_edge=False)
    cols = [("mutant", "left"), ("caught", "left"), ("time to catch", "right"), ("runs", "right"),
            ("seed", "right"), ("config", "left"), ("caught by", "left")] + ([("control", "left")] if control else [])
    for col, just in cols:
        t.add_column(col, justify=just, overflow="fold", no_wrap=col in ("mutant", "config"))
    for r in results:
        secs = f"{r['seconds']:.1f} s" if r.get("seconds") is not None else "-"
        row = [r["name"], "[green]yes[/]" if r.get("caught") else "[red]NO[/]", secs if r.get("caught") else f"> {secs}",
               str(r.get("runs", "-")), str(r.get("seed") if r.get("caught") else "-"),
               r.get("config") or "-", r.get("checker") or (r.get("error") or "-")]
        if control:
            row.append(r.get("control") or "-")
        t.add_row(*row)
    out.print(t)
    caught = [r for r in results if r.get("caught") and r.get("run_dir")]
    if caught:  # where each catch is (to shrink or repro it)
        out.print("runs of the catches:")
        for r in caught:
            rel = os.path.relpath(r["run_dir"]) if not os.path.relpath(r["run_dir"]).startswith("..") else r["run_dir"]
            out.print(f"  {r['name']}: {rel}", soft_wrap=True)


@click.command("mutants")
@click.argument("files", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="end with one JSON line: {caught, total, mutants}")
@click.option("--budget", type=float, default=DEFAULT_BUDGET, show_default=True,
              help="seconds per mutant before it counts as not caught")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="where the runs go (DIR/<mutant>/)")
@click.option("--jobs", type=int, default=None, help="mutants hunted at once [default: number of cores]")
@click.option("--control", is_flag=True,
              help="after each catch, run the same configuration on the correct engine, the catching seed and two "
                   "more (should be valid)")
@click.option("--no-hints", is_flag=True,
              help="ignore EXPOSED_BY: spread each budget over every workload x nemesis x blob configuration")
def mutants(files, as_json, budget, store, jobs, control, no_hints) -> int:
    """Hunt planted bugs (the zoo mutants/*.py, or FILE.py ...): each until a seeded run
    catches it or its budget runs out; print the table and the mutation score."""
    from rich.console import Console

    from nemesis import mutation
    from nemesis import store as st

    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=160)
    if not budget > 0 or budget != budget or budget == float("inf"):
        raise click.BadParameter(f"must be a finite number of seconds > 0, got {budget:g}", param_hint="--budget")
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise click.BadParameter(f"must be >= 1, got {jobs}", param_hint="--jobs")
    paths = list(files) or mutation.zoo_files()
    if not paths:
        raise click.UsageError(f"no mutants: {mutation.ZOO} holds no *.py files and none were given")
    try:
        ms = [mutation.load(p) for p in paths]
    except mutation.MutantError as e:
        raise click.BadParameter(str(e), param_hint="FILE.py") from None
    names = [m.name for m in ms]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise click.BadParameter(f"two mutants named {dup[0]!r}: give each file a distinct name", param_hint="FILE.py")
    try:
        store = st.check_store(store)
    except st.StoreError as e:
        raise click.BadParameter(str(e), param_hint="--store") from None
    err.print(f"hunting {len(ms)} mutant(s), {jobs} at a time, budget {budget:g} s each"
              f"{', no hints' if no_hints else ''}; runs in {store}")
    t0 = time.monotonic()
    results = run_all(ms, budget, store, jobs, err, control, no_hints)
    s = summary(results)
    table(out, results, control)
    pct = 100.0 * s["caught"] / s["total"]
    med = f"{s['median_seconds']:.1f} s" if s["median_seconds"] is not None else "-"
    out.print(f"mutation score: {s['caught']}/{s['total']} ({pct:.0f}%)   median time to catch: {med}   "
              f"wall time: {time.monotonic() - t0:.0f} s")
    if control:
        unsound = [r["name"] for r in results if r.get("caught") and r.get("control") != "valid"]
        out.print(f"controls (the catching config on the correct engine, its seed and two more): "
                  f"{sum(r.get('control') == 'valid' for r in results)} valid"
                  + (f"; FLAGGED, control not valid: {', '.join(unsound)}" if unsound else ""))
        for r in results:
            for c in r.get("controls") or []:
                if c.get("verdict") != "valid":
                    out.print(f"  control of {r['name']} {c['verdict']} on the correct engine: {c.get('command')}",
                              markup=False)
    for r in results:
        for u in r.get("unattributed") or []:
            out.print(f"catch not attributed ({r['name']}: its patched code never ran; possibly an engine bug): "
                      f"{u['config']} seed {u['seed']}, {u.get('checker')}: {u.get('detail')}", markup=False)
            out.print(f"  {u.get('command')}", markup=False)
    for r in results:
        if r.get("caught") and r.get("command"):
            out.print(f"  {r['name']}: {r['command']}", markup=False)
    if as_json:
        sys.stdout.flush()
        keep = ("name", "caught", "seconds", "seed", "checker", "command", "config", "runs", "run_dir", "detail",
                "error", "file", "attributed", "patched_ran", "unattributed", "hints") + (
                    ("control", "control_run_dir", "controls") if control else ())
        line = {"caught": s["caught"], "total": s["total"],
                "mutants": [{k: r.get(k) for k in keep} for r in results]}
        print(json.dumps(line, separators=(",", ":")))
    return 0 if s["caught"] == s["total"] else 1
