"""The Wal role: an append-only log of opaque payloads with sequence numbers.

Semantics every implementation keeps:
- ``append(payload)`` returns the payload's sequence number only once the
  record is durable. Sequence numbers strictly increase and never go back,
  not even after the unsynced tail was lost (``ensure_next_seqno`` lets the
  engine raise the floor to what its metadata has already absorbed).
- ``records(from_seqno)`` yields ``(seqno, payload)`` in seqno order for every
  durable record with ``seqno >= from_seqno`` not yet truncated.
- ``truncate(before_seqno)`` drops records with ``seqno < before_seqno``; it
  may keep some (whole segments are dropped), so readers filter by seqno.
- Optionally ``identity``: a string that names this Wal for as long as it
  exists, whatever host or path it is reached by (FileWal keeps it in its
  directory's ``ID`` file). The metadata records it as the writer's Wal; a
  Wal without one (MemWal) is named by its location.
- Every failure is a ``PersistError`` saying whether it may have happened
  (never a raw ``OSError``). An indeterminate failure of ``append`` after
  the record may have reached the log (a failed fsync, a write that could
  not be undone) carries ``wal_seqno``: the seqno the record has there.
  The record may come back on recovery (after a failed fsync the page
  cache still holds it, and a later power loss may keep or lose it), so
  the engine must treat it as possibly written under that seqno, never
  forget it (see ``persist.writes``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from persist.errors import ClosedError


@runtime_checkable
class Wal(Protocol):
    def append(self, payload: bytes) -> int: ...

    def records(self, from_seqno: int = 0) -> Iterator[tuple[int, bytes]]: ...

    def truncate(self, before_seqno: int) -> None: ...

    @property
    def next_seqno(self) -> int: ...

    def ensure_next_seqno(self, seqno: int) -> None: ...

    def close(self) -> None: ...


class MemWal:
    """An in-process Wal for tests: durable for the life of the object."""

    def __init__(self, first_seqno: int = 1) -> None:
        self._records: list[tuple[int, bytes]] = []
        self._next = first_seqno
        self._lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the Wal was closed")

    def append(self, payload: bytes) -> int:
        with self._lock:
            self._check_open()
            seqno = self._next
            self._next += 1
            self._records.append((seqno, bytes(payload)))
            return seqno

    def records(self, from_seqno: int = 0) -> Iterator[tuple[int, bytes]]:
        with self._lock:
            self._check_open()
            snapshot = [r for r in self._records if r[0] >= from_seqno]
        return iter(snapshot)

    def truncate(self, before_seqno: int) -> None:
        with self._lock:
            self._check_open()
            self._records = [r for r in self._records if r[0] >= before_seqno]

    @property
    def next_seqno(self) -> int:
        return self._next

    def ensure_next_seqno(self, seqno: int) -> None:
        with self._lock:
            self._next = max(self._next, seqno)

    def close(self) -> None:
        self._closed = True
