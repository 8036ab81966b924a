"""The Persister: one open location, its write path, drain, seal and metadata.

State of a writer = the last metadata record it committed (``_meta``) plus
the Wal records it acknowledged that the metadata has not absorbed
(``_pending``, seqno > ``_meta.wal_absorbed``). Nothing else: memory never
runs ahead of the metadata, because ``_meta`` changes only after a
compare-and-set returned success (or a re-read proved that one landed).

Paths, each in the order data first, metadata second, deletes last:

- write: validate against ``upper`` -> Wal append (fsync; one fsync for a
  whole group of concurrent writers: the thread holding ``_commit_lock`` is
  the leader and takes everyone queued behind it) -> add to ``_pending`` ->
  acknowledge.
- drain: pending records up to seqno N -> per stream an *unsealed* batch
  blob -> CAS metadata (``wal_absorbed = N``) -> truncate the Wal below N+1.
- seal(t): a drain under ``_commit_lock`` that also moves every update of
  the stream with ``ts < t`` (unsealed batches + pending) into one key-sorted,
  consolidated trace batch ``[upper, t)``, keeps the rest as one unsealed
  batch, and sets ``upper = t`` in the same CAS; the replaced unsealed blobs
  are deleted after.
- compaction and GC: see :mod:`persist.compaction`.

Metadata commits (``_commit``) are serialised by ``_meta_lock`` and take a
*transform* of the current record, so compaction, seals and registrations
interleave without a global mutex. A compare-and-set that fails:

- ConflictError: re-read. If the record is one we wrote whose outcome was
  unknown, adopt it and redo the transform on top. Otherwise another writer
  bumped the epoch: this persister is fenced (FencedError from now on).
- StorageIndeterminateError: re-read; our nonce there means it landed. If
  not, raise Indeterminate and remember the attempt. Before the next write,
  seal or commit the writer settles it (``_adopt_or_fence``): adopt it if it
  landed late, else supersede it with a no-op rewrite of the current record
  so that it can never land. Never a blind retry.

Locks, in acquisition order: ``_commit_lock`` (writers' leader, seals,
destroy) -> ``_drain_lock`` (drains) -> ``_compact_lock`` -> ``_meta_lock``
(metadata CAS) -> ``_state_lock`` (the pending list; held briefly).
Snapshots take none of them beyond a read of ``_meta``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from persist import cache as cache_mod
from persist import metadata as md
from persist import walcodec
from persist.columnar import EMPTY_UPDATES, consolidate_updates, to_table
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
    StorageUnavailableError,
    UnknownStreamError,
    WriteBelowUpperError,
)
from persist.failpoints import failpoint
from persist.location import Location, open_blob, open_wal
from persist.storage.batch import UPDATE_SCHEMA, decode_batch, encode_batch

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
    corruption."""

    def __init__(self, key: str, where: str = "") -> None:
        super().__init__(f"{where}: batch blob {key} named by the metadata is missing; run persist.check")
        self.key = key


@dataclass
class _Pending:
    seqno: int
    table: pa.Table  # walcodec.WAL_SCHEMA
    sids: frozenset[int]
    nbytes: int


@dataclass
class _WriteReq:
    tables: list[pa.Table]  # tagged (WAL_SCHEMA)
    checks: list[tuple[str, int, int]]  # (name, sid, min ts)
    done: bool = False
    error: BaseException | None = None
    seqno: int = 0


@dataclass
class _DrainResult:
    absorbed: int = 0
    written: list[str] = field(default_factory=list)


class Persister:
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
        self._queue: list[_WriteReq] = []
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._inflight: set[str] = set()  # blob keys written, not yet named nor abandoned
        self._doubtful: set[str] = set()  # written by commits of unknown outcome
        self._outstanding: dict[str, md.Metadata] = {}  # nonce -> attempts of unknown outcome
        self._resync = False
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
                self._open_writer()
        except BaseException:
            if self._wal is not None:
                self._wal.close()
            self.blob.close()
            raise
        if not read_only and background:
            self._bg = threading.Thread(target=self._background, name=f"persist-bg {loc.url}", daemon=True)
            self._bg.start()

    # --- opening ------------------------------------------------------------

    def _read_meta(self) -> tuple[md.Metadata, str | None]:
        got = self.blob.get_versioned(md.META_KEY)
        if got is None:
            meta, token = md.Metadata(), None
        else:
            meta, token = md.decode(got[0], f"{self.url} metadata"), got[1]
        if self.read_only:
            self._meta, self._token = meta, token
        return meta, token

    def _reread(self, what: str, cause: BaseException | None = None) -> tuple[md.Metadata, str | None]:
        """Re-read the record after a compare-and-set ``what`` failed. If the
        re-read fails too and the attempt's outcome is unknown (``cause`` is
        indeterminate), that is what the caller learns: a failed read must not
        turn a commit that may have landed into a determinate error."""
        try:
            return self._read_meta()
        except PersistError as e:
            if cause is None or e.determinate is False:
                raise
            raise StorageIndeterminateError(
                f"{self.url}: {what}: the metadata write's outcome is unknown ({cause}) and re-reading the "
                f"record to find out failed too ({e}); it may or may not have happened"
            ) from e

    #: How often open claims the epoch again when the record changed under it.
    OPEN_ATTEMPTS = 3

    def _open_writer(self) -> None:
        """Claim the location: bump the epoch by compare-and-set on the record
        just read, then replay the Wal records it has not absorbed (only if
        the record follows this Wal). A conflict means the record changed
        between the read and the claim: a spurious 409, or a late-landing
        commit of this Wal's previous owner (both: claim again on the fresh
        record), or another writer opening at the same moment (ConflictError
        naming it: nothing was taken over)."""
        loc, wal = self.location, self._wal
        wal_id = loc.wal_id()
        for attempt in range(1, self.OPEN_ATTEMPTS + 1):
            meta, token = self._read_meta()
            ours = token is not None and meta.writer.get("wal_id") == wal_id
            if not ours:
                # Taking over (or a new location): what this Wal holds belongs to
                # no live epoch of this location, so it must never be replayed.
                wal.truncate(wal.next_seqno)
            wal.ensure_next_seqno(meta.wal_absorbed + 1)
            new = meta.successor(
                epoch=meta.epoch + 1,
                writer={"wal_id": wal_id, "host": socket.gethostname(), "pid": os.getpid(), "opened": time.time()},
            )
            try:
                self._token = self.blob.compare_and_set(md.META_KEY, token, md.encode(new))
            except ConflictError as e:
                cur, _ = self._read_meta()
                if cur.writer.get("wal_id") not in (None, wal_id) and cur.epoch > meta.epoch:
                    raise ConflictError(
                        f"{self.url}: another writer ({cur.writer.get('wal_id')}, epoch {cur.epoch}) opened the "
                        f"location while this one was claiming epoch {new.epoch}; nothing was taken over. If that "
                        f"writer's machine is gone, open again to take the location over"
                    ) from e
                continue  # our own Wal's late commit, or a spurious conflict: claim on the fresh record
            except StorageIndeterminateError as e:
                cur, tok = self._reread("claiming the epoch on open", cause=e)
                if cur.nonce != new.nonce:
                    raise
                self._token = tok
            break
        else:
            raise ConflictError(
                f"{self.url}: the metadata record kept changing while this writer tried to claim it "
                f"({self.OPEN_ATTEMPTS} attempts); nothing was taken over; open again"
            )
        self._meta = new
        self.epoch = new.epoch
        failpoint("open.after_epoch")
        self._clean_stale_tmp()
        if ours:
            for seqno, payload in wal.records(meta.wal_absorbed + 1):
                if seqno <= meta.wal_absorbed:
                    continue
                t = walcodec.decode(payload, f"{loc.wal_dir} record {seqno}")
                self._add_pending(seqno, t)

    def _clean_stale_tmp(self) -> None:
        """Remove temp files that dead processes left in a local blob
        directory (best effort; a store without them has nothing to do)."""
        clean = getattr(self.blob, "clean_stale_tmp", None)
        if clean is None:
            return
        try:
            removed = clean()
        except (OSError, PersistError) as e:
            log.warning("could not clean stale temp files of %s: %s", self.url, e)
            return
        if removed:
            log.info("removed %d stale temp file(s) of %s", len(removed), self.url)

    def _add_pending(self, seqno: int, table: pa.Table) -> None:
        sids = frozenset(pc.unique(table.column("sid")).to_pylist()) if len(table) else frozenset()
        p = _Pending(seqno, table, sids, table.get_total_buffer_size())  # nbytes walks the buffers: ~50 us a call
        with self._state_lock:
            self._pending.append(p)
            self._pending_bytes += p.nbytes

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

    def current_meta(self) -> md.Metadata:
        """The metadata this handle reads from: for a reader a fresh read of
        the Blob; for a writer its committed record, read *linearizably*: it
        waits out a metadata compare-and-set in flight (whose record others
        may already see in the store), and while a commit of unknown outcome
        is unsettled it re-reads the store and adopts the attempt if it
        landed (see :meth:`_reconcile`). So a frontier the writer reports is
        never behind one that anybody saw before the read began."""
        self._check_open()
        if self.read_only:
            return self._read_meta()[0]
        with self._meta_lock:
            self._check_open()
            if self._resync:
                try:
                    self._adopt_or_fence(supersede=False)
                except FencedError:
                    raise
                except PersistError as e:
                    raise StorageUnavailableError(
                        f"{self.url}: an earlier metadata commit of unknown outcome could not be settled, so this "
                        f"writer cannot say what the store holds ({e}); nothing changed; try the read again"
                    ) from e
            return self._meta

    def _meta_now(self) -> md.Metadata:
        """The writer's record without waiting or settling: only for early
        refusals that are checked again where it counts (e.g. a write's
        stream, validated again by the group commit)."""
        self._check_open()
        return self._read_meta()[0] if self.read_only else self._meta

    def _stream_meta(self, name: str, sid: int | None = None, meta: md.Metadata | None = None) -> md.StreamMeta:
        meta = meta if meta is not None else self.current_meta()
        sm = meta.streams.get(name)
        if sm is None or (sid is not None and sm.id != sid):
            what = "was destroyed" if sid is not None else "is not registered"
            known = ", ".join(repr(n) for n in sorted(meta.streams)) or "none"
            raise UnknownStreamError(f"stream {name!r} {what} at {self.url} (streams: {known})")
        return sm

    # --- metadata commits -----------------------------------------------------

    def _fence(self, cur: md.Metadata) -> FencedError:
        self._fenced = (
            f"this writer of {self.url} (epoch {self.epoch}, Wal {self.location.wal_id()}) was fenced: "
            f"writer {cur.writer.get('wal_id')} took the location over at epoch {cur.epoch}; "
            f"nothing more from this handle reaches the stream"
        )
        self._bg_stop.set()
        self._bg_wake.set()
        return FencedError(self._fenced)

    def _adopt_or_fence(self, supersede: bool = True) -> None:
        """Settle commits of unknown outcome (``_meta_lock`` held).

        Re-read the record. If one of our attempts landed, adopt it. If none
        did, supersede them: rewrite the current record with a fresh nonce
        by compare-and-set, after which no attempt based on the old token can
        land any more (so nothing accepted from now on can be contradicted
        by a late landing, e.g. a write below a seal that landed late). If
        another writer's record is there, we are fenced.

        ``supersede=False`` (a read): adopt or fence as above, but if nothing
        landed leave the attempts outstanding (``_resync`` stays set): the
        record as it is now is the answer, and the next read re-checks."""
        for _ in range(5):
            cur, tok = self._read_meta()
            if tok == self._token and cur.nonce == self._meta.nonce:
                if not self._outstanding:
                    self._resync = False
                    return
                if not supersede:
                    return
                new = self._meta.successor()
                try:
                    token = self.blob.compare_and_set(md.META_KEY, self._token, md.encode(new))
                except ConflictError:
                    continue  # something landed meanwhile: look again
                except StorageIndeterminateError:
                    self._outstanding[new.nonce] = new
                    raise
                self._outstanding.clear()
                self._resync = False
                self._install(new, token)
                self._settled()
                return
            landed = self._outstanding.get(cur.nonce)
            if landed is not None and cur.epoch == self.epoch:
                self._outstanding.clear()
                self._resync = False
                self._install(cur, tok)
                self._settled()
                return
            raise self._fence(cur)
        raise ConflictError(f"{self.url}: could not settle an earlier metadata commit of unknown outcome; try again")

    def _settled(self) -> None:
        """Batches of settled attempts that the record does not name are garbage."""
        with self._state_lock:
            self._inflight -= self._doubtful - self._meta.batch_keys()
            self._doubtful.clear()

    def _install(self, new: md.Metadata, token: str) -> None:
        self._meta, self._token = new, token
        with self._state_lock:
            if self._pending and self._pending[0].seqno <= new.wal_absorbed:
                self._pending = [p for p in self._pending if p.seqno > new.wal_absorbed]
                self._pending_bytes = sum(p.nbytes for p in self._pending)
            self._inflight -= new.batch_keys()
        with self._changed:
            self._changed.notify_all()

    def _resync_now(self) -> None:
        """Settle commits of unknown outcome before planning on ``_meta``."""
        if self._resync:
            with self._meta_lock:
                if self._resync:
                    self._settle_first()

    def _settle_first(self) -> None:
        """``_adopt_or_fence`` before a new change (``_meta_lock`` held). The
        new change has not started, so if settling fails in doubt (the
        superseding rewrite's outcome is unknown) the caller's operation
        certainly did not happen: a determinate error."""
        try:
            self._adopt_or_fence()
        except PersistError as e:
            if e.determinate:
                raise
            raise StorageUnavailableError(
                f"{self.url}: an earlier metadata commit of unknown outcome could not be settled ({e}); "
                f"nothing was done; try again"
            ) from e

    def _commit(self, transform: Callable[[md.Metadata], md.Metadata | None]) -> md.Metadata | None:
        """Apply ``transform`` to the current record and CAS the result.

        ``transform`` returns the changed fields as a new Metadata built with
        ``successor`` (or None: nothing to do). Returns the installed record.
        Raises Indeterminate only when this commit's own compare-and-set may
        have landed (then readers may already see it: ``current_meta`` settles
        it before the writer answers from memory again)."""
        with self._meta_lock:
            self._check_open()
            if self._resync:
                self._settle_first()
            for _ in range(3):
                new = transform(self._meta)
                if new is None:
                    return None
                if self.debug:
                    problems = md.invariant_problems(new)
                    assert not problems, f"metadata invariants broken by a commit: {problems}"
                data = md.encode(new)
                failpoint("metadata.before_cas")
                try:
                    token = self.blob.compare_and_set(md.META_KEY, self._token, data)
                except ConflictError:
                    self._resync = True  # stays set if the re-read fails
                    self._settle_first()  # this attempt did not apply: failing here is determinate
                    continue  # one of our earlier attempts landed: redo on top of it
                except StorageIndeterminateError as e:
                    self._outstanding[new.nonce] = new
                    self._resync = True
                    cur, tok = self._reread("a metadata commit", cause=e)
                    if cur.nonce != new.nonce:
                        raise
                    token = tok
                except PersistError:
                    self._resync = True  # outcome known not to be applied, but re-read to be safe
                    raise
                self._outstanding.clear()
                self._resync = False
                self._install(new, token)
                failpoint("metadata.after_cas")
                return new
            raise ConflictError(f"{self.url}: metadata kept changing under this writer; giving up this commit")

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

    # --- the write path -----------------------------------------------------

    def stream(self, name: str):
        """The stream ``name``, registered (durably) on first use by a writer."""
        from persist.stream import Stream

        self._check_open()
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"a stream name must be a non-empty str; got {name!r}")
        meta = self.current_meta()
        if name in meta.streams:
            return Stream(self, name, meta.streams[name].id)
        if self.read_only:
            self._stream_meta(name, meta=meta)  # raises UnknownStreamError

        def register(cur: md.Metadata):
            if name in cur.streams:
                return None
            sid = cur.next_stream_id
            return cur.successor(next_stream_id=sid + 1, streams=cur.with_stream(name, md.StreamMeta(id=sid)))

        self._commit(register)
        return Stream(self, name, self._meta.streams[name].id)

    def streams(self) -> list[str]:
        return sorted(self.current_meta().streams)

    def write_multi(self, updates_by_stream: dict) -> int:
        """Write to several streams atomically (one Wal record); durable on return.

        Every stream must be registered; every update needs ``ts >= upper``
        of its stream. Returns the Wal seqno."""
        self._check_writer("write_multi")
        meta = self._meta
        items = []
        for name, updates in updates_by_stream.items():
            sm = self._stream_meta(name, meta=meta)
            items.append((name, sm.id, updates))
        return self._write(items)

    def _write(self, items: list[tuple[str, int, object]]) -> int:
        tables, checks = [], []
        for name, sid, updates in items:
            t = to_table(updates)
            if not len(t):
                continue
            tables.append(walcodec.tag(sid, t))
            ts = t.column("ts")  # a compute call costs more than a small list
            checks.append((name, sid, min(ts.to_pylist()) if len(t) <= 16 else pc.min(ts).as_py()))
        if not tables:
            return 0
        req = _WriteReq(tables, checks)
        with self._group_done:
            self._queue.append(req)
        while not req.done:
            if self._commit_lock.acquire(blocking=False):
                try:  # leader: everything queued so far goes into one Wal record
                    with self._group_done:
                        group, self._queue = self._queue, []
                    if group:
                        self._commit_group(group)
                finally:
                    self._commit_lock.release()
                    with self._group_done:
                        self._group_done.notify_all()
            else:
                with self._group_done:
                    if not req.done:  # the lock's holder may be a seal: poll now and then
                        self._group_done.wait(0.001)
        if req.error is not None:
            raise req.error
        if self._pending_bytes >= self._drain_bytes:
            if self._bg is not None:
                self._bg_wake.set()
            else:
                self.drain()
        return req.seqno

    def _commit_group(self, group: list[_WriteReq]) -> None:
        """Leader: validate, append one Wal record for the group, acknowledge."""
        try:
            self._check_open()
        except PersistError as e:
            for r in group:
                r.error, r.done = e, True
            return
        if self._resync:  # validate only against a settled record (see _adopt_or_fence)
            try:
                self._resync_now()
            except PersistError as e:
                err = e
                if not isinstance(e, FencedError):
                    err = StorageUnavailableError(
                        f"{self.url}: an earlier metadata commit of unknown outcome could not be settled ({e}); "
                        f"nothing written, try again"
                    )
                for r in group:
                    r.error, r.done = err, True
                return
        by_id = self._meta.by_id()
        accepted = []
        for r in group:
            for name, sid, lo in r.checks:
                entry = by_id.get(sid)
                if entry is None:
                    r.error = UnknownStreamError(f"stream {name!r} was destroyed at {self.url}; nothing written")
                    break
                upper = entry[1].upper
                if lo < upper:
                    r.error = WriteBelowUpperError(
                        f"write to stream {name!r} has an update at ts={lo} below its upper={upper} "
                        f"(times < {upper} are sealed); nothing written"
                    )
                    break
            if r.error is None:
                accepted.append(r)
            else:
                r.done = True
        if not accepted:
            return
        tables = [t for r in accepted for t in r.tables]
        try:
            payload = walcodec.encode(tables)
            failpoint("write.before_wal")
            seqno = self._wal.append(payload)
        except BaseException as e:
            err = e
            if not isinstance(e, PersistError):
                err = StorageIndeterminateError(f"Wal append for {self.url} failed: {e!r}")
                err.__cause__ = e
            for r in accepted:
                r.error, r.done = err, True
            if not isinstance(e, Exception):
                raise
            return
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self._add_pending(seqno, table)
        for r in accepted:
            r.seqno, r.done = seqno, True
        try:  # durable and in memory (a later drain takes it), not yet acknowledged
            failpoint("write.after_wal")
        except PersistError as e:
            for r in accepted:
                r.error = e

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
        self._wal.truncate(absorbed + 1)
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

    # --- maintenance ------------------------------------------------------------

    def compact(self) -> int:
        """Run compaction passes until nothing merges; return merges done."""
        from persist.compaction import compact_all

        self._check_writer("compact")
        return compact_all(self)

    def gc(self) -> list[str]:
        """Delete blobs no metadata names (never ones being written); return them."""
        from persist.compaction import gc

        self._check_writer("gc")
        return gc(self)

    def _background(self) -> None:
        from persist.compaction import compact_all, gc

        backoff = 0.05
        passes = 0
        while not self._bg_stop.is_set():
            self._bg_wake.wait(timeout=1.0)
            self._bg_wake.clear()
            if self._bg_stop.is_set():
                break
            try:
                if self._pending_bytes >= self._drain_bytes:
                    with self._drain_lock:
                        self._drain({})
                if self._compaction_enabled:
                    merged = compact_all(self)
                    passes += 1
                    if merged or passes % 20 == 0:
                        gc(self)
                backoff = 0.05
            except FencedError:
                break
            except ClosedError:
                break
            except PersistError as e:
                self.bg_errors.append(e)
                log.warning("persist background work on %s failed: %s", self.url, e)
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as e:  # a bug: keep it visible, stop background work
                self.bg_errors.append(e)
                log.exception("persist background thread of %s stopped on a bug", self.url)
                break

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
