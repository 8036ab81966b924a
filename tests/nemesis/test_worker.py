"""A worker process over its pipes: ready, operations, completions, and a
SIGKILL that shows as EOF (no sibling holds its pipe)."""

from __future__ import annotations

import queue
import time

from nemesis.worker import Worker
from workloads.base import WorkerSpec


def next_msg(q, slot=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        s, inc, msg = q.get(timeout=max(0.1, deadline - time.monotonic()))
        if slot is None or s == slot:
            return inc, msg


def start(tmp_path, q, slot, role):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    w = Worker(WorkerSpec(slot, role), workload="append", url=f"file://{data}", run_dir=str(tmp_path), events=q,
               threads=2, options={}, watch_root=str(data))
    w.start()
    return w


def test_worker_serves_operations_and_dies_visibly(tmp_path):
    q: queue.Queue = queue.Queue()
    w = start(tmp_path, q, 0, "writer")
    inc, msg = next_msg(q)
    assert msg["ready"] and msg["pid"] == w.pid and "open_error" not in msg
    w.send({"id": 1, "f": "write", "value": {"writes": {"s0": [["a", "v", 1, 1]]}}})
    w.send({"id": 2, "f": "seal", "value": {"stream": "s0", "ts": 0}})
    got = {}
    for _ in range(2):
        _, m = next_msg(q)
        got[m["id"]] = m
    assert got[1]["type"] == "ok"
    assert got[2]["type"] == "ok" and got[2]["value"]["upper"] >= 0
    w.send({"id": 3, "f": "seal", "value": {"stream": "s0", "ts": 5}})
    _, m = next_msg(q)
    assert m["type"] == "ok"
    w.send({"id": 4, "f": "write", "value": {"writes": {"s0": [["b", "v", 2, 1]]}}})
    _, m = next_msg(q)
    assert m["type"] == "fail" and "WriteBelowUpper" in m["error"], "a refused write is a determinate fail"
    # a second worker (a reader) must not keep the first one's pipe open
    r = start(tmp_path, q, 1, "reader")
    _, m = next_msg(q, slot=1)
    assert m["ready"]
    pid = w.kill()
    assert pid
    _, m = next_msg(q, slot=0, timeout=10)
    assert m is None, "EOF arrives when the worker dies, though a sibling lives"
    r.send({"id": 5, "f": "snapshot", "value": {"stream": "s0", "as_of": None}})
    _, m = next_msg(q, slot=1)
    assert m["type"] == "ok" and m["value"]["rows"] == [["a", "v", 1]]
    r.stop()
    _, m = next_msg(q, slot=1)
    assert m is None and r.proc.returncode == 0
