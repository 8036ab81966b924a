"""Metadata commits: one compare-and-set at a time, settling those of unknown
outcome, and reading the writer's record linearizably.

A writer's memory is the last record it committed (``_meta``, with its
version token ``_token``); it changes only after a compare-and-set returned
success or a re-read proved that one landed, so memory never runs ahead of
the metadata.

Commits (``_commit``) are serialised by ``_meta_lock`` and take a
*transform* of the current record, so compaction, seals and registrations
interleave without a global mutex. A compare-and-set that fails:

- ConflictError (certainly not applied): re-read. If the record is one we
  wrote whose outcome was unknown, adopt it and redo the transform on top.
  Otherwise another writer bumped the epoch: this persister is fenced
  (FencedError from now on).
- StorageIndeterminateError: re-read; our nonce there means it landed. If
  not, raise Indeterminate (also when the re-read fails) and remember the
  attempt (``_outstanding``, ``_resync``). Before the next write, seal or
  commit the writer settles it (``_adopt_or_fence``): adopt it if it landed
  late, else supersede it with a no-op rewrite of the current record so that
  it can never land. Never a blind retry.

A record that landed but whose durability is unknown (a FileBlob whose
directory fsync failed after the rename: DurabilityUnknownError) is
installed in memory at once (readers may see it) but stays unsettled
(``_needs_sync``): the next change first supersedes it with a rewrite whose
fsyncs succeed, so nothing is acknowledged on top of a record a power loss
could still undo.

Reads (``current_meta``): frontiers never go back as observed by anyone. A
writer's read waits out a commit in flight (its record may already be in
the store, seen by a reader) by taking ``_meta_lock``, and while an attempt
is unsettled it re-reads the record and adopts the attempt if it landed (it
does not supersede: a read writes nothing). A read that cannot settle fails
with StorageUnavailableError rather than answer from stale memory.

Mixed into :class:`persist.persister.Persister`, whose ``__init__`` owns the
state used here.
"""

from __future__ import annotations

from collections.abc import Callable

from persist import metadata as md
from persist.errors import (
    ConflictError,
    DurabilityUnknownError,
    FencedError,
    PersistError,
    StorageIndeterminateError,
    StorageUnavailableError,
)
from persist.failpoints import failpoint
from persist.opening import describe_writer


class CommitMixin:
    """Metadata commits and linearizable reads of a Persister."""

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

    def current_meta(self) -> md.Metadata:
        """The metadata this handle reads from: for a reader a fresh read of
        the Blob; for a writer its committed record, read *linearizably*: it
        waits out a metadata compare-and-set in flight (whose record others
        may already see in the store), and while a commit of unknown outcome
        is unsettled it re-reads the store and adopts the attempt if it
        landed (see :meth:`_adopt_or_fence`). So a frontier the writer reports is
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

    def _fence(self, cur: md.Metadata) -> FencedError:
        self._fenced = (
            f"this writer of {self.url} (epoch {self.epoch}, Wal {self._wal_id} in {self.location.wal_dir}) was fenced: "
            f"the writer with {describe_writer(cur.writer)} took the location over at epoch {cur.epoch}; "
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
                if not self._outstanding and not self._needs_sync:
                    self._resync = False
                    return
                if not supersede:
                    return
                new = self._meta.successor()
                try:
                    token = self.blob.compare_and_set(md.META_KEY, self._token, md.encode(new))
                except ConflictError:
                    continue  # something landed meanwhile: look again
                except StorageIndeterminateError as e:
                    self._outstanding[new.nonce] = new
                    if isinstance(e, DurabilityUnknownError):
                        self._needs_sync = True
                    raise
                self._outstanding.clear()
                self._resync = self._needs_sync = False
                self._install(new, token)
                self._settled()
                return
            landed = self._outstanding.get(cur.nonce)
            if landed is not None and cur.epoch == self.epoch:
                self._outstanding.clear()
                self._install(cur, tok)
                self._settled()
                if self._needs_sync:  # landed, but not known durable: supersede it (next round)
                    if not supersede:
                        return
                    continue
                self._resync = False
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
                    if isinstance(e, DurabilityUnknownError):
                        self._needs_sync = True
                    cur, tok = self._reread("a metadata commit", cause=e)
                    if cur.nonce != new.nonce:
                        raise
                    if isinstance(e, DurabilityUnknownError):
                        # Visible (a reader may see it) but not known durable: memory
                        # follows the store, and the next change first supersedes it
                        # with a record whose fsyncs succeed (_adopt_or_fence).
                        self._install(new, tok)
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
