"""Everything persist raises, under one root.

Every error is either :class:`Determinate` (the operation certainly did not
happen: no effect is visible now or ever) or :class:`Indeterminate` (it may
have happened, now or later; the caller cannot know). A harness records the
first as ``fail`` and the second as ``info``. Nothing else escapes the public
API: a bug surfaces as itself, never disguised as one of these.
"""

from __future__ import annotations


class PersistError(Exception):
    """Root of everything persist raises on purpose."""

    #: True when the operation certainly did not take effect.
    determinate: bool = True


class Determinate(PersistError):
    """The operation certainly did not happen."""

    determinate = True


class Indeterminate(PersistError):
    """The operation may or may not have happened (timeout, lost connection,
    a crash of a dependency half-way). Retrying blindly may apply it twice."""

    determinate = False


# --- refused calls (bad arguments or state); always determinate -------------


class InvalidArgumentError(Determinate, ValueError):
    """A call was refused because an argument breaks the contract."""


class WriteBelowUpperError(InvalidArgumentError):
    """A write carried an update with ``ts < upper`` (that time is sealed)."""


class SealBackwardsError(InvalidArgumentError):
    """``seal(t)`` with ``t`` below the stream's current ``upper``."""


class SinceError(InvalidArgumentError):
    """``allow_compaction(s)`` outside ``[since, upper]``."""


class AsOfError(InvalidArgumentError):
    """A read at an ``as_of`` outside ``[since, upper)``."""


class UnknownStreamError(Determinate, KeyError):
    """A stream name that is not registered (or was destroyed)."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want prose.
        return str(self.args[0]) if self.args else "unknown stream"


class ClosedError(Determinate):
    """A call on a handle that was closed (or whose persister was closed)."""


class ReadOnlyError(Determinate):
    """A mutating call on a read-only handle."""


# --- storage ----------------------------------------------------------------


class ConflictError(Determinate):
    """A conditional write lost its race: the stored version was not the one
    expected (or the key already existed for a create-only write)."""


class CorruptionError(Determinate):
    """Stored bytes fail their checks (magic, version, length or checksum).

    Nothing is served from them and nothing is rewritten; the message names
    the file or key and the offset."""


class LockedError(Determinate):
    """Another live process holds the location (the Wal's ``flock``)."""


class WalIdentityError(Determinate):
    """A writer's open was refused: its Wal directory holds records the
    location has not absorbed, and cannot prove they are this location's
    (it has no identity file and the metadata names another Wal). Nothing
    was discarded; the message says what to do."""


class FencedError(Determinate):
    """This writer was fenced: another writer took the location over by
    bumping the epoch. Every further call on this persister fails so."""


class StorageUnavailableError(Determinate):
    """The store could not be used and nothing changed: it could not be
    reached before anything was sent (unreachable endpoint, missing bucket,
    directory not creatable), it refused a write outright, or a *read*
    failed (a read has no effect, so even a timed-out read is determinate).
    Safe to retry; the message says what to check if it keeps failing."""


class StorageIndeterminateError(Indeterminate):
    """A storage call whose outcome is unknown (timeout, dropped connection,
    a 5xx after a possibly-applied write, a 412 on the retry of a create)."""


class DurabilityUnknownError(StorageIndeterminateError):
    """A write that may already be visible but is not known to be durable:
    a file was renamed into place (or may have been) and fsyncing its
    directory failed, so a power loss may still undo it. Re-reading it does
    not settle it; only a later write whose fsyncs succeed does (after a
    failed fsync nothing it covered is known durable: PostgreSQL's
    fsyncgate)."""


class FailpointError(Indeterminate):
    """Raised by an armed failpoint in ``error`` mode. Indeterminate: the
    failpoint may sit after the effect it guards."""


__all__ = [name for name in dir() if name.endswith("Error") or name in ("Determinate", "Indeterminate")]
