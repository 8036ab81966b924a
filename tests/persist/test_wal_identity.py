"""Defect (3) of issue 11: a writer that restarts under another hostname (a
container restarted with a new name) must replay its own Wal, never discard
it. The Wal directory's own identity (its ``ID`` file) is what says whose
records they are, not the host the process runs on."""

from __future__ import annotations

import os
import socket

import pytest

import persist
from persist import errors
from persist import metadata as md
from persist.location import open_blob, parse
from persist.storage.file_wal import ID_NAME


def _crash_after_write(url: str) -> None:
    p = persist.open(url, background=False)
    s = p.stream("a")
    s.write([(b"k", b"v", 3, 1)])  # acknowledged: in the Wal, not drained
    p.crash()


def test_restart_under_another_hostname_replays_the_wal(tmp_path, monkeypatch):
    url = f"file://{tmp_path}/loc"
    _crash_after_write(url)
    monkeypatch.setattr(socket, "gethostname", lambda: "renamed-container")
    p = persist.open(url, background=False)
    s = p.stream("a")
    s.seal(5)
    assert s.snapshot(4).to_list() == [(b"k", b"v", 1)], "an acknowledged write was discarded"
    p.close()
    assert persist.check(url).ok


def test_the_wal_identity_is_written_once_and_kept(tmp_path):
    url = f"file://{tmp_path}/loc"
    p = persist.open(url, background=False)
    ident = p._wal.identity
    p.close()
    with open(os.path.join(tmp_path, "loc", "wal", ID_NAME)) as f:
        assert ident in f.read()
    p = persist.open(url, background=False)
    assert p._wal.identity == ident
    blob = open_blob(parse(url))
    meta = md.decode(blob.get(md.META_KEY), "meta")
    assert meta.writer["wal_id"] == ident
    p.close()


def test_a_moved_wal_directory_is_still_its_own(tmp_path):
    """The identity travels with the directory: a volume remounted elsewhere."""
    url = f"file://{tmp_path}/loc"
    p = persist.open(url, background=False, wal_dir=str(tmp_path / "w1"))
    p.stream("a").write([(b"k", b"v", 3, 1)])
    p.crash()
    os.rename(tmp_path / "w1", tmp_path / "w2")
    p = persist.open(url, background=False, wal_dir=str(tmp_path / "w2"))
    s = p.stream("a")
    s.seal(5)
    assert s.snapshot(4).to_list() == [(b"k", b"v", 1)]
    p.close()


def test_an_unidentified_wal_with_records_of_another_writer_is_refused(tmp_path, monkeypatch):
    """A Wal without an identity file (an older build's, or the file was lost)
    holding records the metadata has not absorbed, on a location that follows
    some other Wal: nothing is discarded; the error says what to do."""
    url = f"file://{tmp_path}/loc"
    _crash_after_write(url)
    os.unlink(os.path.join(tmp_path, "loc", "wal", ID_NAME))
    p = persist.open(url, background=False, wal_dir=str(tmp_path / "other"))  # a takeover
    p.close()
    with pytest.raises(errors.WalIdentityError, match="move .* aside"):
        persist.open(url, background=False)
    from persist.storage import FileWal

    with FileWal(tmp_path / "loc" / "wal") as w:  # nothing was truncated
        assert len(list(w.records())) == 1


def _make_legacy(url: str, wal_dir: str, host: str) -> None:
    """Make the Wal look like an older build's: no ID file, metadata naming host:path."""
    os.unlink(os.path.join(wal_dir, ID_NAME))
    blob = open_blob(parse(url))
    raw, tok = blob.get_versioned(md.META_KEY)
    legacy = md.decode(raw, "m").successor(writer={"wal_id": f"{host}:{os.path.realpath(wal_dir)}"})
    blob.compare_and_set(md.META_KEY, tok, md.encode(legacy))


def test_a_legacy_wal_on_the_same_host_and_path_is_replayed(tmp_path):
    url = f"file://{tmp_path}/loc"
    _crash_after_write(url)
    _make_legacy(url, os.path.join(tmp_path, "loc", "wal"), socket.gethostname())
    p = persist.open(url, background=False)
    s = p.stream("a")
    s.seal(5)
    assert s.snapshot(4).to_list() == [(b"k", b"v", 1)]
    p.close()


def test_a_legacy_wal_under_another_host_is_refused_then_adopted(tmp_path, monkeypatch):
    """An older build's Wal whose host changed: the open cannot tell a renamed
    machine from another machine with the same path, so it refuses and names
    the way to adopt it; adopting replays every record."""
    url = f"file://{tmp_path}/loc"
    _crash_after_write(url)
    wal_dir = os.path.join(tmp_path, "loc", "wal")
    _make_legacy(url, wal_dir, "old-host")
    with pytest.raises(errors.WalIdentityError, match="adopt_identity") as exc:
        persist.open(url, background=False)
    assert "old-host:" in str(exc.value)
    with pytest.raises(errors.WalIdentityError):  # the refusal wrote nothing that would make it look taken over
        persist.open(url, background=False)
    assert not os.path.exists(os.path.join(wal_dir, ID_NAME))
    p = persist.open(url, background=False, wal_options={"adopt_identity": f"old-host:{os.path.realpath(wal_dir)}"})
    s = p.stream("a")
    s.seal(5)
    assert s.snapshot(4).to_list() == [(b"k", b"v", 1)]
    p.close()
