"""Frontiers: ``upper`` and ``since`` only move forward, and what was
acknowledged about them is seen and enforced afterwards.

Observations. A successful ``seal``/``compact`` reports ``upper``/``since``
after its call, a ``snapshot`` reads them just before it snapshots, and
``frontiers`` reads them: each is the stream's frontier at some instant in
the operation's closed interval ``[call, ret]``. So for two successful
operations ``A``, ``B`` on one stream with ``ret(A) < call(B)`` (they do not
overlap, A first), ``B`` must observe ``upper >= A's upper`` and
``since >= A's since``. Overlapping operations are not compared.

:class:`FrontierMonotonic` reports, per stream:

* ``upper-regression`` / ``since-regression``: ``B`` observed a smaller
  value than ``A`` did, ``A`` completed before ``B`` started;
* ``since-beyond-upper``: one observation with ``since > upper``.

Acknowledgements. An ``ok`` ``seal(t)`` means ``upper >= t`` from its return
on; an ``ok`` ``compact(s)`` (``allow_compaction``) means ``since >= s``; an
``ok`` snapshot at ``as_of`` means ``upper > as_of`` at its read (the engine
refuses reads at ``as_of >= upper``).

:class:`SealsSeen` reports, for an operation ``B`` invoked after the
acknowledging (or observing) operation ``A`` completed:

* ``seal-not-seen``: ``B`` observed ``upper`` below an acknowledged seal (or
  below a successful snapshot's ``as_of + 1``);
* ``compaction-not-seen``: ``B`` observed ``since`` below an acknowledged
  compaction;
* ``write-below-upper``: ``B`` is an ``ok`` write with an update at
  ``ts < upper`` known before it started (acknowledged or observed) — the
  engine must refuse it;
* ``seal-below-upper``: an ``ok`` ``seal(t)`` with ``t`` below a known
  ``upper`` (must be refused; ``t == upper`` is an allowed no-op);
* ``read-below-since``: an ``ok`` snapshot at ``as_of`` below a known
  ``since``, including the ``since`` it read itself just before;
* ``compaction-below-since``: an ``ok`` ``compact(s)`` with ``s`` below a
  known ``since``.

One anomaly per (kind, operation that set the bound), naming the first
operation that broke it and counting the others. Cost: O(n log n).
"""

from __future__ import annotations

from typing import Any

from checker.domain.append import gc_paused
from checker.domain.report import finish
from checker.history import History, Op
from checker.result import Anomaly, Result


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _stream(op: Op) -> Any:
    r = op.result if isinstance(op.result, dict) else {}
    a = op.value if isinstance(op.value, dict) else {}
    return r.get("stream", a.get("stream"))


def _as_of(op: Op) -> int | None:
    """A snapshot's as_of: the ok value's (the workload may invoke with
    ``"as_of": null``, meaning ``upper - 1``), else the invoke's."""
    r = op.result if isinstance(op.result, dict) else {}
    a = op.value if isinstance(op.value, dict) else {}
    return _int(r.get("as_of", a.get("as_of")))


def _observed(op: Op) -> tuple[int | None, int | None]:
    r = op.result if isinstance(op.result, dict) else {}
    return _int(r.get("upper")), _int(r.get("since"))


_OBSERVERS = ("seal", "compact", "snapshot", "frontiers")


class _Found:
    """Anomalies grouped by (kind, bound-setting op)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, int], list[Any]] = {}

    def add(self, kind: str, a: Op, b: Op, text: str) -> None:
        k = (kind, a.index)
        e = self.groups.get(k)
        if e is None:
            self.groups[k] = [a, b, text, 0]
        else:
            e[3] += 1

    def anomalies(self) -> list[Anomaly]:
        out = []
        for (kind, _i), (a, b, text, more) in self.groups.items():
            extra = f" ({more} later operation(s) likewise)" if more else ""
            out.append(Anomaly(kind, text + extra, sorted({a.index, b.index})))
        return out


def _sweep(bounds: list[tuple[int, str, int, Op]], checks: list[tuple[int, Op]], visit) -> None:
    """For each check op in call order, call ``visit(op, best)`` where
    ``best[kind] = (value, op)`` is the largest bound of that kind set by an
    operation that completed strictly before the check op was invoked."""
    bounds.sort(key=lambda b: b[0])
    checks.sort(key=lambda c: c[0])
    best: dict[str, tuple[int, Op]] = {}
    i = 0
    n = len(bounds)
    for call, op in checks:
        while i < n and bounds[i][0] < call:
            _ret, kind, v, src = bounds[i]
            cur = best.get(kind)
            if cur is None or v > cur[0]:
                best[kind] = (v, src)
            i += 1
        visit(op, best)


def _per_stream(history: History) -> dict[Any, list[Op]]:
    per: dict[Any, list[Op]] = {}
    for op in history.ops:
        if not op.ok:
            continue
        if op.f in _OBSERVERS:
            per.setdefault(_stream(op), []).append(op)
        elif op.f == "write" and isinstance(op.value, dict) and isinstance(op.value.get("writes"), dict):
            for s in op.value["writes"]:
                per.setdefault(s, []).append(op)
    return per


class FrontierMonotonic:
    name = "frontiers"

    def check(self, history: History) -> Result:
        with gc_paused():
            return self._check(history)

    def _check(self, history: History) -> Result:
        found = _Found()
        observations = 0
        for stream, ops in _per_stream(history).items():
            bounds: list[tuple[int, str, int, Op]] = []
            checks: list[tuple[int, Op]] = []
            for op in ops:
                if op.f not in _OBSERVERS:
                    continue
                u, s = _observed(op)
                if u is None and s is None:
                    continue
                observations += 1
                if u is not None and s is not None and s > u:
                    found.add("since-beyond-upper", op, op, f"op {op.index} ({op.f} on {stream}) observed since {s} beyond upper {u}")
                if u is not None:
                    bounds.append((op.ret, "upper", u, op))
                if s is not None:
                    bounds.append((op.ret, "since", s, op))
                checks.append((op.call, op))

            def visit(b: Op, best: dict[str, tuple[int, Op]], stream: Any = stream) -> None:
                u, s = _observed(b)
                for kind, v in (("upper", u), ("since", s)):
                    prev = best.get(kind)
                    if v is not None and prev is not None and v < prev[0]:
                        a = prev[1]
                        found.add(
                            f"{kind}-regression",
                            a,
                            b,
                            f"{kind} of {stream} went back: op {a.index} ({a.f}) observed {prev[0]}, then op {b.index} "
                            f"({b.f}), invoked after it completed, observed {v}",
                        )

            _sweep(bounds, checks, visit)
        return finish(self.name, history, found.anomalies(), {"observations": observations})


class SealsSeen:
    name = "seals"

    def check(self, history: History) -> Result:
        with gc_paused():
            return self._check(history)

    def _check(self, history: History) -> Result:
        found = _Found()
        acks = 0
        for stream, ops in _per_stream(history).items():
            bounds: list[tuple[int, str, int, Op]] = []
            checks: list[tuple[int, Op]] = []
            for op in ops:
                checks.append((op.call, op))
                a = op.value if isinstance(op.value, dict) else {}
                if op.f == "seal" and _int(a.get("ts")) is not None:
                    acks += 1
                    bounds.append((op.ret, "upper-ack", a["ts"], op))
                    bounds.append((op.ret, "upper-known", a["ts"], op))
                elif op.f == "compact" and _int(a.get("since")) is not None:
                    acks += 1
                    bounds.append((op.ret, "since-ack", a["since"], op))
                    bounds.append((op.ret, "since-known", a["since"], op))
                elif op.f == "snapshot" and _as_of(op) is not None:
                    bounds.append((op.ret, "upper-ack", _as_of(op) + 1, op))
                    bounds.append((op.ret, "upper-known", _as_of(op) + 1, op))
                if op.f in _OBSERVERS:
                    u, s = _observed(op)
                    if u is not None:
                        bounds.append((op.ret, "upper-known", u, op))
                    if s is not None:
                        bounds.append((op.ret, "since-known", s, op))
                        if op.f == "snapshot" and _as_of(op) is not None and _as_of(op) < s:
                            found.add(
                                "read-below-since",
                                op,
                                op,
                                f"snapshot op {op.index} of {stream} succeeded at as_of {_as_of(op)} below the since {s} it read just before",
                            )

            def visit(b: Op, best: dict[str, tuple[int, Op]], stream: Any = stream) -> None:
                a = b.value if isinstance(b.value, dict) else {}
                if b.f in _OBSERVERS:
                    u, s = _observed(b)
                    ua, sa = best.get("upper-ack"), best.get("since-ack")
                    if u is not None and ua is not None and u < ua[0]:
                        src = ua[1]
                        what = f"seal({ua[0]}) acknowledged by op {src.index}" if src.f == "seal" else (
                            f"a successful snapshot op {src.index} at as_of {ua[0] - 1} (so upper > {ua[0] - 1})"
                        )
                        found.add(
                            "seal-not-seen",
                            src,
                            b,
                            f"op {b.index} ({b.f} on {stream}) observed upper {u}, though {what} completed before it started",
                        )
                    if s is not None and sa is not None and s < sa[0]:
                        found.add(
                            "compaction-not-seen",
                            sa[1],
                            b,
                            f"op {b.index} ({b.f} on {stream}) observed since {s}, though compact({sa[0]}) acknowledged by "
                            f"op {sa[1].index} completed before it started",
                        )
                uk, sk = best.get("upper-known"), best.get("since-known")
                if b.f == "write" and uk is not None:
                    ups = a["writes"][stream]
                    low = [u for u in ups if isinstance(u, (list, tuple)) and len(u) == 4 and _int(u[2]) is not None and u[2] < uk[0]]
                    if low:
                        found.add(
                            "write-below-upper",
                            uk[1],
                            b,
                            f"write op {b.index} to {stream} at ts {low[0][2]} succeeded though upper was already >= {uk[0]} "
                            f"(op {uk[1].index}, {uk[1].f}, completed before it started): a write below upper must be refused",
                        )
                elif b.f == "seal" and uk is not None and _int(a.get("ts")) is not None and a["ts"] < uk[0]:
                    found.add(
                        "seal-below-upper",
                        uk[1],
                        b,
                        f"seal({a['ts']}) op {b.index} on {stream} succeeded though upper was already >= {uk[0]} "
                        f"(op {uk[1].index}, {uk[1].f}): a seal below upper must be refused",
                    )
                elif b.f == "snapshot" and sk is not None and _as_of(b) is not None and _as_of(b) < sk[0]:
                    found.add(
                        "read-below-since",
                        sk[1],
                        b,
                        f"snapshot op {b.index} of {stream} succeeded at as_of {_as_of(b)} though since was already >= {sk[0]} "
                        f"(op {sk[1].index}, {sk[1].f}): reads below since must be refused",
                    )
                elif b.f == "compact" and sk is not None and _int(a.get("since")) is not None and a["since"] < sk[0]:
                    found.add(
                        "compaction-below-since",
                        sk[1],
                        b,
                        f"compact({a['since']}) op {b.index} on {stream} succeeded though since was already >= {sk[0]} "
                        f"(op {sk[1].index}, {sk[1].f}): allow_compaction requires since <= s",
                    )

            _sweep(bounds, checks, visit)
        return finish(self.name, history, found.anomalies(), {"acknowledged_seals_and_compactions": acks})
