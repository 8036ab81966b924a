"""``persist-nemesis serve``: prints its URL, answers, stops cleanly on Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from nemesis.cli import main
from tests.nemesis.report.test_index import make_store


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serves_on_a_free_port_and_stops_on_ctrl_c(tmp_path: Path, sig: int) -> None:
    store, _ = make_store(tmp_path)
    p = subprocess.Popen(
        [sys.executable, "-m", "nemesis.cli", "serve", "--store", str(store), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line + p.stderr.read()
        with urllib.request.urlopen(m.group(0), timeout=10) as r:
            assert r.status == 200 and b"3 runs" in r.read()
        p.send_signal(sig)
        assert p.wait(timeout=10) == 0
        assert "Traceback" not in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_missing_store_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["serve", "--store", str(tmp_path / "nope"), "--port", "0"])
    assert e.value.code == 3 and "no such directory" in capsys.readouterr().err


def test_a_port_in_use_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    store, _ = make_store(tmp_path)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        with pytest.raises(SystemExit) as e:
            main(["serve", "--store", str(store), "--port", str(s.getsockname()[1])])
    finally:
        s.close()
    assert e.value.code == 3 and "--port" in capsys.readouterr().err
