"""Opening a writer: claim the location's epoch, clean up, recover the Wal.

Order: read the record; if it does not follow this Wal, the Wal's content
belongs to no live epoch and is dropped (see :meth:`OpenMixin._follows`
for how a Wal is recognised: by the identity its directory keeps, never by
the hostname; a Wal that cannot prove whose it is and holds unabsorbed
records is refused, not dropped); sequence numbers continue above the
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
from persist.errors import (
    ConflictError,
    DurabilityUnknownError,
    PersistError,
    StorageIndeterminateError,
    WalIdentityError,
)
from persist.failpoints import failpoint

log = logging.getLogger("persist")


def describe_writer(writer: dict) -> str:
    """A writer as messages name it: its Wal identity, host and Wal directory."""
    where = f"{writer.get('host', '?')}:{writer['wal_dir']}" if writer.get("wal_dir") else None
    return f"Wal {writer.get('wal_id')}" + (f" at {where}" if where else "")


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
        wal_id = self._wal_id
        for _ in range(self.OPEN_ATTEMPTS):
            meta, token = self._read_meta()
            ours = token is not None and self._follows(meta)
            if not ours:
                # Taking over (or a new location): what this Wal holds belongs to
                # no live epoch of this location, so it must never be replayed.
                wal.truncate(wal.next_seqno)
            wal.ensure_next_seqno(meta.wal_absorbed + 1)
            new = meta.successor(
                epoch=meta.epoch + 1,
                writer={
                    "wal_id": wal_id, "wal_dir": loc.wal_dir, "host": socket.gethostname(), "pid": os.getpid(),
                    "opened": time.time(),
                },
            )
            try:
                self._token = self.blob.compare_and_set(md.META_KEY, token, md.encode(new))
            except ConflictError as e:
                cur, _ = self._read_meta()
                if cur.writer.get("wal_id") not in (None, wal_id) and cur.epoch > meta.epoch:
                    raise ConflictError(
                        f"{self.url}: another writer ({describe_writer(cur.writer)}, epoch {cur.epoch}) opened the "
                        f"location while this one was claiming epoch {new.epoch}; nothing was taken over. If that "
                        f"writer's machine is gone, open again to take the location over"
                    ) from e
                continue  # our own Wal's late commit, or a spurious conflict: claim on the fresh record
            except StorageIndeterminateError as e:
                if isinstance(e, DurabilityUnknownError):
                    raise  # the claim may be visible but not durable: this open fails; open again
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
        write_identity = getattr(wal, "write_identity", None)
        if write_identity is not None:  # only now that the record names it (see FileWal.write_identity)
            write_identity()
        failpoint("open.after_epoch")
        self._clean_stale_tmp()
        if ours:
            by_id = new.by_id()
            for seqno, payload in wal.records(meta.wal_absorbed + 1):
                if seqno <= meta.wal_absorbed:
                    continue
                t = walcodec.decode(payload, f"{loc.wal_dir} record {seqno}")
                below = _below_upper(t, by_id)
                if below:
                    log.warning(
                        "%s: dropped Wal record %d on replay: it has updates below the sealed upper (%s), so it "
                        "was never acknowledged (a write whose Wal append failed, left in the file by a build "
                        "that forgot such records) and reads of the sealed times never included it",
                        self.url, seqno, ", ".join(below),
                    )
                    continue
                self._add_pending(seqno, t)

    def _follows(self, meta) -> bool:
        """Does the record follow this writer's Wal (so that its unabsorbed
        records are this location's acknowledged writes, to be replayed)?

        Yes when the record names this Wal's identity (the ``ID`` file its
        directory keeps; never the hostname, so a container restarted under a
        new name replays its Wal). A Wal directory that had no identity until
        this open (an older build's, whose identity was ``host:path``, or one
        whose ``ID`` was lost) proves nothing by its new identity: it is the
        location's if the record names exactly its old ``host:path``; else, if
        it holds records the location has not absorbed, they may be
        acknowledged writes, so the open is refused (:class:`WalIdentityError`
        saying what to do) and nothing is discarded. A Wal with its own
        identity that the record does not name was taken over: its records
        are dropped, as documented (docs/semantics.md, takeover)."""
        named = meta.writer.get("wal_id")
        if named == self._wal_id:
            return True
        wal = self._wal
        if not getattr(wal, "identity_created", False) or named is None:
            return False
        if named == self.location.wal_id():
            return True  # an older build's Wal on the same host and path
        left = [s for s, _ in wal.records(meta.wal_absorbed + 1)]
        if left:
            wal_dir = self.location.wal_dir
            raise WalIdentityError(
                f"{self.url}: the Wal {wal_dir} holds {len(left)} record(s) (seqnos {left[0]}..{left[-1]}) that "
                f"the location has not absorbed, but it had no identity file (an older build's Wal, or its ID "
                f"file was lost) and the location follows the Wal {named!r}; nothing was discarded. If this is "
                f"that Wal (e.g. the same machine under a new hostname), open once with "
                f"wal_options={{'adopt_identity': {named!r}}} to replay them; if another writer took the location "
                f"over on purpose, move {wal_dir} aside (its records are not wanted) and open again"
            )
        return False

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


def _below_upper(table, by_id) -> list[str]:
    """The streams of a replayed Wal record (WAL_SCHEMA rows) that it has an
    update below the current upper of, as "name: ts N < upper U".

    An acknowledged record never has one: it is validated against upper and
    stays pending until a drain absorbs it, and every seal drains all pending
    records first. So such a record is one whose append failed (reported
    indeterminate) and that the writer did not keep: the seal passed its
    times without it, readers saw them without it, so it did not happen.
    Replaying it would put rows below upper into a batch whose description
    excludes them (persist.check: "times outside its description") and
    change what a read of a sealed time returns. The whole record is
    dropped (a write is atomic across streams). Writers keep such records
    pending since (``persist.writes``), so only a Wal an older build left
    can hold one."""
    if not len(table):
        return []
    mins = table.group_by("sid").aggregate([("ts", "min")]).to_pydict()
    out = []
    for sid, lo in zip(mins["sid"], mins["ts_min"]):
        entry = by_id.get(sid)
        if entry is not None and lo < entry[1].upper:
            out.append(f"{entry[0]!r}: ts {lo} < upper {entry[1].upper}")
    return out
