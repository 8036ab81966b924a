"""Bad input: each is refused with a one-line error that says what was wrong
and what to do, and nothing is created or lost."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import zlib

import pytest

from persist.errors import CorruptionError, LockedError, StorageUnavailableError
from persist.storage import FileBlob, FileWal, S3Blob
from persist.storage.batch import HEADER_SIZE as BATCH_HEADER, decode_batch, encode_batch, updates_table
from persist.storage.file_blob import HEADER_SIZE as BLOB_HEADER


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg, msg
    return msg


def test_other_live_process_is_refused_then_released(tmp_path):
    d = tmp_path / "wal"
    code = (
        "import sys; from persist.storage import FileWal; w = FileWal(sys.argv[1]); w.append(b'child'); "
        "print('locked', flush=True); sys.stdin.readline()"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(d)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        before = sorted(os.listdir(d)), [open(d / n, "rb").read() for n in sorted(os.listdir(d))]
        with pytest.raises(LockedError) as e:
            FileWal(d)
        msg = str(e.value)
        assert f"pid={child.pid}" in msg and "\n" not in msg and str(d) in msg
        after = sorted(os.listdir(d)), [open(d / n, "rb").read() for n in sorted(os.listdir(d))]
        assert after == before  # nothing created or lost
    finally:
        child.kill()
        child.wait()
    with FileWal(d) as w:  # the kernel dropped the lock with the process
        assert [p for _, p in w.records()] == [b"child"]




def test_uncreatable_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(StorageUnavailableError, match="not a directory") as e:
        FileWal(blocker / "wal")
    assert "\n" not in str(e.value)
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    # root ignores permissions; /proc refuses new directories to everyone
    target = ro / "a" / "wal" if not os.access(ro, os.W_OK) else "/proc/self/persist-wal"
    try:
        with pytest.raises(StorageUnavailableError, match="cannot create") as e:
            FileWal(target)
        assert "\n" not in str(e.value)
        assert os.listdir(ro) == [] and not os.path.exists(target)
    finally:
        os.chmod(ro, 0o700)


def test_blob_directory_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(StorageUnavailableError, match="not a directory") as e:
        FileBlob(blocker / "sub")
    one_line(e.value)
    assert blocker.read_bytes() == b"x"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.s3
def test_unreachable_s3_endpoint():
    from nemesis.s3 import CREDENTIALS

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StorageUnavailableError, match="cannot reach the S3 endpoint") as e:
        S3Blob("some-bucket", endpoint_url=url, **CREDENTIALS)
    assert url in one_line(e.value) and "endpoint_url" in str(e.value)


@pytest.mark.s3
def test_missing_bucket(moto_server, s3_client):
    with pytest.raises(StorageUnavailableError, match="does not exist") as e:
        S3Blob("no-such-bucket-here", **moto_server.client_options())
    assert "no-such-bucket-here" in one_line(e.value) and "create it" in str(e.value)
    names = [b["Name"] for b in s3_client.list_buckets()["Buckets"]]
    assert "no-such-bucket-here" not in names


def test_batch_with_bad_magic():
    raw = encode_batch(updates_table([b"k"], [b"v"], [1], [1]))
    with pytest.raises(CorruptionError, match="bad magic") as e:
        decode_batch(b"NOPE" + raw[4:], name="batch-7")
    assert "batch-7" in one_line(e.value)


def test_batch_with_unsupported_version():
    raw = bytearray(encode_batch(updates_table([b"k"], [b"v"], [1], [1])))
    raw[4:6] = struct.pack("<H", 9)
    raw[20:24] = struct.pack("<I", zlib.crc32(bytes(raw[:20])))  # a well-formed frame from a newer build
    with pytest.raises(CorruptionError, match="version 9") as e:
        decode_batch(bytes(raw), name="batch-8")
    assert "batch-8" in one_line(e.value)
    assert BATCH_HEADER == 24


@pytest.mark.parametrize("damage", ["magic", "version"])
def test_file_blob_entry_with_bad_frame(tmp_path, damage):
    b = FileBlob(tmp_path)
    b.set("meta/x", b"value")
    path = tmp_path / "meta%2Fx"
    raw = bytearray(path.read_bytes())
    if damage == "magic":
        raw[0:4] = b"JUNK"
    else:
        raw[4:6] = struct.pack("<H", 7)
        raw[36:40] = struct.pack("<I", zlib.crc32(bytes(raw[:36])))
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptionError, match=damage) as e:
        b.get("meta/x")
    assert str(path) in one_line(e.value)
    assert path.read_bytes() == bytes(raw)  # nothing rewritten
    assert BLOB_HEADER == 40
