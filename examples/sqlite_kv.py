"""A key-value store over stdlib ``sqlite3``, served over the harness's JSON-lines protocol (``docs/protocol.md``).

    python examples/sqlite_kv.py [--synchronous off|normal|full] DATA_DIR

A second example system, not persist: the ``kv`` workload's operations
(``kv_put``, ``kv_get``, ``kv_cas``) on one table ``kv(key BLOB PRIMARY
KEY, value BLOB)`` of the database ``DATA_DIR/kv.sqlite``, in
``journal_mode=WAL`` with ``PRAGMA synchronous`` set by the flag (default
``full``). One connection; requests are served one at a time, each in its
own transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) committed before the
reply is written, so an ``ok`` means SQLite's commit returned.

What the flag promises (SQLite's documentation): with ``full`` a committed
transaction is in the WAL and fsynced before ``COMMIT`` returns, so it
survives a power loss; with ``normal`` (in WAL mode) the WAL is synced only
at checkpoints, so the last commits may roll back after a power loss; with
``off`` nothing is ever synced. A power loss on the fault filesystem
(``--fs fuse``, nemesis ``lose-unsynced``) shows the difference: the ``kv``
workload judges ``full`` valid and ``off`` invalid (lost acknowledged writes).

The database is opened on the ``open`` request, never before (a spare
worker starts this program ahead of time). ``DATA_DIR`` must be the path of
the ``open`` request's ``file://`` url. Other operations of the protocol
(streams) are answered determinate ``UnsupportedOperation``.

Errors: a cas whose expected value is not the key's value is determinate
``CasMismatch``; an SQLite error in a read is determinate; in a put or cas
indeterminate (the commit may have happened). EOF on stdin closes the
database and exits 0. Exit code 64: bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import sys
from urllib.parse import urlparse

SYNCHRONOUS = ("off", "normal", "full")


class Refused(Exception):
    """Answered ``determinate`` with the class ``cls``: it did not happen."""

    def __init__(self, cls: str, message: str) -> None:
        super().__init__(message)
        self.cls = cls


def _b(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s, validate=True)


def _s(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(bytes(b)).decode("ascii")


class Store:
    def __init__(self, data_dir: str, synchronous: str) -> None:
        self.data_dir = os.path.realpath(data_dir)
        self.synchronous = synchronous
        self.db: sqlite3.Connection | None = None

    def open(self, req: dict) -> None:
        u = urlparse(req.get("url", ""))
        if u.scheme == "file" and os.path.realpath(u.path) != self.data_dir:
            raise Refused("BadDataDir", f"DATA_DIR {self.data_dir} is not the open request's directory {u.path}")
        os.makedirs(self.data_dir, exist_ok=True)
        db = sqlite3.connect(os.path.join(self.data_dir, "kv.sqlite"), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        db.execute("CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL)")
        self.db = db

    def _get(self, key: bytes) -> bytes | None:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def handle(self, req: dict):
        op = req.get("op")
        if op == "open":
            if self.db is not None:
                raise Refused("AlreadyOpen", "open came twice")
            return self.open(req)
        if op == "close":
            if self.db is not None:
                self.db.close()
                self.db = None
            return None
        if op not in ("kv_put", "kv_get", "kv_cas"):
            raise Refused("UnsupportedOperation", f"sqlite_kv serves kv_put, kv_get and kv_cas only, not {op!r}")
        if self.db is None:
            raise Refused("ClosedError", f"{op} before open")
        key = _b(req["key"])
        if op == "kv_get":
            try:
                return _s(self._get(key))
            except sqlite3.Error as e:
                raise Refused(type(e).__name__, str(e)) from None
        self.db.execute("BEGIN IMMEDIATE")  # an error here: nothing happened (determinate)
        try:
            if op == "kv_cas":
                cur = self._get(key)
                if cur != _b(req.get("expect")):
                    self.db.execute("ROLLBACK")
                    raise Refused("CasMismatch", f"expected {req.get('expect')!r}, the value is {_s(cur)!r}")
            self.db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, _b(req["value"])))
            self.db.execute("COMMIT")
        except sqlite3.Error:
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise  # indeterminate: the commit may have reached the WAL
        return None


def reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sqlite_kv.py", description=__doc__.splitlines()[0])
    ap.add_argument("--synchronous", choices=SYNCHRONOUS, default="full",
                    help="SQLite's PRAGMA synchronous (default: full)")
    ap.add_argument("data_dir")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 64 if e.code else 0
    store = Store(args.data_dir, args.synchronous)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        rid = req.get("id")
        try:
            reply({"id": rid, "ok": store.handle(req)})
        except Refused as e:
            reply({"id": rid, "error": {"type": "determinate", "class": e.cls, "message": str(e)}})
        except sqlite3.Error as e:
            reply({"id": rid, "error": {"type": "indeterminate", "class": type(e).__name__, "message": str(e)}})
        except (KeyError, ValueError, TypeError) as e:
            reply({"id": rid, "error": {"type": "determinate", "class": "BadRequest", "message": f"{type(e).__name__}: {e}"}})
    store.handle({"op": "close"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
