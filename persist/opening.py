"""Opening a writer: claim the location's epoch, clean up, recover the Wal.

Order: read the record; if it does not follow this Wal, the Wal's content
belongs to no live epoch and is dropped; sequence numbers continue above the
record's ``wal_absorbed``; claim the next epoch by compare-and-set (retried
on a changed record unless another writer opened meanwhile); remove temp
files dead processes left in a local blob directory; then, only if the
record follows this Wal, replay the records it has not absorbed (never
twice: those at or below ``wal_absorbed`` are skipped).

Mixed into :class:`persist.persister.Persister`.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from persist import metadata as md
from persist import walcodec
from persist.errors import ConflictError, PersistError, StorageIndeterminateError
from persist.failpoints import failpoint

log = logging.getLogger("persist")


class OpenMixin:
    """The writer's open and Wal recovery."""

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
        for _ in range(self.OPEN_ATTEMPTS):
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
