"""The seeded nemesis schedule.

``schedule(seed, names, time_limit, slots)`` lays out, before the run starts
and from the seed alone, every fault the run will inject: when, which
nemesis, which worker, for how long, and the sub-seed that drives its random
choices. Faults do not overlap: the next one starts a seeded gap after the
previous one's duration ended. The same seed and configuration give the same
schedule (``tests/nemesis/test_determinism.py``); a shrinker can hand the
controller a shorter list instead.
"""

from __future__ import annotations

import importlib
import random

from nemesis.faults.base import Fault
from nemesis.errors import BadInput

#: nemesis name -> "module:Class"; imported only when used.
NEMESES: dict[str, str] = {
    "none": "nemesis.faults.base:NoNemesis",
    "kill": "nemesis.faults.process:Kill",
    "pause": "nemesis.faults.process:Pause",
    "lose-unsynced": "nemesis.faults.disk:LoseUnsynced",
    "corrupt": "nemesis.faults.disk:Corrupt",
    "s3": "nemesis.faults.s3:S3Faults",  # needs --blob s3
    "failpoint": "nemesis.faults.failpoint:Failpoints",
    "disk-error": "nemesis.faults.fs:DiskError",  # the fault filesystem only (--fs fuse/auto)
    "slow-disk": "nemesis.faults.fs:SlowDisk",  # the fault filesystem only
    "new-host": "nemesis.faults.host:NewHost",  # the writer restarts under another hostname (needs root)
}

#: (min, max) seconds each fault lasts before recovery.
DURATION = {
    "kill": (0.05, 0.4),
    "pause": (0.2, 1.0),
    "lose-unsynced": (0.05, 0.3),
    "corrupt": (0.05, 0.2),
    "s3": (0.5, 2.5),
    "failpoint": (0.3, 1.5),
    "disk-error": (0.3, 1.5),
    "slow-disk": (0.5, 2.0),
    "new-host": (0.05, 0.4),
}
#: at most this many faults of the kind per run
LIMIT = {"corrupt": 1}


class UnknownNemesis(BadInput):
    """A nemesis name that does not exist; the message lists the accepted ones."""


def parse_names(text: str) -> list[str]:
    """``"kill,lose-unsynced"`` -> the names, checked; ``none`` alone means no faults."""
    parts = [n.strip() for n in text.split(",")]
    names = [n for n in parts if n]
    if not names:
        raise UnknownNemesis(f"no nemesis given; accepted: {', '.join(NEMESES)} (comma-separated)")
    if len(names) != len(parts):
        raise UnknownNemesis(f"an empty nemesis name in {text!r} (a doubled, leading or trailing separator); "
                             f"give names separated by one comma, e.g. kill,pause")
    bad = [n for n in names if n not in NEMESES]
    if bad:
        raise UnknownNemesis(f"unknown nemesis {bad[0]!r}; accepted: {', '.join(NEMESES)} (comma-separated)")
    if "none" in names and len(names) > 1:
        raise UnknownNemesis("'none' cannot be combined with other nemeses")
    return list(dict.fromkeys(names))


def make(name: str):
    mod, _, cls = NEMESES[name].partition(":")
    return getattr(importlib.import_module(mod), cls)()


def schedule(seed: int, names: list[str], time_limit: float, slots: list[int], writer_slot: int = 0,
             interval: tuple[float, float] = (0.4, 1.2)) -> list[Fault]:
    names = [n for n in names if n != "none"]
    if not names:
        return []
    rng = random.Random(f"{seed}/nemesis-schedule")
    counts: dict[str, int] = {}
    faults: list[Fault] = []
    t = rng.uniform(*interval)
    while t < time_limit - 0.3:
        allowed = [n for n in names if counts.get(n, 0) < LIMIT.get(n, 1 << 30)]
        name = rng.choice(allowed or names)
        if name in ("lose-unsynced", "s3", "disk-error", "slow-disk"):  # the machine's disk or S3: every worker
            target = -1
        elif name == "corrupt" or len(slots) == 1 or rng.random() < 0.7:
            target = writer_slot
        else:
            target = rng.choice([s for s in slots if s != writer_slot])
        lo, hi = DURATION[name]
        duration = rng.uniform(lo, hi)
        if allowed:
            counts[name] = counts.get(name, 0) + 1
            faults.append(Fault(round(t, 6), name, target, round(duration, 6), rng.getrandbits(32)))
        t += duration + rng.uniform(*interval)
    return faults
