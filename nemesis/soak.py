"""Soaks: a campaign bounded by time, not by seeds.

``persist-nemesis campaign --duration 1h`` (or ``10m``, ``90s``, ``600``)
keeps drawing seeds across the cross product workloads x mixes: every
configuration with seed S (in the campaign's fixed order, sharded as
``--shard`` says), then with S+1, and so on from the first seed of
``--seed-range`` (default 1), starting runs until the time is spent; the runs
in flight then finish. The summary, JUnit, index and campaign record are a
campaign's. A soak interrupted by a signal reports what finished; it has no
"runs that never ran" (it had no fixed number).

:class:`Soak` is the campaign engine's list of runs to start
(:func:`nemesis.campaign.execute`'s ``todo``): empty once the deadline has
passed, else it makes the next seed's plan when it runs out.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from nemesis.campaign import CampaignError, Planned

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``1h``, ``10m``, ``90s``, ``1h30m``, ``600``: seconds (> 0)."""
    t = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd]?)", t)
    if not t or not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhd]?)", "", t).strip():
        raise CampaignError(f"expected a duration such as 600, 90s, 10m, 1h or 1h30m, got {text!r}", "--duration")
    secs = sum(float(n) * _UNITS[u] for n, u in parts)
    if secs <= 0:
        raise CampaignError(f"must be more than 0 seconds, got {text!r}", "--duration")
    return secs


class Soak:
    """Runs to start, one seed's cross product at a time, until ``deadline``
    (a ``time.monotonic()`` value). ``make`` returns the Planned runs of one
    seed; each run taken gets the next ``index``; ``started`` lists them."""

    def __init__(self, make: Callable[[int], list[Planned]], first_seed: int, seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.make = make
        self.seed = first_seed
        self.clock = clock
        self.deadline = clock() + seconds
        self._buf: list[Planned] = []
        self.started: list[Planned] = []

    def __len__(self) -> int:
        return 0 if self.clock() >= self.deadline else 1

    def pop(self, i: int = 0) -> Planned:
        while not self._buf:
            self._buf = list(self.make(self.seed))
            self.seed += 1
        r = self._buf.pop(0)
        r.index = len(self.started)
        self.started.append(r)
        return r


def history_stats(results: list[dict[str, Any]]) -> str | None:
    """One line on history sizes and judging times, when the runs reported them."""
    import statistics

    sizes = [r["history_bytes"] for r in results if r.get("history_bytes") is not None]
    judge = [r["judge_seconds"] for r in results if r.get("judge_seconds") is not None]
    if not sizes:
        return None
    line = (f"history: median {statistics.median(sizes) / 1e3:.0f} KB, max {max(sizes) / 1e6:.2f} MB "
            f"({sum(sizes) / 1e6:.1f} MB in all)")
    if judge:
        line += f"; judging: median {statistics.median(judge):.2f} s, max {max(judge):.2f} s"
    return line
