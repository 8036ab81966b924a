"""A system under test other than persist, seen by the workloads' clients
through persist's own surface (``docs/protocol.md``).

``open_system(spec, url, options, read_only)`` returns an object with the
methods the clients call on a ``persist.open`` handle (``stream(name)``
with ``write``, ``seal``, ``allow_compaction``, ``frontiers``, ``snapshot``,
``listen``; ``write_multi``, ``pending_count``, ``drain``, ``compact``,
``gc``, ``close``), so a workload runs unchanged against it. ``spec`` is
what the controller passes in the worker's options (``options["system"]``):
``{"kind": "exec", "argv": [...]}`` with the placeholders ``{data_dir}``,
``{url}``, ``{role}`` still in it.

:class:`ExecSystem` starts the command as a child of the worker (same
process group: a SIGKILL of the worker's group kills it too) and speaks
JSON lines: one request per call, with an id, replies matched by id (calls
from several threads are in flight at once). A ``determinate`` error reply
raises a :class:`persist.errors.Determinate` subclass named after the
reply's ``class`` (recorded ``fail``), an ``indeterminate`` one an
:class:`persist.errors.Indeterminate` subclass (``info``); an adapter that
dies, closes its stdout or writes a line that is not JSON fails every call
in flight and every later one as indeterminate.

Only the ``exec`` kind is implemented here; ``module:Class`` is designed
in ``docs/protocol.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from typing import Any
from urllib.parse import urlparse

from persist.errors import Determinate, Indeterminate

_CLASSES: dict[tuple[str, bool], type] = {}


def error_class(name: str, determinate: bool) -> type:
    """A persist error class named like the adapter's ``class`` (cached)."""
    key = (name, determinate)
    cls = _CLASSES.get(key)
    if cls is None:
        safe = "".join(c for c in str(name) if c.isalnum() or c == "_") or "SystemError"
        cls = _CLASSES[key] = type(safe, (Determinate if determinate else Indeterminate,), {})
    return cls


def open_system(spec: dict[str, Any], url: str, options: dict[str, Any], read_only: bool,
                role: str | None = None) -> "ExecSystem":
    if spec.get("kind") != "exec":
        raise ValueError(f"system kind {spec.get('kind')!r} is not implemented in the workers yet (exec only)")
    opts = {k: v for k, v in options.items() if k != "system"}
    return ExecSystem(list(spec["argv"]), url, opts, read_only, role or ("reader" if read_only else "writer"),
                      mutant=spec.get("mutant"))


class _Event:
    def __init__(self, kind: str, upper: int | None = None, updates: Any = None) -> None:
        self.kind, self.upper, self.updates = kind, upper, updates


class _Rows:
    """A listen's data rows with the ``column(name).to_pylist()`` of an Arrow table."""

    def __init__(self, rows: list[list]) -> None:
        self.rows = rows

    def column(self, name: str) -> "_Column":
        i = ("key", "val", "ts", "diff").index(name)
        enc = i < 2
        return _Column([(str(r[i]).encode() if enc else int(r[i])) for r in self.rows])


class _Column:
    def __init__(self, values: list) -> None:
        self.values = values

    def to_pylist(self) -> list:
        return list(self.values)


class _Listener:
    def __init__(self, sys_: "ExecSystem", stream: str, as_of: int) -> None:
        self.sys, self.stream, self.as_of = sys_, stream, as_of

    def poll(self, timeout: float = 0.2) -> list[_Event]:
        reply = self.sys.call("listen", stream=self.stream, as_of=self.as_of, **{"for": float(timeout)})
        out = []
        for ev in reply.get("events", []):
            if "progress" in ev:
                out.append(_Event("progress", upper=int(ev["progress"])))
            else:
                out.append(_Event("data", updates=_Rows(ev.get("data") or [])))
        return out


class ExecStream:
    def __init__(self, sys_: "ExecSystem", name: str) -> None:
        self.sys, self.name = sys_, name

    def write(self, updates: list) -> None:
        self.sys.call("write", stream=self.name, updates=_dec(updates))

    def seal(self, ts: int) -> None:
        self.sys.call("seal", stream=self.name, ts=int(ts))

    def allow_compaction(self, since: int) -> None:
        self.sys.call("allow_compaction", stream=self.name, since=int(since))

    def frontiers(self) -> tuple[int, int]:
        r = self.sys.call("frontiers", stream=self.name)
        return int(r["upper"]), int(r["since"])

    def snapshot(self, as_of: int) -> list[tuple[bytes, bytes, int]]:
        rows = self.sys.call("snapshot", stream=self.name, as_of=int(as_of))["rows"]
        return [(str(k).encode(), str(v).encode(), int(d)) for k, v, d in rows]

    def listen(self, as_of: int) -> _Listener:
        return _Listener(self.sys, self.name, int(as_of))


def _dec(updates: list) -> list[list]:
    return [[k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v, int(ts), int(d)]
            for k, v, ts, d in updates]


class ExecSystem:
    """One adapter process and the protocol to it (thread-safe)."""

    OPEN_TIMEOUT = 30.0

    def __init__(self, argv: list[str], url: str, options: dict[str, Any], read_only: bool, role: str,
                 mutant: str | None = None) -> None:
        parsed = urlparse(url)
        data_dir = parsed.path if parsed.scheme == "file" else os.path.join(os.getcwd(), "data")
        values = {"data_dir": data_dir, "url": url, "role": role}
        env = {**os.environ, "NEMESIS_DATA_DIR": data_dir, "NEMESIS_URL": url, "NEMESIS_ROLE": role}
        if mutant:  # --mutant: the planted bug goes into the system (an adapter that supports it runs the file)
            env["NEMESIS_MUTANT"] = mutant
        self.proc = subprocess.Popen([a.format(**values) for a in argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, list] = {}  # id -> [event, reply]
        self._dead: str | None = None
        self._reader = threading.Thread(target=self._read, name="system-replies", daemon=True)
        self._reader.start()
        self._streams: dict[str, ExecStream] = {}
        opened = self.call("open", timeout=self.OPEN_TIMEOUT, data_dir=data_dir, url=url, role=role,
                           read_only=bool(read_only), options=options)
        self.ops = set((opened or {}).get("ops") or [])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        why = "the system's process closed its output"
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                reply = json.loads(line)
                slot = self._waiting.get(reply["id"])
            except (ValueError, KeyError, TypeError):
                why = f"the system wrote a line that is not a reply: {line.strip()[:200]!r}"
                break
            if slot is not None:
                slot[1] = reply
                slot[0].set()
        self._fail_all(why)

    def _fail_all(self, why: str) -> None:
        with self._lock:
            self._dead = self._dead or why
            for slot in self._waiting.values():
                slot[0].set()

    def call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        ev = threading.Event()
        slot: list = [ev, None]
        with self._lock:
            if self._dead:
                raise error_class("SystemDied", False)(self._dead)
            self._next += 1
            rid = self._next
            self._waiting[rid] = slot
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"id": rid, "op": op, "args": args}, separators=(",", ":")) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError) as e:
                self._waiting.pop(rid, None)
                raise error_class("SystemDied", False)(f"cannot send {op} to the system: {e}") from None
        try:
            if not ev.wait(timeout):
                raise error_class("SystemTimeout", False)(f"no reply to {op} in {timeout:g} s")
        finally:
            with self._lock:
                self._waiting.pop(rid, None)
        reply = slot[1]
        if reply is None:
            raise error_class("SystemDied", False)(f"{op}: {self._dead}")
        if "error" in reply:
            e = reply["error"] or {}
            raise error_class(e.get("class") or "SystemError", e.get("kind") == "determinate")(
                str(e.get("message", "")))
        return reply.get("ok")

    # --- persist's surface ------------------------------------------------------

    def stream(self, name: str) -> ExecStream:
        s = self._streams.get(name)
        if s is None:
            s = self._streams.setdefault(name, ExecStream(self, name))
        return s

    def write_multi(self, writes: dict[str, list]) -> None:
        self.call("write_multi", writes={n: _dec(u) for n, u in writes.items()})

    def pending_count(self) -> int:
        return 0

    def drain(self) -> None:
        if "drain" in self.ops:
            self.call("drain")

    def compact(self) -> int:
        return int((self.call("compact") or {}).get("merges", 0)) if "compact" in self.ops else 0

    def gc(self) -> list:
        return [None] * int((self.call("gc") or {}).get("deleted", 0)) if "gc" in self.ops else []

    def close(self) -> None:
        try:
            if not self._dead:
                self.call("close", timeout=30.0)
        finally:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
