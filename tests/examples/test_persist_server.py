"""examples/persist_server.py: the reference engine over the exec: protocol
(docs/protocol.md), spoken to as the harness will: a separate process, JSON
lines, ids, determinate and indeterminate errors; a SIGKILLed server's
acknowledged writes are there when a new one opens the same directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(REPO, "examples", "persist_server.py")


class Adapter:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=REPO)
        self.n = 0

    def call(self, op: str, **args):
        self.n += 1
        self.proc.stdin.write(json.dumps({"id": self.n, "op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        assert reply["id"] == self.n
        return reply


def test_the_documented_exchange(tmp_path):
    a = Adapter()
    opened = a.call("open", data_dir=str(tmp_path), url=f"file://{tmp_path}", role="writer", read_only=False,
                    options={})
    assert opened["ok"]["protocol"] == 1 and "write" in opened["ok"]["ops"]
    assert a.call("write", stream="s0", updates=[["p0.1.00", "v", 0, 1]]) == {"id": 2, "ok": None}
    assert a.call("seal", stream="s0", ts=1)["ok"] is None
    bad = a.call("seal", stream="s0", ts=0)["error"]
    assert bad["kind"] == "determinate" and bad["class"] == "SealBackwardsError"
    assert a.call("snapshot", stream="s0", as_of=0)["ok"] == {"rows": [["p0.1.00", "v", 1]]}
    assert a.call("frontiers", stream="s0")["ok"]["upper"] == 1
    assert a.call("no_such_op")["error"]["kind"] == "determinate"
    assert a.call("write", stream="s0")["error"]["class"] == "BadRequest"  # missing updates: refused, not run
    assert a.call("close")["ok"] is None
    assert a.proc.wait(10) == 0


def test_acknowledged_writes_survive_a_sigkill_of_the_server(tmp_path):
    a = Adapter()
    a.call("open", data_dir=str(tmp_path), url=f"file://{tmp_path}")
    for i in range(20):
        assert "ok" in a.call("write", stream="s", updates=[[f"k{i}", "v", i, 1]])
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait(10)
    b = Adapter()
    b.call("open", data_dir=str(tmp_path), url=f"file://{tmp_path}")
    assert b.call("seal", stream="s", ts=20)["ok"] is None
    rows = b.call("snapshot", stream="s", as_of=19)["ok"]["rows"]
    assert sorted(r[0] for r in rows) == sorted(f"k{i}" for i in range(20))
    b.call("close")
