"""A Hypothesis state machine against a plain in-memory model of BRIEF §2
(issue 3, "Must show" 1).

The system under test is a real writer on file:// storage (FileWal,
FileBlob, real fsyncs) in a temporary directory. Steps: writes, multi-stream
writes, refused writes, seals, compaction frontiers, compaction + GC,
drains, snapshots, listens, arrangements, clean restarts, and crashes. A
crash drops the handle without a drain (releasing the Wal lock as the kernel
would), then is a power loss: every file of the location is cut back to a
random point at or after the length its last fsync covered, and every name
its directory never fsynced is lost, as a tracer saw them from outside the
engine (tests/persist/durable.py wraps ``os.fsync``/``os.fdatasync``: the
engine's word is never taken); the newest Wal segment may get garbage after
it (a torn write). An engine that acknowledges a write before its fsync
fails this test (``test_an_engine_that_skips_its_wal_fsync_is_caught``). An error (and then maybe a crash) may
also strike inside a write, seal, drain or compaction through a failpoint;
the model knows which side of the effect each failpoint sits on, and a
handle that saw the error must go on serving the state the model says. A seal or
compaction whose metadata write timed out may land late; a reader of the store
then looks, and the writer (or its successor after a crash) must never report
a frontier behind what the reader saw. After every step the frontiers
and the contents at ``upper - 1`` are compared with the model.

CI runs a bounded number of examples; set PERSIST_HYPOTHESIS_PROFILE=thorough
(or HYPOTHESIS_PROFILE=thorough) for many more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter, defaultdict

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import persist
from persist import errors, failpoints
from persist import metadata as md
from persist.location import open_blob, parse
from persist.persister import Persister
from tests.persist.durable import Tracer

THOROUGH = "thorough" in (os.environ.get("PERSIST_HYPOTHESIS_PROFILE", ""), os.environ.get("HYPOTHESIS_PROFILE", ""))
NAMES = ["a", "b", "c"]
keys = st.sampled_from([b"k0", b"k1", b"k2", b"k3"])
vals = st.sampled_from([b"", b"x", b"y"])
diffs = st.sampled_from([1, 1, 2, -1])

# failpoint -> does the interrupted operation take effect?
WRITE_POINTS = {"write.before_wal": False, "write.after_wal": True}
SEAL_POINTS = {
    "seal.before_blob": False,
    "seal.before_metadata": False,
    "metadata.before_cas": False,
    "metadata.after_cas": True,
    "seal.after_metadata": True,
}
MAINT_POINTS = [
    "drain.before_blob", "drain.before_metadata", "drain.after_metadata", "drain.after_truncate",
    "compaction.before_blob", "compaction.before_metadata", "compaction.after_metadata",
    "gc.before_delete", "gc.after_delete",
]


class FlakyBlob:
    """The real FileBlob, whose next compare-and-set can be made to fail:
    "before" (timed out, not applied), "after" (applied, answer lost) or
    "unavailable" (refused before sending)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.mode = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def compare_and_set(self, key, expected, value):
        mode, self.mode = self.mode, None
        if mode == "before":
            raise errors.StorageIndeterminateError("injected: timed out, not applied")
        if mode == "unavailable":
            raise errors.StorageUnavailableError("injected: refused before sending")
        token = self.inner.compare_and_set(key, expected, value)
        if mode == "after":
            raise errors.StorageIndeterminateError("injected: applied, answer lost")
        return token


class ModelStream:
    def __init__(self) -> None:
        self.upper = 0
        self.since = 0
        self.updates: list[tuple[bytes, bytes, int, int]] = []

    def contents(self, as_of: int) -> list[tuple[bytes, bytes, int]]:
        acc: Counter = Counter()
        for k, v, t, d in self.updates:
            if t <= as_of:
                acc[(k, v)] += d
        return sorted((k, v, d) for (k, v), d in acc.items() if d != 0)


def consolidate(rows) -> list[tuple[bytes, bytes, int]]:
    acc: Counter = Counter()
    for k, v, d in rows:
        acc[(k, v)] += d
    return sorted((k, v, d) for (k, v), d in acc.items() if d != 0)


class PersistMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="persist-model-")
        self.url = f"file://{self.dir}/loc"
        self.model: dict[str, ModelStream] = {}
        self.tracer = Tracer(self.dir).__enter__()
        self.listeners: dict[str, tuple] = {}
        self.p = None

    # --- plumbing ---------------------------------------------------------

    def _open(self, drain_bytes: int = 2**20) -> None:
        loc = parse(self.url)
        self.blob = FlakyBlob(open_blob(loc))
        self.p = Persister(
            loc, background=False, debug=True, drain_bytes=drain_bytes, blob=self.blob,
            wal_options={"segment_bytes": 700},
        )
        self.listeners.clear()

    def _crash(self, data) -> None:
        self.p.crash()

        def choose(low: int, size: int, path: str) -> int:
            return size if low == size else data.draw(st.integers(low, size), label=f"cut {os.path.basename(path)}")

        self.tracer.power_loss(choose)
        wal_dir = os.path.join(self.dir, "loc", "wal")
        segs = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
        if segs and data.draw(st.booleans(), label="torn garbage"):
            with open(os.path.join(wal_dir, segs[-1]), "ab") as f:
                f.write(data.draw(st.binary(min_size=1, max_size=40), label="garbage"))
        self._open(drain_bytes=data.draw(st.sampled_from([1, 300, 2**20]), label="drain_bytes"))

    def _stream(self, name: str):
        s = self.p.stream(name)
        self.model.setdefault(name, ModelStream())
        return s

    def _updates(self, data, name: str, allow_below: bool = False):
        m = self.model.setdefault(name, ModelStream())
        lo = 0 if allow_below else m.upper
        ts = st.integers(lo, m.upper + 4)
        return data.draw(st.lists(st.tuples(keys, vals, ts, diffs), min_size=1, max_size=5), label=f"updates {name}")

    @initialize()
    def start(self) -> None:
        self._open()

    def teardown(self) -> None:
        try:
            if self.p is not None:
                self.p.close()
                report = persist.check(self.url)
                assert report.ok, str(report)
        finally:
            self.tracer.__exit__()
            failpoints.disarm_all()
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- rules --------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), data=st.data())
    def write(self, name, data):
        s = self._stream(name)
        ups = self._updates(data, name)
        s.write(ups)
        self.model[name].updates += ups

    @rule(data=st.data())
    def write_multi(self, data):
        names = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True), label="names")
        batch = {}
        for n in names:
            self._stream(n)
            batch[n] = self._updates(data, n)
        self.p.write_multi(batch)
        for n, ups in batch.items():
            self.model[n].updates += ups

    @precondition(lambda self: any(m.upper > 0 for m in self.model.values()))
    @rule(data=st.data())
    def write_below_upper_is_refused(self, data):
        name = data.draw(st.sampled_from(sorted(n for n, m in self.model.items() if m.upper > 0)))
        m = self.model[name]
        ups = self._updates(data, name) + [(b"k0", b"", data.draw(st.integers(0, m.upper - 1)), 1)]
        try:
            self.p.stream(name).write(ups)
        except errors.WriteBelowUpperError as e:
            assert f"upper={m.upper}" in str(e)
        else:
            raise AssertionError("a write below upper was accepted")

    @rule(name=st.sampled_from(NAMES), step=st.integers(-2, 4))
    def seal(self, name, step):
        s = self._stream(name)
        m = self.model[name]
        t = max(0, m.upper + step)
        if t < m.upper:
            try:
                s.seal(t)
            except errors.SealBackwardsError:
                return
            raise AssertionError("a backwards seal was accepted")
        s.seal(t)
        m.upper = t

    @rule(name=st.sampled_from(NAMES), data=st.data())
    def allow_compaction(self, name, data):
        s = self._stream(name)
        m = self.model[name]
        target = data.draw(st.integers(max(0, m.since - 1), m.upper + 1), label="since")
        if not m.since <= target <= m.upper:
            try:
                s.allow_compaction(target)
            except errors.SinceError:
                return
            raise AssertionError("allow_compaction outside [since, upper] was accepted")
        s.allow_compaction(target)
        m.since = target

    @rule()
    def compact_and_gc(self):
        self.p.compact()
        self.p.gc()

    @rule()
    def drain(self):
        self.p.drain()

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def snapshot(self, data):
        name = data.draw(st.sampled_from(sorted(self.model)))
        m = self.model[name]
        as_of = data.draw(st.integers(max(0, m.since - 1), m.upper), label="as_of")
        s = self.p.stream(name)
        if not m.since <= as_of < m.upper:
            try:
                s.snapshot(as_of)
            except errors.AsOfError:
                return
            raise AssertionError(f"snapshot at {as_of} outside [{m.since}, {m.upper}) was accepted")
        assert s.snapshot(as_of).to_list() == m.contents(as_of)
        arr = s.arrange(as_of)
        k = data.draw(keys)
        assert arr.get(k) == [(v, d) for kk, v, d in m.contents(as_of) if kk == k]

    @precondition(lambda self: any(m.since < m.upper for m in self.model.values()))
    @rule(data=st.data())
    def listen_start(self, data):
        name = data.draw(st.sampled_from(sorted(n for n, m in self.model.items() if m.since < m.upper)))
        m = self.model[name]
        as_of = data.draw(st.integers(m.since, m.upper - 1), label="listen as_of")
        s = self.p.stream(name)
        base = s.snapshot(as_of).to_list()
        self.listeners[name] = (s.listen(as_of), base, [])

    @precondition(lambda self: self.listeners)
    @rule(data=st.data())
    def listen_poll(self, data):
        name = data.draw(st.sampled_from(sorted(self.listeners)))
        lis, base, got = self.listeners[name]
        try:
            events = lis.poll()
        except errors.AsOfError:  # fell behind compaction: allowed, documented
            del self.listeners[name]
            return
        for e in events:
            if e.kind == "data":
                got += [(k, v, d) for k, v, _, d in e.rows()]
            else:
                assert e.upper == self.model[name].upper
        if lis.frontier > 0:
            assert consolidate(base + got) == self.model[name].contents(lis.frontier - 1)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def reader_snapshot(self, data):
        name = data.draw(st.sampled_from(sorted(self.model)))
        m = self.model[name]
        r = persist.open_reader(self.url)
        try:
            rs = r.stream(name)
            assert (rs.upper, rs.since) == (m.upper, m.since)
            if m.since < m.upper:
                as_of = data.draw(st.integers(m.since, m.upper - 1), label="reader as_of")
                assert rs.snapshot(as_of).to_list() == m.contents(as_of)
        finally:
            r.close()

    @rule()
    def restart(self):
        self.p.close()
        self._open()

    @rule(data=st.data())
    def crash(self, data):
        self._crash(data)

    @rule(name=st.sampled_from(NAMES), point=st.sampled_from(sorted(WRITE_POINTS)), crash=st.booleans(), data=st.data())
    def fail_inside_write(self, name, point, crash, data):
        s = self._stream(name)
        ups = self._updates(data, name)
        failpoints.arm(point, "error")
        try:
            s.write(ups)
            raise AssertionError(f"failpoint {point} did not fire")
        except errors.FailpointError:
            pass
        finally:
            failpoints.disarm_all()
        if WRITE_POINTS[point]:
            self.model[name].updates += ups
        if crash:
            self._crash(data)

    @rule(name=st.sampled_from(NAMES), point=st.sampled_from(sorted(SEAL_POINTS)), step=st.integers(1, 3),
          crash=st.booleans(), data=st.data())
    def fail_inside_seal(self, name, point, step, crash, data):
        s = self._stream(name)
        m = self.model[name]
        failpoints.arm(point, "error")
        try:
            s.seal(m.upper + step)
            raise AssertionError(f"failpoint {point} did not fire")
        except errors.FailpointError:
            pass
        finally:
            failpoints.disarm_all()
        if SEAL_POINTS[point]:
            m.upper += step
        if crash:
            self._crash(data)

    @rule(point=st.sampled_from(MAINT_POINTS), crash=st.booleans(), data=st.data())
    def fail_inside_maintenance(self, point, crash, data):
        failpoints.arm(point, "error")
        try:
            if point.startswith("drain"):
                self.p.drain()
            else:
                self.p.compact()
                self.p.gc()
        except errors.FailpointError:
            pass
        finally:
            failpoints.disarm_all()
        if crash:
            self._crash(data)

    def _land_late_and_settle(self, late: bool) -> None:
        """After an indeterminate commit: maybe let the store apply the last
        attempt after all, then settle (the next change adopts what landed or
        supersedes it so that it never lands)."""
        if late:
            attempt = list(self.p._outstanding.values())[-1]
            try:
                self.blob.inner.compare_and_set(md.META_KEY, self.p._token, md.encode(attempt))
            except errors.ConflictError:
                pass
        self.p.drain()
        assert not self.p._outstanding and not self.p._resync

    @rule(name=st.sampled_from(NAMES), step=st.integers(1, 3),
          mode=st.sampled_from(["before", "after", "unavailable", "late"]))
    def seal_with_a_storage_fault(self, name, step, mode):
        """A seal whose metadata compare-and-set fails: "before" (not
        applied), "after" (applied, answer lost: resolved by the nonce),
        "unavailable" (refused), "late" (not applied, then applied after all)."""
        s = self._stream(name)
        m = self.model[name]
        t = m.upper + step
        unsettled = self.p._resync  # the fault may then hit the settling rewrite, before the seal starts
        self.blob.mode = "before" if mode == "late" else mode
        try:
            s.seal(t)
            assert mode == "after", mode  # resolved by re-reading: our nonce is there
            m.upper = t
        except errors.StorageIndeterminateError:
            assert mode in ("before", "late")
            self._land_late_and_settle(mode == "late")
            assert s.upper == (t if mode == "late" else m.upper)
            m.upper = s.upper
        except errors.StorageUnavailableError:
            assert mode == "unavailable" or unsettled, mode  # settling failed: the seal never started
            assert s.upper == m.upper
        finally:
            self.blob.mode = None

    @rule(name=st.sampled_from(NAMES), what=st.sampled_from(["upper", "since"]), step=st.integers(1, 3),
          late=st.booleans(), read_first=st.booleans(), crash=st.booleans(), data=st.data())
    def frontier_in_doubt_seen_across_handles(self, name, what, step, late, read_first, crash, data):
        """A seal or compaction frontier whose compare-and-set timed out
        unapplied, maybe applied late by the store; a reader of the store
        looks. Whatever the reader saw, the writer (and, after a crash, its
        successor) never reports less: frontiers never go back as observed
        by anyone."""
        s = self._stream(name)
        m = self.model[name]
        target = m.upper + step if what == "upper" else min(m.since + step, m.upper)
        if target == getattr(m, what):
            return
        unsettled = self.p._resync  # the fault may then hit the settling rewrite, before the change starts
        self.blob.mode = "before"
        try:
            s.seal(target) if what == "upper" else s.allow_compaction(target)
            raise AssertionError("the injected fault did not fire")
        except errors.StorageIndeterminateError:
            pass
        except errors.StorageUnavailableError:
            assert unsettled  # settling failed: the change never started
            assert getattr(self.p.stream(name), what) == getattr(m, what)
            return
        finally:
            self.blob.mode = None
        if read_first:  # nothing landed yet: the writer answers what the store holds
            assert getattr(self.p.stream(name), what) == getattr(m, what)
        if late:
            attempt = list(self.p._outstanding.values())[-1]
            try:
                self.blob.inner.compare_and_set(md.META_KEY, self.p._token, md.encode(attempt))
            except errors.ConflictError:  # already superseded: it can never land
                late = False
        r = persist.open_reader(self.url)
        try:
            seen = getattr(r.stream(name), what)
        finally:
            r.close()
        assert seen == (target if late else getattr(m, what))
        if crash:
            self._crash(data)
        assert getattr(self.p.stream(name), what) == seen, f"{what} went back: a reader saw {seen}"
        setattr(m, what, seen)

    @rule(mode=st.sampled_from(["before", "after", "unavailable", "late"]))
    def drain_with_a_storage_fault(self, mode):
        self.blob.mode = "before" if mode == "late" else mode
        try:
            self.p.drain()
        except errors.StorageIndeterminateError:
            self.blob.mode = None
            self._land_late_and_settle(mode == "late")
        except errors.StorageUnavailableError:
            pass
        finally:
            self.blob.mode = None

    @rule(data=st.data())
    def destroy(self, data):
        if not self.model:
            return
        name = data.draw(st.sampled_from(sorted(self.model)))
        self.p.destroy(name)
        del self.model[name]
        self.listeners.pop(name, None)

    # --- compared after every step -------------------------------------------

    @invariant()
    def frontiers_and_contents_match(self):
        if self.p is None:
            return
        assert sorted(self.p.streams()) == sorted(self.model)
        for name, m in self.model.items():
            s = self.p.stream(name)
            assert (s.upper, s.since) == (m.upper, m.since), name
            if m.since < m.upper:
                assert s.snapshot(m.upper - 1).to_list() == m.contents(m.upper - 1), name


PersistMachine.TestCase.settings = settings(
    max_examples=400 if THOROUGH else 40,
    stateful_step_count=60 if THOROUGH else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestPersistModel = PersistMachine.TestCase


def test_an_engine_that_skips_its_wal_fsync_is_caught(monkeypatch):
    """The model test bites: with FileWal's fsync skipped (appends
    acknowledged before anything is durable) a crash loses acknowledged
    writes, because what survives comes from the tracer, not the engine."""
    from hypothesis import Phase
    from hypothesis.stateful import run_state_machine_as_test

    from persist.storage.file_wal import FileWal

    monkeypatch.setattr(FileWal, "_fsync", lambda self, fd, path, size: None)
    with pytest.raises((AssertionError, errors.CorruptionError)):  # contents differ from the model, or a torn Wal
        run_state_machine_as_test(PersistMachine, settings=settings(
            max_examples=200, stateful_step_count=30, deadline=None, phases=[Phase.generate], database=None,
            suppress_health_check=list(HealthCheck)))
