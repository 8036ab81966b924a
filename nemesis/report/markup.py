"""What the report pages share: escaping, the style sheet, verdict badges,
colours, number formats, atomic file writes.

Every page is self-contained: styles and scripts inline, no fonts, no
network. Links to a run's own files are relative, so a run directory can be
copied, served or opened from disk and its pages still work.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from checker.formats.rows_delta import DeltaRows

#: outcome colours (Jepsen's: ok blue, info orange, fail pink)
OUTCOME_COLORS = {"ok": "#6DB6FE", "fail": "#FEB5DA", "info": "#FFAA26"}
ANOMALY_COLOR = "#E00000"
#: fault kind colours, assigned in order of first appearance
FAULT_PALETTE = ["#7F8C8D", "#16A085", "#2C3E50", "#D35400", "#A93226", "#5B2C6F", "#0E6251", "#784212"]
FAULT_COLORS = {
    "kill": "#C0392B",
    "crash": "#E74C3C",
    "lose-unsynced": "#1E8449",
    "pause": "#8E44AD",
    "corrupt": "#000000",
    "s3": "#B7950B",
    "failpoint": "#2471A3",
    "disk-error": "#CB4335",
    "slow-disk": "#AF7AC5",
}

CSS = """
*{box-sizing:border-box}
body{font:13px/1.4 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;padding:12px 18px;color:#222;background:#fff}
h1{font-size:18px;margin:4px 0 8px} h2{font-size:15px;margin:16px 0 6px}
a{color:#1a5fb4;text-decoration:none} a:hover{text-decoration:underline}
table{border-collapse:collapse} td,th{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #e4e4e4}
th{background:#f4f4f4;font-weight:600;position:sticky;top:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-weight:600;font-size:12px;white-space:nowrap}
.valid{background:#d4f5dc;color:#14632b}.invalid{background:#fdd;color:#a00}.unknown{background:#fff1c2;color:#7a5a00}.unchecked{background:#eee;color:#555}
.warn{background:#fff6d6;border:1px solid #f0d070;padding:4px 8px;margin:6px 0;border-radius:4px}
.muted{color:#777}
.swatch{display:inline-block;width:14px;height:10px;margin:0 4px 0 10px;vertical-align:middle;border:1px solid #999}
"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def verdict_word(valid: Any) -> str:
    if valid is True:
        return "valid"
    if valid is False:
        return "invalid"
    if valid is None:
        return "unchecked"
    return "unknown"


def badge(valid: Any, text: str | None = None, title: str | None = None) -> str:
    w = verdict_word(valid)
    t = f' title="{esc(title)}"' if title else ""
    return f'<span class="badge {w}"{t}>{esc(text or w)}</span>'


def fault_colors(kinds: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    for k in kinds:
        if k in out:
            continue
        if k in FAULT_COLORS:
            out[k] = FAULT_COLORS[k]
        else:
            out[k] = FAULT_PALETTE[i % len(FAULT_PALETTE)]
            i += 1
    return out


def seconds(ns: int | float | None) -> str:
    if ns is None:
        return "-"
    s = ns / 1e9
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.1f} ms"


def _clip(x: Any, items: int) -> Any:
    """``x`` with every list cut to ``items`` elements (plus a count of the
    rest), so that a snapshot of 100k rows costs no more than one of ten.
    A read kept as its delta (:class:`~checker.formats.rows_delta.DeltaRows`)
    shows as its row count and the delta, without materialising the read."""
    if x.__class__ is DeltaRows:
        return {"rows": len(x), "delta_from_event": x.base_event, "add": _clip(x.add, items),
                "remove": _clip(x.remove, items)}
    if isinstance(x, list):
        head = [_clip(v, items) for v in x[:items]]
        if len(x) > items:
            head.append(f"…+{len(x) - items}")
        return head
    if isinstance(x, dict):
        return {k: _clip(v, items) for k, v in list(x.items())[: items * 2]}
    return x


def short_json(x: Any, limit: int) -> str:
    """Compact JSON of ``x``, cut to ``limit`` characters with a marker."""
    try:
        s = json.dumps(_clip(x, max(limit // 8, 4)), separators=(",", ":"), default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        s = repr(x)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def script_json(data: Any) -> str:
    """JSON safe to embed in a ``<script type="application/json">`` element."""
    s = json.dumps(data, separators=(",", ":"), default=str, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so that a reader (``serve``) sees the old or the new
    content, never half of it. Reports are derived files: no fsync."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fill(template: str, **values: str) -> str:
    """Put ``values`` in the ``@@name@@`` slots of ``template``, in one pass
    (what is inserted is never scanned again, so data cannot inject slots;
    CSS and script braces need no escaping)."""
    return re.sub(r"@@(\w+)@@", lambda m: values[m.group(1)], template)
