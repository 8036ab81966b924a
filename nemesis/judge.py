"""Judging a run: the workload's checkers (``checker.workloads.check_workload``)
plus :class:`checker.recovery.Recovery` and, when the history records the
harness's fsck of the location, :class:`checker.integrity.Integrity`; the result is
what ``results.json`` holds, with the run's ``coverage``
(:mod:`nemesis.coverage`). Used by ``run`` and ``repro``; reads only the
run directory.

A run with ``corrupt`` faults is judged in its own category
(``corruption``): an operation failing with a corruption error is fine,
wrong data is not.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from checker.history import History, gc_paused, read_jsonl
from checker.result import Result, combine

#: modules that register a workload's checkers with ``checker.workloads.register`` on import
REGISTER: dict[str, str] = {"rehydrate": "checker.rehydrate"}


def category_of(history: History) -> str | None:
    return "corruption" if "corrupt" in history.nemesis_faults() else None


def judge_history(history: History, workload: str) -> dict[str, Any]:
    from checker.recovery import Recovery
    from checker.workloads import check_workload

    if workload in REGISTER:
        importlib.import_module(REGISTER[workload])
    category = category_of(history)
    try:
        results = check_workload(workload, history)
    except ValueError:
        raise
    except Exception as e:  # a checker bug must not pass as valid
        results = [Result(workload, "unknown", reason=f"checker crashed: {type(e).__name__}: {e}")]
    results.append(Recovery(category).check(history))
    if any(e.get("f") == "fsck" for e in history.harness):  # histories before fsck was recorded have none
        from checker.integrity import Integrity

        try:
            results.append(Integrity(category).check(history))
        except Exception as e:  # as above: a checker bug is unknown, never valid
            results.append(Result("integrity", "unknown", reason=f"checker crashed: {type(e).__name__}: {e}"))
    return {"valid": combine([r.valid for r in results]), "category": category,
            "checkers": [r.to_json() for r in results]}


def judge(run_dir: str, workload: str) -> dict[str, Any]:
    """The checkers' verdict on the run's history, plus the run's ``coverage``
    (failpoints hit, functions run, a mutant's patched functions called:
    :func:`nemesis.coverage.collect` of the workers' reports; absent for a run
    without reports)."""
    from nemesis.coverage import collect

    with gc_paused():  # the history is dropped before the GC would scan it
        out = judge_history(read_jsonl(os.path.join(run_dir, "history.jsonl")), workload)
    cov = collect(os.path.join(run_dir, "reports"))
    if cov is not None:
        out["coverage"] = cov
    return out
