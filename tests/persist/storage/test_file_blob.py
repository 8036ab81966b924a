"""FileBlob specifics: key escaping, leftovers of a crashed write (and their
cleanup, never of a live process), damaged entries."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persist.errors import CorruptionError, InvalidArgumentError
from persist.storage import FileBlob
from persist.storage.file_blob import HEADER_SIZE, escape_key, unescape_key


@given(st.text(min_size=1, max_size=60))
def test_escape_round_trips_to_a_plain_file_name(key):
    raw = key.encode()
    length = sum(1 if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.-") else 3 for b in raw)
    length += 2 if raw[:1] == b"." else 0
    if length > 255:  # refused, not truncated
        with pytest.raises(InvalidArgumentError, match="too long"):
            escape_key(key)
        return
    name = escape_key(key)
    assert unescape_key(name) == key
    assert "/" not in name and not name.startswith(".") and "\x00" not in name


@given(st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=8, unique=True))
def test_escape_is_injective(keys):
    assert len({escape_key(k) for k in keys}) == len(keys)


def test_a_crashed_write_leaves_the_old_value(tmp_path):
    b = FileBlob(tmp_path)
    b.set("k", b"old")
    (tmp_path / ".tmp-deadbeef").write_bytes(b"half of a new value")  # what a crash before rename leaves
    assert b.get("k") == b"old"
    assert b.list_keys() == ["k"]


@pytest.mark.parametrize("cut", [0, 10, HEADER_SIZE, HEADER_SIZE + 3])
def test_a_cut_entry_is_corruption(tmp_path, cut):
    b = FileBlob(tmp_path)
    b.set("k", b"0123456789")
    path = tmp_path / "k"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CorruptionError, match=str(path)):
        b.get_versioned("k")


def test_values_survive_reopen_and_other_instances(tmp_path):
    a, b = FileBlob(tmp_path), FileBlob(tmp_path)
    token = a.compare_and_set("m", None, b"1")
    assert b.get_versioned("m") == (b"1", token)
    b.compare_and_set("m", token, b"2")
    assert FileBlob(tmp_path).get("m") == b"2"
    assert sorted(os.listdir(tmp_path)) == [".lock", "m"]


# --- temp files left by a process that died mid-set -------------------------

CHILD = r"""
import os, signal, sys
from persist.storage import FileBlob
b = FileBlob(sys.argv[1])
b.set("k", b"old")
_name, tmp, _token = b._prepare("k", b"new value, never renamed")  # temp written and fsynced
print(os.path.basename(tmp), flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)  # dies between the temp file and the rename
sys.stdin.read()  # "live": a writer still busy with its temp file
"""


def _child(root, mode):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    assert name.startswith(".tmp-"), name
    return proc, name


def test_temp_files_of_dead_processes_are_cleaned_and_live_ones_kept(tmp_path):
    dead, dead_tmp = _child(tmp_path, "die")
    assert dead.wait() != 0
    live, live_tmp = _child(tmp_path, "live")
    b = FileBlob(tmp_path)
    _name, own_tmp, _ = b._prepare("x", b"being written by a thread of this process")
    try:
        assert b.clean_stale_tmp() == [dead_tmp]
        assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".tmp-")) == sorted([live_tmp, os.path.basename(own_tmp)])
        assert b.get("k") == b"old"
    finally:
        live.stdin.close()
        live.wait()
    assert b.clean_stale_tmp() == [live_tmp]  # its process is gone now
    os.unlink(own_tmp)


def test_a_writer_open_and_gc_remove_stale_temp_files(tmp_path):
    import persist

    url = f"file://{tmp_path / 'loc'}"
    persist.open(url, background=False).close()
    blob_dir = tmp_path / "loc" / "blob"
    dead, dead_tmp = _child(blob_dir, "die")
    dead.wait()
    p = persist.open(url, background=False)  # the writer's open cleans
    assert not (blob_dir / dead_tmp).exists()
    dead, dead_tmp = _child(blob_dir, "die")
    dead.wait()
    p.gc()  # and so does GC
    assert not (blob_dir / dead_tmp).exists()
    p.blob.delete("k")  # the child's own key is no part of the location
    assert persist.check(url).ok
    p.close()


def test_get_versioned_fsyncs_the_directory_once_per_version_it_did_not_make_durable(tmp_path, monkeypatch):
    """Durable reads (module docstring): another handle's new version costs
    one directory fsync on its first read; a version seen before, or one
    this handle wrote and fsynced itself, costs none."""
    import persist.storage.file_blob as fb

    writer, reader = FileBlob(tmp_path), FileBlob(tmp_path)
    synced = []
    real = fb.fsync_dir
    monkeypatch.setattr(fb, "fsync_dir", lambda path: (synced.append(path), real(path))[1])

    assert reader.get_versioned("meta") is None and len(synced) == 1  # absent is a version too
    reader.get_versioned("meta")
    assert len(synced) == 1
    t1 = writer.compare_and_set("meta", None, b"one")  # its own rename + directory fsync
    assert len(synced) == 2
    writer.get_versioned("meta")
    assert len(synced) == 2, "a version this handle made durable needs no fsync to be read"
    for _ in range(3):
        assert reader.get_versioned("meta") == (b"one", t1)
    assert len(synced) == 3, "a new version from another handle: one fsync, then none"
    writer.delete("meta")
    assert reader.get_versioned("meta") is None and len(synced) == 5
