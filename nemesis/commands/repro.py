"""``persist-nemesis repro RUN_DIR``: run a stored run again.

Reads ``RUN_DIR/config.json`` and runs the same configuration (workload,
nemeses, seed, time limit, concurrency, operation limit, mutant, and the
disk fault model it ran with: ``fault_model``, so a run that had the fault
filesystem is refused where FUSE does not work rather than rerun on the
weaker tracer) into a new
run directory of the same store (or ``--store``). The seed fixes the
generated operations and the nemesis schedule; timing does not repeat
exactly, so a failure caused by a race may need a few tries
(``--attempts N`` stops at the first run with the original verdict).
Exit code as for ``run``.
"""

from __future__ import annotations

import json
import os

import click

from nemesis.cli import EXIT_USAGE


def load_config(run_dir: str):
    from nemesis.commands.run import build_config

    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise click.BadParameter(f"{run_dir} is not a run directory (no config.json); pass a directory under the "
                                 "store, e.g. runs/latest", param_hint="RUN_DIR")
    from nemesis.store import StoreError, resolve_mutant

    try:
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
        try:  # a run copied from another machine: its mutant as this checkout has it
            c["mutant"] = resolve_mutant(c.get("mutant"), c.get("paths"), run_dir)
        except StoreError as e:
            raise click.BadParameter(str(e), param_hint="RUN_DIR") from None
        nemeses = c["nemesis"]
        cfg = build_config(c["workload"], ",".join(nemeses) if isinstance(nemeses, list) else nemeses,
                           int(c["seed"]), float(c["time_limit"]), int(c.get("concurrency", 4)),
                           int(c.get("op_limit", 0)), c.get("mutant"), bool(c.get("keep_data", False)),
                           blob=c.get("blob", "file"), s3_faults=c.get("s3_faults", []),
                           s3_port=int(c.get("s3_port", 0)), fs=fs_of(c), system=c.get("system", "persist"))
        if any(k in c for k in ("faults", "fault_ops", "processes")):  # a replayed schedule (shrink, regressions)
            from nemesis.regressions import apply_overrides

            apply_overrides(cfg, {k: c[k] for k in ("faults", "fault_ops", "processes") if k in c})
    except (ValueError, KeyError, TypeError) as e:
        raise click.BadParameter(f"{path} is not a readable run configuration: {e}", param_hint="RUN_DIR") from None
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


@click.command("repro")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--store", default=None, help="where the new run goes (default: the original run's store)")
@click.option("--attempts", type=int, default=1, show_default=True,
              help="run up to N times, stopping at the first run that reproduces the original verdict")
@click.option("--quiet", is_flag=True)
def repro(run_dir: str, store: str | None, attempts: int, quiet: bool) -> int:
    """Reproduce a stored run from its directory."""
    from nemesis.commands.run import execute

    run_dir = os.path.realpath(run_dir)
    if not os.path.isdir(run_dir):
        raise click.BadParameter(f"no such directory: {run_dir}", param_hint="RUN_DIR")
    if attempts < 1:
        raise click.BadParameter(f"must be >= 1, got {attempts}", param_hint="--attempts")
    cfg, raw = load_config(run_dir)
    # the store the run directory is in now (a run copied from another machine writes here, not there)
    store = store or os.path.dirname(os.path.dirname(run_dir))
    original = None
    res = os.path.join(run_dir, "results.json")
    if os.path.isfile(res):
        with open(res, encoding="utf-8") as f:
            original = json.load(f).get("valid")
    click.echo(f"reproducing {run_dir} (seed {cfg.seed}; original verdict: {_word(original)}); new runs go to {store}")
    code = EXIT_USAGE
    for i in range(attempts):
        code = execute(cfg, store, quiet)
        if code == EXIT_USAGE or original is None or code == {True: 0, False: 1}.get(original, 2):
            break
        if i + 1 < attempts:
            click.echo(f"attempt {i + 1} did not reproduce the verdict; trying again")
    click.echo(said(original, code, i + 1))
    return code


def _word(valid) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown" if valid is not None else "not judged")


def said(original, code: int, attempts: int) -> str:
    """The sentence ``repro`` ends with: did the original verdict come back?"""
    got = {0: "valid", 1: "invalid", 2: "unknown"}.get(code)
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if got is None:
        return f"not reproduced: the new run could not be judged (exit code {code})"
    if original is None:
        return f"the original run was never judged; the new run is {got}"
    if got == _word(original):
        return f"reproduced: the original verdict ({got}) came back (in {tries})"
    return f"did not reproduce: the original run was {_word(original)}, the new run is {got} (after {tries})"
