"""Which checkers judge which workload's history.

``WORKLOADS`` is the registry: workload name -> a function returning fresh
checkers (objects with ``name`` and ``check(history) -> Result``, the
:class:`checker.domain.Checker` protocol). Other workloads add themselves
with :func:`register` (``"upsert"``, ``"rehydrate"``, ``"multi-writer"``)::

    from checker.workloads import register
    register("upsert", lambda: [UpsertChecker()])

A module ``checker/<workload>.py`` (dashes as underscores) that registers
itself on import is found without the caller importing it first.

:func:`check_workload` runs them all on one history. A run with
media-corruption faults (a nemesis event with ``f == "corrupt"``) gets
``category == "corruption"`` on every result. Its contract is BRIEF §3's
"detect it, never serve wrong data": once persist has reported corruption
(an operation failed with a ``Corrupt...`` error), a checker left without
evidence (``"unknown"`` because every read after the damage was refused) is
valid in that category; an unknown from a time or search limit stays
unknown, and anything wrong that was served stays invalid. A history with no operations
at all is one ``"unknown"`` result with the reason ``"empty history"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from checker.domain import Checker, append_checkers
from checker.domain.append import gc_paused, shared
from checker.history import History
from checker.result import UNKNOWN, Result

WORKLOADS: dict[str, Callable[[], list[Checker]]] = {
    "append": append_checkers,
}


def register(name: str, checkers: Callable[[], list[Checker]]) -> None:
    """Make ``check_workload(name, ...)`` run ``checkers()`` (replaces an
    earlier registration of the same name)."""
    WORKLOADS[name] = checkers


def _discover(workload: str) -> None:
    """A workload's checker module registers itself on import
    (``checker/<name>.py``, dashes as underscores: ``checker.multi_writer``);
    import it if it exists."""
    mod = "checker." + workload.replace("-", "_")
    try:
        importlib.import_module(mod)
    except ModuleNotFoundError as e:
        if e.name != mod:
            raise


def checkers_for(workload: str) -> list[Checker]:
    if workload not in WORKLOADS and workload.replace("-", "_").isidentifier():
        _discover(workload)
    try:
        make = WORKLOADS[workload]
    except KeyError:
        raise ValueError(f"unknown workload {workload!r}; known workloads: {', '.join(sorted(WORKLOADS))}") from None
    return make()


def check_workload(workload: str, history: History) -> list[Result]:
    """One Result per checker of ``workload``; combine their ``valid`` with
    :func:`checker.result.combine`. Raises ValueError for an unknown
    workload, naming the known ones."""
    checkers = checkers_for(workload)
    corrupt = any(e.get("f") == "corrupt" for e in history.nemesis)
    if not history.ops:
        return [Result(workload, UNKNOWN, reason="empty history", category="corruption" if corrupt else None)]
    with gc_paused(), shared(history):  # one parse for all; no GC rescans of the history
        results = [c.check(history) for c in checkers]
    if corrupt:
        reported = any(op.error and "Corrupt" in op.error for op in history.ops)
        for r in results:
            r.category = "corruption"
            if reported and r.valid == UNKNOWN and "limit" not in (r.reason or ""):
                r.valid = True
                r.reason = (f"not judged ({r.reason or 'no evidence'}): persist reported the media corruption and "
                            "refused the damaged data, as the contract asks; nothing wrong was served")
    return results
