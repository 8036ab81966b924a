"""A picture of a linearizability failure: one self-contained HTML file (inline
SVG and CSS, a few lines of inline script; nothing fetched), after
Porcupine's visualisation.

What it shows, for the partition (e.g. the kv key) that failed:

- one lane per process; each operation a bar from its call to its return
  on a compressed time axis (distinct event times in order, so short and
  long gaps take the same room); an indeterminate op runs to the right edge,
  hatched;
- the longest linearizable prefix the search found, in green, each bar
  marked with its place in that order (1, 2, ...) at a tick showing where
  the order puts it;
- the operation where every order failed, in red, and the operations
  concurrent with it (open when it returned), outlined in orange;
- hovering a bar shows the op: index, process, f, argument, result,
  interval, and its role;
- with ``--explain``, the smallest failing core: its ops outlined in
  purple and listed under the picture.

The page opens scrolled to the failed op. Labels never overlap: text is
monospace (``CHAR_W`` px a character at most), a bar's label is cut to the
bar's width (the full text is in the tooltip), process names to the left
margin, and the time ticks are spaced by their longest label.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from checker.history import Op
from checker.linear import Failure
from checker.models.base import freeze, show

LANE = 34
BAR = 20
PX = 16
LEFT = 110
TOP = 60
CHAR_W = 7  # px per character of 11px monospace text, rounded up
PAD = 4  # px between a label and its bar's edges


def fit(text: str, width: float) -> str:
    """``text`` cut (with an ellipsis) to at most ``width`` px of label."""
    n = int(width // CHAR_W)
    if len(text) <= n:
        return text
    return text[: n - 1] + "…" if n >= 2 else ""


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def render(failure: Failure, title: str = "linearizability failure") -> str:
    """The HTML page for ``failure`` (from ``check_ops``'s result's
    ``failures``)."""
    ops: list[Op] = list(failure.part_ops or [failure.op, *failure.prefix, *failure.concurrent])
    ops = [o for o in ops if o.type != "fail"] or ops
    order = {o.index: i + 1 for i, o in enumerate(failure.prefix)}
    core = {o.index for o in (failure.core or [])}
    concurrent = {o.index for o in failure.concurrent}
    times = sorted({t for o in ops for t in ((o.call, o.ret) if o.ret is not None else (o.call,))})
    rank = {t: i for i, t in enumerate(times)}
    end = len(times) + 1
    procs: list[Any] = []
    for o in ops:
        if o.process not in procs:
            procs.append(o.process)
    lane = {p: i for i, p in enumerate(procs)}
    width = LEFT + (end + 1) * PX + 40
    height = TOP + len(procs) * LANE + 40
    describe = failure.model.describe if failure.model is not None else (lambda o: f"{o.f} {o.value}")
    parts: list[str] = []
    for i, p in enumerate(procs):
        y = TOP + i * LANE
        parts.append(f'<text class="lane" x="{LEFT - 10}" y="{y + BAR * 0.7}">{_esc(fit(f"process {p}", LEFT - 14))}</text>')
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - 20}" y1="{y + LANE - 7}" y2="{y + LANE - 7}"/>')
    for o in ops:
        x1 = LEFT + rank[o.call] * PX
        x2 = LEFT + (rank[o.ret] if o.ret is not None else end) * PX + PX * 0.6
        y = TOP + lane[o.process] * LANE
        cls = ["op"]
        role = "not in the longest linearizable prefix"
        if o.index == failure.op.index:
            cls.append("failed")
            role = "every order failed here"
        elif o.index in order:
            cls.append("lin")
            role = f"#{order[o.index]} in the longest linearizable prefix"
        if o.index in concurrent:
            cls.append("conc")
            role += "; concurrent with the failed op"
        if o.ret is None:
            cls.append("info")
        if o.index in core:
            cls.append("core")
            role += "; in the smallest failing core"
        label = f"{o.f} {show(freeze(o.value)) if o.value is not None else ''}".strip()
        if o.type == "ok" and not o.unknown_result and o.f not in ("write", "put", "append", "upsert"):
            label += f" → {show(freeze(o.result))}"
        tip = (
            f"op {o.index} — {describe(o)}\n"
            f"type {o.type}{' (result unknown)' if o.unknown_result else ''}; "
            f"interval [{o.call}, {o.ret if o.ret is not None else '∞'}]\n{role}"
        )
        w = max(x2 - x1, 6)
        shown = fit(label, w - 2 * PAD)
        parts.append(
            f'<g class="{" ".join(cls)}" data-idx="{o.index}"><title>{_esc(tip)}</title>'
            f'<rect x="{x1}" y="{y}" width="{w}" height="{BAR}" rx="3"/>'
            + (f'<text class="label" x="{x1 + PAD}" y="{y + BAR * 0.7}">{_esc(shown)}</text>' if shown else "")
        )
        if o.index in order:
            parts.append(f'<circle cx="{x1}" cy="{y - 3}" r="7"/><text class="ord" x="{x1}" y="{y}">{order[o.index]}</text>')
        parts.append("</g>")
    longest = max((len(str(t)) for t in times), default=1)
    step = max(1, end // 20, -(-(longest * CHAR_W + 2 * PAD) // PX))
    for i in range(0, end, step):
        x = LEFT + i * PX
        parts.append(f'<text class="tick" x="{x}" y="{TOP - 24}">{_esc(times[i]) if i < len(times) else "∞"}</text>')
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">' + "".join(parts) + "</svg>"
    where = f" (key {_esc(show(failure.partition))})" if failure.partition is not None else ""
    core_legend = core_html = ""
    if failure.core:
        core_legend = '\n<span style="border:3px solid #82c">smallest failing core</span>'
        rows = "\n".join(_esc(f"op {o.index}: {describe(o)}, [{o.call}, {o.ret if o.ret is not None else '∞'}]") for o in failure.core)
        core_html = (
            f'<h3>Smallest failing core: {len(failure.core)} op{"s" if len(failure.core) != 1 else ""}</h3>'
            "<p>Not linearizable together, even if every other write may or may not have happened; "
            f'without any one of them the rest is linearizable.</p><div class="core-list">{rows}</div>'
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 16px; color: #222; }}
.msg {{ max-width: 70em; background: #fff4f4; border-left: 4px solid #c22; padding: 8px 12px; }}
.legend span {{ display: inline-block; padding: 2px 8px; margin-right: 8px; border-radius: 3px; }}
.wrap {{ overflow-x: auto; border: 1px solid #ddd; margin-top: 12px; }}
svg text {{ font: 11px ui-monospace, monospace; pointer-events: none; }}
.lane {{ text-anchor: end; fill: #555; }}
.tick {{ fill: #999; }}
.grid {{ stroke: #eee; }}
.op rect {{ fill: #dde3ea; stroke: #8a96a3; }}
.op.info rect {{ fill: url(#hatch); }}
.op.lin rect {{ fill: #bfe6bf; stroke: #3a3; }}
.op.failed rect {{ fill: #f6b3b3; stroke: #c22; stroke-width: 2; }}
.op.conc rect {{ stroke: #e80; stroke-width: 2; }}
.op.core rect {{ stroke: #82c; stroke-width: 3; }}
.core-list {{ font-family: monospace; white-space: pre; background: #f6f0fb; border-left: 4px solid #82c; padding: 8px 12px; }}
.op circle {{ fill: #3a3; }}
.op .ord {{ fill: #fff; font-size: 9px; text-anchor: middle; }}
.op:hover rect {{ stroke: #000; stroke-width: 2; }}
.op.dim {{ opacity: .35; }}
#detail {{ white-space: pre; font-family: monospace; margin-top: 8px; min-height: 3em; }}
</style></head><body>
<h2>{_esc(title)}{where}</h2>
<p class="msg">{_esc(failure.message)}</p>
<p class="legend"><span style="background:#bfe6bf">longest linearizable prefix (numbered in order)</span>
<span style="background:#f6b3b3">every order failed here</span>
<span style="border:2px solid #e80">concurrent with it</span>
<span style="background:#dde3ea">other ops (hatched: indeterminate)</span>{core_legend}</p>
<div class="wrap">{_with_defs(svg)}</div>
<div id="detail">hover or click an operation for details</div>
{core_html}
<script>
window.addEventListener('load', () => {{
  const f = document.querySelector('g.op.failed');
  if (!f) return;
  const wrap = document.querySelector('.wrap');
  const box = f.getBBox();
  wrap.scrollLeft = Math.max(0, box.x - wrap.clientWidth / 2);
  f.scrollIntoView({{block: 'center', inline: 'nearest'}});
}});
for (const g of document.querySelectorAll('g.op')) {{
  const t = g.querySelector('title').textContent;
  g.addEventListener('mouseenter', () => {{ document.getElementById('detail').textContent = t; }});
  g.addEventListener('click', () => {{
    const on = !g.classList.contains('pinned');
    document.querySelectorAll('g.op').forEach(x => {{ x.classList.toggle('dim', on && x !== g); x.classList.remove('pinned'); }});
    if (on) g.classList.add('pinned');
  }});
}}
</script>
</body></html>
"""


def _with_defs(svg: str) -> str:
    defs = (
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#eef1f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#aab" stroke-width="2"/>'
        "</pattern></defs>"
    )
    i = svg.index(">") + 1
    return svg[:i] + defs + svg[i:]


def write_html(path: str | Path, failure: Failure, title: str = "linearizability failure") -> Path:
    p = Path(path)
    p.write_text(render(failure, title), encoding="utf-8")
    return p
