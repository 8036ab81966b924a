"""``persist-nemesis report [RUN_DIR ...] [--store DIR] [--all]``: (re)write
reports.

With run directories: each run's ``timeline.html``, ``latency.png`` and
``throughput.png``, then the index of the store they belong to (``--store``,
else the directory two levels up when it is a store: it has ``latest`` or an ``index.html``). Without: the store's
``index.html`` (and, with ``--all``, every run's reports first). Prints the
path of every file written. Exit 0, or 3 when an input is not what it should
be (the message says what is expected).
"""

from __future__ import annotations

from pathlib import Path

import click

EXIT_BAD_INPUT = 3


@click.command("report")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--store", type=click.Path(path_type=Path), default=None, help="The run store (default ./runs, or the store holding the RUN_DIRs).")
@click.option("--all", "all_runs", is_flag=True, help="Rewrite the reports of every run in the store, then its index.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots (faster).")
def report(run_dirs: tuple[Path, ...], store: Path | None, all_runs: bool, no_plots: bool) -> int:
    """Write a run's timeline.html, latency.png and throughput.png, and the
    store's index.html."""
    from nemesis.report import ReportError, check_store, write_index, write_reports
    from nemesis.report.index import find_runs, is_store_root

    try:
        runs = list(run_dirs)
        if all_runs:
            runs += find_runs(check_store(store or Path("runs")))
        stores: list[Path] = []
        if store is not None or not run_dirs:
            stores.append(store or Path("runs"))
        for r in runs:
            for path in write_reports(r, plots=not no_plots):
                click.echo(str(path))
            if store is None:
                guess = Path(r).resolve().parent.parent
                if not (is_store_root(guess) and guess not in stores):
                    continue
                stores.append(guess)
        for s in stores:
            click.echo(str(write_index(s)))
    except ReportError as e:  # bad input: click's usage format, exit 3 (as every subcommand)
        raise click.BadParameter(str(e), param_hint="RUN_DIRS / --store") from None
    return 0
