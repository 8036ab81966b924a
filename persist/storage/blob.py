"""The Blob role: a flat key -> bytes store with atomic replace and the
conditional writes the metadata record needs.

Semantics every implementation keeps:
- ``set`` is atomic: a concurrent ``get`` sees the old value or the new one,
  never a mix, and after a crash the key holds one or the other.
- ``compare_and_set(key, expected, value)`` writes only if the stored version
  token equals ``expected`` (``None``: only if the key is absent). It returns
  the new token. A lost race raises :class:`~persist.errors.ConflictError`
  (determinate); an outcome that cannot be known raises
  :class:`~persist.errors.StorageIndeterminateError`.
- Version tokens are opaque strings; callers compare them for equality only.
  They need not be unique across different values (S3's ETag is an MD5), so
  the metadata carries its own nonce against ABA.
- ``list_keys(prefix)`` returns the keys that start with ``prefix``, sorted.
- ``get_versioned`` returns only a durable version: one that no crash can
  take back (a reader must never answer from a record that a power loss
  then undoes). S3 and memory are durable when visible; ``FileBlob`` fsyncs
  the directory the first time it sees a version it did not itself make
  durable (another process's rename is visible before its directory fsync).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Protocol, runtime_checkable

from persist.errors import ConflictError


@runtime_checkable
class Blob(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, prefix: str = "") -> list[str]: ...

    def get_versioned(self, key: str) -> tuple[bytes, str] | None: ...

    def compare_and_set(self, key: str, expected: str | None, value: bytes) -> str: ...

    def close(self) -> None: ...


class MemBlob:
    """An in-process Blob. Thread-safe; nothing survives the process.

    Version tokens are a per-key write counter, so they never repeat."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, int]] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            return None if entry is None else entry[0]

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = (bytes(value), self._next())

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def list_keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._data if k.startswith(prefix))

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            entry = self._data.get(key)
            return None if entry is None else (entry[0], str(entry[1]))

    def compare_and_set(self, key: str, expected: str | None, value: bytes) -> str:
        with self._lock:
            entry = self._data.get(key)
            current = None if entry is None else str(entry[1])
            if current != expected:
                raise ConflictError(
                    f"compare_and_set on {key!r} expected version {expected!r}, found {current!r}"
                )
            version = self._next()
            self._data[key] = (bytes(value), version)
            return str(version)

    def close(self) -> None:
        pass


def content_token(value: bytes) -> str:
    """A version token derived from content (what S3 uses: MD5)."""
    return hashlib.md5(value).hexdigest()
