"""Serve the reference engine, persist, over the harness's JSON-lines protocol (``docs/protocol.md``).

    python examples/persist_server.py DATA_DIR [--mutant FILE.py]

A conformance example: a program of its own that imports ``persist`` and
nothing of the harness, so ``--system 'exec:python examples/persist_server.py {data_dir}'``
drives persist through the protocol end to end. One request a line on
stdin, one reply a line on stdout (any order: requests run on a thread pool,
so concurrent writes share the Wal's group commit); logs on stderr. EOF on
stdin closes the engine and exits 0.

``--mutant FILE.py`` (or ``PERSIST_SERVER_MUTANT``) runs a file of the mutant
zoo before persist is imported, as the harness's worker does with its own
``--mutant``: the planted bug is then in the engine behind the protocol.

``DATA_DIR`` must be the directory of the ``open`` request's ``file://`` url
(a check that the harness substituted ``{data_dir}`` as documented); on S3
the url is not a path and the check is skipped.

Exit codes: 0 at EOF; 64 bad arguments; 65 the mutant failed to run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import runpy
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse


def _b(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _s(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _updates(rows) -> list[tuple[bytes, bytes, int, int]]:
    return [(_b(k), _b(v), int(t), int(d)) for k, v, t, d in rows]


class UnsupportedOperation(Exception):
    pass


class Server:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = os.path.realpath(data_dir)
        self.p = None
        self.streams: dict[str, object] = {}
        self.listeners: dict[int, object] = {}
        self.next_listener = 0
        self.lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.out = sys.stdout
        self.closed = False

    def reply(self, obj: dict) -> None:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self.out_lock:
            self.out.write(line)
            self.out.flush()

    def stream(self, name: str):
        with self.lock:
            s = self.streams.get(name)
            if s is None:
                s = self.streams[name] = self.p.stream(name)
            return s

    def handle(self, req: dict):
        import persist
        from persist.errors import ClosedError

        op = req.get("op")
        if op == "open":
            url = req["url"]
            u = urlparse(url)
            if u.scheme == "file" and os.path.realpath(u.path) != self.data_dir:
                raise ValueError(f"the open url {url} is not in DATA_DIR {self.data_dir}")
            options = dict(req.get("options") or {})
            self.p = persist.open(url, read_only=bool(req.get("read_only")), **options)
            return None
        if self.p is None:
            raise ClosedError(f"{op} before open")
        p = self.p
        if op == "stream":
            self.stream(req["stream"])
            return None
        if op == "write":
            self.stream(req["stream"]).write(_updates(req["updates"]))
            return None
        if op == "write_multi":
            p.write_multi({n: _updates(u) for n, u in req["writes"].items()})
            return None
        if op == "seal":
            self.stream(req["stream"]).seal(int(req["ts"]))
            return None
        if op == "allow_compaction":
            self.stream(req["stream"]).allow_compaction(int(req["since"]))
            return None
        if op == "frontiers":
            upper, since = self.stream(req["stream"]).frontiers()
            return {"upper": upper, "since": since}
        if op == "snapshot":
            snap = self.stream(req["stream"]).snapshot(int(req["as_of"]))
            return {"rows": [[_s(k), _s(v), d] for k, v, d in snap]}
        if op == "listen":
            listener = self.stream(req["stream"]).listen(int(req["as_of"]))
            with self.lock:
                self.next_listener += 1
                self.listeners[self.next_listener] = listener
                return {"listener": self.next_listener}
        if op == "poll":
            listener = self.listeners[int(req["listener"])]
            events = []
            for ev in listener.poll(timeout=req.get("timeout", 0)):
                if ev.kind == "progress":
                    events.append({"progress": ev.upper})
                else:
                    events.append({"data": [[_s(k), _s(v), t, d] for k, v, t, d in ev.rows()]})
            return {"events": events}
        if op == "unlisten":
            with self.lock:
                self.listeners.pop(int(req["listener"]), None)
            return None
        if op == "pending_count":
            return p.pending_count()
        if op == "drain":
            p.drain()
            return None
        if op == "compact":
            return p.compact()
        if op == "gc":
            return [str(k) for k in p.gc()]
        if op == "close":
            self.closed = True
            p.close()
            return None
        raise UnsupportedOperation(f"unknown op {op!r}")

    def serve(self, req: dict) -> None:
        from persist.errors import PersistError

        rid = req.get("id")
        try:
            value = self.handle(req)
        except PersistError as e:
            self.reply({"id": rid, "error": {"type": "determinate" if e.determinate else "indeterminate",
                                             "class": type(e).__name__, "message": str(e)}})
        except UnsupportedOperation as e:
            self.reply({"id": rid, "error": {"type": "determinate", "class": "UnsupportedOperation",
                                             "message": str(e)}})
        except Exception as e:  # a bug of the engine or a bad request: it may have happened
            traceback.print_exc()
            sys.stderr.flush()
            self.reply({"id": rid, "error": {"type": "indeterminate", "class": type(e).__name__,
                                             "message": f"unexpected: {e}"}})
        else:
            self.reply({"id": rid, "ok": value})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="persist_server.py")
    ap.add_argument("data_dir")
    ap.add_argument("--mutant", default=os.environ.get("PERSIST_SERVER_MUTANT") or None,
                    help="a FILE.py run before persist is imported (a planted bug)")
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args(argv)
    if args.mutant:
        try:
            runpy.run_path(args.mutant, run_name="__mutant__")
        except BaseException:
            traceback.print_exc()
            print(f"persist_server: the mutant {args.mutant} failed", file=sys.stderr, flush=True)
            return 65
    # replies only on the real stdout: anything printed (the engine, a mutant) goes to stderr
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import persist  # noqa: F401  (paid now: a spare worker starts this program before it is needed)

    server = Server(args.data_dir)
    server.out = out
    pool = ThreadPoolExecutor(max_workers=max(1, args.threads))
    for line in sys.stdin:
        if line.strip():
            req = json.loads(line)
            if req.get("op") == "open":  # nothing else runs before the engine is open
                server.serve(req)
            else:
                pool.submit(server.serve, req)
    pool.shutdown(wait=True)
    if server.p is not None and not server.closed:
        try:
            server.p.close()
        except Exception:
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
