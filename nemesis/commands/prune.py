"""``persist-nemesis prune [--store DIR] [--keep N] [--dry-run]``: keep the
failing runs and the newest N, delete the other runs (``nemesis/prune.py``).

Prints one line per run deleted and the space freed. Exit 0, or 3 when the
store is not a store.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("prune")
@click.option("--store", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="the run store")
@click.option("--keep", type=int, default=20, show_default=True, help="also keep this many newest runs")
@click.option("--dry-run", is_flag=True, help="say what would be deleted, delete nothing")
def prune(store: Path, keep: int, dry_run: bool) -> int:
    """Delete passing (and never judged) runs beyond the newest N; failing runs stay."""
    from nemesis import prune as pr
    from nemesis.report import ReportError, check_store

    try:
        store = check_store(store)
        if keep < 0:
            raise click.BadParameter(f"must be >= 0, got {keep}", param_hint="--keep")
    except ReportError as e:  # bad input: click's usage format, exit 3 (as every subcommand)
        raise click.BadParameter(str(e), param_hint="--store") from None
    d = pr.plan(store, keep)
    for run, why in d.delete:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {run} ({why})")
    if not dry_run:
        pr.apply(store, d)
    failing = sum(1 for _, why in d.keep if why in ("invalid", "unknown"))
    click.echo(f"{'would delete' if dry_run else 'deleted'} {len(d.delete)} runs ({d.bytes_freed / 1e6:.1f} MB); "
               f"kept {len(d.keep)} ({failing} failing, the newest {keep}, any still running)")
    return 0
