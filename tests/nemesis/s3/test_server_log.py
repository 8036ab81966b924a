"""The moto server's stderr goes to a file, never to a pipe nobody reads
(a server that logs tracebacks must not block on a full pipe mid-run)."""

from __future__ import annotations

import os

import pytest

from nemesis.s3 import MotoServer

pytestmark = pytest.mark.s3


def test_stderr_is_a_file_not_an_unread_pipe(tmp_path):
    log = tmp_path / "moto.log"
    with MotoServer(log_path=str(log)) as server:
        target = os.readlink(f"/proc/{server.pid}/fd/2")
        assert not target.startswith("pipe:"), target
        assert os.path.samefile(target, log)
        os.write(os.open(f"/proc/{server.pid}/fd/2", os.O_WRONLY | os.O_APPEND), b"x" * 200_000 + b"\nlast line\n")
        assert server.health()["ok"]  # 200 kB on its stderr (a pipe holds 64 kB) and it still serves
        assert server.stderr_text().rstrip().endswith("last line")
    with MotoServer() as server:  # default: an anonymous temporary file
        assert not os.readlink(f"/proc/{server.pid}/fd/2").startswith("pipe:")
