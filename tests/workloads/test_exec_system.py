"""The ``exec:`` proxy against a real adapter process (``examples/persist_server.py``):
persist's surface over the protocol, errors mapped to their kind and class,
and a child that dies failing what is in flight as indeterminate."""

from __future__ import annotations

import os
import signal
import sys
import threading

import pytest

from persist.errors import Determinate, Indeterminate
from tests.nemesis.harness import REPO
from workloads.exec_system import ExecSystem, SystemGone, remote_error
from workloads.system import SystemSpecError, kind, make

SERVER = os.path.join(REPO, "examples", "persist_server.py")


def server_system(*extra: str) -> ExecSystem:
    return ExecSystem(" ".join([sys.executable, SERVER, *extra, "{data_dir}"]))


def test_every_operation_the_append_client_uses_round_trips(tmp_path):
    p = server_system().open(f"file://{tmp_path}", False, background=False)
    try:
        s0, s1 = p.stream("s0"), p.stream("s1")
        s0.write([(b"a", b"v", 1, 1)])
        p.write_multi({"s0": [(b"b\x00\xff", b"w", 2, 1)], "s1": [(b"c", b"v", 0, 1)]})
        assert p.pending_count() == 2
        s0.seal(3)
        s0.allow_compaction(1)
        assert tuple(s0.frontiers()) == (3, 1) and s0.frontiers().upper == 3
        assert sorted(s0.snapshot(2)) == [(b"a", b"v", 1), (b"b\x00\xff", b"w", 1)]  # bytes survive base64
        listener = s0.listen(2)
        s0.write([(b"d", b"v", 3, 1)])
        s0.seal(4)
        events = listener.poll(timeout=2)
        listener.close()
        data = [e for e in events if e.kind == "data"]
        assert data and data[0].updates.column("key").to_pylist() == [b"d"]
        assert events[-1].kind == "progress" and events[-1].upper == 4
        p.drain()
        assert p.pending_count() == 0
        assert isinstance(p.compact(), int) and isinstance(p.gc(), list)
        assert s1.frontiers() == (0, 0)
    finally:
        p.close()
    assert p.conn.proc.returncode == 0  # EOF after close: the adapter exits cleanly


def test_a_refused_call_is_determinate_and_keeps_the_system_s_class_name(tmp_path):
    p = server_system().open(f"file://{tmp_path}", False)
    try:
        s = p.stream("s0")
        s.seal(5)
        with pytest.raises(Determinate) as e:
            s.seal(1)
        assert type(e.value).__name__ == "SealBackwardsError" and "upper=5" in str(e.value)
        with pytest.raises(Determinate, match="UnknownStream|not registered"):
            p.write_multi({"nope": [(b"k", b"v", 9, 1)]})
    finally:
        p.close()


def test_error_replies_map_by_type():
    assert isinstance(remote_error({"type": "indeterminate", "class": "Timeout", "message": "m"}), Indeterminate)
    assert type(remote_error({"type": "determinate", "class": "Nope", "message": "m"})).__name__ == "Nope"
    assert isinstance(remote_error({"type": "maybe"}), SystemGone)  # a malformed error is not trusted as determinate


def test_a_dead_child_fails_in_flight_and_later_requests_indeterminate(tmp_path):
    p = server_system().open(f"file://{tmp_path}", False)
    s = p.stream("s0")
    s.seal(1)
    listener = s.listen(0)  # a poll that waits: in flight when the child dies
    caught = []

    def poll():
        try:
            listener.poll(timeout=30)
        except BaseException as e:
            caught.append(e)

    t = threading.Thread(target=poll)
    t.start()
    os.kill(p.conn.proc.pid, signal.SIGKILL)
    t.join(10)
    assert not t.is_alive() and len(caught) == 1 and isinstance(caught[0], Indeterminate)
    with pytest.raises(SystemGone):
        s.write([(b"k", b"v", 2, 1)])
    p.conn.close()


def test_data_dir_is_substituted_and_checked_by_the_adapter(tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    system = ExecSystem(f"{sys.executable} {SERVER} {other}")
    with pytest.raises(Indeterminate, match="not in DATA_DIR"):
        system.open(f"file://{tmp_path}", False)
    assert server_system().argv(f"file://{tmp_path}", {})[-1] == str(tmp_path)


def test_specs():
    assert kind("persist") == "persist" and kind("exec:x {data_dir}") == "exec" and kind("a.b:C") == "class"
    for bad in ("exec:", "nonsense", "a b:C"):
        with pytest.raises(SystemSpecError):
            kind(bad)
    with pytest.raises(SystemSpecError, match="cannot load"):
        make("workloads.system:NoSuchClass")
