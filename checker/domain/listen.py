"""Listens: every update delivered exactly once, in time order per
progress, progress never announced before the data below it, and what was
delivered equal to the sealed model.

A successful ``listen`` of stream ``s`` from ``as_of = A`` returned its
events in order (``docs/history.md``): ``{"data": [[key, val, ts, diff],
...]}`` and ``{"progress": P}``. The listener's contract
(``docs/semantics.md``, Readers; :mod:`persist.stream`): it delivers the
updates with ``ts > A`` as seals reveal them; a progress event ``P`` says
that every update with ``ts < P`` has been delivered. So, with
``lo = A + 1`` and then ``lo = P`` after each progress ``P``:

* ``listen-progress-back``: a progress below the one before it, or not
  above ``A``;
* ``listen-early-progress``: an update delivered after a progress ``P``
  although it was written at ``ts < P``: the progress was announced before
  the data below it;
* ``listen-ahead``: an update written at ``ts >= P`` delivered in the data
  that the progress ``P`` closes: delivered before it was sealed;
* ``listen-before-start``: an update written at ``ts <= A``;
* ``listen-duplicate``: the same ``(key, val)`` delivered twice (the
  append workload writes each once);
* ``listen-time-back``: an update delivered with a ``ts`` below the one it
  was written with (compaction may only advance times);
* ``listen-mismatch``: what the listen delivered, consolidated per
  ``(key, val)``, differs from the model replayed over ``(A, P_last)``:
  acknowledged writes with ``A < ts < P_last`` must be there (even when
  concurrent: a progress ``P_last`` was read from sealed, final data),
  failed ones must not, indeterminate ones may (the comparison is
  :func:`checker.domain.contents.judge` with ``lower = A``);
* ``listen-format``: a malformed event, or data after the last progress.

Order checks use the time each update was *written* with (the history's
write names it: keys are unique), not the delivered ``ts``, which
compaction may have advanced to ``since``. Cost: linear in the delivered
rows, plus a bisection per listen for the acknowledged writes it must
contain; a scan only when one is missing.
"""

from __future__ import annotations

import bisect
from typing import Any

from checker.domain.append import AppendHistory, GroupKey, Snap, paused
from checker.domain.contents import judge
from checker.domain.model import _row
from checker.domain.report import finish
from checker.history import History, Op
from checker.result import Anomaly, Result


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


class _Index:
    """Per stream: groups of positive diffs with an acknowledged update,
    sorted by their smallest acknowledged ts (what a listen must contain)."""

    def __init__(self, ah: AppendHistory) -> None:
        by: dict[str, list[tuple[int, GroupKey]]] = {}
        self.min_ok: dict[GroupKey, int] = {}
        for g, ups in ah.groups.items():
            if any(u.diff < 0 for u in ups):
                continue
            m = min((u.ts for u in ups if u.op.type == "ok"), default=None)
            if m is not None:
                self.min_ok[g] = m
                by.setdefault(g[0], []).append((m, g))
        self.by_stream = {s: sorted(lst, key=lambda p: p[0]) for s, lst in by.items()}
        self.ts = {s: [m for m, _ in lst] for s, lst in self.by_stream.items()}


class ListenChecker:
    name = "listen"

    @paused
    def check(self, history: History) -> Result:
        ah = AppendHistory.of(history)
        listens = [op for op in history.ops if op.f == "listen" and op.ok]
        index = _Index(ah) if listens else None
        anomalies: list[Anomaly] = []
        stats = {"listens": len(listens), "delivered": 0, "progress_events": 0}
        for op in listens:
            anomalies.extend(self._one(op, ah, index, stats))
        # no listen: nothing was promised, nothing to judge (valid, not unknown:
        # a run without readers must not turn the whole verdict unknown)
        return finish(self.name, ah, anomalies, stats)

    def _one(self, op: Op, ah: AppendHistory, index: _Index, stats: dict[str, int]) -> list[Anomaly]:
        r = op.result if isinstance(op.result, dict) else {}
        a = op.value if isinstance(op.value, dict) else {}
        stream = r.get("stream", a.get("stream"))
        as_of = _int(r.get("as_of"))
        events = r.get("events")
        where = f"listen op {op.index} ({stream} from as_of {as_of})"
        if stream is None or as_of is None or not isinstance(events, list):
            return [Anomaly("listen-format", f"{where}: expected an ok value {{stream, as_of, events: [...]}}", [op.index])]
        out: list[Anomaly] = []
        found: dict[str, list[str]] = {}

        def add(kind: str, text: str) -> None:
            found.setdefault(kind, []).append(text)

        lo = as_of + 1
        last_progress: int | None = None
        delivered: dict[tuple[str, str], int] = {}
        open_data: list[tuple[str, str, int]] = []  # (key, val, written ts) since the last progress
        for ev in events:
            if not isinstance(ev, dict):
                add("listen-format", f"event {ev!r} is neither data nor progress")
                continue
            if "progress" in ev:
                p = _int(ev["progress"])
                stats["progress_events"] += 1
                if p is None:
                    add("listen-format", f"progress {ev['progress']!r} is not an integer")
                    continue
                if p <= as_of or (last_progress is not None and p < last_progress):
                    before = f"the progress {last_progress} before it" if last_progress is not None else f"as_of {as_of}"
                    add("listen-progress-back", f"progress {p} is not above {before}")
                for k, v, w in open_data:
                    if w >= p:
                        add("listen-ahead", f"[{k!r}, {v!r}] written at ts {w} was delivered before progress {p}, "
                                            f"i.e. before it was sealed")
                open_data = []
                last_progress = p if last_progress is None else max(p, last_progress)
                lo = max(lo, p)
                continue
            rows = ev.get("data")
            if not isinstance(rows, list):
                add("listen-format", f"event {ev!r} is neither data nor progress")
                continue
            for row in rows:
                try:
                    k, v, ts, d = row
                except (TypeError, ValueError):
                    add("listen-format", f"row {row!r} is not [key, val, ts, diff]")
                    continue
                if _int(ts) is None or _int(d) is None:
                    add("listen-format", f"row {row!r} has a ts or diff that is not an integer")
                    continue
                stats["delivered"] += 1
                kv = (k, v)
                if kv in delivered:
                    add("listen-duplicate", f"[{k!r}, {v!r}] was delivered twice")
                delivered[kv] = delivered.get(kv, 0) + d
                ups = ah.groups.get((stream, k, v))
                if ups is None or len(ups) != 1:
                    continue  # a phantom (the contents comparison reports it) or a triple written twice
                w = ups[0].ts
                if ts < w:
                    add("listen-time-back", f"[{k!r}, {v!r}] written at ts {w} (op {ups[0].op.index}) was delivered at ts {ts}")
                if w <= as_of:
                    add("listen-before-start", f"[{k!r}, {v!r}] written at ts {w} (op {ups[0].op.index}) is not after as_of {as_of}")
                elif w < lo:
                    add("listen-early-progress",
                        f"[{k!r}, {v!r}] written at ts {w} (op {ups[0].op.index}) was delivered after progress {lo} "
                        f"had said that everything below {lo} was delivered")
                open_data.append((k, v, w))
        if open_data:
            add("listen-format", f"{len(open_data)} update(s) delivered after the last progress event")
        for kind, texts in found.items():
            more = f" (+{len(texts) - 1} more)" if len(texts) > 1 else ""
            out.append(Anomaly(kind, f"{where}: {texts[0]}{more}", [op.index]))
        if last_progress is not None:
            out.extend(self._contents(op, stream, as_of, last_progress, delivered, ah, index))
        return out

    def _contents(self, op: Op, stream: str, as_of: int, upper: int, delivered: dict[tuple[str, str], int],
                  ah: AppendHistory, index: _Index) -> list[Anomaly]:
        rows = [[k, v, d] for (k, v), d in sorted(delivered.items())]
        snap = Snap(op, stream, upper - 1, rows, upper, None, False, lower=as_of)
        ds = []
        matched = 0
        for (k, v), o in delivered.items():
            g = (stream, k, v)
            ups = ah.groups.get(g)
            if ups is None:
                if o != 0:
                    ds.append(judge([], snap, o, k, v))
                continue
            m = index.min_ok.get(g)
            if m is not None and as_of < m < upper and o != 0:
                matched += 1
            dsc = judge(ups, snap, o, k, v)
            if dsc is not None:
                ds.append(dsc)
        tss = index.ts.get(stream, [])
        i, j = bisect.bisect_right(tss, as_of), bisect.bisect_left(tss, upper)
        if matched < j - i:
            for _m, g in index.by_stream[stream][i:j]:
                if (g[1], g[2]) not in delivered:
                    dsc = judge(ah.groups[g], snap, 0, g[1], g[2])
                    if dsc is not None:
                        ds.append(dsc)
        ds = [d for d in ds if d is not None]
        if not ds:
            return []
        shown = "; ".join(_row(d) for d in ds[:3])
        more = f" (+{len(ds) - 3} more rows)" if len(ds) > 3 else ""
        ops = [op.index] + [u.op.index for d in ds[:3] for u in (d.must + d.maybe)[:3]]
        return [Anomaly("listen-mismatch",
                        f"listen op {op.index} ({stream} from as_of {as_of} to progress {upper}) delivered updates that "
                        f"differ from the model replayed over ({as_of}, {upper}) in {len(ds)} row(s): {shown}{more}",
                        list(dict.fromkeys(ops)))]
