"""nemesis: the Jepsen-style harness that runs persist in worker processes,
injects faults, records a history and has the checker judge it.

``import nemesis`` is the door to the library (:mod:`nemesis.api`,
``docs/library.md``)::

    import nemesis

    result = nemesis.campaign(workloads=["append"], nemeses=["kill", "lose-unsynced"], seeds=3)
    assert result.valid, result.summary

``nemesis.run(...)``, ``nemesis.campaign(...)``, ``nemesis.hunt(mutant,
...)``, ``nemesis.shrink(run_dir, ...)`` and the result classes are loaded
on first use (module ``__getattr__``): importing the package imports nothing
else. ``nemesis.campaign`` and ``nemesis.shrink`` are also the engine's
modules of those names, callable (:func:`nemesis.api.make_callable`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> the module that defines it (``None``: the submodule of that name, which is callable)
_LAZY = {
    "run": "nemesis.api", "hunt": "nemesis.api",
    "campaign": None, "shrink": None,
    "RunResult": "nemesis.api", "CampaignResult": "nemesis.api", "HuntResult": "nemesis.api",
    "ShrinkResult": "nemesis.api", "UNKNOWN": "nemesis.api", "Unknown": "nemesis.api",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nemesis' has no attribute {name!r}")
    where = _LAZY[name]
    if where is None:
        return importlib.import_module(f"nemesis.{name}")  # binds nemesis.<name> to the (callable) module
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
