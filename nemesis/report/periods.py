"""Fault periods: when a fault was in effect, from the nemesis's events.

The history records nemesis *actions* (``docs/history.md``): an action with a
duration is an ``invoke``/``info`` pair with the same ``f``, an instantaneous
one a single ``info``. The controller (``nemesis/controller.py``) records::

    invoke kill {"target": 2, "duration": ..}   info kill {"worker": 2, "pid": ..}
    invoke restart {"worker": 2}                info restart {"worker": 2, "pid": .., "seconds": ..}
    invoke pause {..}  info pause {"worker": 1}   ...   info resume {"worker": 1}
    invoke lose-unsynced {..}  info lose-unsynced {"killed": [{"worker": 0}, ..], "cut": ..}
    info crash {"worker": 3, "exit_code": ..}   (a worker died by itself)
    invoke start / info start                   (a worker's first start: not a fault)

A *period* is the time a fault was in effect, which usually spans several
actions: from the fault's invoke until the last worker it took down is
running again::

    pause, stop          .. resume / cont of the same worker
    kill, crash, lose-unsynced, and any action whose value names "killed"
                         .. restart / start of every worker it killed
    anything {"phase"|"action"|"state": "start"|"arm"|"on"...}
                         .. the same f with "stop"|"disarm"|"off"...
    s3 {"rules": [..]}   .. s3 {"rules": []}   (a new rule set replaces the old)
    anything {"added": [..]} / {"armed": ..}  .. the same f {"cleared": ..} / {"disarmed": ..}
    heal                 .. ends every open period

A fault switched on with nothing recorded to switch it off, or an action
that neither opens nor closes, lasts its scheduled ``duration`` (the
schedule's entry is the invoke's value) when it has one.

A fault still open when the history ends lasts to the end (``end`` None). An
action that neither opens nor closes (``corrupt`` without a kill, a fault
the nemesis skipped) is a period of its own duration, zero for an
instantaneous one: a *mark*. Closers with nothing to close (a worker's first
start) are not faults and make no period. Unknown fault names follow the same
rules, so a run with a fault invented later still gets shaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: opener f -> the f values that bring back what it took down
CLOSERS: dict[str, tuple[str, ...]] = {
    "pause": ("resume", "cont", "continue"),
    "stop": ("cont", "resume"),
    "kill": ("restart", "start"),
    "crash": ("restart", "start"),
    "lose-unsynced": ("restart", "start"),
    "new-host": ("restart", "start"),
}
KILLED_CLOSERS = ("restart", "start")
ALL_CLOSERS = {c for cs in CLOSERS.values() for c in cs}
HEAL_ALL = ("heal", "heal-all")
START_WORDS = ("start", "begin", "on", "arm", "set", "enable", "inject", "open")
STOP_WORDS = ("stop", "end", "off", "disarm", "clear", "disable", "heal", "close")
PHASE_KEYS = ("phase", "action", "state", "mode")
ALL = "*"  # every worker
INSTANT = ("corrupt",)  # a point in time even when scheduled with a duration (the damage stays)


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
    label: str = ""  # what is shown, e.g. "pause worker 2"
    actions: list[int] = field(default_factory=list)  # indices of the events involved
    value: Any = None  # the opening action's value (invoke and info merged)
    closed_by: str | None = None
    closers: tuple[str, ...] = ()
    pending: set[Any] = field(default_factory=set)  # workers still down

    @property
    def instant(self) -> bool:
        return self.end is not None and self.end == self.start


def workers_of(value: Any) -> set[Any]:
    """The worker slots an action's value names: ``worker``, ``workers``,
    ``killed`` (entries or their ``worker``), else ``target`` (-1: all)."""
    out: set[Any] = set()
    if not isinstance(value, dict):
        return out
    if value.get("worker") is not None:
        out.add(value["worker"])
    ws = value.get("workers")
    if isinstance(ws, list):
        out.update(w for w in ws if isinstance(w, (int, str)))
    killed = value.get("killed")
    for k in killed if isinstance(killed, list) else [killed] if killed is not None else []:
        if isinstance(k, dict) and k.get("worker") is not None:
            out.add(k["worker"])
        elif isinstance(k, int):
            out.add(k)
    if not out:
        t = value.get("target")
        if isinstance(t, int):
            out.add(ALL if t < 0 else t)
    return out


def actions_of(events: list[dict[str, Any]]) -> list[Action]:
    """Pair nemesis invokes with their completions (same ``f``, preferring
    the same worker, else first in first out); a lone completion is an
    instantaneous action; an invoke never completed ends where it began."""
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
            ws = workers_of(e.get("value"))
            a = next((x for x in q if ws and workers_of(x.value) & ws), q[0])
            q.remove(a)
            a.end = t
            if e.get("value") is not None:
                a.value = {**a.value, **e["value"]} if isinstance(a.value, dict) and isinstance(e["value"], dict) else e["value"]
            a.error = e.get("error")
        else:
            out.append(Action(f, t, t, e.get("value"), int(e.get("index", 0)), e.get("error")))
    out.sort(key=lambda a: (a.start, a.index))
    return out


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
    if "cleared" in value or "disarmed" in value:
        return "stop"
    if value.get("added") or value.get("armed"):
        return "start"
    return None


def name_of(value: Any) -> Any:
    """What a switchable fault is called (a failpoint's name), if anything."""
    return (value.get("name") or value.get("failpoint")) if isinstance(value, dict) else None


def scheduled_ns(value: Any) -> int | None:
    """The fault's scheduled duration (``duration`` seconds, as the schedule
    records it), in ns; None when there is none."""
    d = value.get("duration") if isinstance(value, dict) else None
    return int(d * 1e9) if isinstance(d, (int, float)) and d > 0 else None


def describe(f: str, value: Any, workers: set[Any]) -> str:
    """A period's label: the fault, what it is called, whom it hit."""
    if isinstance(value, dict) and value.get("skipped"):
        return f"{f} (skipped)"
    parts = [f]
    name = name_of(value)
    if isinstance(name, str):
        parts.append(name)
    if ALL in workers:
        parts.append("all")
    elif workers:
        ws = sorted(workers, key=str)
        parts.append(f"worker{'s' if len(ws) > 1 else ''} {','.join(map(str, ws))}")
    return " ".join(parts)


def periods_of(events: list[dict[str, Any]], end: int | None = None) -> list[Period]:
    """Fault periods from the nemesis events of a history, in start order.
    Periods still open at the end keep ``end=None`` (drawn to the right edge);
    ``end`` (the history's last time) clips the others."""
    periods: list[Period] = []
    open_: list[Period] = []  # in opening order

    def close(p: Period, a: Action) -> None:
        p.end = a.end
        p.closed_by = a.f
        p.actions.append(a.index)
        p.pending.clear()
        open_.remove(p)

    for a in actions_of(events):
        ws = workers_of(a.value)
        phase = phase_of(a.value)
        skipped = isinstance(a.value, dict) and bool(a.value.get("skipped")) and "killed" not in a.value
        if a.f in HEAL_ALL:
            for p in list(open_):
                close(p, a)
            continue
        if phase == "stop":  # the same f switched off: the one it names, or all of them
            name = name_of(a.value)
            for p in [p for p in open_ if p.f == a.f and (name is None or name_of(p.value) == name)]:
                close(p, a)
                span = scheduled_ns(p.value)
                if span and p.start + span < a.start:  # it ran out on schedule before the clear
                    p.end, p.closed_by = p.start + span, "schedule"
            continue
        if a.f in ALL_CLOSERS and phase != "start":
            for p in list(open_):
                if a.f not in p.closers:
                    continue
                if ALL in p.pending or not ws:
                    close(p, a)
                elif p.pending & ws:
                    p.pending -= ws
                    if p.pending:
                        p.actions.append(a.index)
                    else:
                        close(p, a)
            continue  # a closer with nothing to close is not a fault
        label = describe(a.f, a.value, ws)
        closers: tuple[str, ...] = ()
        if not skipped:
            if a.f in CLOSERS:
                closers = CLOSERS[a.f]
            elif isinstance(a.value, dict) and a.value.get("killed"):
                closers = KILLED_CLOSERS
        if closers:
            p = Period(a.f, a.start, None, label, [a.index], a.value, closers=closers, pending=ws or {ALL})
            periods.append(p)
            open_.append(p)
            continue
        if phase == "start" and not skipped:
            p = Period(a.f, a.start, None, label, [a.index], a.value)
            if isinstance(a.value, dict) and "rules" in a.value:
                for q in [q for q in open_ if q.f == a.f and name_of(q.value) == name_of(a.value)]:
                    close(q, a)  # a rule set is the whole state: a new one replaces the old
            periods.append(p)
            open_.append(p)
            continue
        span = scheduled_ns(a.value)
        if span and not skipped and a.f not in INSTANT:
            # nothing says when it ended: trust the schedule's duration
            periods.append(Period(a.f, a.start, max(a.end, a.start + span), label, [a.index], a.value, closed_by="schedule"))
            continue
        periods.append(Period(a.f, a.start, a.end, label, [a.index], a.value))
    for p in open_:  # switched on and never off: the schedule's duration, if it says
        span = scheduled_ns(p.value)
        if span and not p.closers:
            p.end, p.closed_by = p.start + span, "schedule"
    periods.sort(key=lambda p: (p.start, p.actions[0] if p.actions else 0))
    if end is not None:
        for p in periods:
            if p.end is not None and p.end > end:
                p.end = end
    return periods
