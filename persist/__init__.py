"""persist: a reference persistence engine for streams of differential-dataflow
updates ``(key, val, ts, diff)``. See docs/semantics.md for the contract.

Public API::

    p = persist.open("file:///data/loc")            # writer (Wal flock + epoch)
    p = persist.open("s3://bucket/prefix", wal_dir="/var/wal", endpoint_url=...)
    r = persist.open(url, read_only=True)            # reader (== persist.open_reader(url))
    s = p.stream("name"); s.write([(k, v, ts, diff), ...]); s.seal(t)
    s.snapshot(as_of).to_arrow(); s.listen(as_of); s.arrange(as_of).get(k)
    p.write_multi({"a": [...], "b": [...]}); p.destroy("name"); p.close()
    persist.check(url) -> CheckReport(ok, problems)
"""

from __future__ import annotations

import os

from persist.errors import *  # noqa: F401,F403
from persist.location import parse as _parse


def open(
    url,
    *,
    wal_dir=None,
    endpoint_url=None,
    read_only: bool = False,
    cache=None,
    debug: bool | None = None,
    background: bool = True,
    drain_bytes: int | None = None,
    compaction: bool = True,
    wal_options: dict | None = None,
    blob_options: dict | None = None,
):
    """Open the location ``url`` and return a :class:`~persist.persister.Persister`.

    A writer takes the Wal directory's flock (LockedError, naming the holder,
    while another process or handle holds it), bumps the metadata epoch
    (fencing any older writer of the location), recovers its Wal and replays
    what the metadata has not absorbed. ``read_only=True`` opens a reader:
    no Wal, no lock, sees what is sealed. ``background=False`` turns off the
    background drain/compaction/GC thread (then call ``drain``/``compact``/
    ``gc`` yourself); ``debug=True`` (or PERSIST_DEBUG=1) asserts the metadata
    invariants on every commit."""
    from persist.persister import DEFAULT_DRAIN_BYTES, Persister

    loc = _parse(url, wal_dir=wal_dir, endpoint_url=endpoint_url)
    return Persister(
        loc,
        read_only=read_only,
        cache=cache,
        debug=debug,
        background=background,
        drain_bytes=DEFAULT_DRAIN_BYTES if drain_bytes is None else drain_bytes,
        compaction=compaction,
        wal_options=wal_options,
        blob_options=blob_options,
    )


def open_reader(url, *, endpoint_url=None, cache=None, blob_options=None):
    """A read-only handle on ``url`` (any process; sees everything sealed)."""
    return open(url, endpoint_url=endpoint_url, read_only=True, cache=cache, blob_options=blob_options)


def check(url, *, endpoint_url=None, blob_options=None):
    """fsck: verify the metadata against the blobs and every invariant;
    returns a :class:`~persist.fsck.CheckReport` (``.ok``, ``.problems``),
    never raises for findings. See :mod:`persist.fsck`."""
    from persist.fsck import check_location

    return check_location(_parse(url, endpoint_url=endpoint_url), blob_options=blob_options)


from persist import errors as _errors  # noqa: E402

__all__ = ["open", "open_reader", "check", *_errors.__all__]
