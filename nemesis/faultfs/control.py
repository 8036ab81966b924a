"""The fault filesystem's control protocol: JSON lines over a Unix socket.

One request per line, one reply per line, on a connection that may carry
many::

    -> {"op": "freeze", "timeout": 30}
    <- {"ok": true, "result": null}
    -> {"op": "fail", "kind": "fsync", "errno": 5, "path": "*.wal", "mode": "once", "count": 1}
    <- {"ok": false, "error": "unknown operation 'fsnyc': use one of ...", "bad_input": true}

Requests: ``ping``, ``freeze`` (``timeout``), ``thaw``, ``power_loss``
(``seed``, ``model``), ``fail`` (``kind``, ``errno``, ``path``, ``mode``,
``count``), ``clear_faults``, ``slow`` (``fsync_ms``, ``write_ms``),
``stats``. The server side runs in the filesystem's process
(:class:`ControlServer`, one thread per connection); :class:`ControlClient`
is the caller's side.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any

from nemesis.faultfs.errors import FaultFSBadInput, FaultFSControlError
from nemesis.faultfs.inject import RuleRefused, check_rule


class ControlServer(threading.Thread):
    def __init__(self, ops, path: str) -> None:
        super().__init__(name="faultfs-control", daemon=True)
        self.ops = ops
        self.path = path
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self._closed = False

    def run(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="faultfs-conn").start()

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.close()
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            for line in f:
                try:
                    reply = {"ok": True, "result": self.dispatch(json.loads(line))}
                except (RuleRefused, FaultFSBadInput, ValueError, KeyError, TypeError) as e:
                    reply = {"ok": False, "error": str(e), "bad_input": True}
                except Exception as e:  # noqa: BLE001 - the reply carries it to the caller
                    reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "bad_input": False}
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def dispatch(self, req: dict[str, Any]) -> Any:
        ops = self.ops
        op = req.get("op")
        if op == "ping":
            return {"pid": os.getpid(), "backing": ops.root}
        if op == "freeze":
            ops.freeze(float(req.get("timeout", 30.0)))
            return None
        if op == "thaw":
            ops.thaw()
            return None
        if op == "power_loss":
            return ops.power_loss(int(req["seed"]), req.get("model"))
        if op == "fail":
            ops.inj.add(check_rule(req["kind"], req["errno"], req.get("path"), req.get("mode", "once"),
                                   req.get("count", 1)))
            return None
        if op == "clear_faults":
            return [r.to_json() for r in ops.inj.clear()]
        if op == "slow":
            f, w = float(req.get("fsync_ms", 0.0)), float(req.get("write_ms", 0.0))
            if f < 0 or w < 0:
                raise FaultFSBadInput(f"latency must be >= 0 ms, got fsync_ms={f}, write_ms={w}")
            ops.inj.fsync_s, ops.inj.write_s = f / 1000.0, w / 1000.0
            return None
        if op == "stats":
            return ops.stats()
        raise FaultFSBadInput(f"unknown control request {op!r}")


class ControlClient:
    """The caller's end of the control socket: ``call(op, **args)`` returns the result or raises."""

    def __init__(self, path: str, timeout: float = 120.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._f = None
        self._lock = threading.Lock()

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self._sock, self._f = s, s.makefile("rwb")

    def call(self, op: str, **args: Any) -> Any:
        with self._lock:
            try:
                if self._sock is None:
                    self._connect()
                self._f.write(json.dumps({"op": op, **args}).encode() + b"\n")
                self._f.flush()
                line = self._f.readline()
            except OSError as e:
                self.close()
                raise FaultFSControlError(f"faultfs control {op}: cannot reach the server at {self.path} ({e})") from None
            if not line:
                self.close()
                raise FaultFSControlError(f"faultfs control {op}: the server closed the connection (did it exit?)")
        reply = json.loads(line)
        if reply.get("ok"):
            return reply.get("result")
        if reply.get("bad_input"):
            raise FaultFSBadInput(f"faultfs {op}: {reply.get('error')}")
        raise FaultFSControlError(f"faultfs {op} failed: {reply.get('error')}")

    def close(self) -> None:
        for x in (self._f, self._sock):
            try:
                if x is not None:
                    x.close()
            except OSError:
                pass
        self._sock = self._f = None
