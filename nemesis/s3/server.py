"""A moto S3 server in its own process, behind :class:`NemesisMiddleware`.

``MotoServer().start()`` runs ``python -m nemesis.s3.server`` on 127.0.0.1,
port 0 by default; the child binds, then prints one line
``{"port": N, "pid": P}`` on stdout, which the parent waits for. The
server's state (buckets, objects) lives in that process, so it is never a
kill target: it stops when the parent calls :meth:`MotoServer.stop`, closes
the child's stdin, or dies (the child polls its parent pid).

A server that cannot start (port in use, moto not installed) makes
:meth:`MotoServer.start` raise :class:`MotoStartError` with the child's last
error line. The child's stderr goes to a file (``log_path``, or an anonymous
temporary file gone at :meth:`MotoServer.stop`), never to a pipe nobody reads:
a server that logs a lot (tracebacks of failed requests) must not block on a
full pipe in the middle of a run. Start cost is dominated by importing moto (~1 s on 2 shared
cores); S3 backends are created lazily on the first request.

Run by hand: ``python -m nemesis.s3.server --port 5000`` (Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any
from nemesis.errors import StartError

DEFAULT_HOST = "127.0.0.1"
#: dummy credentials moto accepts; boto3 needs some.
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


class MotoStartError(StartError):
    """The moto server process could not be started."""


class MotoServer:
    """Handle on a moto server child process. Use as a context manager or
    call :meth:`start` / :meth:`stop`."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, startup_timeout: float = 60.0,
                 log_path: str | None = None) -> None:
        self.host, self.port, self.startup_timeout = host, port, startup_timeout
        self.log_path = log_path  # the child's stderr (None: an anonymous temporary file)
        self.proc: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3Blob(bucket, **opts)`` or ``boto3.client("s3", **opts)``."""
        return {"endpoint_url": self.endpoint_url, **CREDENTIALS}

    def start(self) -> MotoServer:
        cmd = [sys.executable, "-m", "nemesis.s3.server", "--host", self.host, "--port", str(self.port),
               "--parent", str(os.getpid())]
        self._log = open(self.log_path, "w+b") if self.log_path else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, start_new_session=True
        )
        deadline = time.monotonic() + self.startup_timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line:
            self._fail(f"no ready line within {self.startup_timeout:.0f} s" if self.proc.poll() is None else None)
        try:
            info = json.loads(line)
            self.port = int(info["port"])
        except (ValueError, KeyError):
            self._fail(f"unexpected ready line {line[:200]!r}")
        return self

    def _fail(self, why: str | None) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        err = self.stderr_text().strip().splitlines()
        last = err[-1] if err else why or f"exit status {self.proc.returncode}"
        self.proc = None
        self._close_log()
        raise MotoStartError(
            f"could not start the moto server on {self.host}:{self.port}: {why or last}"
            + ("" if why is None else f" ({last})" if err else "")
        )

    def stderr_text(self, limit: int = 1 << 16) -> str:
        """The last ``limit`` bytes the child wrote to stderr so far."""
        if self._log is None:
            return ""
        try:
            size = os.fstat(self._log.fileno()).st_size
            return os.pread(self._log.fileno(), limit, max(0, size - limit)).decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def health(self, timeout: float = 5.0) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint_url}/_nemesis/health", timeout=timeout) as r:
            return json.loads(r.read())

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            self._close_log()
            return
        try:
            proc.stdin.close()  # the child exits on EOF
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._close_log()

    def __enter__(self) -> MotoServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.kill()


def make_app():
    """moto's dispatcher wrapped in the middleware (import cost: moto)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from nemesis.s3.injector import install
    from nemesis.s3.middleware import NemesisMiddleware

    app = NemesisMiddleware(DomainDispatcherApplication(create_backend_app))
    install(app)  # S3 fault rules at /_nemesis/rules (nemesis.s3.injector)
    return app


def _watch_parent(parent: int) -> None:
    def stdin_eof() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        os._exit(0)

    def parent_gone() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=stdin_eof, daemon=True).start()
    threading.Thread(target=parent_gone, daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="moto S3 server behind the nemesis middleware")
    ap.add_argument("--host", default=DEFAULT_HOST)
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--parent", type=int, default=0, help="exit when this pid is no longer our parent")
    args = ap.parse_args(argv)
    try:
        app = make_app()
    except ImportError as e:
        sys.exit(f"moto is not installed ({e}); pip install 'moto[s3]>=5.0.10' flask flask-cors")
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except (OSError, SystemExit) as e:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {getattr(e, 'strerror', None) or e}")
    if args.parent:
        _watch_parent(args.parent)
    port = server.server_address[1]
    sys.stdout.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
