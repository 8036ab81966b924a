"""Reads recorded as a delta: histories linear in the run's length.

A read's ``ok`` value carries every row it saw (``"rows"``): an append
snapshot, an upsert ``read_all`` or ``get``, a multi-writer ``read``. Written
whole, a history grows with the square of the run's length (each read of a
growing stream repeats every row before it). So the recorder writes a read
as what changed since the previous ``ok`` read of the same *key* — the same
history process, the same ``f``, the same ``stream`` (``value.get("stream")``)
— and this module's :class:`Decoder`, called by every history loader, puts
the rows back, so checkers see exactly the value the worker returned.

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

Invariants: the decoder holds one list of rows per key (the last one), so
it needs memory for the live reads only; a decoded list shares its row
objects with its base (rows are never mutated by readers). A delta whose
base is not the last read of its key, or one that removes a row its base
lacks, is a :class:`~checker.errors.HistoryError` naming the event (a
history cut or edited by hand); the tolerant reader of the reports leaves
such a value as it is. Histories written before this format have no
``rows_delta`` and load as they always did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from checker.errors import HistoryError

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


class DeltaRows(list):
    """A decoded read's rows: a plain ``list`` to every reader (equal to, and
    serialised as, the rows the worker returned), which also remembers how
    the decoder made it: ``base`` (the decoded rows of the previous read of
    the same key, the very list object), ``add`` and ``remove`` (the
    ``rows_delta``'s lists). Checkers may use these to judge a read by what
    changed (:mod:`checker.domain.contents`); nothing else needs them."""

    __slots__ = ("base", "add", "remove")

    def __reduce__(self) -> tuple:
        """Pickled and copied as a plain list: a chain of bases must not be
        carried along (nor recursed into); a reader then judges it whole."""
        return (list, (list(self),))


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
    """The loaders' side: :meth:`decode` each event in file order."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self._last: dict[tuple, tuple[int, list]] = {}  # key -> (index, decoded rows)

    def decode(self, e: dict[str, Any], where: str = "") -> dict[str, Any]:
        """``e`` with ``rows`` put back (a new value dict); other events unchanged."""
        key = _key(e)
        if key is None:
            return e
        v = e["value"]
        d = v.get(DELTA)
        if d is None:
            rows = v.get("rows")
            if _rows_tuple(rows) is None:
                self._last.pop(key, None)
            else:
                self._last[key] = (e.get("index"), rows)
            return e
        try:
            rows = self._apply(key, d)
        except HistoryError as ex:
            if self.strict:
                raise HistoryError(f"{where or 'event ' + str(e.get('index'))}: {ex}") from None
            return e
        self._last[key] = (e.get("index"), rows)
        value = {k: x for k, x in v.items() if k != DELTA}
        value["rows"] = rows
        return {**e, "value": value}

    def _apply(self, key: tuple, d: Any) -> list:
        if not isinstance(d, dict) or not isinstance(d.get("add"), list) or not isinstance(d.get("remove"), list):
            raise HistoryError('rows_delta must be {"base": index, "add": [rows], "remove": [rows]}')
        prev = self._last.get(key)
        if prev is None or prev[0] != d.get("base"):
            raise HistoryError(f"rows_delta's base {d.get('base')} is not the previous read of process {key[0]} "
                               f"{key[1]} {key[2] or ''} (the history is cut or out of order)".replace("  ", " "))
        kept = prev[1]
        if d["remove"]:
            drop = Counter(tuple(r) for r in d["remove"])
            kept = []
            for r in prev[1]:
                t = tuple(r)
                if drop.get(t):
                    drop[t] -= 1
                    continue
                kept.append(r)
            if +drop:
                raise HistoryError(f"rows_delta removes rows its base lacks: {list(map(list, (+drop).elements()))[:3]}")
        try:
            out = DeltaRows(sorted(kept + d["add"]))  # two sorted runs: merged in linear time
        except TypeError:
            raise HistoryError("rows_delta's rows do not order with its base's") from None
        out.base, out.add, out.remove = prev[1], d["add"], d["remove"]
        return out
