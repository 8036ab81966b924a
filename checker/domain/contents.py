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
append workload).

Reads as deltas. Each read holds the whole stream, so checking every row of
every read (:func:`analyse_reference`) is quadratic in the run's length. A
read the loader decoded from a ``rows_delta``
(:class:`~checker.formats.rows_delta.DeltaRows`) is judged instead from the
state kept for its chain (the same process's previous read of the stream),
updated by the delta's rows only (:func:`_analyse`); it falls back to the
whole comparison of that read when the state shows a row out of bounds (an
anomaly) or the delta is not well formed. The results are the reference's,
in the same order (``tests/checker/domain/test_contents_fast.py``). So a
valid history costs O(changed rows x log + indeterminate rows x reads) plus
the whole comparison of the reads written whole (each chain's first).
"""

from __future__ import annotations

import bisect
import functools
import heapq
from dataclasses import dataclass, field
from typing import Any

from checker.domain.append import AppendHistory, GroupKey, Snap, Update, gc_paused
from checker.formats.rows_delta import DeltaRows

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


def analyse_reference(ah: AppendHistory) -> Contents:
    """The whole comparison, every row of every snapshot: quadratic in the
    run's length (each read holds the whole stream). :func:`analyse` must
    give exactly this (same discrepancies, issues and ``seen``, in the same
    order); kept as the oracle of the tests and benchmarks."""
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


@dataclass(slots=True)
class _Chain:
    """What :func:`_analyse` keeps of the last snapshot of one chain of reads
    (one history process's successive reads of one stream, as the loader
    decoded them from ``rows_delta``), updated by each delta in O(changed rows).
    Invariant: ``obs`` holds that snapshot's rows, which were well formed
    (no :class:`RowIssue`)."""

    rows: list[Any]  # the snapshot's rows object: the next delta's ``base``
    stream: str
    obs: dict[tuple[Any, Any], int]
    odd: set[tuple[Any, Any]]  # rows not of one update with that diff: no group, several updates, failed, other diff
    infos: set[tuple[Any, Any]]  # rows of a group in ``unique_info`` (flicker's ``seen``)
    after: set[tuple[Any, Any]]  # unique-update rows whose write was invoked after the last snapshot returned
    late: list[tuple[int, tuple[Any, Any]]]  # max-heap (-ts, kv) of unique-update rows; stale entries skipped
    first: int  # ok-order positions below ``first`` are all present ...
    holes: list[int]  # ... but these (min-heap; stale entries skipped)


class _Model:
    """The per-history indexes both paths use."""

    def __init__(self, ah: AppendHistory) -> None:
        self.groups = groups = ah.groups
        self.min_ok: dict[GroupKey, int] = {}
        self.signed: dict[str, list[GroupKey]] = {}
        self.unique_info: set[GroupKey] = set()
        self.by_stream: dict[str, list[tuple[int, GroupKey]]] = {}
        for g, ups in groups.items():
            if any(u.diff < 0 for u in ups):
                self.signed.setdefault(g[0], []).append(g)
                continue
            if len(ups) == 1 and ups[0].op.type == "info":
                self.unique_info.add(g)
            m = None
            for u in ups:
                if u.op.type == "ok" and (m is None or u.ts < m):
                    m = u.ts
            if m is not None:
                self.min_ok[g] = m
                self.by_stream.setdefault(g[0], []).append((m, g))
        self.ts_sorted: dict[str, list[int]] = {}
        self.ok_pos: dict[GroupKey, int] = {}
        self.ok_kv: dict[str, list[tuple[Any, Any]]] = {}  # by_stream's (key, val)s, in its order
        for s, lst in self.by_stream.items():
            lst.sort(key=lambda p: p[0])
            self.ts_sorted[s] = [p[0] for p in lst]
            self.ok_kv[s] = [(g[1], g[2]) for _m, g in lst]
            for i, (_m, g) in enumerate(lst):
                self.ok_pos[g] = i
        # per stream, the groups of exactly one update, by (key, val): what
        # _put needs of it, (ts, diff, call, failed, in unique_info, the
        # (key, val) and the ``late`` entry every chain holding the row shares)
        self.unique: dict[str, dict[tuple[Any, Any], tuple]] = {}
        for g, ups in groups.items():
            if len(ups) == 1:
                u = ups[0]
                kv = (g[1], g[2])
                self.unique.setdefault(g[0], {})[kv] = (u.ts, u.diff, u.op.call, u.op.type == "fail",
                                                        g in self.unique_info, kv, (-u.ts, kv))


def _check_rows(c: Contents, mo: _Model, snap: Snap, observed: dict[tuple[Any, Any], int], kvs: Any) -> int:
    """The per-snapshot comparison of :func:`analyse_reference` for the rows
    ``kvs`` of ``observed`` (in row order); how many of them the model needs."""
    groups, min_ok, unique_info, seen = mo.groups, mo.min_ok, mo.unique_info, c.seen
    s, a = snap.stream, snap.as_of
    ret = snap.op.ret
    matched = 0
    for kv in kvs:
        o = observed[kv]
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
    return matched


def _missing(c: Contents, mo: _Model, snap: Snap, observed: dict, matched: int | None, budget: int) -> int:
    """Rows that should be in ``snap`` and are not (``matched`` None: the
    fast path already knows every needed row is present)."""
    s, a, groups = snap.stream, snap.as_of, mo.groups
    tss = mo.ts_sorted.get(s)
    needed = bisect.bisect_right(tss, a) if tss else 0
    if matched is not None and matched < needed:
        if budget < needed:
            c.truncated = True
        else:
            budget -= needed
            for _m, g in mo.by_stream[s][:needed]:
                if (g[1], g[2]) not in observed:
                    dsc = judge(groups[g], snap, 0, g[1], g[2])
                    if dsc is not None:
                        c.discrepancies.append(dsc)
    for g in mo.signed.get(s, ()):
        if (g[1], g[2]) not in observed:
            dsc = judge(groups[g], snap, 0, g[1], g[2])
            if dsc is not None:
                c.discrepancies.append(dsc)
    return budget


def _matched(mo: _Model, snap: Snap, observed: dict) -> int:
    s, a, min_ok = snap.stream, snap.as_of, mo.min_ok
    n = 0
    for kv in observed:
        m = min_ok.get((s, kv[0], kv[1]))
        if m is not None and m <= a:
            n += 1
    return n


def _analyse(ah: AppendHistory) -> Contents:
    """:func:`analyse_reference`'s result in time linear in the changed rows.

    A snapshot whose rows the loader decoded from a delta
    (:class:`~checker.formats.rows_delta.DeltaRows`) of a snapshot already
    judged here is judged from its chain's state (:class:`_Chain`), updated
    by the delta: a well-formed row of one update with that diff, whose
    ``ts <= as_of`` and whose write was invoked before the snapshot returned,
    is in the model's bounds, so only the other rows need a verdict: ``odd``
    rows (judged as before), indeterminate rows (for ``seen``), and, if the
    heap ``late`` shows a row with ``ts > as_of`` or ``after`` a row invoked
    after the return, the whole snapshot is judged as before (an anomaly).
    A row the model needs is missing iff the first absent position in the
    stream's ok order (``first``, ``holes``) has ``min_ok <= as_of``; only
    then are the rows scanned, as before. Any other snapshot (read whole, a
    listen's, a malformed delta) is judged as before and starts a chain.
    Cost: O(changed rows x log) per delta read plus the indeterminate rows
    present; the same results, in the same order, as the reference."""
    c = Contents()
    mo = _Model(ah)
    budget = SCAN_BUDGET
    chains: dict[int, _Chain] = {}
    # the reads some later read is a delta of: only their chains are kept
    # (a chain that ends, e.g. its process retired, frees its state)
    bases = {id(s.rows.base) for s in ah.snapshots if s.rows.__class__ is DeltaRows}
    for snap in ah.snapshots:
        c.snapshots += 1
        rows = snap.rows
        c.rows += len(rows)
        st = None
        if rows.__class__ is DeltaRows and snap.lower is None:
            st = chains.pop(id(rows.base), None)
            if st is not None and (st.rows is not rows.base or st.stream != snap.stream or not _apply(st, mo, rows)):
                st = None
        if st is not None:
            st.rows = rows
            if id(rows) in bases:
                chains[id(rows)] = st
            if _fast(c, mo, st, snap):
                budget = _missing(c, mo, snap, st.obs, None if _all_needed(mo, st, snap) else _matched(mo, snap, st.obs),
                                  budget)
                continue
        observed: dict[tuple[str, str], int] = {}
        issue = _rows(rows, observed)
        if issue is not None:
            c.row_issues.append(RowIssue(snap, issue))
        matched = _check_rows(c, mo, snap, observed, list(observed))
        budget = _missing(c, mo, snap, observed, matched, budget)
        if st is None and issue is None and snap.lower is None and id(rows) in bases:
            chains[id(rows)] = _new_chain(mo, snap, observed)
    return c


def _new_chain(mo: _Model, snap: Snap, observed: dict) -> _Chain:
    st = _Chain(snap.rows, snap.stream, {}, set(), set(), set(), [], 0, [])
    _put(st, mo, snap, observed.items(), fresh=True)
    _advance(st, mo)
    return st


def _put(st: _Chain, mo: _Model, snap: Snap, items: Any, fresh: bool = False) -> None:
    """Add the rows ``items`` (``(kv, diff)`` pairs) to ``st``, classified."""
    obs, odd, infos, after, late = st.obs, st.odd, st.infos, st.after, st.late
    unique = mo.unique.get(st.stream, {}).get
    ret = snap.op.ret
    push = late.append if fresh else functools.partial(heapq.heappush, late)
    for kv, o in items:
        one = unique(kv)
        if one is None:  # no group, or several updates
            obs[kv] = o
            odd.add(kv)
            continue
        _ts, diff, call, failed, info, kv, entry = one  # the model's (key, val): one tuple for every chain
        obs[kv] = o
        if failed or o != diff:
            odd.add(kv)
        if info:
            infos.add(kv)
        if ret is not None and call > ret:
            after.add(kv)
        push(entry)
    if fresh:
        heapq.heapify(late)


def _drop(st: _Chain, mo: _Model, kv: tuple[Any, Any]) -> None:
    del st.obs[kv]
    st.odd.discard(kv)
    st.infos.discard(kv)
    st.after.discard(kv)
    p = mo.ok_pos.get((st.stream, kv[0], kv[1]))
    if p is not None and p < st.first:
        heapq.heappush(st.holes, p)


def _apply(st: _Chain, mo: _Model, rows: DeltaRows) -> bool:
    """Update ``st`` by ``rows``' delta; False (``st`` spoilt) if the result
    is not well formed (then the snapshot is judged whole)."""
    obs = st.obs
    unique = mo.unique.get(st.stream, {}).get
    try:
        for r in rows.remove:
            k, v, d = r
            kv = (k, v)
            o = obs.get(kv)
            if o is None or d.__class__ is not int:
                return False
            _drop(st, mo, kv)
            if o != d:  # the base had this kv with another diff: not a well-formed delta of a clean base
                return False
        for r in rows.add:
            k, v, d = r
            kv = (k, v)
            if d.__class__ is not int or d == 0 or kv in obs:
                return False
            one = unique(kv)
            if one is not None:
                kv = one[5]  # the key kept is the model's tuple, shared by every chain
            st.obs[kv] = d  # classified in _fast, which knows the snapshot
            st.odd.add(kv)  # provisional: _fast classifies the added rows
    except (TypeError, ValueError):
        return False
    return True


def _fast(c: Contents, mo: _Model, st: _Chain, snap: Snap) -> bool:
    """Judge ``snap`` from its chain if no row of it can be out of bounds
    beyond ``odd``; False: judge it whole."""
    rows = snap.rows
    added = [((r[0], r[1]), r[2]) for r in rows.add]
    st.odd.difference_update(kv for kv, _o in added)
    _put(st, mo, snap, added)
    _advance(st, mo)
    ret = snap.op.ret
    if st.after:
        groups, s = mo.groups, st.stream
        st.after = {kv for kv in st.after if ret is not None and groups[(s, kv[0], kv[1])][0].op.call > ret}
        if st.after:
            return False
    late, obs = st.late, st.obs
    while late and late[0][1] not in obs:
        heapq.heappop(late)
    if late and -late[0][0] > snap.as_of:
        return False
    todo = st.odd | st.infos
    if todo:
        _check_rows(c, mo, snap, st.obs, sorted(todo))
    return True


def _advance(st: _Chain, mo: _Model) -> None:
    kvs = mo.ok_kv.get(st.stream, ())
    obs, i, n = st.obs, st.first, len(kvs)
    while i < n and kvs[i] in obs:
        i += 1
    st.first = i


def _all_needed(mo: _Model, st: _Chain, snap: Snap) -> bool:
    """Whether every group with ``min_ok <= as_of`` has a row in ``st``."""
    lst = mo.by_stream.get(st.stream, ())
    holes, obs = st.holes, st.obs
    while holes and (lst[holes[0]][1][1], lst[holes[0]][1][2]) in obs:
        heapq.heappop(holes)
    first = st.first if not holes else min(st.first, holes[0])
    return first >= len(lst) or lst[first][0] > snap.as_of
