"""The reference engine served over the ``exec:`` protocol (``docs/protocol.md``).

    python examples/persist_server.py

A separate program, not part of the harness (it imports ``persist`` and
nothing of ``nemesis`` or ``workloads``): it reads one JSON request a line on
stdin, performs it on persist and writes one reply a line on stdout, so the
protocol path can be proven end to end against the engine whose verdicts
are known. Requests are served one at a time, in order (the protocol allows
it); persist's own errors become ``determinate`` / ``indeterminate`` replies
by their class, anything else is ``indeterminate`` (the engine may have done
it) with the traceback on stderr.

Keys and values are UTF-8 text on the wire and bytes in persist.

``NEMESIS_MUTANT=FILE.py`` (set by the harness for ``--mutant``): the file
is run before persist is imported, planting its bug into the engine this
server serves (the zoo of ``mutants/``, through the protocol).
"""

from __future__ import annotations

import inspect
import json
import sys
import time
import traceback
from typing import Any, Callable

PROTOCOL = 1


class Server:
    """One open location and the operations of the protocol on it."""

    def __init__(self) -> None:
        self.p: Any = None
        self.streams: dict[str, Any] = {}

    # --- operations -------------------------------------------------------

    def open(self, data_dir: str, url: str | None = None, role: str = "writer", read_only: bool = False,
             options: dict[str, Any] | None = None) -> dict[str, Any]:
        import persist

        kwargs = dict((options or {}).get("persist", {}))
        self.p = persist.open(url or f"file://{data_dir}", read_only=read_only, **kwargs)
        ops = ["write", "write_multi", "seal", "allow_compaction", "frontiers", "snapshot", "listen", "drain",
               "compact", "gc"]
        return {"protocol": PROTOCOL, "ops": ops, "failpoints": False}

    def stream(self, name: str) -> Any:
        s = self.streams.get(name)
        if s is None:
            s = self.streams[name] = self.p.stream(name)
        return s

    def write(self, stream: str, updates: list) -> None:
        self.stream(stream).write(_enc(updates))

    def write_multi(self, writes: dict[str, list]) -> None:
        self.p.write_multi({name: _enc(u) for name, u in writes.items()})

    def seal(self, stream: str, ts: int) -> None:
        self.stream(stream).seal(int(ts))

    def allow_compaction(self, stream: str, since: int) -> None:
        self.stream(stream).allow_compaction(int(since))

    def frontiers(self, stream: str) -> dict[str, int]:
        upper, since = self.stream(stream).frontiers()
        return {"upper": upper, "since": since}

    def snapshot(self, stream: str, as_of: int) -> dict[str, Any]:
        return {"rows": [[k.decode(), v.decode(), d] for k, v, d in self.stream(stream).snapshot(int(as_of))]}

    def listen(self, stream: str, as_of: int, **kw: Any) -> dict[str, Any]:
        listener = self.stream(stream).listen(int(as_of))
        events: list[dict[str, Any]] = []
        end = time.monotonic() + float(kw.get("for", 0.2))
        while (left := end - time.monotonic()) > 0:
            for ev in listener.poll(timeout=left):
                if ev.kind == "progress":
                    events.append({"progress": ev.upper})
                else:
                    t = ev.updates
                    events.append({"data": [[k.decode(), v.decode(), ts, d] for k, v, ts, d in zip(
                        t.column("key").to_pylist(), t.column("val").to_pylist(), t.column("ts").to_pylist(),
                        t.column("diff").to_pylist())]})
        return {"events": events}

    def drain(self) -> dict[str, Any]:
        before = self.p.pending_count()
        self.p.drain()
        return {"pending": before}

    def compact(self) -> dict[str, Any]:
        return {"merges": self.p.compact()}

    def gc(self) -> dict[str, Any]:
        return {"deleted": len(self.p.gc())}

    def close(self) -> None:
        if self.p is not None:
            self.p.close()
            self.p = None

    # --- the wire -----------------------------------------------------------

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        rid = req.get("id")
        op = req.get("op")
        fn: Callable[..., Any] | None = getattr(self, op, None) if op in OPS else None
        if fn is None:
            return {"id": rid, "error": {"kind": "determinate", "class": "UnknownOperation",
                                         "message": f"no operation {op!r}; this server serves {', '.join(OPS)}"}}
        if op != "open" and self.p is None:
            return {"id": rid, "error": {"kind": "determinate", "class": "NotOpen",
                                         "message": f"{op} before open"}}
        args = req.get("args") or {}
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as e:  # refused before anything ran
            return {"id": rid, "error": {"kind": "determinate", "class": "BadRequest", "message": f"{op}: {e}"}}
        try:
            return {"id": rid, "ok": fn(**args)}
        except Exception as e:  # noqa: BLE001 - every failure is a reply
            return {"id": rid, "error": error_of(e)}


OPS = ("open", "write", "write_multi", "seal", "allow_compaction", "frontiers", "snapshot", "listen", "drain",
       "compact", "gc", "close")


def _enc(updates: list) -> list[tuple[bytes, bytes, int, int]]:
    return [(str(k).encode(), str(v).encode(), int(ts), int(d)) for k, v, ts, d in updates]


def error_of(e: BaseException) -> dict[str, str]:
    """A persist error by its class (Determinate: it did not happen); anything else indeterminate."""
    try:
        from persist.errors import Determinate
    except ImportError:  # pragma: no cover - persist is what this serves
        Determinate = ()  # type: ignore[assignment]
    determinate = isinstance(e, Determinate)
    if not determinate:
        traceback.print_exc(file=sys.stderr)
    return {"kind": "determinate" if determinate else "indeterminate", "class": type(e).__name__,
            "message": str(e)}


def main() -> int:
    import os

    if os.environ.get("NEMESIS_MUTANT"):
        import runpy

        runpy.run_path(os.environ["NEMESIS_MUTANT"], run_name="__mutant__")
    server = Server()
    for line in sys.stdin:
        if not line.strip():
            continue
        req: Any = None
        try:
            req = json.loads(line)
        except ValueError as e:
            reply = {"id": None, "error": {"kind": "determinate", "class": "BadRequest", "message": f"not JSON: {e}"}}
        else:
            reply = server.handle(req) if isinstance(req, dict) else {
                "id": None, "error": {"kind": "determinate", "class": "BadRequest", "message": "not a JSON object"}}
        sys.stdout.write(json.dumps(reply, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        if isinstance(req, dict) and req.get("op") == "close" and "ok" in reply:
            return 0
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
