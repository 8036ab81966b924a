"""Coverage: which engine failpoints a run hit, which engine functions ran,
and whether a mutant's patched code ran at all.

Three things are counted inside every worker process (:func:`install`, run
by the worker as a ``--preload`` before persist starts, like
:mod:`nemesis.fsync_watch`):

* **failpoints**: every hit of every name of ``persist.failpoints.NAMES``,
  armed or not (``persist.failpoints.count_hits``);
* **patched**: after the worker ran a ``--mutant`` file, :func:`after_mutant`
  finds every function of a loaded ``persist`` module or class that the
  mutant replaced (a function whose code lives in the mutant file; for a
  class of the mutant put in an engine module, its methods) and wraps each
  with a call counter. ``patched`` lists them (even if never
  called), ``patched_ran`` counts their calls: a run that caught a mutant
  whose patched code never ran did not catch *that* bug
  (:mod:`nemesis.mutation` calls it a catch not attributed);
* **functions** (optional, see below): the qualified names of the engine
  functions (code under ``persist/``) that ran at least once.

Reports. Each worker incarnation appends JSON lines to
``<run>/reports/<slot>.<incarnation>.cov`` with one ``os.write`` each
(``O_APPEND``; the page cache survives SIGKILL)::

    {"t": ns, "pid": P, "failpoints": {"drain.before_blob": 12}, "patched": ["persist.x.f"],
     "patched_ran": {"persist.x.f": 3}, "functions": ["persist.x.g"]}

``failpoints`` and ``patched_ran`` are cumulative for the incarnation (the
last whole line holds them all); ``functions`` lists only names not reported
before (the union of all lines holds them all); ``patched`` is repeated. A
line is written every :data:`PERIOD` seconds when something changed, at the
first call of each patched function (so a kill right after it still counts
it), just before a ``crash`` failpoint kills the process, and at exit. A
SIGKILL loses at most the last period's counts: coverage under-reports,
never over-reports.

:func:`collect` merges a run's reports (counts summed over every slot and
incarnation); ``results.json`` gets it as ``coverage`` (:mod:`nemesis.judge`).

**Function coverage is optional**: it needs a profile hook on every Python
call of the worker (Python 3.11 has no ``sys.monitoring``; each code object
is named once, but the hook runs on every call), which costs about 40% more
engine CPU, over the 10% it may (``BENCHMARKS.md``, Coverage). Set
``PERSIST_NEMESIS_FUNCTIONS=1`` in the environment of ``persist-nemesis`` to
record it; ``functions`` is then a sorted list, otherwise ``null``.

The set of all failpoints is :func:`known_failpoints` (the registry
``persist.failpoints.NAMES``; :func:`static_failpoints` finds the names the
engine's source passes to ``failpoint(...)``, and a test keeps the two
equal).
"""

from __future__ import annotations

import ast
import atexit
import functools
import glob
import importlib.util
import json
import os
import sys
import threading
import time
import types
from typing import Any

#: seconds between two reports of a worker (when something changed)
PERIOD = 0.5
#: the environment variable that turns function coverage on
FUNCTIONS_ENV = "PERSIST_NEMESIS_FUNCTIONS"
SUFFIX = ".cov"

_PERSIST_DIR = os.path.dirname(os.path.abspath(importlib.util.find_spec("persist").origin or ""))

_fd: int | None = None
_lock = threading.Lock()
_patched: list[str] = []
_calls: dict[str, int] = {}
_functions: set[str] = set()
_reported: set[str] = set()
_last: str = ""


# --- inside the worker ------------------------------------------------------


def _snapshot() -> dict[str, Any]:
    from persist import failpoints

    return {"failpoints": failpoints.hit_counts(), "patched": list(_patched), "patched_ran": dict(_calls)}


def flush(force: bool = False) -> None:
    """Write one report line if anything changed since the last (or ``force``)."""
    global _last
    if _fd is None:
        return
    with _lock:
        snap = _snapshot()
        key = json.dumps(snap, sort_keys=True)
        news = sorted(set(_functions) - _reported)  # a set copy is atomic under the GIL: no name is lost
        _reported.update(news)
        if key == _last and not news and not force:
            return
        _last = key
        line = {"t": time.monotonic_ns(), "pid": os.getpid(), **snap, "functions": news}
        os.write(_fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())


def _loop() -> None:
    while True:
        time.sleep(PERIOD)
        try:
            flush()
        except Exception:  # noqa: BLE001 - coverage must never take a worker down
            pass


_codes: set[Any] = set()  # every code object seen (persist's or not): each is looked at once


def _profile(frame, event, arg):  # noqa: ANN001 - the sys.setprofile signature
    if event == "call":
        code = frame.f_code
        if code not in _codes:
            _codes.add(code)
            if code.co_filename.startswith(_PERSIST_DIR):
                _functions.add(_qualname(code.co_filename, code.co_qualname))


def _qualname(filename: str, qualname: str) -> str:
    rel = os.path.relpath(filename, os.path.dirname(_PERSIST_DIR))[:-3].replace(os.sep, ".")
    return f"{rel.removesuffix('.__init__')}.{qualname}"


def install(report_path: str, functions: bool | None = None) -> None:
    """Start counting in this (worker) process; reports go to ``report_path``.

    ``functions``: record which engine functions run (default: the
    :data:`FUNCTIONS_ENV` environment variable is ``1``)."""
    global _fd
    if _fd is not None:
        return
    from persist import failpoints

    _fd = os.open(report_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    failpoints.count_hits()
    failpoints.on_crash = lambda: flush(force=True)
    if functions is None:
        functions = os.environ.get(FUNCTIONS_ENV) == "1"
    if functions:
        threading.setprofile(_profile)
        sys.setprofile(_profile)
    atexit.register(flush)
    threading.Thread(target=_loop, name="coverage", daemon=True).start()


def _replaced(mutant_path: str) -> list[tuple[Any, str, Any, str]]:
    """(owner, attribute, function, qualified name) for every function of a
    loaded persist module or class whose code is in ``mutant_path``."""
    target = os.path.realpath(mutant_path)

    def from_mutant(obj: Any) -> bool:
        f = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
        code = getattr(f, "__code__", None)
        return isinstance(f, types.FunctionType) and code is not None and os.path.realpath(code.co_filename) == target

    out = []
    classes: set[int] = set()  # a class of the mutant put in two places is wrapped once
    for modname, mod in sorted(sys.modules.items()):
        if not (modname == "persist" or modname.startswith("persist.")) or mod is None:
            continue
        for attr, val in sorted(vars(mod).items()):
            if from_mutant(val):
                out.append((mod, attr, val, f"{modname}.{attr}"))
            elif isinstance(val, type) and (val.__module__ == modname or val.__module__ == "__mutant__"):
                # an engine class with methods replaced, or a class of the mutant put in the engine's place
                if id(val) in classes:
                    continue
                classes.add(id(val))
                owner = val.__qualname__ if val.__module__ == modname else attr
                for cattr, cval in sorted(vars(val).items()):
                    if from_mutant(cval):
                        out.append((val, cattr, cval, f"{modname}.{owner}.{cattr}"))
    return out


def _counted(fn: types.FunctionType, name: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        n = _calls.get(name, 0)
        _calls[name] = n + 1
        if n == 0:  # the first call is reported at once: a kill right after it must not lose it
            try:
                flush()
            except Exception:  # noqa: BLE001
                pass
        return fn(*args, **kwargs)

    return wrapper


def after_mutant(mutant_path: str) -> list[str]:
    """Wrap every engine function the mutant replaced with a call counter
    (called by the worker right after it ran the mutant); returns their names."""
    for owner, attr, val, name in _replaced(mutant_path):
        if isinstance(val, staticmethod):
            new: Any = staticmethod(_counted(val.__func__, name))
        elif isinstance(val, classmethod):
            new = classmethod(_counted(val.__func__, name))
        else:
            new = _counted(val, name)
        setattr(owner, attr, new)
        _patched.append(name)
    flush(force=True)
    return list(_patched)


# --- in the controller -----------------------------------------------------


def known_failpoints() -> list[str]:
    """Every failpoint the engine declares (``persist.failpoints.NAMES``), sorted."""
    from persist.failpoints import NAMES

    return sorted(NAMES)


def static_failpoints(root: str = _PERSIST_DIR) -> set[str]:
    """The names the engine's source passes to ``failpoint(...)`` (string
    constants, also inside a conditional expression), found without importing it."""
    found: set[str] = set()
    for path in glob.glob(os.path.join(root, "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "failpoint":
                for arg in node.args[:1]:
                    found |= {c.value for c in ast.walk(arg) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return found


def _lines(path: str) -> list[dict[str, Any]]:
    with open(path, "rb") as fh:
        data = fh.read()
    out = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():  # a torn last line (SIGKILL) is dropped
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def collect(reports_dir: str) -> dict[str, Any] | None:
    """Merge every worker's coverage reports of a run: ``{"failpoints": {name: hits},
    "functions": [...] or None, "patched": [...], "patched_ran": {func: calls}, "workers": n}``
    (None when the run has no coverage reports)."""
    files = sorted(glob.glob(os.path.join(reports_dir, "*" + SUFFIX)))
    if not files:
        return None
    fps: dict[str, int] = {}
    ran: dict[str, int] = {}
    patched: set[str] = set()
    functions: set[str] = set()
    for path in files:
        lines = _lines(path)
        if not lines:
            continue
        last = lines[-1]
        for k, v in last.get("failpoints", {}).items():
            fps[k] = fps.get(k, 0) + int(v)
        for k, v in last.get("patched_ran", {}).items():
            ran[k] = ran.get(k, 0) + int(v)
        for line in lines:
            patched.update(line.get("patched", []))
            functions.update(line.get("functions", []))
    for k in patched:
        ran.setdefault(k, 0)
    return {"failpoints": dict(sorted(fps.items())), "functions": sorted(functions) or None,
            "patched": sorted(patched), "patched_ran": dict(sorted(ran.items())), "workers": len(files)}


def never_hit(coverages: list[dict[str, Any] | None]) -> list[str]:
    """The known failpoints no coverage of ``coverages`` hit."""
    hit = {k for c in coverages if c for k, v in (c.get("failpoints") or {}).items() if v}
    return [n for n in known_failpoints() if n not in hit]


def describe_failpoints(cov: dict[str, Any] | None) -> str:
    """``drain.before_blob 12, write.after_wal 340; never: gc.after_delete, ...``"""
    if not cov:
        return "no coverage reports"
    fps = cov.get("failpoints") or {}
    hit = ", ".join(f"{k} {v}" for k, v in sorted(fps.items()) if v) or "none"
    never = never_hit([cov])
    return f"{hit}; not hit: {', '.join(never)}" if never else f"{hit}; every failpoint hit"
