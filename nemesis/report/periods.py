"""Fault periods: when a fault was in effect, from the nemesis's events.

The history records nemesis *actions* (``docs/history.md``): an action with a
duration is an ``invoke``/``info`` pair with the same ``f``, an instantaneous
one a single ``info``. A *period* is the time a fault was in effect, which
usually spans two actions::

    pause  ... resume        (SIGSTOP .. SIGCONT)
    kill   ... restart       (SIGKILL .. the worker runs again)
    lose-unsynced ... restart
    s3 {"rules": [...]} ... s3 {"rules": []}
    failpoint {"action": "arm"} ... failpoint {"action": "disarm"}
    anything {"phase": "start"} ... same f {"phase": "stop"}

An opener is closed by the first later closer of its kind with the same
target (``worker``, ``process``, ``target`` or ``node`` in the value), or by a
closer naming no target, or by ``heal``. A fault still open when the history
ends lasts to the end. An action that neither opens nor closes is a period of
its own duration (zero for an instantaneous one: a *mark*, e.g. ``corrupt``).

Unknown fault names are handled by the same rules, so a report of a run with
a fault invented after this module was written still shades it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: opener f -> the f values that end it
CLOSERS: dict[str, tuple[str, ...]] = {
    "pause": ("resume", "cont", "continue"),
    "stop": ("cont", "resume", "start"),
    "kill": ("restart", "start"),
    "crash": ("restart", "start"),
    "lose-unsynced": ("restart", "start"),
    "partition": ("heal",),
}
HEAL_ALL = ("heal", "heal-all")
START_WORDS = ("start", "begin", "on", "arm", "set", "enable", "inject", "open")
STOP_WORDS = ("stop", "end", "off", "disarm", "clear", "disable", "heal", "close")
PHASE_KEYS = ("phase", "action", "state", "op", "mode")
TARGET_KEYS = ("worker", "process", "target", "node")


@dataclass
class Action:
    """One nemesis action: an invoke with its completion, or a lone event."""

    f: str
    start: int
    end: int
    value: Any
    index: int  # index of its first event
    error: Any = None


@dataclass
class Period:
    f: str  # the fault's kind, e.g. "pause"
    start: int  # ns
    end: int | None  # ns; None: still in effect when the history ends
    target: Any = None
    label: str = ""  # what is shown, e.g. "pause worker 2"
    actions: list[int] = field(default_factory=list)  # indices of the events involved
    value: Any = None  # the opening action's value
    closed_by: str | None = None

    @property
    def instant(self) -> bool:
        return self.end is not None and self.end == self.start


def actions_of(events: list[dict[str, Any]]) -> list[Action]:
    """Pair nemesis invokes with their completions (same ``f``, first in
    first out); lone completions are instantaneous actions; an invoke that
    never completed lasts until the next event of the history at least."""
    out: list[Action] = []
    pending: dict[str, list[Action]] = {}
    for e in events:
        f = str(e.get("f", "?"))
        t = int(e.get("time", 0))
        if e.get("type") == "invoke":
            a = Action(f, t, t, e.get("value"), int(e.get("index", 0)))
            pending.setdefault(f, []).append(a)
            out.append(a)
            continue
        q = pending.get(f)
        if q:
            a = q.pop(0)
            a.end = t
            if e.get("value") is not None:
                a.value = _merge(a.value, e.get("value"))
            a.error = e.get("error")
        else:
            out.append(Action(f, t, t, e.get("value"), int(e.get("index", 0)), e.get("error")))
    out.sort(key=lambda a: (a.start, a.index))
    return out


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **b}
    return b


def target_of(value: Any) -> Any:
    if isinstance(value, dict):
        for k in TARGET_KEYS:
            v = value.get(k)
            if v is not None:
                return tuple(v) if isinstance(v, list) else v
    return None


def phase_of(value: Any) -> str | None:
    """"start", "stop" or None, from a phase-like field or an s3 rule list."""
    if not isinstance(value, dict):
        return None
    for k in PHASE_KEYS:
        v = value.get(k)
        if isinstance(v, str):
            w = v.lower()
            if w in START_WORDS:
                return "start"
            if w in STOP_WORDS:
                return "stop"
    if "rules" in value:
        return "start" if value["rules"] else "stop"
    return None


def describe(f: str, value: Any) -> str:
    t = target_of(value)
    if t is None:
        return f
    return f"{f} {_target_text(value)}"


def _target_text(value: dict[str, Any]) -> str:
    for k in TARGET_KEYS:
        if value.get(k) is not None:
            v = value[k]
            v = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v
            return f"{k} {v}"
    return ""


def periods_of(events: list[dict[str, Any]], end: int | None = None) -> list[Period]:
    """Fault periods from the nemesis events of a history, in start order.
    ``end`` (the history's last time) bounds periods that never closed: they
    keep ``end=None`` here and the pictures draw them to the right edge."""
    periods: list[Period] = []
    open_: list[Period] = []  # in opening order

    def close(p: Period, a: Action) -> None:
        p.end = a.end
        p.closed_by = a.f
        p.actions.append(a.index)
        open_.remove(p)

    def find(kinds: tuple[str, ...], target: Any) -> list[Period]:
        cands = [p for p in open_ if p.f in kinds]
        if target is None:
            return cands
        same = [p for p in cands if p.target == target]
        return same if same else [p for p in cands if p.target is None]

    for a in actions_of(events):
        target = target_of(a.value)
        phase = phase_of(a.value)
        if a.f in HEAL_ALL:
            for p in list(open_):
                close(p, a)
            periods.append(Period(a.f, a.start, a.end, target, a.f, [a.index], a.value))
            continue
        if phase == "stop":
            cands = find((a.f,), target)
            for p in cands if target is None else cands[:1]:
                close(p, a)
            if cands:
                continue
        openers = tuple(k for k, closers in CLOSERS.items() if a.f in closers)
        if openers and phase != "start":
            cands = find(openers, target)
            if cands:
                for p in cands if target is None else cands[:1]:
                    close(p, a)
                continue
            # a closer with nothing open (e.g. the final restart of a worker that
            # died by itself): its own action is worth a mark, not a period
            periods.append(Period(a.f, a.start, a.end, target, describe(a.f, a.value), [a.index], a.value))
            continue
        if a.f in CLOSERS or phase == "start":
            if isinstance(a.value, dict) and "rules" in a.value:
                # a rule set is the whole state: a new one replaces the old
                for p in [p for p in open_ if p.f == a.f and p.target == target]:
                    close(p, a)
            p = Period(a.f, a.start, None, target, describe(a.f, a.value), [a.index], a.value)
            periods.append(p)
            open_.append(p)
            continue
        periods.append(Period(a.f, a.start, a.end, target, describe(a.f, a.value), [a.index], a.value))
    periods.sort(key=lambda p: (p.start, p.actions[0] if p.actions else 0))
    if end is not None:
        for p in periods:
            if p.end is not None and p.end > end:
                p.end = end
    return periods
