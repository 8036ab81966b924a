"""The moto server process and its middleware."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

from nemesis.s3 import MotoServer, MotoStartError
from nemesis.s3.middleware import NemesisMiddleware

pytestmark = pytest.mark.s3


def test_health_and_unknown_control(moto_server):
    h = moto_server.health()
    assert h["ok"] is True and h["pid"] == moto_server.pid
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{moto_server.endpoint_url}/_nemesis/nope", timeout=5)
    assert e.value.code == 404 and "health" in json.loads(e.value.read())["known"]


def test_port_in_use_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(MotoStartError, match=f"127.0.0.1:{port}.*(in use|cannot listen)") as e:
            MotoServer(port=port).start()
        assert "\n" not in str(e.value)


def test_stop_ends_the_process():
    server = MotoServer().start()
    pid = server.pid
    assert server.health()["ok"]
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_server_exits_when_its_parent_dies(tmp_path):
    code = (
        "from nemesis.s3 import MotoServer; import sys; s = MotoServer().start(); "
        "print(s.pid, flush=True); sys.stdin.readline()"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        psutil.Process(child_pid).wait(timeout=20)  # the child notices and exits by itself
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(child_pid)


def test_middleware_serialises_writes_not_reads():
    """A fake inner app that yields between 'check' and 'store' shows how
    many requests it runs at once: writes one at a time, reads overlap."""
    active = {"now": 0, "max_w": 0, "max_r": 0}
    lock = threading.Lock()
    readers_meet = threading.Barrier(6, timeout=30)  # breaks (fails) if reads were serialised

    def inner(environ, start_response):
        kind = "max_w" if environ["REQUEST_METHOD"] == "PUT" else "max_r"
        with lock:
            active["now"] += 1
            active[kind] = max(active[kind], active["now"])
        if kind == "max_r":
            readers_meet.wait()
        else:
            time.sleep(0.02)  # the window between a conditional put's check and its store
        with lock:
            active["now"] -= 1
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    app = NemesisMiddleware(inner)

    def call(method, headers=None):
        env = {"REQUEST_METHOD": method, "PATH_INFO": "/bkt/key", "wsgi.input": io.BytesIO(b"body"),
               "CONTENT_LENGTH": "4", **(headers or {})}
        app(env, lambda s, h: None)

    for method, headers in [("PUT", {"HTTP_IF_NONE_MATCH": "*"}), ("GET", None)]:
        threads = [threading.Thread(target=call, args=(method, headers)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert active["max_w"] == 1
    assert active["max_r"] == 6
    assert app.writes == 6
