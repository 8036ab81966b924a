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
Exit code as for ``run``. The configuration is read by
:func:`nemesis.runner.load_config`.
"""

from __future__ import annotations

import json
import os

import click

from nemesis.errors import EXIT_USAGE


@click.command("repro")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--store", default=None, help="where the new run goes (default: the original run's store)")
@click.option("--attempts", type=int, default=1, show_default=True,
              help="run up to N times, stopping at the first run that reproduces the original verdict")
@click.option("--quiet", is_flag=True)
def repro(run_dir: str, store: str | None, attempts: int, quiet: bool) -> int:
    """Reproduce a stored run from its directory."""
    from nemesis.runner import execute, load_config

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
