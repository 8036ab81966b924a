"""The server side of S3 fault rules: a middleware hook and its control path.

:func:`install` puts a :class:`FaultInjector` on a
:class:`~nemesis.s3.middleware.NemesisMiddleware` and serves its rule table
at ``/_nemesis/rules``:

==========  ===================================  ============================================
method      body / query                         answer
==========  ===================================  ============================================
``GET``     --                                   ``{"rules": [rule + matched/hits], "fired": {mode: n}}``
``POST``    a rule (JSON object or text), a      ``{"added": [rule with its id]}``; a rule that
            list of them, or ``{"rules": [..]}``  does not parse: 400 ``{"error": ...}``, none added
``DELETE``  ``?ids=1,2`` (default: all)          ``{"cleared": [rule + matched/hits]}``
==========  ===================================  ============================================

Each request to a bucket meets at most one rule: the first in the table
that matches it and whose seeded draw fires (:meth:`RuleTable.pick`). What
each mode does is in :mod:`nemesis.s3.rules`. Hooks run outside the
middleware's write lock, so a hanging or slow request never holds it.
Clearing rules releases requests still hanging in a ``timeout`` early: they
then drop their connection, applied or not exactly as their rule said.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from nemesis.s3.middleware import DropConnection, NemesisMiddleware, S3Request, S3Response
from nemesis.s3.rules import Rule, RuleError, RuleTable, parse

ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
             "<RequestId>nemesis-{rid}</RequestId></Error>")
REASONS = {400: "Bad Request", 403: "Forbidden", 409: "Conflict", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class FaultInjector:
    """A middleware hook that applies the rules of its :class:`RuleTable`."""

    def __init__(self, table: RuleTable | None = None) -> None:
        self.table = table or RuleTable()
        self._release = threading.Event()
        self._rid = 0

    def __call__(self, req: S3Request, forward: Callable[[], S3Response]) -> S3Response:
        if req.bucket is None:
            return forward()  # ListBuckets and the like: never faulted
        rule = self.table.pick(req.method, req.bucket, req.key)
        if rule is None:
            return forward()
        mode = rule.mode
        if mode == "latency":
            self._release.wait(rule.seconds)
            return forward()
        if mode in ("error-before", "conflict"):
            return self._error(req, rule, "injected before the request was applied")
        if mode == "error-after":
            forward()
            return self._error(req, rule, "injected after the request was applied")
        if mode == "drop-after":
            forward()
            raise DropConnection()
        if mode == "timeout":
            if rule.apply:
                forward()
            self._release.wait(rule.seconds)
            raise DropConnection()
        raise AssertionError(f"unhandled mode {mode!r}")  # pragma: no cover - parse() refuses it

    def _error(self, req: S3Request, rule: Rule, message: str) -> S3Response:
        self._rid += 1
        assert rule.status is not None
        body = b"" if req.method == "HEAD" else ERROR_XML.format(code=rule.code, message=message, rid=self._rid).encode()
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
                   ("x-amz-request-id", f"nemesis-{self._rid}"), ("x-nemesis-rule", str(rule.id))]
        if req.method == "HEAD":
            headers[1] = ("Content-Length", "0")
        return S3Response(f"{rule.status} {REASONS.get(rule.status, 'Injected')}", headers, body)

    def release_hangs(self) -> None:
        """Wake every request sleeping in a ``timeout`` or ``latency`` rule."""
        ev, self._release = self._release, threading.Event()
        ev.set()

    # --- the control path ---------------------------------------------------

    def control(self, method: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        if method == "GET":
            return 200, {"rules": self.table.snapshot(), "fired": dict(self.table.fired)}
        if method == "POST":
            try:
                specs = _specs(body)
                rules = [parse(s) for s in specs]
            except RuleError as e:
                return 400, {"error": str(e)}
            self.table.add(rules)
            return 200, {"added": [r.to_json() for r in rules]}
        if method == "DELETE":
            ids = None
            if query.get("ids"):
                try:
                    ids = [int(x) for x in query["ids"].split(",") if x.strip()]
                except ValueError:
                    return 400, {"error": f"ids={query['ids']!r} is not a comma-separated list of rule ids"}
            gone = self.table.clear(ids)
            if not self.table.rules:
                self.release_hangs()
            return 200, {"cleared": [r.to_json(stats=True) for r in gone]}
        return 400, {"error": f"{method} /_nemesis/rules: use GET (list), POST (add) or DELETE (clear)"}


def _specs(body: bytes) -> list[Any]:
    try:
        obj = json.loads(body or b"null")
    except ValueError:
        obj = body.decode("utf-8", errors="replace")  # a text rule, one per line
        return [line for line in obj.splitlines() if line.strip()]
    if isinstance(obj, dict) and "rules" in obj and "mode" not in obj:
        obj = obj["rules"]
    if isinstance(obj, (dict, str)):
        return [obj]
    if isinstance(obj, list) and obj:
        return obj
    raise RuleError("POST /_nemesis/rules needs a rule (JSON object or text), a list of them, or {\"rules\": [...]}")


def install(app: NemesisMiddleware) -> FaultInjector:
    """Add a :class:`FaultInjector` (outermost hook) and its ``rules`` control path."""
    inj = FaultInjector()
    app.hooks.insert(0, inj)
    app.add_control("rules", inj.control)
    app.fault_injector = inj  # type: ignore[attr-defined]
    return inj
