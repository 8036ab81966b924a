"""Reports people look at: per run ``timeline.html``, ``latency.png``,
``throughput.png`` (and ``report.json``, the run's summary for the index);
per store ``index.html``.

The harness calls two functions at the end of a run::

    from nemesis.report import write_reports, write_index
    write_reports(run_dir)   # the run's pages and plots
    write_index(store_dir)   # the store's index page

or ``update_reports(run_dir, store_dir)``, which does both and never raises
(a report that cannot be made must not fail the run; it logs why).

Both read only the directories they are given (a run stored years ago, or
one that died half-way, gets its reports too) and import neither ``persist``
nor ``workloads``. Layout of the files: ``docs/runs.md``, section Reports.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nemesis.report.index import check_store, render_index, write_index
from nemesis.report.markup import write_atomic
from nemesis.report.periods import periods_of
from nemesis.report.rundir import ReportError, load_run
from nemesis.report.summary import write_summary
from nemesis.report.timeline import render_timeline

__all__ = ["ReportError", "write_reports", "write_index", "render_index", "check_store", "update_reports"]

TIMELINE = "timeline.html"
PLOTS = ("latency.png", "throughput.png")

log = logging.getLogger(__name__)


def write_reports(run_dir: str | Path, *, plots: bool | str = True) -> list[Path]:
    """Write the reports of one run into its directory; returns their paths.

    ``plots``: True draws the PNGs now; ``"lazy"`` draws none but links them
    from the timeline (what the end of a run does, sparing it matplotlib:
    ``persist-nemesis serve`` draws a missing plot when it is viewed,
    ``persist-nemesis report`` writes them); False leaves them out.

    Raises :class:`ReportError` when ``run_dir`` is not a run directory (no
    ``history.jsonl``). A failure to draw the plots (matplotlib missing or
    broken) is logged and costs only the plots, never the timeline.
    """
    run = load_run(run_dir)
    periods = periods_of(run.nemesis, run.end)
    out: list[Path] = []
    drawn: tuple[str, ...] = PLOTS if plots == "lazy" else ()
    if plots is True:
        try:
            from nemesis.report.plots import write_plots

            out += write_plots(run, periods, run.path)
            drawn = PLOTS
        except Exception as e:  # noqa: BLE001 - the timeline matters more than the plots
            log.warning("plots of %s not drawn: %s: %s", run.path, type(e).__name__, e)
    path = run.path / TIMELINE
    write_atomic(path, render_timeline(run, periods, plots=drawn))
    out.insert(0, path)
    write_summary(run, periods)
    return out


def update_reports(run_dir: str | Path, store_dir: str | Path | None = None, *,
                   plots: bool | str = True) -> list[Path]:
    """:func:`write_reports` then :func:`write_index`, for the end of a run:
    never raises; what could not be written is logged (``nemesis.report``)
    and missing from the returned paths."""
    out: list[Path] = []
    try:
        out += write_reports(run_dir, plots=plots)
    except Exception as e:  # noqa: BLE001 - reports never fail a run
        log.warning("reports of %s not written: %s: %s", run_dir, type(e).__name__, e)
    if store_dir is not None:
        try:
            out.append(write_index(store_dir))
        except Exception as e:  # noqa: BLE001
            log.warning("index of %s not written: %s: %s", store_dir, type(e).__name__, e)
    return out
