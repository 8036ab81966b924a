"""Reads recorded as a delta: histories linear in the run's length.

A read's ``ok`` value carries every row it saw (``"rows"``): an append
snapshot, an upsert ``read_all`` or ``get``, a multi-writer ``read``. Written
whole, a history grows with the square of the run's length (each read of a
growing stream repeats every row before it). So the recorder writes a read
as what changed since the previous ``ok`` read of the same *key* — the same
history process, the same ``f``, the same ``stream`` (``value.get("stream")``)
— and this module's :class:`Decoder`, called by every history loader, puts
the rows back, so checkers see exactly the value the worker returned.

In memory too a decoded read stays a delta (:class:`DeltaRows`: its base,
``add`` and ``remove``), a sequence equal to the recorded rows that
materialises them only when a reader iterates, indexes or compares it (the
model comparison, :mod:`checker.domain.contents`, judges most reads by
their delta alone). So loading holds O(changed rows), as the file does,
not O(reads x rows): a one-hour run's reads would hold ~1.7 G rows whole.

Layout (``docs/history.md``), in the ``ok`` event's ``value``, instead of
``"rows"``::

    "rows_delta": {"base": 812, "add": [[k, v, diff], ...], "remove": [[k, v, diff], ...]}

- ``base``: the ``index`` of the previous ``ok`` event of the same key (its
  rows, decoded, are the starting point);
- ``remove``: rows of the base to drop (a multiset: a row listed twice drops
  two copies); ``add``: rows to add;
- the rows are then sorted, which gives back the recorded list exactly:
  the recorder writes a delta only for a list that is already sorted (what
  every workload reads: rows in key order) and that is shorter as a delta.
  Any other read (unsorted, unorderable values, rows that are not flat lists,
  the first read of a key) is written whole, and is the base of the next.

Invariants: the decoder holds, per key, the last read and the deltas since
its chain's last checkpoint; rows are never mutated by readers, so a
decoded read shares its row objects with its base, and equal rows of
different reads are one object. A delta whose base is not the last read of
its key is a :class:`~checker.errors.HistoryError` naming the event when it
is decoded; one that removes a row its base lacks, or whose rows do not
order, when its chain is next checked (a checkpoint, the key's next whole
read, or :meth:`Decoder.finish` at the end of the file: ``read_jsonl``
never returns a history with such a delta). The tolerant reader of the
reports leaves a delta with a missing base as it is and checks nothing
else. Histories written before this format have no ``rows_delta`` and
load as they always did.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from checker.errors import CheckerError, HistoryError

DELTA = "rows_delta"


def _key(e: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    v = e.get("value")
    if e.get("type") != "ok" or not isinstance(v, dict) or e.get("process") in ("nemesis", "harness"):
        return None
    if "rows" not in v and DELTA not in v:
        return None
    stream = v.get("stream")
    return (e.get("process"), e.get("f"), stream if isinstance(stream, (str, int)) else None)


def _rows_tuple(rows: Any) -> list[tuple] | None:
    """The rows as tuples when they are a sorted list of flat lists; else None."""
    if not isinstance(rows, list):
        return None
    try:
        out = [tuple(r) for r in rows]
        if any(isinstance(x, (list, dict)) for t in out for x in t):
            return None
        for a, b in zip(out, out[1:]):
            if b < a:
                return None
    except TypeError:  # not a list of lists, or values that do not order (None beside a string)
        return None
    return out


class DeltaRows(Sequence):
    """A decoded read's rows, kept as its delta: ``base`` (the previous read
    of the same key: a plain ``list`` or another :class:`DeltaRows`, the very
    object), ``add`` and ``remove`` (the ``rows_delta``'s lists). To every
    reader it is a read-only sequence equal to the rows the worker returned
    (``len`` is O(1); iterating, indexing, comparing or pickling
    materialises the whole read, in O(rows + changed rows x log rows), and
    leaves nothing behind but a one-read cache). So a history of n reads of a
    growing stream holds O(changed rows) in memory, not O(n x rows).

    The decoder also keeps, now and then, a read's materialised rows
    (``full``, a checkpoint: when the changed rows since the last one reach
    the read's length), so materialising any read walks back over fewer
    changed rows than it has rows, and checkpoints cost no more memory than
    the deltas that led to them.

    Checkers that can judge a read by what changed use ``base``, ``add`` and
    ``remove`` (:mod:`checker.domain.contents`); the others just read it. It
    is not a ``list`` (a ``list`` subclass would be serialised by ``json``
    from its own, empty, storage): serialise it with :func:`json_default`.
    A pickle or copy is the plain list."""

    __slots__ = ("base", "add", "remove", "event", "base_event", "n", "full", "__weakref__")

    def __init__(self, base: Any, add: list, remove: list, event: Any, base_event: Any) -> None:
        self.base, self.add, self.remove = base, add, remove
        self.event, self.base_event = event, base_event
        self.n = len(base) + len(add) - len(remove)
        self.full: list | None = None

    def __len__(self) -> int:
        return self.n

    def rows(self) -> list:
        """The whole read, as a list (do not mutate it: it may be shared)."""
        return materialise(self)

    def __iter__(self) -> Iterator:
        return iter(materialise(self))

    def __getitem__(self, i: Any) -> Any:
        return materialise(self)[i]

    def __contains__(self, x: Any) -> bool:
        return x in materialise(self)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, (list, DeltaRows)):
            return len(self) == len(other) and materialise(self) == (
                materialise(other) if other.__class__ is DeltaRows else other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(materialise(self))

    def __reduce__(self) -> tuple:
        """Pickled and copied as a plain list: a chain of bases must not be
        carried along (nor recursed into)."""
        return (list, (list(materialise(self)),))


def json_default(o: Any) -> Any:
    """``json.dumps(..., default=json_default)``: a :class:`DeltaRows` as its
    rows; anything else unserialisable is a TypeError, as without it."""
    if o.__class__ is DeltaRows:
        return materialise(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class _Bad(CheckerError):
    """Internal: a delta that does not apply; turned into a HistoryError naming its event."""

    def __init__(self, node: DeltaRows, message: str) -> None:
        super().__init__(message)
        self.node = node


# the last read materialised (a weak reference: the cache must not keep a
# dropped history's chain alive), and its rows
_cache: list[Any] = [None, None]


def _cached(node: DeltaRows) -> bool:
    ref = _cache[0]
    return ref is not None and ref() is node


def _forget(ref: Any) -> None:
    if _cache[0] is ref:
        _cache[0] = _cache[1] = None


def materialise(node: DeltaRows) -> list:
    """``node``'s rows as a list: its base's (the nearest checkpoint, whole
    read or cached read back along the chain) with the deltas since applied."""
    if node.full is not None:
        return node.full
    if _cached(node):
        return _cache[1]
    try:
        out = _resolve(node)
    except _Bad as ex:
        raise HistoryError(f"event {ex.node.event}: {ex}") from None
    _cache[0], _cache[1] = weakref.ref(node, _forget), out
    return out


def _resolve(node: DeltaRows) -> list:
    segs = []
    x: Any = node
    while x.__class__ is DeltaRows and x.full is None and not _cached(x):
        segs.append(x)
        x = x.base
    anchor = x if x.__class__ is not DeltaRows else (x.full if x.full is not None else _cache[1])
    segs.reverse()
    return _apply_all(anchor, segs)


def _count(base: list, r: Any, node: DeltaRows) -> int:
    try:
        return bisect_right(base, r) - bisect_left(base, r)
    except TypeError:
        raise _Bad(node, "rows_delta's rows do not order with its base's") from None


def _apply_all(base: list, segs: list[DeltaRows]) -> list:
    """``base`` (sorted) with the deltas ``segs`` applied in order; each
    removal checked against the rows at its step. O(len(base) + changed rows
    x log len(base)): only the rows the deltas remove are looked up in
    ``base``; deltas that only add (a growing stream) are one merge."""
    if not segs:
        return base
    if not any(d.remove for d in segs):
        extra = [r for d in segs for r in d.add]
        net: dict[tuple, int] = {}
        obj: dict[tuple, Any] = {}
    else:
        extra = []
        net = {}  # row -> count now minus count in base, for the rows the deltas touch
        start: dict[tuple, int] = {}  # row -> count in base, for the rows removed
        obj = {}
        for d in segs:
            try:
                for r in d.remove:
                    t = tuple(r)
                    c = net.get(t, 0)
                    s = start.get(t)
                    if s is None:
                        s = start[t] = _count(base, list(r), d)
                    if s + c <= 0:
                        raise _Bad(d, f"rows_delta removes rows its base lacks: {[list(t)]}")
                    net[t] = c - 1
                for r in d.add:
                    t = tuple(r)
                    net[t] = net.get(t, 0) + 1
                    obj.setdefault(t, r)
            except TypeError:
                raise _Bad(d, "rows_delta's rows must be flat lists [k, v, diff]") from None
    cut: list[int] = []  # positions of base rows to drop
    for t, n in net.items():
        if n < 0:
            i = bisect_left(base, list(t))
            cut.extend(range(i, i - n))
        elif n > 0:
            extra.extend([obj[t]] * n)
    if cut:
        cut.sort()
        kept: list[Any] = []
        prev = 0
        for i in cut:
            kept.extend(base[prev:i])
            prev = i + 1
        kept.extend(base[prev:])
    else:
        kept = list(base)
    if extra:
        try:
            kept.extend(extra)
            kept.sort()  # sorted runs: merged in linear time
        except TypeError:
            raise _Bad(segs[-1], "rows_delta's rows do not order with its base's") from None
    return kept


class Encoder:
    """The recorder's side: :meth:`encode` an event before it is written."""

    def __init__(self) -> None:
        self._last: dict[tuple, tuple[int, Counter]] = {}  # key -> (index, rows as a multiset)

    def encode(self, e: dict[str, Any]) -> dict[str, Any]:
        """``e`` itself, or a copy whose value has ``rows_delta`` instead of ``rows``."""
        key = _key(e)
        if key is None:
            return e
        rows = e["value"].get("rows")
        tup = _rows_tuple(rows)
        if tup is None:
            self._last.pop(key, None)  # written whole and not usable as a base
            return e
        now = Counter(tup)
        prev = self._last.get(key)
        self._last[key] = (e["index"], now)
        if prev is None:
            return e
        base, before = prev
        add = now - before
        remove = before - now
        if sum(add.values()) + sum(remove.values()) >= len(tup):
            return e
        value = {k: v for k, v in e["value"].items() if k != "rows"}
        value[DELTA] = {"base": base, "add": [list(r) for r in sorted(add.elements())],
                        "remove": [list(r) for r in sorted(remove.elements())]}
        return {**e, "value": value}


class Decoder:
    """The loaders' side: :meth:`decode` each event in file order, then
    :meth:`finish` (strict: checks every delta not yet checked).

    A decoded read's ``rows`` is a :class:`DeltaRows` (its base and delta,
    not its whole contents). Strict, the decoder checks each delta against
    its base when it makes a checkpoint of the chain (every time the changed
    rows since the last checkpoint reach the read's length), when the chain
    ends (the key's next read is written whole) and in :meth:`finish`: a
    removal of a row the base lacks, or rows that do not order, is then a
    :class:`~checker.errors.HistoryError` naming the delta's line. Not
    strict (the reports' reader), nothing is checked and a bad delta shows
    only if its rows are materialised."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        # key -> [index, decoded rows, deltas since the last checkpoint [(DeltaRows, where)], their changed rows]
        self._last: dict[tuple, list] = {}
        # one row object per distinct row: a row is in many reads' deltas
        # (every chain reading the stream adds it once), equal rows share it
        self._rows: dict[tuple, Any] = {}

    def _share(self, rows: list) -> list:
        """``rows`` with each flat list row replaced by the first equal row
        of the same value types seen (1, 1.0 and True are equal, not alike)."""
        table = self._rows
        out = []
        for r in rows:
            if r.__class__ is list:
                try:
                    t = tuple(r)
                    hit = table.get(t)
                except TypeError:  # not hashable (a nested list): left as it is
                    out.append(r)
                    continue
                if hit is None:
                    table[t] = r
                elif hit is not r and list(map(type, hit)) == list(map(type, r)):
                    r = hit
            out.append(r)
        return out

    def decode(self, e: dict[str, Any], where: str = "") -> dict[str, Any]:
        """``e`` with ``rows`` put back (a new value dict); other events unchanged."""
        key = _key(e)
        if key is None:
            return e
        v = e["value"]
        d = v.get(DELTA)
        if d is None:
            rows = v.get("rows")
            old = self._last.pop(key, None)
            if old is not None:
                self._check(old)
            if _rows_tuple(rows) is None:
                return e
            rows = self._share(rows)
            self._last[key] = [e.get("index"), rows, [], 0]
            return {**e, "value": {**v, "rows": rows}}
        where = where or f"event {e.get('index')}"
        prev = self._last.get(key)
        try:
            if not isinstance(d, dict) or not isinstance(d.get("add"), list) or not isinstance(d.get("remove"), list):
                raise HistoryError('rows_delta must be {"base": index, "add": [rows], "remove": [rows]}')
            if prev is None or prev[0] != d.get("base"):
                raise HistoryError(f"rows_delta's base {d.get('base')} is not the previous read of process {key[0]} "
                                   f"{key[1]} {key[2] or ''} (the history is cut or out of order)".replace("  ", " "))
        except HistoryError as ex:
            if self.strict:
                raise HistoryError(f"{where}: {ex}") from None
            return e
        rows = DeltaRows(prev[1], self._share(d["add"]), self._share(d["remove"]), e.get("index"), d.get("base"))
        prev[0], prev[1] = e.get("index"), rows
        if self.strict:
            prev[2].append((rows, where))
            prev[3] += len(d["add"]) + len(d["remove"])
            if prev[3] >= len(rows):
                rows.full = self._check(prev)
        value = {k: x for k, x in v.items() if k != DELTA}
        value["rows"] = rows
        return {**e, "value": value}

    def _check(self, st: list) -> list | None:
        """Apply the deltas of ``st`` not yet checked (HistoryError naming
        the first bad one); the rows of its last read."""
        if not st[2]:
            return None
        try:
            out = _resolve(st[1])
        except _Bad as ex:
            where = {id(n): w for n, w in st[2]}
            raise HistoryError(f"{where.get(id(ex.node), f'event {ex.node.event}')}: {ex}") from None
        st[2], st[3] = [], 0
        return out

    def finish(self) -> None:
        """Check every delta not yet checked (strict only); call it once the
        last event is decoded."""
        if self.strict:
            for st in self._last.values():
                self._check(st)
