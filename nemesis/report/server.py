"""Serve a run store over HTTP, read-only, on 127.0.0.1 only.

What it answers: ``GET``/``HEAD`` of files and directory listings under the
store; ``/`` and ``/index.html`` get the index rendered afresh from the store
(nothing is written: the store may be read-only or in use by a campaign).
What it refuses: any other method (501, from the standard handler), a path
with a ``..`` segment in any spelling (400), and a path that leads outside the
store through a symbolic link (403). ``latest`` and other links that stay
inside the store are followed.
"""

from __future__ import annotations

import http.server
import os
import posixpath
import threading
import urllib.parse
from functools import partial
from pathlib import Path
from typing import Any

from nemesis.report.index import check_store, render_index

HOST = "127.0.0.1"


def inside(root: str | Path, target: str | Path) -> bool:
    """True when ``target``, after resolving symbolic links, lies in ``root``."""
    base = os.path.realpath(root)
    real = os.path.realpath(target)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


class StoreHandler(http.server.SimpleHTTPRequestHandler):
    """A :class:`~http.server.SimpleHTTPRequestHandler` confined to the store."""

    server_version = "persist-nemesis-serve"
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".jsonl": "text/plain; charset=utf-8",  # readable in the browser, not a download
        ".json": "application/json; charset=utf-8",
        ".log": "text/plain; charset=utf-8",
        ".edn": "text/plain; charset=utf-8",
    }

    def __init__(self, *args: Any, directory: str, quiet: bool = False, **kwargs: Any) -> None:
        self.quiet = quiet
        super().__init__(*args, directory=directory, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if not self.quiet:
            super().log_message(format, *args)

    def _refusal(self) -> tuple[int, str] | None:
        raw = self.path.split("?", 1)[0].split("#", 1)[0]
        path = raw
        for _ in range(3):  # undo double encoding too: %252e%252e
            path = urllib.parse.unquote(path)
        segments = path.replace("\\", "/").split("/")
        if any(s == ".." for s in segments) or "\x00" in path:
            return 400, "path traversal refused: '..' is not allowed in a path"
        local = self.translate_path(raw)
        if not inside(self.directory, local):
            return 403, "refused: that path leads outside the store"
        return None

    def _index(self, head: bool) -> None:
        try:
            body = render_index(self.directory, refresh=False).encode("utf-8")
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            self.send_error(500, f"index: {type(e).__name__}: {e}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        refusal = self._refusal()
        if refusal:
            self.send_error(*refusal)
            return
        p = posixpath.normpath(urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0]))
        if p in ("/", "/index.html", "."):
            self._index(head)
            return
        if posixpath.basename(p) in ("latency.png", "throughput.png") and self._plot(p, head):
            return
        if head:
            super().do_HEAD()
        else:
            super().do_GET()

    def _plot(self, p: str, head: bool) -> bool:
        """A plot the run did not draw (runs draw them lazily): drawn in
        memory now, nothing written. False when the file exists or the
        directory is not a run (the ordinary 200 or 404 follows)."""
        local = Path(self.translate_path(p))
        run = local.parent
        if local.exists() or not (run / "history.jsonl").is_file():
            return False
        try:
            from nemesis.report.plots import render_png

            body = render_png(run, local.name)
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            self.send_error(500, f"{local.name}: {type(e).__name__}: {e}")
            return True
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return True

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)


class StoreServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(store: str | Path, port: int = 0, *, quiet: bool = False) -> StoreServer:
    """A server for ``store`` bound to 127.0.0.1:``port`` (0: any free port;
    the chosen one is ``server.server_address[1]``). Raises ReportError when
    ``store`` is not a store, OSError when the port is taken."""
    root = check_store(store).resolve()
    handler = partial(StoreHandler, directory=str(root), quiet=quiet)
    return StoreServer((HOST, port), handler)


def url_of(server: StoreServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve_in_thread(server: StoreServer) -> threading.Thread:
    """For tests: run ``server`` in a daemon thread; stop it with
    ``server.shutdown(); server.server_close()``."""
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    return t
