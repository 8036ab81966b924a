"""The ``kv`` workload's client against its systems: ``examples/sqlite_kv.py``
(a real child process over the ``exec:`` protocol, a real SQLite database)
and persist (kv over the upsert operator). Put, get, compare-and-set, a
mismatch that is determinate ``CasMismatch``, durability across a reopen."""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest

from persist.errors import Determinate
from tests.nemesis.harness import REPO
from workloads.exec_system import ExecSystem
from workloads.kv import CLIENTS, PersistKV

SQLITE_KV = os.path.join(REPO, "examples", "sqlite_kv.py")


def sqlite_system(sync: str = "full") -> ExecSystem:
    return ExecSystem(f"{sys.executable} {SQLITE_KV} --synchronous {sync} {{data_dir}}")


def exercise(h, odd: bytes = b"\x00\xff") -> None:
    assert h.kv_get(b"k0") is None
    h.kv_put(b"k0", b"0.1")
    assert h.kv_get(b"k0") == b"0.1"
    h.kv_cas(b"k0", b"0.1", b"1.2")
    with pytest.raises(Determinate) as e:
        h.kv_cas(b"k0", b"0.1", b"2.3")  # the value is 1.2 now
    assert type(e.value).__name__ == "CasMismatch"
    assert h.kv_get(b"k0") == b"1.2"
    h.kv_cas(b"k1", None, odd)  # absent expected: bytes survive base64
    assert h.kv_get(b"k1") == odd


def test_sqlite_kv_serves_put_get_cas_and_keeps_them_across_a_reopen(tmp_path):
    h = sqlite_system().open(f"file://{tmp_path}", False)
    exercise(h)
    h.close()
    db = sqlite3.connect(tmp_path / "kv.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(db.execute("SELECT key, value FROM kv").fetchall()) == {b"k0": b"1.2", b"k1": b"\x00\xff"}
    db.close()
    h = sqlite_system("off").open(f"file://{tmp_path}", False)
    assert h.kv_get(b"k0") == b"1.2"
    h.close()


def test_sqlite_kv_refuses_stream_operations_determinate(tmp_path):
    h = sqlite_system().open(f"file://{tmp_path}", False)
    try:
        with pytest.raises(Determinate, match="kv_put, kv_get and kv_cas only"):
            h.stream("s0")
    finally:
        h.close()


def test_sqlite_kv_rejects_a_bad_synchronous_flag(tmp_path):
    import subprocess

    p = subprocess.run([sys.executable, SQLITE_KV, "--synchronous", "sometimes", str(tmp_path)],
                       capture_output=True, text=True, input="")
    assert p.returncode == 64 and "invalid choice" in p.stderr


def test_kv_over_persist_upsert(tmp_path):
    import persist

    h = PersistKV(persist.open(f"file://{tmp_path}", background=False))
    exercise(h, odd="é".encode())  # the upsert client's keys and values are text (UTF-8)
    h.close()
    h = PersistKV(persist.open(f"file://{tmp_path}", background=False))
    assert h.kv_get(b"k0") == b"1.2"  # rehydrated from the durable stream
    h.close()


def test_the_client_records_values_as_the_history_says(tmp_path):
    from workloads.system import select

    select(f"exec:{sys.executable} {SQLITE_KV} {{data_dir}}")
    try:
        c = CLIENTS["client"]()
        c.open(f"file://{tmp_path}", {})
        assert c.invoke("get", {"key": "k2"}) == {"key": "k2", "value": None}
        assert c.invoke("put", {"key": "k2", "value": "0.1"}) == {"key": "k2", "value": "0.1"}
        assert c.invoke("cas", {"key": "k2", "expect": "0.1", "value": "0.2"})["value"] == "0.2"
        assert c.invoke("get", {"key": "k2", "final": True}) == {"key": "k2", "value": "0.2"}
        c.close()
    finally:
        select("persist")
