"""The Persister: one open location; its state, drain and seal, blobs, closing.

State of a writer = the last metadata record it committed (``_meta``) plus
the Wal records it acknowledged that the metadata has not absorbed
(``_pending``, seqno > ``_meta.wal_absorbed``). Nothing else: memory never
runs ahead of the metadata, because ``_meta`` changes only after a
compare-and-set returned success (or a re-read proved that one landed).

The Persister is assembled from one module per concept:

- :mod:`persist.opening`: the writer's open (epoch claim) and Wal recovery;
- :mod:`persist.writes`: stream registration and the group-committed write
  path (Wal first; acknowledged once durable);
- :mod:`persist.commit`: metadata compare-and-set, settling commits of
  unknown outcome, and linearizable reads of the writer's record;
- :mod:`persist.background`: the background thread, ``compact``, ``gc``;
- this module: drain and seal, batch blobs and the cache, allow_compaction,
  destroy, closing.

Paths, each in the order data first, metadata second, deletes last:

- write: see :mod:`persist.writes`.
- drain: pending records up to seqno N -> per stream an *unsealed* batch
  blob -> CAS metadata (``wal_absorbed = N``) -> truncate the Wal below N+1.
- seal(t): a drain under ``_commit_lock`` that also moves every update of
  the stream with ``ts < t`` (unsealed batches + pending) into one key-sorted,
  consolidated trace batch ``[upper, t)``, keeps the rest as one unsealed
  batch, and sets ``upper = t`` in the same CAS; the replaced unsealed blobs
  are deleted after.
- compaction and GC: see :mod:`persist.compaction`.

Locks, in acquisition order: ``_commit_lock`` (writers' leader, seals,
destroy) -> ``_drain_lock`` (drains) -> ``_compact_lock`` -> ``_meta_lock``
(metadata CAS; a writer's reads take it briefly, waiting out a CAS in
flight) -> ``_state_lock`` (the pending list; held briefly).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from persist import cache as cache_mod
from persist import metadata as md
from persist import walcodec  # noqa: F401  (mutants reach it as persister.walcodec)
from persist.columnar import EMPTY_UPDATES, consolidate_updates
from persist.errors import (
    ClosedError,
    ConflictError,
    CorruptionError,
    FencedError,
    InvalidArgumentError,
    PersistError,
    ReadOnlyError,
    SealBackwardsError,
    SinceError,
    StorageIndeterminateError,
    UnknownStreamError,
)
from persist.failpoints import failpoint
from persist.background import BackgroundMixin
from persist.commit import CommitMixin
from persist.location import Location, open_blob, open_wal
from persist.opening import OpenMixin
from persist.storage.batch import decode_batch, encode_batch
from persist.writes import WriteMixin, _Pending, _WriteReq

log = logging.getLogger("persist")

#: Drain once this many bytes of acknowledged updates wait in the Wal.
DEFAULT_DRAIN_BYTES = 8 * 2**20
#: A stream with more unsealed batches than this has them merged on drain.
MAX_UNSEALED = 8


class _Stale(Exception):
    """A plan was made on a record that a late-landing commit replaced: redo it."""


class _MissingBlob(CorruptionError):
    """A batch blob named by the metadata is not in the store. Readers retry
    with fresh metadata (compaction may have replaced it); elsewhere it is
    corruption. Internal: ``fetch`` turns it into a public CorruptionError
    (or FencedError), so it never escapes the API."""

    def __init__(self, key: str, where: str = "") -> None:
        super().__init__(f"{where}: batch blob {key} named by the metadata is missing; run persist.check")
        self.key = key


class Persister(OpenMixin, WriteMixin, CommitMixin, BackgroundMixin):
    """An open persist location. Use :func:`persist.open`.

    A writer (``read_only=False``) holds the Wal's flock and the metadata's
    epoch; a reader only reads the Blob and sees what is sealed. Thread-safe.
    """

    def __init__(
        self,
        loc: Location,
        *,
        read_only: bool = False,
        cache: cache_mod.BatchCache | None = None,
        debug: bool | None = None,
        background: bool = True,
        drain_bytes: int = DEFAULT_DRAIN_BYTES,
        compaction: bool = True,
        wal_options: dict | None = None,
        blob=None,
        blob_options: dict | None = None,
    ) -> None:
        self.location = loc
        self.url = loc.url
        self.read_only = read_only
        self.cache = cache if cache is not None else cache_mod.SHARED
        self.debug = bool(int(os.environ.get("PERSIST_DEBUG", "0"))) if debug is None else debug
        self._drain_bytes = drain_bytes
        self._compaction_enabled = compaction
        self._closed = False
        self._fenced: str | None = None
        self._commit_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._compact_lock = threading.Lock()
        self._meta_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        # Followers of a group commit wait here (not on _commit_lock, which
        # would hand them the lock one by one, each needing the GIL, before
        # the next leader could start); the leader notifies when its group is done.
        self._group_done = threading.Condition(self._queue_lock)
        # A leader gathering its group waits here for the writers of the last
        # groups to queue again (see persist.writes, "Gathering").
        self._queued = threading.Condition(self._queue_lock)
        self._recent_writers: frozenset[int] = frozenset()
        self._gather_for = 1
        self._queue: list[_WriteReq] = []
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._inflight: set[str] = set()  # blob keys written, not yet named nor abandoned
        self._doubtful: set[str] = set()  # written by commits of unknown outcome
        self._outstanding: dict[str, md.Metadata] = {}  # nonce -> attempts of unknown outcome
        self._resync = False
        self._needs_sync = False  # a landed record of ours is not known durable (see persist.commit)
        self._changed = threading.Condition(threading.Lock())  # notified on every new _meta
        self._bg: threading.Thread | None = None
        self._bg_wake = threading.Event()
        self._bg_stop = threading.Event()
        self.bg_errors: list[BaseException] = []
        self._wal = None
        self.blob = blob if blob is not None else open_blob(loc, **(blob_options or {}))
        self._token: str | None = None
        self._meta = md.Metadata()
        try:
            if read_only:
                self._read_meta()
            else:
                self._wal = open_wal(loc, **(wal_options or {}))
                #: what the metadata records as this writer's Wal: the Wal
                #: directory's own identity (never the hostname)
                self._wal_id = getattr(self._wal, "identity", None) or loc.wal_id()
                self._open_writer()
        except BaseException:
            if self._wal is not None:
                self._wal.close()
            self.blob.close()
            raise
        if not read_only and background:
            self._bg = threading.Thread(target=self._background, name=f"persist-bg {loc.url}", daemon=True)
            self._bg.start()

    # --- guards -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._fenced is not None:
            raise FencedError(self._fenced)
        if self._closed:
            raise ClosedError(f"the persister for {self.url} was closed; open it again")

    def _check_writer(self, what: str) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyError(f"{what} on a read-only handle of {self.url}; open it without read_only=True to write")

    def _stream_meta(self, name: str, sid: int | None = None, meta: md.Metadata | None = None) -> md.StreamMeta:
        meta = meta if meta is not None else self.current_meta()
        sm = meta.streams.get(name)
        if sm is None or (sid is not None and sm.id != sid):
            what = "was destroyed" if sid is not None else "is not registered"
            known = ", ".join(repr(n) for n in sorted(meta.streams)) or "none"
            raise UnknownStreamError(f"stream {name!r} {what} at {self.url} (streams: {known})")
        return sm

    # --- blobs and the cache ----------------------------------------------------

    def _new_key(self) -> str:
        return f"{md.BATCH_PREFIX}{self.epoch:06d}-{uuid.uuid4().hex}"

    def _write_batch(self, table: pa.Table) -> tuple[str, int]:
        key = self._new_key()
        data = encode_batch(table)
        with self._state_lock:
            self._inflight.add(key)
        try:
            self.blob.set(key, data)
        except BaseException:
            self._abandon([key])  # no metadata can name it: it is garbage now
            raise
        self.cache.put(self.location.id, key, table)  # the same rows; no decode needed
        return key, len(data)

    def _abandon(self, keys: Iterable[str]) -> None:
        with self._state_lock:
            self._inflight.difference_update(keys)

    def fetch(self, key: str) -> pa.Table:
        """The decoded batch ``key`` (through the shared cache). A missing
        blob is a :class:`CorruptionError` (or :class:`FencedError` for a
        writer whose location was taken over: the new writer may have
        compacted it away)."""
        try:
            return self._load(key)
        except _MissingBlob as e:
            if not self.read_only:
                self._fenced_if_taken_over()
            raise CorruptionError(str(e)) from None

    def _load(self, key: str) -> pa.Table:
        """``fetch`` for readers that retry: raises the internal ``_MissingBlob``."""

        def load() -> pa.Table:
            data = self.blob.get(key)
            if data is None:
                raise _MissingBlob(key, self.url)
            return decode_batch(data, f"{self.url} {key}")

        return self.cache.get_or_load(self.location.id, key, load)

    def _fenced_if_taken_over(self) -> None:
        """Raise FencedError if another writer now holds the location."""
        try:
            cur, _ = self._read_meta()
        except PersistError:
            return
        if cur.epoch != self.epoch:
            raise self._fence(cur)

    def _delete_blobs(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.cache.discard(self.location.id, key)
            try:
                self.blob.delete(key)
            except PersistError as e:  # GC will find it
                log.warning("could not delete %s: %s", key, e)

    def read_tables(self, pick: Callable[[md.Metadata], list[str]], retries: int = 5) -> tuple[md.Metadata, list[pa.Table]]:
        """Read the batches ``pick(meta)`` names, retrying with fresh metadata
        when one was deleted by a concurrent compaction."""
        meta = self.current_meta()
        for attempt in range(retries):
            try:
                return meta, [self._load(k) for k in pick(meta)]
            except _MissingBlob as e:
                fresh = self.current_meta()
                if fresh.version == meta.version:
                    raise CorruptionError(
                        f"{self.url}: batch blob {e.key} named by metadata version {meta.version} is missing; "
                        f"run persist.check({self.url!r})"
                    ) from None
                meta = fresh
        raise CorruptionError(f"{self.url}: batches kept disappearing under {retries} reads")

    # --- drain and seal -------------------------------------------------------

    def drain(self) -> None:
        """Move every acknowledged write into blob batches and truncate the Wal."""
        self._check_writer("drain")
        with self._drain_lock:
            self._drain({})

    def _drain(self, seals: dict[int, int]) -> None:
        """``_drain_lock`` held (and ``_commit_lock`` when ``seals``). Seals
        already reached (a late-landing commit of ours did it) are dropped."""
        for _ in range(3):
            self._resync_now()
            by_id = self._meta.by_id()
            todo = {sid: t for sid, t in seals.items() if sid in by_id and t > by_id[sid][1].upper}
            if seals and not todo and not self._pending:
                return
            try:
                return self._drain_once(todo)
            except _Stale:
                self._resync = True
        raise ConflictError(f"{self.url}: the metadata kept changing under a drain; try again")

    def seal(self, name: str, sid: int, t: int) -> None:
        self._check_writer("seal")
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise InvalidArgumentError(f"seal of stream {name!r}: t must be an int >= 0; got {t!r}")
        with self._commit_lock, self._drain_lock:
            self._resync_now()
            sm = self._stream_meta(name, sid, self._meta)
            if t < sm.upper:
                raise SealBackwardsError(
                    f"seal of stream {name!r} to t={t} is below its upper={sm.upper}; frontiers only move forward"
                )
            if t == sm.upper:
                return
            self._drain({sid: t})

    def _drain_once(self, seals: dict[int, int]) -> None:
        self._check_open()
        meta = self._meta
        with self._state_lock:
            recs = list(self._pending)
        if not recs and not seals:
            return
        failpoint("drain.before_blob")
        absorbed = recs[-1].seqno if recs else meta.wal_absorbed
        by_id = meta.by_id()
        new_rows: dict[int, list[pa.Table]] = {}
        seq_range: dict[int, tuple[int, int]] = {}
        for p in recs:
            for sid in p.sids:
                if sid not in by_id:
                    continue
                rows = p.table if len(p.sids) == 1 else p.table.filter(pc.equal(p.table.column("sid"), sid))
                new_rows.setdefault(sid, []).append(rows.drop_columns(["sid"]))
                lo, hi = seq_range.get(sid, (p.seqno, p.seqno))
                seq_range[sid] = (min(lo, p.seqno), max(hi, p.seqno))
        written: list[str] = []
        replaced: list[str] = []
        attempted = False
        # per sid: (new trace batch or None, unsealed tuple replacing or appended, replace?)
        plans: dict[int, tuple[md.TraceBatch | None, tuple[md.UnsealedBatch, ...], bool, int | None]] = {}
        try:
            for sid in set(new_rows) | set(seals):
                name, sm = by_id[sid]
                t = seals.get(sid)
                rows = new_rows.get(sid, [])
                if t is None and len(sm.unsealed) < MAX_UNSEALED:  # a plain drain: append
                    table = pa.concat_tables(rows)
                    key, size = self._write_batch(table)
                    written.append(key)
                    lo, hi = seq_range[sid]
                    ub = md.UnsealedBatch(key, lo, hi, *_ts_range(table), len(table), size)
                    plans[sid] = (None, (ub,), False, None)
                    continue
                # A seal rewrites the unsealed batches only if one holds times
                # below t (or there are too many); otherwise they stay as they are.
                replace = not (
                    t is not None and len(sm.unsealed) < MAX_UNSEALED and all(b.ts_min >= t for b in sm.unsealed)
                )
                base = sm.unsealed if replace else ()
                old = [self.fetch(b.key) for b in base]
                table = pa.concat_tables(old + rows) if (old or rows) else EMPTY_UPDATES
                trace = None
                if t is not None:
                    failpoint("seal.before_blob")
                    below = pc.less(table.column("ts"), pa.scalar(t, pa.uint64()))
                    sealed = consolidate_updates(table.filter(below))
                    table = table.filter(pc.invert(below))
                    if len(sealed):
                        key, size = self._write_batch(sealed)
                        written.append(key)
                        trace = md.TraceBatch(key, sm.upper, t, 0, len(sealed), size)
                    else:
                        trace = md.TraceBatch(None, sm.upper, t, 0, 0, 0)
                unsealed: tuple[md.UnsealedBatch, ...] = ()
                if len(table):
                    los = [b.seqno_lo for b in base] + ([seq_range[sid][0]] if sid in seq_range else [])
                    his = [b.seqno_hi for b in base] + ([seq_range[sid][1]] if sid in seq_range else [])
                    if replace and not rows and t is not None and len(table) == sum(b.len for b in base):
                        unsealed = base  # nothing moved: keep the blobs
                    else:
                        key, size = self._write_batch(table)
                        written.append(key)
                        unsealed = (md.UnsealedBatch(key, min(los), max(his), *_ts_range(table), len(table), size),)
                if replace and unsealed is not base:
                    replaced.extend(b.key for b in base)
                plans[sid] = (trace, unsealed, replace, t)
            failpoint("seal.before_metadata" if seals else "drain.before_metadata")

            def transform(cur: md.Metadata):
                if cur.wal_absorbed != meta.wal_absorbed or any(
                    cur.by_id().get(sid, (None, None))[1] is not None
                    and cur.by_id()[sid][1].unsealed != by_id[sid][1].unsealed
                    for sid in plans
                ):
                    raise _Stale()  # one of our commits of unknown outcome landed meanwhile
                streams = dict(cur.streams)
                for sid, (trace, unsealed, replace, t) in plans.items():
                    entry = cur.by_id().get(sid)
                    if entry is None:
                        continue
                    name, sm = entry
                    if replace:
                        new_unsealed = unsealed
                    else:
                        new_unsealed = sm.unsealed + unsealed
                    new_trace, upper = sm.trace, sm.upper
                    if trace is not None:
                        upper = t
                        last = sm.trace[-1] if sm.trace else None
                        if trace.key is None and last is not None:
                            new_trace = sm.trace[:-1] + (md.TraceBatch(last.key, last.lower, t, last.since, last.len, last.bytes),)
                        else:
                            new_trace = sm.trace + (trace,)
                    streams[name] = md.StreamMeta(sm.id, upper, sm.since, new_trace, new_unsealed)
                return cur.successor(wal_absorbed=max(absorbed, cur.wal_absorbed), streams=streams)

            attempted = True
            self._commit(transform)
        except StorageIndeterminateError:
            if not attempted:  # a blob write failed: nothing names them
                self._abandon(written)
            else:  # the batches may be live: in flight until the commit is settled
                with self._state_lock:
                    self._doubtful.update(written)
            raise
        except BaseException:
            self._abandon(written)
            raise
        failpoint("seal.after_metadata" if seals else "drain.after_metadata")
        try:  # the drain (or seal) is done; truncating is housekeeping the next drain redoes
            self._wal.truncate(absorbed + 1)
        except PersistError as e:
            if isinstance(e, (ClosedError, FencedError)):
                raise
            log.warning("truncating the Wal of %s after a drain failed (the next drain retries): %s", self.url, e)
        failpoint("drain.after_truncate")
        self._delete_blobs(replaced)

    # --- compaction frontier, destroy --------------------------------------------

    def allow_compaction(self, name: str, sid: int, s: int) -> None:
        self._check_writer("allow_compaction")
        if not isinstance(s, int) or isinstance(s, bool):
            raise InvalidArgumentError(f"allow_compaction of stream {name!r}: since must be an int; got {s!r}")

        def transform(cur: md.Metadata):
            sm = self._stream_meta(name, sid, cur)
            if not sm.since <= s <= sm.upper:
                raise SinceError(
                    f"allow_compaction({s}) on stream {name!r} is outside [since={sm.since}, upper={sm.upper}]; "
                    f"since may only move forward and not beyond upper"
                )
            if s == sm.since:
                return None
            return cur.successor(streams=cur.with_stream(name, md.StreamMeta(sm.id, sm.upper, s, sm.trace, sm.unsealed)))

        self._commit(transform)
        self._bg_wake.set()

    def destroy(self, name: str) -> None:
        """Remove stream ``name`` and (after the metadata is durable) its blobs."""
        self._check_writer("destroy")
        with self._commit_lock, self._drain_lock, self._compact_lock:
            sm = self._stream_meta(name)
            self._commit(lambda cur: cur.successor(streams=cur.with_stream(name, None)))
        self._delete_blobs(sm.batch_keys())

    # --- introspection ------------------------------------------------------------

    def wait_for_change(self, version: int, timeout: float | None) -> bool:
        """Block until the writer's metadata version exceeds ``version``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._meta.version > version or self._closed, timeout)

    def stats(self) -> dict:
        """Counters for tools and harnesses (no I/O for a writer)."""
        meta = self._meta
        with self._state_lock:
            pending, pending_bytes, inflight = len(self._pending), self._pending_bytes, len(self._inflight)
        return {
            "url": self.url,
            "read_only": self.read_only,
            "epoch": getattr(self, "epoch", None),
            "metadata_version": meta.version,
            "wal_absorbed": meta.wal_absorbed,
            "pending_records": pending,
            "pending_bytes": pending_bytes,
            "inflight_blobs": inflight,
            "fenced": self._fenced is not None,
            "background_errors": len(self.bg_errors),
            "cache": self.cache.stats(),
        }

    def pending_count(self) -> int:
        with self._state_lock:
            return len(self._pending)

    def unsealed_updates(self, name: str, sid: int | None = None) -> pa.Table:
        """Every durable update of ``name`` not yet sealed (ts >= upper): its
        unsealed batches and its pending Wal records. Writer only."""
        self._check_writer("unsealed_updates")
        with self._commit_lock:
            sm = self._stream_meta(name, sid, self._meta)
            tables = [self.fetch(b.key) for b in sm.unsealed]
            with self._state_lock:
                recs = list(self._pending)
            for p in recs:
                if sm.id in p.sids:
                    rows = p.table.filter(pc.equal(p.table.column("sid"), sm.id))
                    tables.append(rows.drop_columns(["sid"]))
        return pa.concat_tables(tables) if tables else EMPTY_UPDATES

    # --- closing ----------------------------------------------------------------

    def close(self) -> None:
        """Drain what the Wal holds (best effort), stop, release the Wal lock.
        Idempotent. Later calls raise ClosedError."""
        if self._closed:
            return
        self._stop_background()
        if not self.read_only and self._fenced is None:
            try:
                with self._commit_lock, self._drain_lock:
                    self._drain({})
            except PersistError as e:
                log.warning("drain on close of %s failed: %s", self.url, e)
        self._shutdown()

    def _stop_background(self) -> None:
        """Let background work finish its step (no orphan from a half-done
        compaction) and stop it."""
        self._bg_stop.set()
        self._bg_wake.set()
        if self._bg is not None and self._bg is not threading.current_thread():
            self._bg.join()

    def _shutdown(self) -> None:
        self._stop_background()
        self._closed = True
        with self._changed:
            self._changed.notify_all()
        if self._wal is not None:
            self._wal.close()
        self.blob.close()

    def crash(self) -> None:
        """Drop this handle as a crash would: no drain, no flush; the Wal lock
        is released (for in-process tests of restarts)."""
        self._shutdown()

    def __enter__(self) -> Persister:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else f"writer epoch {getattr(self, 'epoch', '?')}"
        return f"<Persister {self.url} {mode}>"


def _ts_range(table: pa.Table) -> tuple[int, int]:
    mm = pc.min_max(table.column("ts")).as_py()
    return mm["min"], mm["max"]
