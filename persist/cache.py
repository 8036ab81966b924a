"""An LRU of decoded batches, bounded in bytes, shared by every handle of a
process that reads the same location.

Batch blobs are immutable (a key is never rewritten with other bytes), so a
cached table never goes stale; deleting a blob only stops new lookups from
finding it. Entries are keyed by ``(location, blob key)``. ``get_or_load``
decodes outside the lock; two threads missing the same key may both load it
(harmless: same bytes), and both count as misses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import pyarrow as pa

DEFAULT_CAPACITY = 256 * 2**20


class BatchCache:
    def __init__(self, capacity_bytes: int = DEFAULT_CAPACITY) -> None:
        self.capacity_bytes = capacity_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[pa.Table, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, location: str, key: str) -> pa.Table | None:
        with self._lock:
            entry = self._entries.get((location, key))
            if entry is None:
                return None
            self._entries.move_to_end((location, key))
            self.hits += 1
            return entry[0]

    def put(self, location: str, key: str, table: pa.Table) -> None:
        size = max(table.nbytes, 1)
        if size > self.capacity_bytes:
            return
        with self._lock:
            old = self._entries.pop((location, key), None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[(location, key)] = (table, size)
            self.bytes += size
            while self.bytes > self.capacity_bytes and self._entries:
                _, (_, s) = self._entries.popitem(last=False)
                self.bytes -= s
                self.evictions += 1

    def get_or_load(self, location: str, key: str, load: Callable[[], pa.Table]) -> pa.Table:
        table = self.get(location, key)
        if table is not None:
            return table
        with self._lock:
            self.misses += 1
        table = load()
        self.put(location, key, table)
        return table

    def discard(self, location: str, key: str) -> None:
        with self._lock:
            old = self._entries.pop((location, key), None)
            if old is not None:
                self.bytes -= old[1]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "bytes": self.bytes,
                "entries": len(self._entries),
                "capacity_bytes": self.capacity_bytes,
            }


#: The process-wide cache every Persister uses unless given its own.
SHARED = BatchCache()
