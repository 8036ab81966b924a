"""``timeline.html``: every operation of a run on a time axis.

Layout: one lane per client process (a worker slot's successive processes
side by side), a ``nemesis`` lane on top with the fault actions, fault
periods shaded across every lane, operations as bars from invoke to
completion coloured by outcome (ok blue, fail pink, info orange; an ``info``
bar runs to the end of the run, since the operation may take effect at any
time after its invoke), and a red outline on every operation a checker named
in an anomaly.

The page is one file: the data as JSON in a ``<script type="application/json"
id="data">`` element and a small inline script drawing it on a canvas (SVG
with 10k+ elements is slow and several MB). Hover shows an operation's
details; click pins them; the wheel zooms, dragging pans, double-click
resets; ``timeline.html#op=N`` opens zoomed on operation N with its details
pinned (the anomaly list links there).

Data layout (times in microseconds since the run started)::

    lanes:   [label, ...]                     lane 0 is the nemesis
    fs:      [f, ...]                         operation names
    ops:     [[lane, call, done|-1, outcome, f, index, anomalous, value, result, error], ...]
             outcome 0 ok, 1 fail, 2 info; done -1: never completed;
             value, result, error: positions in strs, -1 for none
    strs:    [text, ...]                      hover texts, each stored once
    kinds:   [[fault kind, colour], ...]
    periods: [[kind, start, end|-1, label, text, row], ...]  end -1: lasts to the end;
             row: sub-row of the nemesis lane, so overlapping faults don't hide each other
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from nemesis.report.markup import (
    ANOMALY_COLOR,
    CSS,
    fill,
    verdict_word,
    OUTCOME_COLORS,
    badge,
    esc,
    fault_colors,
    script_json,
    seconds,
    short_json,
)
from nemesis.report.periods import Period, periods_of
from nemesis.report.rundir import Op, Run, code_of, started_of

OUTCOMES = ("ok", "fail", "info")
VALUE_CHARS = 140  # per field in the hover text
BIG = 50_000  # operations; beyond this the hover fields shrink so the page stays under ~10 MB


def value_chars(n_ops: int) -> int:
    """Characters kept per hover field for a history of ``n_ops`` operations."""
    return VALUE_CHARS if n_ops <= BIG else max(32, VALUE_CHARS * BIG // n_ops)


def lane_key(op: Op) -> tuple[Any, ...]:
    p = op.process
    num = p if isinstance(p, (int, float)) else None
    w = op.worker if isinstance(op.worker, (int, float)) else None
    return (0 if w is not None else 1, w if w is not None else 0, 0 if num is not None else 1, num if num is not None else 0, str(p))


def lane_label(op: Op) -> str:
    return f"p{op.process}" + (f" w{op.worker}" if op.worker is not None else "")


def details(op: Op, chars: int = VALUE_CHARS) -> tuple[str, str | None, str | None]:
    """The variable part of an operation's hover text: its argument, its
    result (when it differs from the argument) and its error, each cut to
    ``chars``."""
    value = short_json(op.value, chars)
    result = None
    if op.type == "ok" and op.result is not None and op.result != op.value:
        result = short_json(op.result, chars)
    error = op.error[:chars] if op.error else None
    return value, result, error


def hover_text(data: dict[str, Any], i: int) -> str:
    """What the page shows on hovering over operation ``i`` of ``data``
    (:func:`timeline_data`): the same text the page's script composes."""
    o = data["ops"][i]
    out = ["ok", "fail", "info"][o[3]]
    comp = "never completed" if o[2] < 0 else f"{out} at {o[2] / 1e6:.6f} s"
    lat = "" if o[2] < 0 else f", latency {_dur(o[2] - o[1])}"
    head = f"op {o[5]} · {data['lanes'][o[0]]} · {data['fs'][o[4]]} → {out}" + ("  ⚠ named in an anomaly" if o[6] else "")
    lines = [head, f"invoke at {o[1] / 1e6:.6f} s, {comp}{lat}", "value: " + data["strs"][o[7]]]
    if o[8] >= 0:
        lines.append("result: " + data["strs"][o[8]])
    if o[9] >= 0:
        lines.append("error: " + data["strs"][o[9]])
    if o[3] == 2:
        lines.append(INFO_NOTE)
    return "\n".join(lines)


INFO_NOTE = "indeterminate: may have taken effect at any time after its invoke, or never"


def _dur(us: int) -> str:
    if us < 1000:
        return f"{us} µs"
    if us < 1_000_000:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1e6:.3f} s"


def period_text(p: Period) -> str:
    end = "the end of the run" if p.end is None else seconds(p.end)
    lines = [f"{p.label}: {seconds(p.start)} .. {end}" + (f" (ended by {p.closed_by})" if p.closed_by else "")]
    if p.end is not None and p.end > p.start:
        lines[0] += f", {seconds(p.end - p.start)}"
    lines.append(f"value: {short_json(p.value, VALUE_CHARS)}")
    lines.append("events: " + ", ".join(map(str, p.actions)))
    return "\n".join(lines)


def stack_rows(periods: list[Period], end: int) -> list[int]:
    """A row for each period such that periods in one row don't overlap
    (greedy, in start order). An instantaneous fault counts as 1/200 of the
    run wide, so that its label has room."""
    free_at: list[int] = []  # per row, when it is free again
    rows = []
    pad = max(end // 200, 1)
    for p in periods:
        stop = (end if p.end is None else p.end) + (pad * 8 if p.instant else pad)
        for r, t in enumerate(free_at):
            if t <= p.start:
                free_at[r] = stop
                rows.append(r)
                break
        else:
            free_at.append(stop)
            rows.append(len(free_at) - 1)
    return rows


def timeline_data(run: Run, periods: list[Period] | None = None) -> dict[str, Any]:
    if periods is None:
        periods = periods_of(run.nemesis, run.end)
    lanes: dict[Any, int] = {}
    for op in sorted(run.ops, key=lane_key):
        if op.process not in lanes:
            lanes[op.process] = len(lanes) + 1
    labels = ["nemesis"] + [""] * len(lanes)
    fs: dict[str, int] = {}
    anomalous = run.anomalous_ops
    rows: list[list[Any]] = []
    strs: dict[str, int] = {}
    chars = value_chars(len(run.ops))

    def intern(x: str | None) -> int:
        return -1 if x is None else strs.setdefault(x, len(strs))
    for op in run.ops:
        lane = lanes[op.process]
        if not labels[lane]:
            labels[lane] = lane_label(op)
        fi = fs.setdefault(op.f, len(fs))
        done = -1 if op.done is None else op.done // 1000
        v, r, e = details(op, chars)
        rows.append([lane, op.call // 1000, done, OUTCOMES.index(op.type), fi, op.index, 1 if op.index in anomalous else 0, intern(v), intern(r), intern(e)])
    colors = fault_colors([p.f for p in periods])
    kinds = list(colors)
    rows_of = stack_rows(periods, run.end)
    return {
        "end": run.end // 1000,
        "lanes": labels,
        "fs": list(fs),
        "ops": rows,
        "strs": list(strs),
        "info_note": INFO_NOTE,
        "kinds": [[k, colors[k]] for k in kinds],
        "periods": [
            [kinds.index(p.f), p.start // 1000, -1 if p.end is None else p.end // 1000, p.label, period_text(p), row]
            for p, row in zip(periods, rows_of)
        ],
        "nemesis_rows": max(rows_of, default=0) + 1,
        "colors": [OUTCOME_COLORS[o] for o in OUTCOMES],
        "anomaly": ANOMALY_COLOR,
    }


def _summary(run: Run, periods: list[Period]) -> str:
    c = Counter(op.type for op in run.ops)
    faults = Counter(p.f for p in periods)
    cfg = run.config
    cats = {v.category for v in run.verdicts}
    rows = [
        ("workload", esc(run.workload)),
        ("seed", esc(run.seed)),
        ("nemeses", esc(", ".join(run.nemeses) or "none")),
        ("concurrency", esc(cfg.get("concurrency", "-"))),
        ("started", esc(started_of(cfg, run.status, run.path))),
        ("duration", esc(seconds(run.end))),
        (
            "operations",
            f"{len(run.ops)} ({c['ok']} ok, {c['fail']} fail, {c['info']} info) from {run.events} events",
        ),
        ("faults", esc(", ".join(f"{k} ×{n}" for k, n in faults.items()) or "none")),
        (
            "verdict",
            badge(run.valid)
            + " "
            + " ".join(
                badge(v.valid, v.checker + (f" ({v.category})" if v.category and len(cats) > 1 else ""), title=f"{verdict_word(v.valid)}" + (f": {v.reason}" if v.reason else ""))
                for v in run.verdicts
            )
            + (f' <span class="muted">category: {esc(next(iter(cats)))}</span>' if len(cats) == 1 and None not in cats else ""),
        ),
    ]
    code = code_of(cfg)
    if code:
        rows.append(("code", f"<code>{esc(code)}</code>"))
    if cfg.get("mutant"):
        rows.append(("mutant", f"<code>{esc(cfg['mutant'])}</code> (a planted bug)"))
    if cfg.get("command"):
        rows.append(("command", f"<code>{esc(cfg['command'])}</code>"))
    return "<table class=summary>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _warnings(run: Run) -> str:
    out = []
    st = run.status
    state = str(st.get("status") or st.get("state") or "")
    if state and state.lower() not in ("ok", "done", "complete", "completed", "finished"):
        out.append(f"run status: <b>{esc(state)}</b> {esc(st.get('reason') or st.get('message') or '')}")
    if run.valid is None:
        out.append("no results.json: this run was never checked (it may have died before the end)")
    if run.skipped_lines:
        out.append(f"{run.skipped_lines} malformed or torn line(s) of history.jsonl skipped")
    open_ops = sum(1 for op in run.ops if op.done is None)
    if open_ops:
        out.append(f"{open_ops} operation(s) never completed (drawn as info, to the end)")
    if run.orphan_completions:
        out.append(f"{run.orphan_completions} completion(s) with no invoke skipped")
    return "".join(f'<div class="warn">{w}</div>' for w in out)


ANOMALIES_SHOWN = 200  # per checker; the rest are counted (results.json has them all)


def _anomalies(run: Run) -> str:
    items = []
    total = 0
    for v in run.verdicts:
        total += len(v.anomalies)
        for a in v.anomalies[:ANOMALIES_SHOWN]:
            ops = " ".join(f'<a href="#op={int(i)}">op {int(i)}</a>' for i in a.get("ops") or [] if isinstance(i, int))
            items.append(
                f"<li>{badge(False, v.checker)} <b>{esc(a.get('kind', ''))}</b>: {esc(a.get('message', ''))} {ops}</li>"
            )
        if len(v.anomalies) > ANOMALIES_SHOWN:
            items.append(f"<li class=muted>… and {len(v.anomalies) - ANOMALIES_SHOWN} more from {esc(v.checker)} (see results.json)</li>")
    if not items:
        return ""
    return f"<h2>Anomalies ({total})</h2><ul class=anoms>" + "".join(items) + "</ul>"


def _files(run: Run) -> str:
    links = []
    try:
        entries = sorted(run.path.iterdir(), key=lambda p: p.name)
    except OSError:
        entries = []
    for p in entries:
        if p.name.startswith("."):
            continue
        name = p.name + ("/" if p.is_dir() else "")
        size = "" if p.is_dir() else f' <span class="muted">{_size(p)}</span>'
        links.append(f'<a href="{esc(name)}">{esc(name)}</a>{size}')
    return "<h2>Files</h2><div class=files>" + " · ".join(links) + "</div>"


def _size(p: Any) -> str:
    try:
        n = p.stat().st_size
    except OSError:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def render_timeline(run: Run, periods: list[Period] | None = None, plots: tuple[str, ...] = ()) -> str:
    if periods is None:
        periods = periods_of(run.nemesis, run.end)
    data = timeline_data(run, periods)
    legend = "".join(
        f'<span class="swatch" style="background:{OUTCOME_COLORS[o]}"></span>{o}' for o in OUTCOMES
    ) + f'<span class="swatch" style="background:#fff;border:2px solid {ANOMALY_COLOR}"></span>named in an anomaly'
    legend += "".join(
        f'<span class="swatch" style="background:{c};opacity:.45"></span>{esc(k)}' for k, c in data["kinds"]
    )
    missing = ("this.outerHTML='<p class=muted>{} is drawn on first view by persist-nemesis serve, "
               "or written by persist-nemesis report RUN_DIR</p>'")
    imgs = "".join(f'<img src="{esc(p)}" alt="{esc(p)}" onerror="{esc(missing.format(p))}">' for p in plots)
    title = f"{run.workload} {run.name}"
    return fill(
        TEMPLATE,
        title=esc(title),
        css=CSS + PAGE_CSS,
        summary=_summary(run, periods),
        warnings=_warnings(run),
        legend=legend,
        anomalies=_anomalies(run),
        plots=f"<h2>Latency and throughput</h2><div class=plots>{imgs}</div>" if imgs else "",
        files=_files(run),
        data=script_json(data),
        script=SCRIPT,
    )


PAGE_CSS = """
.top{display:flex;gap:24px;align-items:flex-start}
.top>div{flex:1;min-width:0;max-height:300px;overflow:auto}
.summary{flex:none;max-width:48%}
.summary th{position:static;width:90px}
.summary td{word-break:break-word}
.anoms{margin:0;padding-left:18px}
h2:first-child{margin-top:0}
#bar{margin:10px 0 4px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
#bar button{font:inherit;padding:1px 8px}
#wrap{position:relative;border:1px solid #ccc}
#tl{display:block;width:100%;cursor:crosshair}
#tip{position:absolute;display:none;pointer-events:none;background:#fffff4;border:1px solid #888;box-shadow:2px 2px 6px rgba(0,0,0,.25);padding:5px 8px;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;max-width:560px;z-index:2;word-break:break-all}
#pinned{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;border:1px solid #ddd;padding:6px 8px;margin-top:6px;min-height:2.5em}
.plots img{max-width:49%;border:1px solid #ddd;margin-right:4px}
.anoms li{margin:3px 0}
"""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>@@title@@</title>
<style>@@css@@</style></head>
<body>
<h1>@@title@@</h1>
<div class="top">@@summary@@<div>@@warnings@@@@anomalies@@</div></div>
<div id="bar"><button id="zin" title="zoom in">+</button><button id="zout" title="zoom out">&minus;</button><button id="reset">reset</button>
<span id="range" class="mono"></span><span class="muted">wheel: zoom · drag: pan · double-click: reset · click an operation: pin its details</span></div>
<div class="legend">@@legend@@</div>
<div id="wrap"><canvas id="tl"></canvas><div id="tip"></div></div>
<div id="pinned" class="mono"><span class="muted">click an operation to keep its details here</span></div>
@@plots@@
@@files@@
<p class="muted">Generated by persist-nemesis report from this directory's history.jsonl, results.json and config.json.</p>
<script type="application/json" id="data">@@data@@</script>
<script>@@script@@</script>
</body></html>
"""

SCRIPT = r"""
(function(){
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const cv = document.getElementById("tl"), tip = document.getElementById("tip"), pinned = document.getElementById("pinned");
const ctx = cv.getContext("2d");
const LABEL_W = 92, AXIS_H = 22, PAD_R = 10;
const nl = D.lanes.length;
const LANE_H = nl > 120 ? 9 : nl > 60 ? 12 : 17;
const END = Math.max(D.end, 1);
const NR = D.nemesis_rows || 1, NEM_H = NR * Math.max(LANE_H, 14);
const H = AXIS_H + NEM_H + (nl - 1) * LANE_H + 18;
const OUT = ["ok", "fail", "info"];
let t0 = 0, t1 = END, W = 800, pinnedOp = -1;
// per-lane op lists sorted by call, for hit tests
const byLane = Array.from({length: nl}, () => []);
D.ops.forEach((o, i) => byLane[o[0]].push(i));
byLane.forEach(l => l.sort((a, b) => D.ops[a][1] - D.ops[b][1]));
const opAt = new Map(); D.ops.forEach((o, i) => opAt.set(o[5], i));
function opEnd(o){ return (o[2] < 0 || o[3] === 2) ? END : o[2]; }
function perEnd(p){ return p[2] < 0 ? END : p[2]; }
function x(t){ return LABEL_W + (t - t0) / (t1 - t0) * (W - LABEL_W - PAD_R); }
function tAt(px){ return t0 + (px - LABEL_W) / (W - LABEL_W - PAD_R) * (t1 - t0); }
function fmt(us){ const s = us / 1e6; return Math.abs(t1 - t0) < 2e4 ? (us / 1000).toFixed(3) + " ms" : s.toFixed(Math.abs(t1 - t0) < 2e6 ? 4 : 3) + " s"; }
function dur(us){ return us < 1000 ? us + " µs" : us < 1e6 ? (us / 1000).toFixed(2) + " ms" : (us / 1e6).toFixed(3) + " s"; }
function label(s, a, y, maxw){
  if (maxw < 14) return;
  if (ctx.measureText(s).width <= maxw){ ctx.fillText(s, a, y); return; }
  ctx.save(); ctx.beginPath(); ctx.rect(a, y - 10, maxw, 20); ctx.clip(); ctx.fillText(s, a, y); ctx.restore();
}
function laneY(l){ return l === 0 ? AXIS_H : AXIS_H + NEM_H + (l - 1) * LANE_H; }
const RH = NEM_H / NR;
function rowY(r){ return AXIS_H + r * RH; }
function size(){
  const r = window.devicePixelRatio || 1;
  W = cv.parentElement.clientWidth || 800;
  cv.width = W * r; cv.height = H * r; cv.style.height = H + "px";
  ctx.setTransform(r, 0, 0, r, 0, 0);
}
function ticks(){
  const span = t1 - t0, target = (W - LABEL_W) / 110;
  const raw = span / Math.max(target, 1), p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw) || raw;
  const out = []; for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return {step: step, list: out};
}
function tickLabel(t, step){
  if (step >= 1000) return (t / 1e6).toFixed(Math.max(0, Math.ceil(-Math.log10(step / 1e6) - 1e-9))) + " s";
  return (t / 1000).toFixed(Math.max(0, Math.ceil(-Math.log10(step / 1000) - 1e-9))) + " ms";
}
function draw(){
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px sans-serif"; ctx.textBaseline = "middle";
  ctx.fillStyle = "#f0f0f4"; ctx.fillRect(LABEL_W, laneY(0), W - LABEL_W, NEM_H);
  for (let l = 2; l < nl; l += 2){ ctx.fillStyle = "#f6f6f6"; ctx.fillRect(LABEL_W, laneY(l), W - LABEL_W, LANE_H); }
  ctx.save(); ctx.beginPath(); ctx.rect(LABEL_W, 0, W - LABEL_W - PAD_R + 1, H); ctx.clip();
  // fault periods, shaded across every lane, solid in the nemesis lane
  D.periods.forEach(p => {
    const a = x(p[1]), b = x(perEnd(p)), c = D.kinds[p[0]][1];
    if (b < LABEL_W || a > W) return;
    if (p[2] === p[1]) { // instantaneous: a dashed line
      ctx.strokeStyle = c; ctx.setLineDash([3, 3]); ctx.beginPath(); ctx.moveTo(a + .5, AXIS_H); ctx.lineTo(a + .5, H - 18); ctx.stroke(); ctx.setLineDash([]);
      const y = rowY(p[5]);
      ctx.fillStyle = c; ctx.beginPath(); ctx.moveTo(a, y + 2); ctx.lineTo(a + 5, y + RH / 2); ctx.lineTo(a, y + RH - 2); ctx.lineTo(a - 5, y + RH / 2); ctx.fill();
      label(p[3], a + 7, y + RH / 2, 90);
      return;
    }
    ctx.globalAlpha = 0.16; ctx.fillStyle = c; ctx.fillRect(a, laneY(1), Math.max(b - a, 1), (nl - 1) * LANE_H);
    const y = rowY(p[5]);
    ctx.globalAlpha = 0.85; ctx.fillRect(a, y + 1, Math.max(b - a, 2), RH - 2); ctx.globalAlpha = 1;
    if (b - a > 30){ ctx.fillStyle = "#fff"; label(p[3], Math.max(a, LABEL_W) + 3, y + RH / 2, b - Math.max(a, LABEL_W) - 6); }
  });
  // operations
  const bh = Math.max(LANE_H - 5, 4);
  const anomalous = [];
  for (let i = 0; i < D.ops.length; i++){
    const o = D.ops[i], e = opEnd(o);
    if (e < t0 || o[1] > t1) continue;
    const a = x(o[1]), b = x(e), y = laneY(o[0]) + (LANE_H - bh) / 2;
    const w = Math.max(b - a, 1.5);
    if (o[3] === 2){ const g = ctx.createLinearGradient(a, 0, Math.max(b, a + 2), 0); g.addColorStop(0, D.colors[2]); g.addColorStop(1, "rgba(255,170,38,0.15)"); ctx.fillStyle = g; }
    else ctx.fillStyle = D.colors[o[3]];
    ctx.fillRect(a, y, w, bh);
    if (w > 6 && o[3] !== 2){ ctx.strokeStyle = "rgba(0,0,0,.25)"; ctx.lineWidth = 0.5; ctx.strokeRect(a, y, w, bh); }
    if (w > 34 && LANE_H > 12){ ctx.fillStyle = "#222"; label(D.fs[o[4]], Math.max(a, LABEL_W) + 2, y + bh / 2, Math.min(w, b - LABEL_W) - 4); }
    if (o[6]) anomalous.push([a, y, w, bh]);
    if (i === pinnedOp){ ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.strokeRect(a - 1, y - 1, w + 2, bh + 2); }
  }
  ctx.strokeStyle = D.anomaly; ctx.lineWidth = 2;
  anomalous.forEach(r => { ctx.strokeRect(r[0] - 1.5, r[1] - 1.5, Math.max(r[2], 2) + 3, r[3] + 3); });
  ctx.restore();
  // axis, lane labels
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, LABEL_W, H); ctx.fillRect(0, 0, W, AXIS_H - 2); ctx.fillRect(0, H - 18, W, 18);
  ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1; ctx.fillStyle = "#333";
  const tk = ticks();
  tk.list.forEach(t => { const a = Math.round(x(t)) + .5; ctx.beginPath(); ctx.moveTo(a, AXIS_H - 6); ctx.lineTo(a, H - 18); ctx.globalAlpha = .35; ctx.stroke(); ctx.globalAlpha = 1;
    const s = tickLabel(t, tk.step); if (a + 2 + ctx.measureText(s).width > W) return; ctx.fillText(s, a + 2, AXIS_H / 2 - 2); ctx.fillText(s, a + 2, H - 9); });
  ctx.fillStyle = "#222"; ctx.font = (LANE_H > 12 ? 11 : 9) + "px sans-serif";
  for (let l = 0; l < nl; l++) ctx.fillText(D.lanes[l], 4, l === 0 ? AXIS_H + Math.min(RH, NEM_H) / 2 : laneY(l) + LANE_H / 2, LABEL_W - 8);
  ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(0, laneY(1) + .5); ctx.lineTo(W, laneY(1) + .5); ctx.stroke();
  document.getElementById("range").textContent = fmt(t0) + " .. " + fmt(t1) + "  (" + dur(Math.round(t1 - t0)) + " shown, run " + dur(END) + ")";
}
function hit(px, py){
  if (py < AXIS_H || px < LABEL_W) return null;
  const l = py < AXIS_H + NEM_H ? 0 : 1 + Math.floor((py - AXIS_H - NEM_H) / LANE_H);
  if (l >= nl) return null;
  const t = tAt(px), slack = 3 * (t1 - t0) / (W - LABEL_W);
  if (l === 0){
    const r = Math.floor((py - AXIS_H) / RH);
    let best = null;
    D.periods.forEach((p, i) => { if (p[5] === r && p[1] - slack * 2 <= t && t <= perEnd(p) + slack * 2) best = {period: i}; });
    return best;
  }
  let best = null, bestD = Infinity;
  for (const i of byLane[l]){
    const o = D.ops[i]; if (o[1] - slack > t) break;
    const e = opEnd(o);
    if (t <= e + slack){ const d = t < o[1] ? o[1] - t : t > e ? t - e : 0; if (d < bestD || (d === bestD && o[3] !== 2)){ best = {op: i}; bestD = d; } }
  }
  return best;
}
function text(h){
  if (!h) return "";
  if (h.period !== undefined) return D.periods[h.period][4];
  const o = D.ops[h.op];
  const comp = o[2] < 0 ? "never completed" : OUT[o[3]] + " at " + (o[2] / 1e6).toFixed(6) + " s";
  const lat = o[2] < 0 ? "" : ", latency " + dur(o[2] - o[1]);
  return "op " + o[5] + " · " + D.lanes[o[0]] + " · " + D.fs[o[4]] + " → " + OUT[o[3]] + (o[6] ? "  ⚠ named in an anomaly" : "") +
    "\ninvoke at " + (o[1] / 1e6).toFixed(6) + " s, " + comp + lat + "\nvalue: " + D.strs[o[7]] +
    (o[8] >= 0 ? "\nresult: " + D.strs[o[8]] : "") + (o[9] >= 0 ? "\nerror: " + D.strs[o[9]] : "") + (o[3] === 2 ? "\n" + D.info_note : "");
}
function showTip(h, px, py){
  if (!h){ tip.style.display = "none"; return; }
  tip.textContent = text(h); tip.style.display = "block";
  const r = cv.parentElement.clientWidth;
  tip.style.left = Math.min(px + 14, Math.max(r - 570, 0)) + "px"; tip.style.top = (py + 16) + "px";
}
function pin(i){ pinnedOp = i; pinned.textContent = i < 0 ? "" : text({op: i}); draw(); }
function zoom(f, px){
  const c = tAt(px === undefined ? (LABEL_W + W) / 2 : px);
  let n0 = c - (c - t0) * f, n1 = c + (t1 - c) * f;
  if (n1 - n0 < 5){ const m = (n0 + n1) / 2; n0 = m - 2.5; n1 = m + 2.5; }
  if (n1 - n0 >= END){ n0 = 0; n1 = END; }
  const sh = n0 < 0 ? -n0 : n1 > END ? END - n1 : 0; t0 = n0 + sh; t1 = n1 + sh; draw();
}
function focusOp(index){
  const i = opAt.get(index); if (i === undefined) return false;
  const o = D.ops[i], e = o[2] < 0 ? o[1] + 1000 : o[2], span = Math.max((e - o[1]) * 12, 20000);
  t0 = Math.max(0, (o[1] + e) / 2 - span / 2); t1 = Math.min(END, t0 + span); pin(i);
  const px = x(o[1]), py = laneY(o[0]) + LANE_H;
  showTip({op: i}, Math.max(px, LABEL_W), py);
  cv.scrollIntoView({block: "nearest"});
  return true;
}
let drag = null, moved = false;
cv.addEventListener("wheel", ev => { if (ev.shiftKey) return; ev.preventDefault(); const r = cv.getBoundingClientRect();
  if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)){ const s = ev.deltaX / (W - LABEL_W) * (t1 - t0); const sh = Math.max(-t0, Math.min(END - t1, s)); t0 += sh; t1 += sh; draw(); }
  else zoom(Math.pow(1.0015, ev.deltaY), ev.clientX - r.left); }, {passive: false});
cv.addEventListener("mousedown", ev => { drag = {x: ev.clientX, t0: t0, t1: t1}; moved = false; });
window.addEventListener("mouseup", () => { drag = null; });
cv.addEventListener("mousemove", ev => {
  const r = cv.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
  if (drag){ const dx = ev.clientX - drag.x; if (Math.abs(dx) > 2) moved = true;
    const s = -dx / (W - LABEL_W) * (drag.t1 - drag.t0); const sh = Math.max(-drag.t0, Math.min(END - drag.t1, s));
    t0 = drag.t0 + sh; t1 = drag.t1 + sh; draw(); tip.style.display = "none"; return; }
  showTip(hit(px, py), px, py);
});
cv.addEventListener("mouseleave", () => { tip.style.display = "none"; });
cv.addEventListener("click", ev => { if (moved) return; const r = cv.getBoundingClientRect(); const h = hit(ev.clientX - r.left, ev.clientY - r.top);
  if (h && h.op !== undefined){ pin(h.op); history.replaceState(null, "", "#op=" + D.ops[h.op][5]); }
  else if (h && h.period !== undefined){ pinned.textContent = D.periods[h.period][4]; } });
cv.addEventListener("dblclick", () => { t0 = 0; t1 = END; draw(); });
document.getElementById("zin").onclick = () => zoom(0.5);
document.getElementById("zout").onclick = () => zoom(2);
document.getElementById("reset").onclick = () => { t0 = 0; t1 = END; draw(); };
window.addEventListener("resize", () => { size(); draw(); });
function fromHash(){ const m = /op=(\d+)/.exec(location.hash); if (m) focusOp(parseInt(m[1], 10)); }
window.addEventListener("hashchange", fromHash);
size(); draw(); fromHash();
})();
"""
