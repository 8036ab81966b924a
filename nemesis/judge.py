"""Judging a run: run the workload's checkers on its history and write
``results.json``. Used by ``run`` and ``repro``; reads only the run directory.

A run with ``corrupt`` faults is judged in its own category
(``corruption``): an operation failing with a corruption error is fine,
wrong data is not.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from checker.history import History, read_jsonl
from checker.result import Result, combine

#: workload -> "module:function" returning its checkers (each has ``check(history)``).
CHECKERS: dict[str, str] = {
    "append": "checker.domain:append_checkers",
    "rehydrate": "checker.rehydrate:rehydrate_checkers",
}


def category_of(history: History) -> str | None:
    return "corruption" if "corrupt" in history.nemesis_faults() else None


def checkers_for(workload: str, category: str | None) -> list[Any]:
    from checker.recovery import Recovery

    mod, _, fn = CHECKERS[workload].partition(":")
    return list(getattr(importlib.import_module(mod), fn)()) + [Recovery(category)]


def judge(run_dir: str, workload: str) -> dict[str, Any]:
    history = read_jsonl(os.path.join(run_dir, "history.jsonl"))
    category = category_of(history)
    results: list[Result] = []
    for c in checkers_for(workload, category):
        try:
            r = c.check(history)
        except Exception as e:  # a checker bug must not pass as valid
            r = Result(getattr(c, "name", type(c).__name__), "unknown", reason=f"checker crashed: {type(e).__name__}: {e}")
        if category and r.category is None:
            r.category = category
        results.append(r)
    return {"valid": combine([r.valid for r in results]), "category": category,
            "checkers": [r.to_json() for r in results]}
