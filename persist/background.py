"""Background work of a writer: drain when enough is pending, compaction
passes, and GC now and then, on one daemon thread (backing off on storage
errors, stopping when fenced or closed, stopping and keeping a bug visible
in ``bg_errors``). The merge policy and GC themselves are in
:mod:`persist.compaction`.

Mixed into :class:`persist.persister.Persister`.
"""

from __future__ import annotations

import logging
import time

from persist.errors import ClosedError, FencedError, PersistError

log = logging.getLogger("persist")


class BackgroundMixin:
    """compact(), gc() and the background thread of a Persister."""

    def compact(self) -> int:
        """Run compaction passes until nothing merges; return merges done."""
        from persist.compaction import compact_all

        self._check_writer("compact")
        return compact_all(self)

    def gc(self) -> list[str]:
        """Delete blobs no metadata names (never ones being written); return them."""
        from persist.compaction import gc

        self._check_writer("gc")
        return gc(self)

    def _background(self) -> None:
        from persist.compaction import compact_all, gc

        backoff = 0.05
        passes = 0
        while not self._bg_stop.is_set():
            self._bg_wake.wait(timeout=1.0)
            self._bg_wake.clear()
            if self._bg_stop.is_set():
                break
            try:
                if self._pending_bytes >= self._drain_bytes:
                    with self._drain_lock:
                        self._drain({})
                if self._compaction_enabled:
                    merged = compact_all(self)
                    passes += 1
                    if merged or passes % 20 == 0:
                        gc(self)
                backoff = 0.05
            except FencedError:
                break
            except ClosedError:
                break
            except PersistError as e:
                self.bg_errors.append(e)
                log.warning("persist background work on %s failed: %s", self.url, e)
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as e:  # a bug: keep it visible, stop background work
                self.bg_errors.append(e)
                log.exception("persist background thread of %s stopped on a bug", self.url)
                break
