"""Operators over persisted streams: the persisted-stream operator
(:mod:`persist.operators.persisted`) and upsert on top of it
(:mod:`persist.operators.upsert`).

Events, in and out, are tuples: ``("data", [(key, val, ts, diff), ...])``
and ``("progress", t)`` (every update with ``ts < t`` has been emitted)."""

from persist.operators.persisted import PersistedStream, persisted_stream
from persist.operators.upsert import Upsert, upsert_stream

__all__ = ["PersistedStream", "persisted_stream", "Upsert", "upsert_stream"]
