"""Snapshots compared with the model replayed at their ``as_of``.

The model. A stream's contents at time ``t`` are, per ``(key, val)``, the
sum of the diffs of the updates with ``ts <= t`` (BRIEF §2). For a successful
snapshot ``S`` of stream ``s`` at ``as_of = a``, each update ``u`` written to
``(s, key, val)`` is classified:

* **excluded** (cannot be in ``S``): its write *failed* (``fail``: certainly
  did not happen); or ``u.ts > a``; or its write was invoked after ``S``
  completed (``call(w) > ret(S)``).
* **must** be in ``S``: otherwise, if its write is ``ok``.
* **maybe** in ``S``: otherwise (the write is ``info`` or never completed).

Why an acknowledged write concurrent with ``S`` is *must*, not *maybe*: ``S``
succeeded, so ``since <= a < upper`` held when it read (the engine refuses
other reads), and every update with ``ts < upper`` is final. A write with
``ts <= a < upper`` that the engine acknowledged must therefore have taken
effect before the seal past ``a``, hence before ``S`` read; if it took
effect later, the engine accepted a write below ``upper``, which it must
refuse. Compaction does not change this: times below ``since`` are advanced
to ``since <= a``, which leaves the contents at ``a`` unchanged.

The verdict for the row ``(key, val)`` of ``S`` with observed diff ``o``
(0 if absent) is: ``lo <= o <= hi``, where ``lo = Σ must + Σ negative maybe``
and ``hi = Σ must + Σ positive maybe``. With unique updates of diff 1 (the
append workload) this is exact; otherwise it is an over-approximation of the
reachable sums, so still never a false positive. Anything else is a
:class:`Discrepancy`.

Cost. Rows present in ``S`` are checked one by one (linear in the rows).
Rows that *should* be present but are not are found by counting: per stream
the groups whose diffs are all positive and which have an acknowledged
update, sorted by the smallest such ``ts``; ``S`` must contain every one of
the first ``bisect(a)`` of them, so only when fewer match does the checker
scan for the missing ones (an anomaly was found; the scan is bounded by
``SCAN_BUDGET`` group visits in all). Groups with a negative diff are
checked one by one against each snapshot of their stream (none in the
append workload). So a valid history costs O(n log n).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from checker.domain.append import AppendHistory, GroupKey, Snap, Update, gc_paused

SCAN_BUDGET = 20_000_000

FAILED, LATER, AFTER, EARLIER = "failed", "later-ts", "after-snapshot", "earlier-ts"


@dataclass(slots=True)
class Discrepancy:
    """Row ``(key, val)`` of ``snap`` has diff ``observed``, outside ``[lo, hi]``."""

    snap: Snap
    key: str
    val: str
    observed: int
    lo: int
    hi: int
    must: list[Update]
    maybe: list[Update]
    excluded: list[tuple[Update, str]]  # with why: FAILED, LATER, AFTER or EARLIER (listens)


@dataclass(slots=True)
class RowIssue:
    """A snapshot whose rows break the format contract: not sorted by
    ``(key, val)``, a ``(key, val)`` twice (not consolidated), a zero diff,
    or a malformed row."""

    snap: Snap
    message: str


@dataclass
class Contents:
    discrepancies: list[Discrepancy] = field(default_factory=list)
    row_issues: list[RowIssue] = field(default_factory=list)
    # for flicker: groups written by exactly one update, of an indeterminate
    # write -> the snapshots that saw the row (diff != 0)
    seen: dict[GroupKey, list[Snap]] = field(default_factory=dict)
    truncated: bool = False  # SCAN_BUDGET ran out: some missing rows not looked for
    rows: int = 0
    snapshots: int = 0


def classify(u: Update, snap: Snap) -> str | None:
    """None for *must*/*maybe* (see ``u.op.ok``), else why it is excluded."""
    if u.op.type == "fail":
        return FAILED
    if u.ts > snap.as_of:
        return LATER
    if snap.lower is not None and u.ts <= snap.lower:
        return EARLIER
    ret = snap.op.ret
    if ret is not None and u.op.call > ret:
        return AFTER
    return None


def judge(ups: list[Update], snap: Snap, observed: int, key: str, val: str) -> Discrepancy | None:
    must: list[Update] = []
    maybe: list[Update] = []
    excluded: list[tuple[Update, str]] = []
    lo = hi = 0
    for u in ups:
        why = classify(u, snap)
        if why is not None:
            excluded.append((u, why))
        elif u.op.type == "ok":
            must.append(u)
            lo += u.diff
            hi += u.diff
        else:
            maybe.append(u)
            if u.diff < 0:
                lo += u.diff
            else:
                hi += u.diff
    if lo <= observed <= hi:
        return None
    return Discrepancy(snap, key, val, observed, lo, hi, must, maybe, excluded)


def analyse(ah: AppendHistory) -> Contents:
    """Compare every successful snapshot of ``ah`` with the model (cached)."""
    cached = getattr(ah, "_contents", None)
    if cached is not None:
        return cached
    with gc_paused():
        c = _analyse(ah)
    ah._contents = c  # type: ignore[attr-defined]
    return c


def _analyse(ah: AppendHistory) -> Contents:
    c = Contents()
    groups = ah.groups

    # Per stream: positive-only groups with an ok update, by smallest ok ts.
    min_ok: dict[GroupKey, int] = {}
    signed: dict[str, list[GroupKey]] = {}
    unique_info: set[GroupKey] = set()
    by_stream: dict[str, list[tuple[int, GroupKey]]] = {}
    for g, ups in groups.items():
        if any(u.diff < 0 for u in ups):
            signed.setdefault(g[0], []).append(g)
            continue
        if len(ups) == 1 and ups[0].op.type == "info":
            unique_info.add(g)
        m = None
        for u in ups:
            if u.op.type == "ok" and (m is None or u.ts < m):
                m = u.ts
        if m is not None:
            min_ok[g] = m
            by_stream.setdefault(g[0], []).append((m, g))
    ts_sorted: dict[str, list[int]] = {}
    for s, lst in by_stream.items():
        lst.sort(key=lambda p: p[0])
        ts_sorted[s] = [p[0] for p in lst]

    budget = SCAN_BUDGET
    seen = c.seen
    for snap in ah.snapshots:
        c.snapshots += 1
        s, a = snap.stream, snap.as_of
        observed: dict[tuple[str, str], int] = {}
        issue = _rows(snap.rows, observed)
        c.rows += len(snap.rows)
        if issue is not None:
            c.row_issues.append(RowIssue(snap, issue))

        ret = snap.op.ret
        matched = 0
        for kv, o in observed.items():
            g = (s, kv[0], kv[1])
            ups = groups.get(g)
            if ups is None:
                if o != 0:
                    c.discrepancies.append(Discrepancy(snap, kv[0], kv[1], o, 0, 0, [], [], []))
                continue
            m = min_ok.get(g)
            if m is not None and m <= a:
                matched += 1
            if len(ups) == 1:
                # fast path for the unique update: the common case
                u = ups[0]
                uop = u.op
                if u.ts <= a and (ret is None or uop.call <= ret):
                    typ = uop.type
                    if typ == "ok":
                        if o == u.diff:
                            continue
                    elif typ != "fail":
                        if o != 0 and g in unique_info:
                            seen.setdefault(g, []).append(snap)
                        if o == 0 or o == u.diff:
                            continue
            dsc = judge(ups, snap, o, kv[0], kv[1])
            if dsc is not None:
                c.discrepancies.append(dsc)

        tss = ts_sorted.get(s)
        needed = bisect.bisect_right(tss, a) if tss else 0
        if matched < needed:
            if budget < needed:
                c.truncated = True
            else:
                budget -= needed
                for _m, g in by_stream[s][:needed]:
                    if (g[1], g[2]) not in observed:
                        dsc = judge(groups[g], snap, 0, g[1], g[2])
                        if dsc is not None:
                            c.discrepancies.append(dsc)
        for g in signed.get(s, ()):
            if (g[1], g[2]) not in observed:
                dsc = judge(groups[g], snap, 0, g[1], g[2])
                if dsc is not None:
                    c.discrepancies.append(dsc)
    return c


def _rows(rows: list[Any], observed: dict[tuple[str, str], int]) -> str | None:
    """Consolidate ``rows`` into ``observed``; the first format problem
    (malformed, zero diff, repeated or unsorted ``(key, val)``), if any."""
    issue: str | None = None
    prev: Any = None
    for row in rows:
        try:
            k, v, d = row
        except (TypeError, ValueError):
            issue = issue or f"row {row!r} is not [key, val, diff]"
            continue
        if d.__class__ is not int:
            issue = issue or f"row {row!r} has a diff that is not an integer"
            continue
        kv = (k, v)
        if issue is None:
            if d == 0:
                issue = f"row [{k!r}, {v!r}] has diff 0 (consolidation drops zeros)"
            elif kv in observed:
                issue = f"row [{k!r}, {v!r}] appears twice (not consolidated)"
            elif prev is not None:
                try:
                    if kv < prev:
                        issue = f"rows are not sorted by (key, val): [{k!r}, {v!r}] comes after [{prev[0]!r}, {prev[1]!r}]"
                except TypeError:
                    issue = f"rows [{k!r}, {v!r}] and [{prev[0]!r}, {prev[1]!r}] cannot be ordered"
        prev = kv
        observed[kv] = observed.get(kv, 0) + d
    return issue
