"""``latency.png`` and ``throughput.png``: how the run performed over time,
with fault periods shaded (as Jepsen's perf checker draws them).

- Latency: one point per completed operation at its invoke time, its latency
  on a log axis; colour by ``f``, marker by outcome (``ok`` dot, ``fail``
  cross, ``info`` triangle at the time the harness gave up on it).
- Throughput: ``ok`` operations completed per second, per ``f``, in bins of
  about a hundredth of the run (at least 10 ms).

matplotlib is imported only here, lazily, with the Agg backend through the
object API (no pyplot global state), so the command line stays fast and a
missing matplotlib costs only the plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nemesis.report.markup import fault_colors
from nemesis.report.periods import Period
from nemesis.report.rundir import Run

F_COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#d62728"]
MARKERS = {"ok": "o", "fail": "x", "info": "^"}
SIZE = (11, 4.6)
DPI = 100


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI)  # fixed margins: constrained layout costs ~0.4 s a plot
    fig.subplots_adjust(left=0.07, right=0.86, top=0.92, bottom=0.12)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _shade(ax: Any, periods: list[Period], end_s: float) -> list[Any]:
    """Shade fault periods; returns legend handles, one per kind."""
    from matplotlib.patches import Patch

    colors = fault_colors([p.f for p in periods])
    for p in periods:
        a = p.start / 1e9
        b = end_s if p.end is None else p.end / 1e9
        if b > a:
            ax.axvspan(a, b, color=colors[p.f], alpha=0.15, lw=0)
        else:
            ax.axvline(a, color=colors[p.f], alpha=0.7, lw=1, ls="--")
    return [Patch(color=c, alpha=0.35, label=k) for k, c in colors.items()]


def _fcolors(run: Run) -> dict[str, str]:
    fs: dict[str, str] = {}
    for op in run.ops:
        if op.f not in fs:
            fs[op.f] = F_COLORS[len(fs) % len(F_COLORS)]
    return fs


def _finish(fig: Any, ax: Any, handles: list[Any], path: Path, title: str, end_s: float) -> None:
    ax.set_xlim(0, max(end_s, 1e-3))
    ax.set_xlabel("time since the run started (s)")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title, fontsize=10)
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    fig.savefig(path, format="png")


def latency_plot(run: Run, periods: list[Period], path: Path) -> Path:
    from matplotlib.lines import Line2D

    fig, ax = _figure()
    end_s = run.end / 1e9
    handles = _shade(ax, periods, end_s)
    fcol = _fcolors(run)
    drawn = False
    for f, col in fcol.items():
        for outcome, marker in MARKERS.items():
            pts = [(op.call / 1e9, max(op.latency, 1000) / 1e6) for op in run.ops if op.f == f and op.type == outcome and op.done is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            kw: dict[str, Any] = {"s": 6 if outcome == "ok" else 18, "alpha": 0.55 if outcome == "ok" else 0.9, "rasterized": True}
            if marker != "x":
                kw["linewidths"] = 0
            ax.scatter(xs, ys, c=col, marker=marker, **kw)
            drawn = True
    if drawn:
        ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    handles = (
        [Line2D([], [], color=c, marker="o", ls="", label=f) for f, c in fcol.items()]
        + [Line2D([], [], color="#444", marker=m, ls="", label=o) for o, m in MARKERS.items()]
        + handles
    )
    if not drawn:
        ax.text(0.5, 0.5, "no completed operations", transform=ax.transAxes, ha="center", color="#777")
    _finish(fig, ax, handles, path, f"latency — {run.workload} {run.name}", end_s)
    return path


def bin_width(end_ns: int) -> float:
    """Seconds per throughput bin: about a hundredth of the run, a round
    number, at least 10 ms."""
    raw = max(end_ns / 1e9 / 100, 0.01)
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if step >= raw:
            return step
    return 600.0


def throughput_series(run: Run) -> tuple[float, list[float], dict[str, list[float]]]:
    """``(bin seconds, bin starts, {f: ok completions per second})``."""
    width = bin_width(run.end)
    n = int(run.end / 1e9 / width) + 1
    series: dict[str, list[float]] = {}
    for op in run.ops:
        if op.type != "ok" or op.done is None:
            continue
        b = min(int(op.done / 1e9 / width), n - 1)
        series.setdefault(op.f, [0.0] * n)[b] += 1 / width
    return width, [i * width for i in range(n)], series


def throughput_plot(run: Run, periods: list[Period], path: Path) -> Path:
    from matplotlib.lines import Line2D

    fig, ax = _figure()
    end_s = run.end / 1e9
    handles = _shade(ax, periods, end_s)
    width, starts, series = throughput_series(run)
    fcol = _fcolors(run)
    lines = []
    for f, ys in series.items():
        ax.step(starts, ys, where="post", color=fcol[f], lw=1.3)
        lines.append(Line2D([], [], color=fcol[f], label=f))
    if not series:
        ax.text(0.5, 0.5, "no ok operations", transform=ax.transAxes, ha="center", color="#777")
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"ok operations / s ({width:g} s bins)")
    _finish(fig, ax, lines + handles, path, f"throughput — {run.workload} {run.name}", end_s)
    return path


def write_plots(run: Run, periods: list[Period], out_dir: Path) -> list[Path]:
    """Both plots into ``out_dir``, written under a temporary name and renamed."""
    out = []
    for name, fn in (("latency.png", latency_plot), ("throughput.png", throughput_plot)):
        final = out_dir / name
        tmp = out_dir / f".{name}.tmp"
        fn(run, periods, tmp)
        tmp.replace(final)
        out.append(final)
    return out


def render_png(run_dir: Path, name: str) -> bytes:
    """One plot (``latency.png`` or ``throughput.png``) of a run, drawn in
    memory: what ``serve`` sends for a plot the run did not draw (read-only)."""
    import io

    from nemesis.report.periods import periods_of
    from nemesis.report.rundir import load_run

    fn = {"latency.png": latency_plot, "throughput.png": throughput_plot}[name]
    run = load_run(run_dir)
    buf = io.BytesIO()
    fn(run, periods_of(run.nemesis, run.end), buf)  # type: ignore[arg-type]
    return buf.getvalue()
