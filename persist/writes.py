"""The write path: stream registration and group-committed Wal writes.

A write is validated against ``upper`` of the *settled* record (a commit of
unknown outcome is settled first, so a seal that lands late can never
contradict an acknowledged write), appended to the Wal as one record for a
whole group of concurrent writers (one fsync: the thread holding
``_commit_lock`` is the leader and takes everyone queued behind it), added
to ``_pending`` and only then acknowledged. A seal holds ``_commit_lock``,
so no write is validated while a seal is in flight.

Division of work: each writer checks its own updates (types, ranges, zero
diffs: ``columnar.check_rows``, plain Python, no Arrow call) before it
queues, so a bad write fails alone, in its own thread. Python tuples are
queued raw; the leader turns the rows of the whole group into Arrow once
(one array per column per group, not per write) and into one Wal payload
(``walcodec``: a compact columnar record built without Arrow calls).
The leader checks each request against ``upper`` apart, so a request below
it fails alone and the rest of the group lands. Arrow tables handed in are
converted by their writer (``to_table``) and travel as tables.

Gathering: with one group in flight at a time, concurrent writers settle
into two halves taking turns (the writers of one group re-queue while the
next group's fsync runs), so a group would hold about half of them. So a
leader first waits, at most ``GATHER_SECONDS``, until every writer thread
seen in the last two groups has queued (the idea of PostgreSQL's
``commit_delay``/``commit_siblings``). A lone writer is the only writer it
has seen and never waits; a writer that stopped writing costs the next two
groups at most ``GATHER_SECONDS`` each before it is forgotten.

Mixed into :class:`persist.persister.Persister`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from persist import metadata as md
from persist import walcodec
from persist.columnar import check_rows, to_table
from persist.errors import (
    FencedError,
    InvalidArgumentError,
    PersistError,
    StorageIndeterminateError,
    StorageUnavailableError,
    UnknownStreamError,
    WriteBelowUpperError,
)
from persist.failpoints import failpoint


class _Pending:
    """A durable Wal record not yet absorbed by the metadata: its rows
    (``table``, WAL_SCHEMA), the stream ids among them and their size.

    A record the leader encoded as columns keeps its payload and decodes it
    (zero-copy) on first use of ``table``, usually by the drain, off the
    writers' path; decoding twice in a race yields equal tables."""

    __slots__ = ("seqno", "_table", "_payload", "sids", "nbytes")

    def __init__(self, seqno: int, table: pa.Table | None, sids: frozenset[int], nbytes: int,
                 payload: bytes | None = None) -> None:
        self.seqno, self._table, self._payload, self.sids, self.nbytes = seqno, table, payload, sids, nbytes

    @property
    def table(self) -> pa.Table:
        t = self._table
        if t is None:
            t = self._table = walcodec.decode(self._payload, f"pending Wal record {self.seqno}")
            self._payload = None
        return t


@dataclass
class _WriteReq:
    tables: list[pa.Table]  # tagged (WAL_SCHEMA), from Arrow input
    rows: list[tuple[int, tuple]]  # (sid, (keys, vals, ts, diffs)), checked Python input
    checks: list[tuple[str, int, int]]  # (name, sid, min ts)
    thread: int = field(default_factory=threading.get_ident)
    done: bool = False
    error: BaseException | None = None
    seqno: int = 0


#: longest a leader waits for the other recent writers to queue (see "Gathering")
GATHER_SECONDS = 0.0005


class WriteMixin:
    """Streams and the group-committed write path of a Persister."""

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
        tables, rows, checks = [], [], []
        for name, sid, updates in items:
            if isinstance(updates, (pa.Table, pa.RecordBatch)):
                t = to_table(updates)
                if not len(t):
                    continue
                tables.append(walcodec.tag(sid, t))
                ts = t.column("ts")  # a compute call costs more than a small list
                checks.append((name, sid, min(ts.to_pylist()) if len(t) <= 16 else pc.min(ts).as_py()))
            else:
                cols = check_rows(updates)
                if cols is None:
                    continue
                rows.append((sid, cols))
                checks.append((name, sid, min(cols[2])))
        if not checks:
            return 0
        req = _WriteReq(tables, rows, checks)
        with self._group_done:
            self._queue.append(req)
            self._queued.notify()
        while not req.done:
            if self._commit_lock.acquire(blocking=False):
                try:  # leader: everything queued so far goes into one Wal record
                    with self._group_done:
                        self._gather()
                        group, self._queue = self._queue, []
                        mine = frozenset(r.thread for r in group)
                        recent, self._recent_writers = self._recent_writers | mine, mine
                        self._gather_for = len(recent)
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

    def _gather(self) -> None:
        """``_queue_lock`` held, as the leader: wait (at most GATHER_SECONDS)
        until as many writers are queued as took part in the last two groups."""
        want = self._gather_for
        if len(self._queue) >= want:
            return
        deadline = time.monotonic() + GATHER_SECONDS
        while len(self._queue) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._queued.wait(left)

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
        try:
            table, payload = self._group_record(accepted)
        except Exception:  # check_rows makes this unreachable for checked input; fail only the culprits
            accepted = _without_unconvertible(accepted)
            if not accepted:
                return
            payload = None
        try:
            if payload is None:
                table, payload = self._group_record(accepted)
            failpoint("write.before_wal")
            seqno = self._wal.append(payload)
        except BaseException as e:
            err = e
            if not isinstance(e, PersistError):
                err = StorageIndeterminateError(f"Wal append for {self.url} failed: {e!r}")
                err.__cause__ = e
            doubtful = getattr(e, "wal_seqno", None)
            if doubtful is not None and isinstance(e, PersistError) and not e.determinate:
                # The record may be in the Wal (after a failed fsync the page
                # cache holds it; a restart replays it, a power loss may keep
                # it). Forgetting it would let a seal move upper past its
                # times and the replay bring it back below upper: a sealed
                # time whose contents change. So it is kept as pending: the
                # next drain or seal absorbs it into a blob (durable there,
                # whatever the Wal keeps) and wal_absorbed moves past it, so
                # no replay brings it back. The writers still hear
                # "indeterminate": it may appear, and then for good.
                self._add_pending(doubtful, table, frozenset(sid for r in accepted for _, sid, _ in r.checks),
                                  payload)
            for r in accepted:
                r.error, r.done = err, True
            if not isinstance(e, Exception):
                raise
            return
        self._add_pending(seqno, table, frozenset(sid for r in accepted for _, sid, _ in r.checks), payload)
        for r in accepted:
            r.seqno, r.done = seqno, True
        try:  # durable and in memory (a later drain takes it), not yet acknowledged
            failpoint("write.after_wal")
        except PersistError as e:
            for r in accepted:
                r.error = e

    @staticmethod
    def _group_record(accepted: list[_WriteReq]) -> tuple[pa.Table | None, bytes]:
        """The rows of a group as one WAL_SCHEMA table and one Wal payload.

        The raw rows of every request become one columnar payload (version 2;
        the table is then None: decoded from the payload when needed); a
        group that also holds tables handed in as Arrow is written as Arrow
        IPC (version 1)."""
        tables = [t for r in accepted for t in r.tables]
        sids: list[int] = []
        keys: list[bytes] = []
        vals: list[bytes] = []
        ts: list[int] = []
        diffs: list[int] = []
        for r in accepted:
            for sid, (k, v, t, d) in r.rows:
                sids += [sid] * len(k)
                keys += k
                vals += v
                ts += t
                diffs += d
        if keys:
            try:
                cols = walcodec.encode_rows(sids, keys, vals, ts, diffs)
            except OverflowError:  # over 2 GiB of keys or values: Arrow IPC
                tables.append(walcodec.rows_table(sids, keys, vals, ts, diffs))
            else:
                if not tables:
                    return None, cols  # the table is decoded from the payload when needed
                tables.append(walcodec.decode(cols))  # zero-copy columns over the payload
        payload = walcodec.encode(tables)
        return (pa.concat_tables(tables) if len(tables) > 1 else tables[0]), payload

    def _add_pending(self, seqno: int, table: pa.Table | None, sids: frozenset[int] | None = None,
                     payload: bytes | None = None) -> None:
        """Add a durable record's rows (WAL_SCHEMA) to ``_pending``: ``table``,
        or None with the columnar ``payload`` (decoded when first needed) and
        ``sids``; ``sids`` (the stream ids among the rows) is computed when
        not given."""
        if table is None:
            p = _Pending(seqno, None, sids, len(payload), payload)
        else:
            if sids is None:
                sids = frozenset(pc.unique(table.column("sid")).to_pylist()) if len(table) else frozenset()
            p = _Pending(seqno, table, sids, table.get_total_buffer_size())  # nbytes walks the buffers: ~50 us a call
        with self._state_lock:
            self._pending.append(p)
            self._pending_bytes += p.nbytes


def _without_unconvertible(group: list[_WriteReq]) -> list[_WriteReq]:
    """The requests of ``group`` whose rows convert on their own; the others
    are failed (InvalidArgumentError) and marked done."""
    good = []
    for r in group:
        try:
            WriteMixin._group_record([r])
        except Exception as e:
            r.error = InvalidArgumentError(f"updates could not be converted to Arrow ({e!r}); nothing written")
            r.done = True
        else:
            good.append(r)
    return good
