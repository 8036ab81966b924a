"""The WSGI middleware in front of moto: serialised writes, a control endpoint,
and the hook where fault rules plug in.

Why it exists: moto 5.x implements ``If-None-Match: *`` and ``If-Match`` on
PutObject but checks and stores without a lock, so two racing conditional
puts can both win. :class:`NemesisMiddleware` runs every mutating request
(``PUT``, ``POST``, ``DELETE``) under one lock, check and store together;
reads run concurrently. All writes are serialised, not only conditional
ones, because an unconditional put landing between a conditional put's
check and its store would break linearizability just the same.

Request flow::

    client -> [control endpoint? /_nemesis/<name>] -> hooks (outermost first)
           -> serialiser (writes only) -> moto's DomainDispatcherApplication

A request body is read completely before the lock is taken (a slow uploader
never holds it), and moto's response is materialised inside the lock.

Hooks (:class:`Hook`) see a parsed :class:`S3Request` and a ``forward``
callable that runs the request against moto and returns a
:class:`S3Response`. A hook may answer without forwarding (an error *before*
the store), forward and then replace the answer (an error *after* the
store), sleep (latency), or raise :class:`DropConnection` to close the
connection without an answer. This module installs no fault hooks; the S3
nemesis adds them and their control paths.

Control endpoint: ``GET /_nemesis/health`` answers
``{"ok": true, "pid": ..., "writes": n}``. More paths are registered with
:meth:`NemesisMiddleware.add_control`. Paths under ``/_nemesis/`` never reach
moto (no bucket may be named ``_nemesis``: S3 bucket names cannot contain
``_``).
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

CONTROL_PREFIX = "/_nemesis/"
WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})


@dataclass
class S3Request:
    """What a hook needs to know about one request (path-style addressing)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    bucket: str | None = None
    key: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def is_conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-match" in self.headers


@dataclass
class S3Response:
    status: str  # e.g. "200 OK"
    headers: list[tuple[str, str]]
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])


class DropConnection(Exception):
    """Raised by a hook: close the connection without sending a response."""


class Hook(Protocol):
    def __call__(self, req: S3Request, forward: Callable[[], S3Response]) -> S3Response: ...


ControlHandler = Callable[[str, dict[str, str], bytes], tuple[int, Any]]


def _parse(environ: dict[str, Any], body: bytes) -> S3Request:
    headers = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            headers[k[5:].replace("_", "-").lower()] = v
    if "CONTENT_TYPE" in environ:
        headers["content-type"] = environ["CONTENT_TYPE"]
    path = environ.get("PATH_INFO", "/")
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0] or None
    key = parts[1] if len(parts) > 1 and parts[1] else None
    return S3Request(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), headers, body, bucket, key)


def _abort(environ: dict[str, Any]) -> None:
    """Reset the client's connection (RST, no response) if the server exposes it."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class NemesisMiddleware:
    """Wrap a WSGI app (moto's) with write serialisation, hooks and controls."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.hooks: list[Hook] = []
        self.write_lock = threading.Lock()
        self.writes = 0
        self._controls: dict[str, ControlHandler] = {}
        self.add_control("health", self._health)

    def add_control(self, name: str, handler: ControlHandler) -> None:
        """Serve ``/_nemesis/<name>``: ``handler(method, query, body) -> (status, json)``."""
        self._controls[name] = handler

    def _health(self, method: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, {"ok": True, "pid": os.getpid(), "writes": self.writes}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "/")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        req = _parse(environ, body)

        def forward() -> S3Response:
            env = dict(environ)
            env["wsgi.input"] = io.BytesIO(body)
            env["CONTENT_LENGTH"] = str(len(body))
            if req.is_write:
                with self.write_lock:
                    self.writes += 1
                    return self._run(env)
            return self._run(env)

        call = forward
        for hook in reversed(self.hooks):
            call = (lambda h, nxt: (lambda: h(req, nxt)))(hook, call)
        try:
            resp = call()
        except DropConnection:
            _abort(environ)
            # a ConnectionError is what werkzeug treats as "client went away"
            raise ConnectionAbortedError("connection dropped by a nemesis hook") from None
        start_response(resp.status, resp.headers)
        return [resp.body]

    def _run(self, env: dict[str, Any]) -> S3Response:
        captured: dict[str, Any] = {}

        def sr(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: captured.setdefault("written", []).append(data)

        it = self.app(env, sr)
        try:
            chunks = list(captured.get("written", [])) + [bytes(c) for c in it]
        finally:
            if hasattr(it, "close"):
                it.close()
        return S3Response(captured["status"], captured["headers"], b"".join(chunks))

    def _control(self, environ: dict[str, Any], start_response: Callable, name: str) -> Any:
        from urllib.parse import parse_qsl

        handler = self._controls.get(name.strip("/"))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if handler is None:
            status, payload = 404, {"error": f"no control endpoint {name!r}", "known": sorted(self._controls)}
        else:
            try:
                status, payload = handler(environ["REQUEST_METHOD"], dict(parse_qsl(environ.get("QUERY_STRING", ""))), body)
            except Exception as e:  # a bad control request must not kill the server
                status, payload = 400, {"error": f"{type(e).__name__}: {e}"}
        data = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Status")
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
