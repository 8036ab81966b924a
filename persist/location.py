"""Where a persist location lives: URL parsing and the storage it opens.

- ``file:///dir`` (or a bare path): Blob in ``dir/blob`` (FileBlob), Wal in
  ``dir/wal`` (FileWal) unless ``wal_dir`` names another directory.
- ``s3://bucket/prefix``: S3Blob on ``bucket`` under ``prefix``, reached at
  ``endpoint_url`` (moto, MinIO) or AWS; the Wal in the local ``wal_dir``
  (required for a writer).
- ``mem://name``: MemBlob + MemWal kept in this process's registry under
  ``name`` (tests only; nothing survives the process).

A location's identity string (``Location.id``) keys the shared batch cache.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlparse

from persist.errors import InvalidArgumentError


@dataclass(frozen=True)
class Location:
    scheme: str  # "file", "s3" or "mem"
    url: str
    path: str = ""  # file: root directory; s3: key prefix; mem: name
    bucket: str = ""
    wal_dir: str | None = None
    endpoint_url: str | None = None

    @property
    def id(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}"
        if self.scheme == "s3":
            return f"s3://{self.endpoint_url or 'aws'}/{self.bucket}/{self.path}"
        return f"mem://{self.path}"

    def wal_id(self) -> str:
        """Identity of the Wal directory a writer uses: host and absolute path."""
        return f"{socket.gethostname()}:{os.path.realpath(self.wal_dir)}" if self.wal_dir else f"mem:{self.path}"


def parse(url: str | os.PathLike, *, wal_dir: str | os.PathLike | None = None, endpoint_url: str | None = None) -> Location:
    url = os.fspath(url)
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme else url
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise InvalidArgumentError(f"{url!r}: a file URL needs three slashes (file:///abs/dir); got host {parsed.netloc!r}")
        if not path:
            raise InvalidArgumentError(f"{url!r} names no directory; use file:///abs/dir")
        root = os.path.abspath(path)
        wal = os.path.abspath(os.fspath(wal_dir)) if wal_dir is not None else os.path.join(root, "wal")
        return Location("file", url, path=root, wal_dir=wal)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidArgumentError(f"{url!r} names no bucket; use s3://bucket/prefix")
        prefix = parsed.path.strip("/")
        wal = os.path.abspath(os.fspath(wal_dir)) if wal_dir is not None else None
        return Location("s3", url, path=prefix, bucket=parsed.netloc, wal_dir=wal, endpoint_url=endpoint_url)
    if parsed.scheme == "mem":
        return Location("mem", url, path=parsed.netloc + parsed.path)
    raise InvalidArgumentError(f"{url!r}: unsupported scheme {parsed.scheme!r}; use file:///dir, s3://bucket/prefix or mem://name")


_MEM: dict[str, tuple] = {}
_MEM_LOCK = threading.Lock()


def open_blob(loc: Location, **options):
    """The location's Blob; ``options`` go to the implementation (for S3:
    S3Blob's keyword arguments, e.g. credentials, timeouts, attempts)."""
    if loc.scheme == "file":
        from persist.storage.file_blob import FileBlob

        return FileBlob(os.path.join(loc.path, "blob"))
    if loc.scheme == "s3":
        from persist.storage.s3 import S3Blob

        return S3Blob(loc.bucket, prefix=loc.path, endpoint_url=loc.endpoint_url, **options)
    with _MEM_LOCK:
        from persist.storage.blob import MemBlob

        entry = _MEM.setdefault(loc.path, [MemBlob(), None])
        return _Unclosable(entry[0])


def open_wal(loc: Location, **kw):
    """The writer's Wal (takes its flock; raises LockedError if held)."""
    if loc.scheme == "mem":
        from persist.storage.wal import MemWal

        with _MEM_LOCK:
            entry = _MEM.setdefault(loc.path, [None, None])
            if entry[1] is None or entry[1]._closed:
                old = entry[1]
                entry[1] = MemWal()
                if old is not None:  # a MemWal "reopened": same records
                    entry[1]._records, entry[1]._next = old._records, old._next
            return entry[1]
    if loc.wal_dir is None:
        raise InvalidArgumentError(f"{loc.url}: a writer on S3 needs wal_dir= (a local directory for its Wal)")
    from persist.storage.file_wal import FileWal

    return FileWal(loc.wal_dir, **kw)


class _Unclosable:
    """A MemBlob shared by handles of one process: close() must not drop it."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def close(self) -> None:
        pass
