"""The system under test, as a worker's client sees it (``docs/protocol.md``).

A **system** opens an engine handle: ``open(url, read_only, **options)``
returns an object with the surface of persist's ``Persister`` that the
workload clients call (``stream``, ``write_multi``, ``pending_count``,
``drain``, ``compact``, ``gc``, ``close``; its streams' ``write``, ``seal``,
``allow_compaction``, ``frontiers``, ``snapshot``, ``listen``). Errors it
raises are ``persist.errors`` classes: ``Determinate`` (did not happen) or
``Indeterminate`` (may have).

A system is named by a *spec* (``--system``):

* ``persist`` — the reference engine (the default);
* ``module:Class`` — a class imported in the worker, instantiated with no
  arguments; its ``open`` is the system's;
* ``exec:CMD ARGS...`` — an executable speaking JSON lines
  (:mod:`workloads.exec_system`).

``SUPPORTS`` (a class attribute) names the in-process fault mechanisms a
system honours: ``"failpoints"`` (persist's failpoints armed in the worker)
and ``"fsync-tracer"`` (the worker's tracer of Python ``os`` calls sees its
I/O). The worker selects the run's system once (:func:`select`) before a
client opens it; clients call :func:`current`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from workloads.errors import WorkloadError

DEFAULT = "persist"
#: every in-process fault mechanism a system may support
MECHANISMS = ("failpoints", "fsync-tracer")


class SystemSpecError(WorkloadError, ValueError):
    """A ``--system`` spec that names nothing runnable; the message says what to write."""

    happened = False


class System(Protocol):
    SUPPORTS: frozenset[str]

    def open(self, url: str, read_only: bool = False, **options: Any) -> Any: ...

    # optional: ``prepare(url, **options)``, called by a spare worker before it
    # waits for its slot, to pay start-up costs without touching the location


class PersistSystem:
    """The reference engine, in the worker's own interpreter."""

    SUPPORTS = frozenset(MECHANISMS)

    def open(self, url: str, read_only: bool = False, **options: Any) -> Any:
        import persist

        if read_only:
            opener = getattr(persist, "open_read_only", None)
            if opener is not None:
                return opener(url, **options)
            return persist.open(url, read_only=True, **options)
        return persist.open(url, **options)


def kind(spec: str) -> str:
    """``persist``, ``class`` or ``exec``; raises :class:`SystemSpecError` for a malformed spec."""
    if spec == DEFAULT:
        return "persist"
    if spec.startswith("exec:"):
        if not spec[5:].strip():
            raise SystemSpecError("--system exec: needs a command, e.g. 'exec:python examples/persist_server.py {data_dir}'")
        return "exec"
    mod, sep, cls = spec.partition(":")
    if sep and mod and cls and all(p.isidentifier() for p in mod.split(".")) and cls.isidentifier():
        return "class"
    raise SystemSpecError(f"--system {spec!r}: expected 'persist', 'module:Class' or 'exec:CMD ARGS' "
                          "(e.g. 'exec:python examples/persist_server.py {data_dir}')")


def load_class(spec: str) -> type:
    """The class a ``module:Class`` spec names (imported now)."""
    mod, _, cls = spec.partition(":")
    try:
        return getattr(importlib.import_module(mod), cls)
    except (ImportError, AttributeError) as e:
        raise SystemSpecError(f"--system {spec!r}: cannot load {cls} from module {mod}: {e}") from None


def supports(spec: str) -> frozenset[str]:
    """The in-process fault mechanisms the system ``spec`` honours."""
    k = kind(spec)
    if k == "persist":
        return PersistSystem.SUPPORTS
    if k == "exec":
        return frozenset()
    return frozenset(getattr(load_class(spec), "SUPPORTS", ()))


def make(spec: str) -> Any:
    """A system object for ``spec``."""
    k = kind(spec)
    if k == "persist":
        return PersistSystem()
    if k == "exec":
        from workloads.exec_system import ExecSystem

        return ExecSystem(spec[5:])
    return load_class(spec)()


_current: Any = None


def select(spec: str) -> Any:
    """Make ``spec`` the system of this process (the worker does, once)."""
    global _current
    _current = make(spec)
    return _current


def current() -> Any:
    """The system of this process (persist unless :func:`select` chose another)."""
    global _current
    if _current is None:
        _current = PersistSystem()
    return _current
