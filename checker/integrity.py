"""The ``integrity`` checker: what ``persist.check`` (fsck) found in the
location once the run was over and every worker had stopped, as the harness
recorded it (a ``harness`` event ``fsck``, ``docs/history.md``). Pure: a
history in, a :class:`Result` out; the harness ran fsck, this only judges
its report.

Some damage no read can show: a compacted batch whose times were not
advanced to its since answers every read at ``as_of >= since`` correctly,
yet breaks the batch format's invariant (``docs/FORMAT.md``) and keeps the
trace from shrinking. fsck sees it. Every problem fsck reports is an
anomaly of that kind (``invariant``, ``batch-content``, ``missing-blob``,
``corrupt-batch``, ...) except:

* ``orphan-blob``: garbage, not damage (GC removes it);
* in the ``corruption`` category (runs whose nemesis damaged bytes on
  purpose), ``corrupt-batch`` and ``corrupt-metadata``: the planted damage,
  found, which is what fsck is for.

A report that says fsck itself failed (it raised), or that it could not
reach the store (``unreachable``), gives ``unknown``: not checked is not
damaged. So does a malformed report (no ``problems`` list). Problems beyond
the recorded ones are judged from ``kinds`` (a count per kind): a kind of
damage counted but not recorded is still an anomaly.
Without an fsck event the checker has nothing to judge: ``unknown`` (the
harness only adds this checker when the history has one).
"""

from __future__ import annotations

from typing import Any

from checker.history import History
from checker.result import UNKNOWN, Anomaly, Result

#: fsck problem kinds that are never damage
HARMLESS = frozenset({"orphan-blob"})
#: fsck problem kinds a corruption run expects (the nemesis damaged those bytes)
PLANTED = frozenset({"corrupt-batch", "corrupt-metadata"})
#: fsck could not list or read the store: nothing was checked
UNREACHABLE = "unreachable"


class Integrity:
    name = "integrity"

    def __init__(self, category: str | None = None) -> None:
        self.category = category

    def check(self, history: History) -> Result:
        reports = [e for e in history.harness if e.get("f") == "fsck"]
        if not reports:
            return Result(self.name, UNKNOWN, reason="no fsck of the location in the history", category=self.category)
        ignored = HARMLESS | (PLANTED if self.category == "corruption" else frozenset())
        anomalies: list[Anomaly] = []
        stats: dict[str, Any] = {"fsck_runs": len(reports)}
        unknown: str | None = None
        for e in reports:
            v = e.get("value")
            where = f"persist.check after the run (harness event {e.get('index')})"
            if not isinstance(v, dict) or v.get("error") or not isinstance(v.get("problems"), list):
                why = v.get("error") if isinstance(v, dict) and v.get("error") else f"a malformed report {v!r:.200}"
                unknown = f"fsck could not run: {why}"
                continue
            stats.update({k: v[k] for k in ("batches_checked", "streams", "metadata_version") if k in v})
            recorded: dict[str, int] = {}
            for p in v["problems"]:
                kind = str(p.get("kind")) if isinstance(p, dict) else "malformed"
                recorded[kind] = recorded.get(kind, 0) + 1
                if kind in ignored:
                    stats[f"ignored_{kind}"] = stats.get(f"ignored_{kind}", 0) + 1
                elif kind == UNREACHABLE:
                    unknown = f"fsck could not reach the store: {p.get('message')}"
                else:
                    anomalies.append(Anomaly(kind, f"{where}: {p.get('message') if isinstance(p, dict) else p}", []))
            counted = v.get("kinds") if isinstance(v.get("kinds"), dict) else {}
            for kind, n in sorted(counted.items()):
                more = (n if isinstance(n, int) else 0) - recorded.get(kind, 0)
                if more > 0 and kind not in ignored and kind != UNREACHABLE:
                    anomalies.append(Anomaly(kind, f"{where}: {more} more problem(s) of kind {kind} "
                                                   "(counted, not recorded)", []))
        if anomalies:
            return Result(self.name, False, anomalies[:100], stats=stats, category=self.category)
        if unknown:
            return Result(self.name, UNKNOWN, reason=unknown, stats=stats, category=self.category)
        return Result(self.name, True, stats=stats, category=self.category)
