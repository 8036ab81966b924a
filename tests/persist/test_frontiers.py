"""Frontiers never go back as observed by anyone: across handles (the writer
and readers of the store), while a metadata commit is in flight or of unknown
outcome, and across restarts (BRIEF §2, docs/semantics.md "Readers").

Each test sets up the race deterministically on file:// storage with a blob
wrapper: a compare-and-set that applies and then blocks (an answer that has
not come back yet), or one that times out without applying and is then
applied after all (a late landing)."""

from __future__ import annotations

import threading

import pytest

import persist
from persist import errors
from persist import metadata as md
from persist.location import open_blob, parse
from persist.persister import Persister


class HoldingBlob:
    """The real blob; ``hold_next()`` makes the next compare-and-set apply,
    then wait until ``release()`` before it answers."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.applied = threading.Event()
        self.go = threading.Event()
        self.hold = False
        self.fail_before = False  # next CAS: time out without applying

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def hold_next(self) -> None:
        self.applied.clear()
        self.go.clear()
        self.hold = True

    def release(self) -> None:
        self.go.set()

    def compare_and_set(self, key, expected, value):
        if self.fail_before:
            self.fail_before = False
            raise errors.StorageIndeterminateError("injected: timed out, not applied")
        hold, self.hold = self.hold, False
        token = self.inner.compare_and_set(key, expected, value)
        if hold:
            self.applied.set()
            self.go.wait(30)
        return token


def _writer(url: str, tmp_path=None) -> tuple[Persister, HoldingBlob]:
    loc = parse(url)
    blob = HoldingBlob(open_blob(loc))
    return Persister(loc, background=False, debug=True, blob=blob), blob


def _read(url: str, name: str) -> tuple[int, int]:
    r = persist.open_reader(url)
    try:
        s = r.stream(name)
        return s.upper, s.since
    finally:
        r.close()


def _in_thread(fn, *args):
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


@pytest.mark.parametrize("what", ["since", "upper"])
def test_the_writer_never_reports_less_than_a_reader_saw_while_its_commit_is_in_flight(loc, what):
    p, blob = _writer(loc)
    s = p.stream("s")
    s.write([(b"a", b"v", 1, 1)])
    s.seal(10)
    blob.hold_next()
    change = (lambda: s.allow_compaction(5)) if what == "since" else (lambda: s.seal(20))
    committer, _ = _in_thread(change)
    assert blob.applied.wait(30), "the commit never reached the store"
    seen = dict(zip(("upper", "since"), _read(loc, "s")))[what]
    assert seen == (5 if what == "since" else 20)  # the record is in the store
    reading, out = _in_thread(lambda: getattr(s, what))  # invoked after the reader's read completed
    blob.release()
    committer.join(30)
    reading.join(30)
    assert out.get("value") == seen, f"{what} went back: a reader saw {seen}, then the writer reported {out}"
    p.close()


@pytest.mark.parametrize("what", ["since", "upper"])
def test_a_commit_of_unknown_outcome_that_lands_late_is_reported_once_a_reader_could_see_it(loc, what):
    p, blob = _writer(loc)
    s = p.stream("s")
    s.write([(b"a", b"v", 1, 1)])
    s.seal(10)
    blob.fail_before = True
    with pytest.raises(errors.StorageIndeterminateError):
        s.allow_compaction(5) if what == "since" else s.seal(20)
    before = getattr(s, what)  # nothing landed: the store's record is the answer
    assert before == (0 if what == "since" else 10)
    attempt = list(p._outstanding.values())[-1]
    blob.inner.compare_and_set(md.META_KEY, p._token, md.encode(attempt))  # the request lands after all
    seen = dict(zip(("upper", "since"), _read(loc, "s")))[what]
    assert seen == (5 if what == "since" else 20)
    assert getattr(s, what) == seen  # adopted, not answered from stale memory
    s.write([(b"b", b"v", 25, 1)])  # and the writer goes on from the adopted record
    s.seal(30)
    assert s.snapshot(29).to_list() == [(b"a", b"v", 1), (b"b", b"v", 1)]
    p.close()
    assert persist.check(loc).ok


def test_a_lost_commit_is_superseded_before_the_next_change_and_never_shows(loc):
    p, blob = _writer(loc)
    s = p.stream("s")
    s.write([(b"a", b"v", 1, 1)])
    s.seal(10)
    blob.fail_before = True
    with pytest.raises(errors.StorageIndeterminateError):
        s.allow_compaction(5)
    attempt = list(p._outstanding.values())[-1]
    stale_token = p._token
    s.seal(12)  # settles first: rewrites the record with a fresh nonce
    with pytest.raises(errors.ConflictError):
        blob.inner.compare_and_set(md.META_KEY, stale_token, md.encode(attempt))
    assert _read(loc, "s") == (12, 0) and (s.upper, s.since) == (12, 0)
    p.close()


def test_frontiers_survive_a_crash_while_a_commit_is_of_unknown_outcome(loc):
    p, blob = _writer(loc)
    s = p.stream("s")
    s.write([(b"a", b"v", 1, 1)])
    s.seal(10)
    blob.fail_before = True
    with pytest.raises(errors.StorageIndeterminateError):
        s.allow_compaction(5)
    attempt = list(p._outstanding.values())[-1]
    blob.inner.compare_and_set(md.META_KEY, p._token, md.encode(attempt))  # lands late
    seen = _read(loc, "s")
    p.crash()
    q = persist.open(loc, background=False, debug=True)
    r = q.stream("s")
    assert (r.upper, r.since) == seen == (10, 5)
    assert r.snapshot(9).to_list() == [(b"a", b"v", 1)]
    q.close()


def test_a_failed_reread_after_an_unknown_commit_stays_indeterminate(loc):
    p, blob = _writer(loc)
    s = p.stream("s")
    s.seal(3)
    blob.fail_before = True
    real_get = blob.inner.get_versioned

    def failing_get(key):
        raise errors.StorageUnavailableError("injected: read failed")

    blob.inner.get_versioned = failing_get
    try:
        with pytest.raises(errors.Indeterminate, match="re-reading the record"):
            s.seal(5)
        with pytest.raises(errors.StorageUnavailableError, match="try the read again"):
            s.upper  # cannot say what the store holds: refuses rather than answer from memory
    finally:
        blob.inner.get_versioned = real_get
    assert s.upper == 3
    p.close()


# --- errors at the public API (goal: only persist.errors escapes) -------------


def test_a_seal_over_a_missing_unsealed_blob_raises_a_public_corruption_error(loc):
    p = persist.open(loc, background=False, debug=True)
    s = p.stream("s")
    s.write([(b"a", b"v", 5, 1)])
    p.drain()
    (ub,) = p.current_meta().streams["s"].unsealed
    p.blob.delete(ub.key)
    p.cache.discard(p.location.id, ub.key)
    with pytest.raises(errors.CorruptionError) as ei:
        s.seal(10)
    assert type(ei.value).__module__ == "persist.errors", type(ei.value)
    assert ub.key in str(ei.value) and "persist.check" in str(ei.value)
    p.crash()


def test_a_missing_blob_after_a_takeover_is_fencing_not_corruption(loc, tmp_path):
    p = persist.open(loc, background=False, debug=True)
    s = p.stream("s")
    s.write([(b"a", b"v", 5, 1)])
    p.drain()
    (ub,) = p.current_meta().streams["s"].unsealed
    q = persist.open(loc, wal_dir=str(tmp_path / "other-wal"), background=False)  # takes over
    q.blob.delete(ub.key)  # e.g. the new writer rewrote it and deleted the old blob
    p.cache.discard(p.location.id, ub.key)
    with pytest.raises(errors.FencedError):
        s.seal(10)
    p.crash()
    q.close()


class ConflictOnce:
    """The real blob; the next compare-and-set first runs ``before`` (e.g.
    another writer's open), or answers a spurious 409 without applying."""

    def __init__(self, inner, before=None) -> None:
        self.inner = inner
        self.before = before
        self.armed = True

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def compare_and_set(self, key, expected, value):
        if self.armed:
            self.armed = False
            if self.before is None:
                raise errors.ConflictError("injected: 409 conflict, not applied")
            self.before()
        return self.inner.compare_and_set(key, expected, value)


def test_a_spurious_conflict_on_open_is_claimed_again(loc):
    persist.open(loc, background=False).close()
    l = parse(loc)
    p = Persister(l, background=False, blob=ConflictOnce(open_blob(l)))
    assert p.epoch == 2 and p.current_meta().epoch == 2
    p.close()


def test_another_writer_opening_meanwhile_is_a_conflict_naming_it_not_fencing(loc, tmp_path):
    persist.open(loc, background=False).close()
    other = {}

    def other_opens():
        other["p"] = persist.open(loc, wal_dir=str(tmp_path / "other-wal"), background=False)

    l = parse(loc)
    with pytest.raises(errors.ConflictError) as ei:
        Persister(l, background=False, blob=ConflictOnce(open_blob(l), before=other_opens))
    assert not isinstance(ei.value, errors.FencedError)
    msg = str(ei.value)
    assert "other-wal" in msg and "opened the location" in msg and "open again" in msg
    other["p"].close()
    p = persist.open(loc, background=False)  # opening again takes it over
    assert p.epoch == 3
    p.close()
