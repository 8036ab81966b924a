"""The store server: 127.0.0.1 only, read-only, confined to the store."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemesis.report import write_reports
from nemesis.report.server import inside, make_server, serve_in_thread, url_of
from tests.nemesis.report.test_index import make_store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, list[Path], int]]:
    store, runs = make_store(tmp_path)
    write_reports(runs[1], plots=False)
    (tmp_path / "secret.txt").write_text("outside the store")
    os.symlink(tmp_path / "secret.txt", store / "append" / "escape.txt")
    server = make_server(store, 0, quiet=True)
    serve_in_thread(server)
    try:
        yield store, runs, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)  # the path exactly as given
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_binds_loopback_only(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path)
    server = make_server(store, 0, quiet=True)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1" and port > 0
        assert url_of(server) == f"http://127.0.0.1:{port}/"
    finally:
        server.server_close()


def test_serves_index_and_run_files(served: tuple[Path, list[Path], int]) -> None:
    store, runs, port = served
    status, body = get(port, "/")
    assert status == 200 and b"3 runs" in body and b"seed2" in body
    rel = runs[1].relative_to(store).as_posix()
    status, body = get(port, f"/{rel}/timeline.html")
    assert status == 200 and body.startswith(b"<!doctype html>")
    status, body = get(port, f"/{rel}/history.jsonl")
    assert status == 200 and body == (runs[1] / "history.jsonl").read_bytes()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("HEAD", f"/{rel}/history.jsonl")
    assert c.getresponse().getheader("Content-Type").startswith("text/plain")  # shown, not downloaded
    c.close()
    status, body = get(port, "/latest/config.json")  # a link inside the store is followed
    assert status == 200 and b'"workload": "upsert"' in body
    assert not (store / "index.html").exists()  # the index is rendered, not written


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/append/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/append/%252e%252e/%252e%252e/secret.txt", "/..%5csecret.txt"],
)
def test_refuses_path_traversal(served: tuple[Path, list[Path], int], path: str) -> None:
    _, _, port = served
    status, body = get(port, path)
    assert status in (400, 403, 404) and b"outside the store" not in body


def test_refuses_a_symlink_out_of_the_store(served: tuple[Path, list[Path], int]) -> None:
    _, _, port = served
    status, body = get(port, "/append/escape.txt")
    assert status == 403 and b"outside the store" not in body.replace(b"leads outside the store", b"")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_is_read_only(served: tuple[Path, list[Path], int], method: str) -> None:
    store, runs, port = served
    before = sorted(store.rglob("*"))
    rel = runs[0].relative_to(store).as_posix()
    status, _ = get(port, f"/{rel}/history.jsonl", method)
    assert status == 501
    assert sorted(store.rglob("*")) == before


def test_not_reachable_on_other_interfaces(served: tuple[Path, list[Path], int]) -> None:
    _, _, port = served
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        addr = probe.getsockname()[0]
    except OSError:
        addr = "127.0.0.1"
    finally:
        probe.close()
    if addr.startswith("127."):
        pytest.skip("no non-loopback IPv4 address on this machine")
    with pytest.raises(OSError):
        socket.create_connection((addr, port), timeout=2).close()


def test_inside() -> None:
    assert inside("/a/b", "/a/b/c") and inside("/a/b", "/a/b")
    assert not inside("/a/b", "/a/bc") and not inside("/a/b", "/a")
