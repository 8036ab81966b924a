"""The harness's fsck of a run's location: ``persist.check`` once every
worker has stopped (the moto server of an S3 run still up, every fault
healed), reported as the ``value`` of a ``harness`` event ``fsck`` in the
history (``docs/history.md``), which ``checker.integrity`` judges.

The value: ``ok`` (fsck's own verdict: no problem but orphans), ``problems``
(at most :data:`MAX_PROBLEMS` of ``{"kind", "key", "message"}``, damage
first and orphans last, so garbage never crowds damage out), ``kinds`` (the
count of every kind, recorded or not), ``problem_count``,
``batches_checked``, ``streams``, ``metadata_version``, ``seconds``; or
``{"ok": null, "error": "..."}`` when fsck itself raised (a bug in it).
A store fsck could not reach is its problem kind ``unreachable``, which the
integrity checker takes as "could not check" (unknown), never as damage.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

MAX_PROBLEMS = 100


def fsck(url: str, **options: Any) -> dict[str, Any]:
    import persist
    from persist.fsck import HARMLESS

    t0 = time.monotonic()
    try:
        rep = persist.check(url, **options)
    except Exception as e:  # fsck must report, not raise; if it does, say so
        return {"ok": None, "error": f"{type(e).__name__}: {e}", "seconds": round(time.monotonic() - t0, 3)}
    ranked = sorted(rep.problems, key=lambda p: p.kind in HARMLESS)  # stable: damage first, in fsck's order
    return {"ok": rep.ok,
            "problems": [{"kind": p.kind, "key": p.key, "message": p.message} for p in ranked[:MAX_PROBLEMS]],
            "kinds": dict(Counter(p.kind for p in rep.problems)), "problem_count": len(rep.problems),
            "batches_checked": rep.batches_checked, "streams": rep.streams, "metadata_version": rep.metadata_version,
            "seconds": round(time.monotonic() - t0, 3)}
