"""An ``exec:CMD`` system: an executable speaking JSON lines, behind a proxy
with persist's surface (``docs/protocol.md``).

:class:`ExecSystem` ``.open(url, read_only, **options)`` starts ``CMD`` (split
like a shell line, ``{data_dir}`` and ``{url}`` replaced) as a child of the
worker: in the worker's process group, so a SIGKILL or SIGSTOP of the group
reaches it, and with a parent-death SIGKILL, so it never outlives its worker.
It sends ``open`` and returns an :class:`ExecPersister`; its streams are
:class:`ExecStream`. Each call is one request; callers on several threads
may have requests in flight at once (one reader thread pairs replies by id).

Errors: a reply's ``error`` becomes an exception named by its ``class``, a
subclass of :class:`RemoteDeterminate` or :class:`RemoteIndeterminate`
(themselves ``persist.errors.Determinate`` / ``Indeterminate``), so the
worker records ``fail`` or ``info`` and the history names the system's own
class. A child that is gone (EOF, exit, a reply that breaks the protocol)
fails every request in flight and every later one with :class:`SystemGone`
(indeterminate: the request may have been applied before it died).

Bytes travel as base64; updates as ``[key, val, ts, diff]``.
"""

from __future__ import annotations

import base64
import ctypes
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from typing import Any
from urllib.parse import urlparse

from persist.errors import Determinate, Indeterminate
from workloads.errors import WorkloadError

_PR_SET_PDEATHSIG = 1


class RemoteDeterminate(WorkloadError, Determinate):
    """The system said the operation certainly did not happen (recorded ``fail``)."""

    happened = False


class RemoteIndeterminate(WorkloadError, Indeterminate):
    """The system said the operation may have happened (recorded ``info``)."""

    happened = None


class SystemGone(RemoteIndeterminate):
    """The system's process is gone (or broke the protocol): what was in flight may have happened."""


_classes: dict[tuple[str, bool], type] = {}
_classes_lock = threading.Lock()


def remote_error(err: Any) -> Exception:
    """The exception for a reply's ``error`` object, named by its ``class``."""
    if not isinstance(err, dict) or err.get("type") not in ("determinate", "indeterminate"):
        return SystemGone(f"the system replied with a malformed error {err!r} (type must be "
                          "'determinate' or 'indeterminate')")
    det = err["type"] == "determinate"
    name = str(err.get("class") or ("RemoteDeterminate" if det else "RemoteIndeterminate"))
    if not name.isidentifier():
        name = "RemoteDeterminate" if det else "RemoteIndeterminate"
    with _classes_lock:
        cls = _classes.get((name, det))
        if cls is None:
            base = RemoteDeterminate if det else RemoteIndeterminate
            cls = base if name == base.__name__ else type(name, (base,), {"__module__": __name__})
            _classes[(name, det)] = cls
    return cls(str(err.get("message", "")))


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def unb64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _enc_updates(updates) -> list[list]:
    return [[b64(k), b64(v), int(t), int(d)] for k, v, t, d in updates]


def data_dir_of(url: str, options: dict[str, Any]) -> str:
    """The directory the reference engine would use: a ``file://`` url's
    path; on S3 the parent of the local Wal directory (the run's ``data/``)."""
    u = urlparse(url)
    if u.scheme == "file":
        return u.path
    wal_dir = options.get("wal_dir")
    return os.path.dirname(os.path.abspath(wal_dir)) if wal_dir else os.getcwd()


def _pdeathsig() -> None:  # preexec_fn: the child dies with its worker
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


class _Pending:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, Any] | None = None


class Connection:
    """One child process and its request/reply pairing."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
                                     close_fds=True, preexec_fn=_pdeathsig)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()  # guards _pending and _gone
        self._wlock = threading.Lock()  # one writer of stdin at a time
        self._gone: str | None = None
        self._closing = False  # close() was called: the child's exit is expected, not news
        threading.Thread(target=self._read, daemon=True, name="exec-system-reader").start()

    def _fail_all(self, why: str) -> None:
        with self._lock:
            if self._gone is None:
                self._gone = why
            pending, self._pending = self._pending, {}
        for p in pending.values():
            p.event.set()
        if self._closing and not pending:
            return
        print(f"worker: system {shlex.join(self.argv)}: {why}", file=sys.stderr, flush=True)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict) or ("ok" not in msg and "error" not in msg):
                    raise ValueError("neither 'ok' nor 'error'")
                with self._lock:
                    p = self._pending.pop(msg["id"])
            except (ValueError, KeyError, TypeError) as e:
                self._fail_all(f"broke the protocol ({e}) with the line {raw[:200]!r}")
                self._kill()
                return
            p.reply = msg
            p.event.set()
        code = self.proc.wait()
        self._fail_all(f"exited with code {code}")

    def _kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass

    def call(self, op: str, **fields: Any) -> Any:
        """Send one request and wait for its reply: the ``ok`` value, or raise."""
        p = _Pending()
        with self._lock:
            if self._gone is not None:
                raise SystemGone(f"the system process is gone ({self._gone}); {op} not sent")
            rid = next(self._ids)
            self._pending[rid] = p
        line = (json.dumps({"id": rid, "op": op, **fields}, separators=(",", ":")) + "\n").encode()
        try:
            with self._wlock:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
        except (OSError, ValueError) as e:
            self._fail_all(f"stdin closed ({e})")
        p.event.wait()
        if p.reply is None:
            raise SystemGone(f"the system process is gone ({self._gone}) with {op} in flight: it may have happened")
        if "error" in p.reply:
            raise remote_error(p.reply["error"])
        return p.reply["ok"]

    def close(self) -> None:
        """Close stdin (the child exits at EOF) and reap it."""
        self._closing = True
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            self.proc.wait()


class ExecSystem:
    """``exec:CMD``: each ``open`` starts one child running ``CMD``."""

    SUPPORTS: frozenset[str] = frozenset()

    def __init__(self, command: str) -> None:
        self.command = command
        self.words = shlex.split(command)
        self._prepared: Connection | None = None

    def prepare(self, url: str, **options: Any) -> None:
        """Start the child now, without ``open`` (a spare worker: the child
        pays for its own start-up while the spare waits; ``open`` then only
        opens). The child has touched nothing of the location yet."""
        if self._prepared is None:
            try:
                self._prepared = Connection(self.argv(url, options))
            except OSError:
                self._prepared = None  # open will say why

    def argv(self, url: str, options: dict[str, Any]) -> list[str]:
        d = data_dir_of(url, options)
        return [w.replace("{data_dir}", d).replace("{url}", url) for w in self.words]

    def open(self, url: str, read_only: bool = False, **options: Any) -> "ExecPersister":
        conn, self._prepared = self._prepared, None
        try:
            if conn is None or conn.argv != self.argv(url, options) or conn.proc.poll() is not None:
                if conn is not None:
                    conn.close()
                conn = Connection(self.argv(url, options))
        except OSError as e:
            raise SystemGone(f"cannot start the system {self.command!r}: {e}") from None
        try:
            conn.call("open", url=url, read_only=bool(read_only), options=options)
        except BaseException:
            conn._kill()
            conn.close()
            raise
        return ExecPersister(conn)


class ExecPersister:
    """persist's ``Persister`` surface over a :class:`Connection`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._streams: dict[str, ExecStream] = {}

    def stream(self, name: str) -> "ExecStream":
        s = self._streams.get(name)
        if s is None:  # the system registers the stream on first use, as persist.Persister.stream does
            self.conn.call("stream", stream=name)
            s = self._streams.setdefault(name, ExecStream(self, name))
        return s

    def write_multi(self, writes: dict[str, Any]) -> None:
        self.conn.call("write_multi", writes={n: _enc_updates(u) for n, u in writes.items()})

    def pending_count(self) -> int:
        return int(self.conn.call("pending_count"))

    def drain(self) -> None:
        self.conn.call("drain")

    def compact(self) -> int:
        return int(self.conn.call("compact") or 0)

    def gc(self) -> list:
        return list(self.conn.call("gc") or [])

    # the kv workload's operations (docs/protocol.md, "Key-value operations")
    def kv_put(self, key: bytes, value: bytes) -> None:
        self.conn.call("kv_put", key=b64(key), value=b64(value))

    def kv_get(self, key: bytes) -> bytes | None:
        v = self.conn.call("kv_get", key=b64(key))
        return None if v is None else unb64(v)

    def kv_cas(self, key: bytes, expect: bytes | None, value: bytes) -> None:
        """Raises the system's determinate ``CasMismatch`` when the value is not ``expect``."""
        self.conn.call("kv_cas", key=b64(key), expect=None if expect is None else b64(expect), value=b64(value))

    def close(self) -> None:
        try:
            self.conn.call("close")
        finally:
            self.conn.close()


class Frontiers(tuple):
    """``(upper, since)``, as persist's ``Stream.frontiers()``."""

    @property
    def upper(self) -> int:
        return self[0]

    @property
    def since(self) -> int:
        return self[1]


class ExecStream:
    def __init__(self, persister: ExecPersister, name: str) -> None:
        self.persister = persister
        self.name = name

    def _call(self, op: str, **fields: Any) -> Any:
        return self.persister.conn.call(op, stream=self.name, **fields)

    def write(self, updates) -> None:
        self._call("write", updates=_enc_updates(updates))

    def seal(self, t: int) -> None:
        self._call("seal", ts=int(t))

    def allow_compaction(self, s: int) -> None:
        self._call("allow_compaction", since=int(s))

    def frontiers(self) -> Frontiers:
        v = self._call("frontiers")
        return Frontiers((int(v["upper"]), int(v["since"])))

    def snapshot(self, as_of: int) -> list[tuple[bytes, bytes, int]]:
        v = self._call("snapshot", as_of=int(as_of))
        return [(unb64(k), unb64(val), int(d)) for k, val, d in v["rows"]]

    def listen(self, as_of: int) -> "ExecListener":
        v = self._call("listen", as_of=int(as_of))
        return ExecListener(self, int(v["listener"]))


class Columns:
    """A read-only table with ``column(name).to_pylist()`` (what the clients read of an Arrow table)."""

    class _Col(list):
        def to_pylist(self) -> list:
            return list(self)

    def __init__(self, rows: list[list]) -> None:
        self._cols = {
            "key": self._Col(unb64(r[0]) for r in rows), "val": self._Col(unb64(r[1]) for r in rows),
            "ts": self._Col(int(r[2]) for r in rows), "diff": self._Col(int(r[3]) for r in rows),
        }
        self.num_rows = len(rows)

    def column(self, name: str) -> "Columns._Col":
        return self._cols[name]

    def __len__(self) -> int:
        return self.num_rows


class ListenEvent:
    """As persist's: ``kind`` "data" (``updates``) or "progress" (``upper``)."""

    def __init__(self, kind: str, updates: Columns | None = None, upper: int | None = None) -> None:
        self.kind, self.updates, self.upper = kind, updates, upper


class ExecListener:
    def __init__(self, stream: ExecStream, handle: int) -> None:
        self.stream = stream
        self.handle = handle

    def poll(self, timeout: float | None = 0) -> list[ListenEvent]:
        v = self.stream.persister.conn.call("poll", listener=self.handle, timeout=timeout)
        out = []
        for ev in v["events"]:
            if "progress" in ev:
                out.append(ListenEvent("progress", upper=int(ev["progress"])))
            else:
                out.append(ListenEvent("data", updates=Columns(ev["data"])))
        return out

    def close(self) -> None:
        self.stream.persister.conn.call("unlisten", listener=self.handle)
