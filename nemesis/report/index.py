"""``<store>/index.html``: every run of a store, newest first, with its verdicts.

A store is a directory of runs, ``<store>/<workload>/<UTC time>-seed<N>/``
(``docs/runs.md``), with ``<store>/latest`` pointing at the newest. The index
reads each run's ``report.json`` summary (:mod:`nemesis.report.summary`),
making it where it is missing or stale, so regenerating it after every run of
a campaign stays cheap.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nemesis.report.markup import CSS, badge, esc, fill, verdict_word, write_atomic
from nemesis.report.rundir import ReportError, is_run_dir
from nemesis.report.summary import cached_summary

INDEX = "index.html"
#: what may sit at the top of a store besides workload folders
STORE_FILES = re.compile(r"^(index\.html|README.*|regressions.*|latest|\..*|.*\.xml|.*\.json|.*\.log)$")


def find_runs(store: Path, _depth: int = 2) -> list[Path]:
    """Run directories of a store: ``<store>/<workload>/<run>/``, and those
    of the stores nested in it up to two levels down (``persist-nemesis
    mutants`` hunts into ``<store>/mutants/<mutant>/<workload>/<run>/``)."""
    runs = []
    for wl in sorted(store.iterdir()):
        if wl.name.startswith(".") or wl.name == "latest" or wl.is_symlink() or not wl.is_dir():
            continue
        try:
            found = [r for r in sorted(wl.iterdir())
                     if not r.name.startswith(".") and not r.is_symlink() and r.is_dir() and is_run_dir(r)]
        except OSError:
            continue
        if found:
            runs += found
        elif _depth > 0 and not is_run_dir(wl):
            runs += find_runs(wl, _depth - 1)
    return runs


def check_store(store: str | Path) -> Path:
    """The store's path, or a :class:`ReportError` saying what a store is."""
    p = Path(store)
    what = "a run store: a directory of <workload>/<UTC time>-seed<N>/ run directories, as written by `persist-nemesis run --store DIR`"
    if not p.exists():
        raise ReportError(f"{p}: no such directory (expected {what})")
    if not p.is_dir():
        raise ReportError(f"{p}: not a directory (expected {what})")
    if is_run_dir(p):
        raise ReportError(f"{p}: this is a run directory, not a store; use `persist-nemesis report {p}` (expected {what})")
    if find_runs(p):
        return p
    stray = [e.name for e in p.iterdir() if not e.is_dir() and not STORE_FILES.match(e.name)]
    if stray:
        raise ReportError(f"{p}: not a run store: no runs in it, and it holds other files ({', '.join(sorted(stray)[:3])}); expected {what}")
    return p


def is_store_root(path: Path) -> bool:
    """A directory the harness made a store: it has ``latest`` or an index.
    (A guess from a run's path must not write an index anywhere else.)"""
    try:
        return (path / "latest").is_symlink() or (path / "latest").exists() or (path / INDEX).is_file()
    except OSError:
        return False


def _when(s: dict[str, Any], run: Path) -> float:
    text = str(s.get("started") or "")
    for parse in (
        lambda t: datetime.fromisoformat(t),
        lambda t: datetime.strptime(t, "%Y%m%dT%H%M%SZ"),
        lambda t: datetime.strptime(t, "%Y%m%dT%H%M%S.%fZ"),
        lambda t: datetime.strptime(t, "%Y-%m-%dT%H-%M-%SZ"),
        lambda t: datetime.strptime(t, "%Y-%m-%dT%H%M%SZ"),
        lambda t: datetime.strptime(t, "%Y-%m-%dT%H%M%S.%fZ"),
        lambda t: datetime.strptime(t, "%Y-%m-%dT%H-%M-%S.%fZ"),
    ):
        try:
            d = parse(text)
        except ValueError:
            continue
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return d.timestamp()
    try:
        return run.stat().st_mtime
    except OSError:
        return 0.0


def when_text(s: dict[str, Any], run: Path) -> str:
    t = _when(s, run)
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else run.name


def collect(store: Path, *, refresh: bool = True) -> list[tuple[Path, dict[str, Any]]]:
    rows = []
    for run in find_runs(store):
        try:
            s = cached_summary(run, refresh=refresh)
        except (OSError, ReportError) as e:  # one broken run never hides the others
            s = {"workload": run.parent.name, "status": f"unreadable: {e}", "valid": None}
        rows.append((run, s))
    rows.sort(key=lambda rs: (_when(rs[1], rs[0]), rs[0].name), reverse=True)
    return rows


def _link(store: Path, run: Path, name: str, label: str) -> str:
    if not (run / name).exists():
        return ""
    rel = (run / name).relative_to(store).as_posix()
    return f'<a href="{esc(rel)}">{esc(label)}</a>'


def _row(store: Path, run: Path, s: dict[str, Any]) -> str:
    rel = run.relative_to(store).as_posix() + "/"
    ops = s.get("ops") or {}
    faults = s.get("faults") or {}
    verdicts = " ".join(
        badge(v.get("valid"), f"{v.get('checker')}" + (f" ×{v['anomalies']}" if v.get("anomalies") else ""), title=verdict_word(v.get("valid")))
        for v in s.get("verdicts") or []
    )
    status = s.get("status")
    note = ""
    if status and str(status).lower() not in ("ok", "done", "complete", "completed", "finished"):
        note = f'<div class="muted">{esc(status)}</div>'
    elif s.get("incomplete"):
        note = '<div class="muted">has indeterminate or unfinished ops</div>'
    links = " · ".join(
        x
        for x in (
            _link(store, run, "timeline.html", "timeline"),
            _link(store, run, "latency.png", "latency"),
            _link(store, run, "throughput.png", "throughput"),
            _link(store, run, "history.jsonl", "history"),
            _link(store, run, "results.json", "results"),
            _link(store, run, "config.json", "config"),
            f'<a href="{esc(rel)}">files</a>',
        )
        if x
    )
    word = verdict_word(s.get("valid"))
    dur = s.get("duration_s")
    return (
        f'<tr class="run v-{word}" data-text="{esc(" ".join(map(str, [s.get("workload"), s.get("seed"), *(s.get("nemeses") or []), run.name, word, s.get("mutant") or ""])))}">'
        f"<td>{badge(s.get('valid'))}{note}</td>"
        f'<td class="mono"><a href="{esc(rel)}{"timeline.html" if (run / "timeline.html").exists() else ""}" title="{esc(run.name)}">{esc(when_text(s, run))}</a></td>'
        f"<td>{esc(s.get('workload'))}" + (f'<div class="muted" title="a planted bug">mutant {esc(s["mutant"])}</div>' if s.get("mutant") else "") + f"</td><td>{esc(s.get('seed'))}</td>"
        f"<td>{esc(', '.join(s.get('nemeses') or []) or 'none')}</td>"
        f"<td>{'' if dur is None else esc(f'{dur:.1f} s')}</td>"
        f"<td>{ops.get('ok', 0) + ops.get('fail', 0) + ops.get('info', 0)}"
        f' <span class="muted">({ops.get("ok", 0)}/{ops.get("fail", 0)}/{ops.get("info", 0)})</span></td>'
        f"<td>{esc(', '.join(f'{k} ×{n}' for k, n in faults.items()))}</td>"
        f"<td>{verdicts}</td><td>{links}</td></tr>"
    )


def render_index(store: str | Path, *, refresh: bool = True) -> str:
    """The index page of a store, as a string. ``refresh=False`` never writes
    (``serve`` uses it: the store is served read-only)."""
    store = check_store(store)
    rows = collect(store, refresh=refresh)
    counts = Counter(verdict_word(s.get("valid")) for _, s in rows)
    latest = ""
    if (store / "latest").exists():
        latest = ' · <a href="latest/">latest run</a>'
    tally = " ".join(f'<button data-show="{w}">{badge(True if w == "valid" else False if w == "invalid" else None if w == "unchecked" else "unknown", f"{counts[w]} {w}")}</button>' for w in ("valid", "invalid", "unknown", "unchecked") if counts[w])
    body = "".join(_row(store, r, s) for r, s in rows) or '<tr><td colspan="10" class="muted">no runs in this store yet</td></tr>'
    return fill(
        TEMPLATE,
        css=CSS + PAGE_CSS,
        title=esc(f"runs in {store.resolve().name or store}"),
        n=str(len(rows)),
        latest=latest,
        tally=tally,
        rows=body,
        generated=esc(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")),
        script=SCRIPT,
    )


def write_index(store_dir: str | Path) -> Path:
    """Write ``<store>/index.html`` (and any missing or stale run summaries).
    Raises :class:`ReportError` when ``store_dir`` is not a store."""
    store = check_store(store_dir)
    html = render_index(store, refresh=True)
    path = store / INDEX
    write_atomic(path, html)
    return path


PAGE_CSS = """
#bar{margin:8px 0;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
#bar button{border:0;background:none;padding:0;cursor:pointer}
#bar input{font:inherit;padding:2px 6px;width:260px}
tr.run:hover td{background:#f8fbff}
tr.v-invalid td:first-child{border-left:4px solid #d00}tr.v-valid td:first-child{border-left:4px solid #2a2}
tr.v-unknown td:first-child{border-left:4px solid #db0}tr.v-unchecked td:first-child{border-left:4px solid #aaa}
td{white-space:nowrap} td:nth-child(9),td:nth-child(10){white-space:normal}
"""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>@@title@@</title>
<style>@@css@@</style></head><body>
<h1>@@title@@</h1>
<div>@@n@@ runs, newest first@@latest@@</div>
<div id="bar">@@tally@@ <button data-show="">show all</button>
<input id="q" type="search" placeholder="filter: workload, seed, nemesis, verdict"></div>
<table id="runs"><thead><tr><th>verdict</th><th>started (UTC)</th><th>workload</th><th>seed</th><th>nemeses</th><th>duration</th><th>ops (ok/fail/info)</th><th>faults</th><th>checkers</th><th>files</th></tr></thead>
<tbody>@@rows@@</tbody></table>
<p class="muted">Generated @@generated@@ by persist-nemesis report.</p>
<script>@@script@@</script>
</body></html>
"""

SCRIPT = r"""
(function(){
const rows = Array.from(document.querySelectorAll("tr.run")), q = document.getElementById("q");
let only = "";
function apply(){ const s = q.value.toLowerCase().trim().split(/\s+/).filter(Boolean);
  rows.forEach(r => { const t = r.dataset.text.toLowerCase(); r.style.display = (!only || r.classList.contains("v-" + only)) && s.every(w => t.includes(w)) ? "" : "none"; }); }
document.querySelectorAll("#bar button").forEach(b => b.onclick = () => { only = b.dataset.show; apply(); });
q.addEventListener("input", apply);
})();
"""

