"""timeline.html: lanes, fault shading, hover text, anomalies, size and speed,
and (when Debian's chromium is installed) what a real browser shows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from nemesis.report import write_reports
from nemesis.report.periods import periods_of
from nemesis.report.rundir import load_run
from nemesis.report.timeline import hover_text, render_timeline, stack_rows, timeline_data
from tests.nemesis.report.synthetic import write_run


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert m, "no data element"
    return json.loads(m.group(1))


def test_one_lane_per_process_and_a_nemesis_lane(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r", ops=400, concurrency=4))
    data = timeline_data(run)
    processes = {op.process for op in run.ops}
    assert data["lanes"][0] == "nemesis"
    assert len(data["lanes"]) == len(processes) + 1
    # every op sits in its process's lane, and a lane holds one process only
    lane_procs: dict[int, set] = {}
    for row, op in zip(data["ops"], run.ops):
        lane_procs.setdefault(row[0], set()).add(op.process)
        assert data["lanes"][row[0]].startswith(f"p{op.process}")
    assert all(len(ps) == 1 for ps in lane_procs.values()) and 0 not in lane_procs
    # a worker slot's successive processes (after a kill) are neighbours
    lanes = [lb for lb in data["lanes"][1:]]
    workers = [lb.split(" w")[1] for lb in lanes if " w" in lb]
    assert workers == sorted(workers, key=int)


def test_fault_periods_are_shaded_with_their_times(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r", ops=800))
    data = timeline_data(run)
    kinds = [k for k, _ in data["kinds"]]
    assert {"kill", "pause", "corrupt"} <= set(kinds)
    periods = periods_of(run.nemesis, run.end)
    assert len(data["periods"]) == len(periods)
    for row, p in zip(data["periods"], periods):
        assert kinds[row[0]] == p.f and row[1] == p.start // 1000
        assert row[2] == (-1 if p.end is None else p.end // 1000)
    kill = next(row for row in data["periods"] if kinds[row[0]] == "kill")
    assert kill[3].startswith("kill worker ") and "(ended by restart)" in kill[4] and '"pid"' in kill[4]
    # overlapping periods never share a row of the nemesis lane
    for i, a in enumerate(data["periods"]):
        for b in data["periods"][i + 1 :]:
            if a[5] == b[5]:
                a_end = data["end"] if a[2] < 0 else a[2]
                assert a_end <= b[1] or (b[2] if b[2] >= 0 else data["end"]) <= a[1]


def test_stack_rows_separates_overlaps() -> None:
    from nemesis.report.periods import Period

    ps = [Period("kill", 0, 100), Period("pause", 50, 150), Period("kill", 120, None), Period("pause", 1000, 1100)]
    assert stack_rows(ps, 2000) == [0, 1, 0, 1]


def test_hover_text_has_f_value_result_error_and_times(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r", ops=400))
    data = timeline_data(run)
    fail = next(i for i, op in enumerate(run.ops) if op.type == "fail")
    text = hover_text(data, fail)
    op = run.ops[fail]
    assert f"op {op.index}" in text and op.f in text and "→ fail" in text
    assert "value: " + json.dumps(op.value, separators=(",", ":")) in text
    assert "error: InvalidUsage" in text and "latency" in text and "invoke at" in text
    snap = next(i for i, op in enumerate(run.ops) if op.f == "snapshot" and op.type == "ok" and len(op.result["rows"]) > 30)
    text = hover_text(data, snap)
    assert "result: " in text and "…" in text  # a long result is cut
    assert max(len(line) for line in text.splitlines()) < 200
    info = next(i for i, op in enumerate(run.ops) if op.type == "info")
    assert "indeterminate" in hover_text(data, info)


def test_anomalous_ops_are_flagged_and_listed(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", ops=300, results="invalid")
    run = load_run(path)
    named = set(json.loads((path / "results.json").read_text())["checkers"][0]["anomalies"][0]["ops"])
    data = timeline_data(run)
    flagged = {row[5] for row in data["ops"] if row[6]}
    assert flagged == named
    html = render_timeline(run)
    for i in named:
        assert f'href="#op={i}"' in html
    assert "lost-write" in html and "acknowledged write of k3" in html


def test_page_is_self_contained(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", ops=200)
    (html_path,) = [p for p in write_reports(path, plots=False)]
    html = html_path.read_text()
    assert "<link" not in html and "@import" not in html and "@font-face" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert not re.search(r"<script[^>]+src=", html)
    # data cannot close its script element early
    data_el = re.search(r'id="data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data_el


def test_a_value_cannot_break_out_of_the_page(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.mkdir()
    evil = "</script><script>alert(1)</script>"
    events = [
        {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": evil, "value": {"k": evil}},
        {"index": 1, "time": 5, "process": 0, "type": "fail", "f": evil, "value": {"k": evil}, "error": evil},
    ]
    (path / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    html = render_timeline(load_run(path))
    assert html.count("<script") == 2 and "alert(1)</script>" not in html
    assert hover_text(page_data(html), 0).count(evil) == 3  # f, value, error: read as they were


def test_ten_thousand_ops_fast_and_small(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", ops=10_000)
    t = time.process_time()  # CPU time: the machine may be shared by many test runs
    run = load_run(path)
    html = render_timeline(run)
    took = time.process_time() - t
    assert len(run.ops) >= 10_000
    assert took < 3.0, f"timeline of 10k ops took {took:.2f} s"
    assert len(html) < 2_500_000, f"timeline of 10k ops is {len(html)} bytes"


def test_an_empty_history_still_makes_a_page(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text("")
    html = render_timeline(load_run(tmp_path))
    assert page_data(html)["ops"] == [] and "never checked" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_a_real_browser_draws_it_and_shows_the_hover_text(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", ops=400, results="invalid")
    write_reports(path, plots=False)
    run = load_run(path)
    target = next(op for op in run.ops if op.type == "fail")
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1400,900", "--virtual-time-budget=3000", "--dump-dom",
             f"file://{path / 'timeline.html'}#op={target.index}"],
            capture_output=True, text=True, timeout=90,
        )
    dom = out.stdout
    assert "<canvas" in dom, out.stderr[-2000:]
    tip = re.search(r'<div id="tip"[^>]*>(.*?)</div>', dom, re.S)
    assert tip and 'display: block' in tip.group(0), "the tooltip of #op=N is not shown"
    text = tip.group(1)
    assert f"op {target.index}" in text and target.f in text and "→ fail" in text and "error: InvalidUsage" in text
    pinned = re.search(r'<div id="pinned"[^>]*>(.*?)</div>', dom, re.S).group(1)
    assert f"op {target.index}" in pinned
    # the range shown zoomed in on it
    rng = re.search(r'<span id="range"[^>]*>(.*?)</span>', dom, re.S).group(1)
    assert "ms shown" in rng


PROBE = r"""<script>
window.addEventListener("load", () => {
  const cv = document.getElementById("tl"), out = {};
  const rng = () => document.getElementById("range").textContent;
  const r = cv.getBoundingClientRect(), y = r.top + 80;
  out.start = rng();
  cv.dispatchEvent(new WheelEvent("wheel", {deltaY: -800, clientX: r.left + r.width / 2, clientY: y, bubbles: true, cancelable: true}));
  out.wheel = rng();
  cv.dispatchEvent(new MouseEvent("mousedown", {clientX: r.left + 600, clientY: y, bubbles: true}));
  cv.dispatchEvent(new MouseEvent("mousemove", {clientX: r.left + 400, clientY: y, bubbles: true}));
  window.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
  out.drag = rng();
  cv.dispatchEvent(new MouseEvent("dblclick", {bubbles: true}));
  out.reset = rng();
  out.hover = "";
  for (let py = r.top + 60; py < r.bottom && !out.hover; py += 5)
    for (let px = r.left + 100; px < r.right && !out.hover; px += 9) {
      cv.dispatchEvent(new MouseEvent("mousemove", {clientX: px, clientY: py, bubbles: true}));
      const tip = document.getElementById("tip");
      if (tip.style.display === "block" && tip.textContent.startsWith("op ")) out.hover = tip.textContent;
    }
  const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_zoom_pan_reset_and_hover_work_in_a_real_browser(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", ops=1000)
    write_reports(path, plots=False)
    probe = path / "probe.html"
    probe.write_text((path / "timeline.html").read_text().replace("</body>", PROBE))
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1400,900", "--virtual-time-budget=3000", "--dump-dom",
             f"file://{probe}"],
            capture_output=True, text=True, timeout=90,
        )
    m = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert m, out.stderr[-2000:]
    import html as html_mod

    res = json.loads(html_mod.unescape(m.group(1)))

    def shown(s: str) -> float:
        num, unit = re.search(r"\(([\d.]+) (s|ms) shown", s).groups()
        return float(num) * (1 if unit == "s" else 1e-3)

    assert shown(res["wheel"]) < shown(res["start"]) / 2  # wheel zoomed in around the cursor
    assert res["drag"] != res["wheel"] and shown(res["drag"]) == pytest.approx(shown(res["wheel"]), rel=1e-3)  # panned
    assert res["reset"] == res["start"]  # double-click reset
    assert re.match(r"op \d+ · p\d+ w\d+ · \w+ → (ok|fail|info)\ninvoke at", res["hover"]) and "value: " in res["hover"]
