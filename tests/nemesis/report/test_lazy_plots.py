"""Plots drawn lazily: the end of a run links them from the timeline without
drawing them (no matplotlib in the run's time); ``serve`` draws a missing
plot when it is viewed, in memory (nothing written); ``report`` writes them."""

from __future__ import annotations

from pathlib import Path

from nemesis.report import write_reports
from nemesis.report.server import make_server, serve_in_thread
from tests.nemesis.report.test_index import make_store
from tests.nemesis.report.test_server import get


def test_lazy_plots_are_linked_not_drawn_and_served_on_view(tmp_path: Path) -> None:
    store, runs = make_store(tmp_path)
    run = runs[1]
    paths = write_reports(run, plots="lazy")
    assert [p.name for p in paths] == ["timeline.html"]
    html = (run / "timeline.html").read_text()
    assert '<img src="latency.png"' in html and "drawn on first view" in html
    assert not (run / "latency.png").exists()
    server = make_server(store, 0, quiet=True)
    serve_in_thread(server)
    try:
        rel = run.relative_to(store).as_posix()
        for name in ("latency.png", "throughput.png"):
            status, body = get(server.server_address[1], f"/{rel}/{name}")
            assert status == 200 and body.startswith(b"\x89PNG"), (status, body[:200])
            assert not (run / name).exists()  # read-only: drawn in memory
        status, _ = get(server.server_address[1], f"/{rel}/nope/latency.png")
        assert status == 404  # not a run: no plot invented
    finally:
        server.shutdown()
        server.server_close()
    assert {p.name for p in write_reports(run)} == {"timeline.html", "latency.png", "throughput.png"}
