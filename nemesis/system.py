"""``--system``: which faults apply to the system under test (``docs/protocol.md``).

A run's system is ``persist`` (the reference engine, the default), a
``module:Class`` loaded in the workers, or ``exec:CMD`` (an executable
speaking the JSON-lines protocol, a child of each worker). Process faults,
the fault filesystem, S3 faults and every checker apply to all of them; the
in-process mechanisms apply only where the system supports them
(``workloads.system.supports``):

* ``failpoint`` needs ``"failpoints"`` (persist's failpoints armed in the worker);
* ``lose-unsynced`` on the tracer (``--fs tracer``) and ``corrupt`` (which
  picks its targets from the tracer's fsync reports) need ``"fsync-tracer"``.

:func:`check` refuses a run that asks for a fault its system cannot take
(:class:`SystemChoiceError`, bad input), so a run never silently skips one;
:func:`applicability` is what the summary and ``results.json`` say.
"""

from __future__ import annotations

from typing import Any

from nemesis.errors import BadInput
from workloads.system import DEFAULT, SystemSpecError, kind, supports

#: workloads whose client an ``exec:`` system can serve (the protocol's operations)
EXEC_WORKLOADS = ("append", "kv")
#: nemesis -> the in-process mechanism it needs, and on which fault model (None: any)
NEEDS = {"failpoint": ("failpoints", None), "corrupt": ("fsync-tracer", None),
         "lose-unsynced": ("fsync-tracer", "tracer")}


class SystemChoiceError(BadInput):
    """A ``--system`` that names nothing runnable, or a fault or workload it
    cannot take; the message says what to change."""


def check(system: str, workload: str, nemeses: list[str], fault_model: str | None) -> None:
    """Raise :class:`SystemChoiceError` unless ``system`` can run ``workload`` under ``nemeses``."""
    try:
        k = kind(system)
        can = supports(system)
    except SystemSpecError as e:
        raise SystemChoiceError(str(e)) from None
    if k == "exec" and workload not in EXEC_WORKLOADS:
        raise SystemChoiceError(f"--system exec: serves the {', '.join(EXEC_WORKLOADS)} workload(s) only "
                                f"(docs/protocol.md), not {workload!r}")
    for n in nemeses:
        need = NEEDS.get(n)
        if need is None or need[0] in can:
            continue
        mechanism, model = need
        if model is not None and fault_model != model:
            continue
        fix = " (run it on the fault filesystem: --fs fuse)" if n == "lose-unsynced" else ""
        raise SystemChoiceError(f"the {n} nemesis needs {mechanism} support, which the system {system!r} "
                                f"does not have (docs/protocol.md, 'Which faults apply'){fix}")


def applicability(system: str, nemeses: list[str], fault_model: str | None) -> dict[str, Any]:
    """``{"system", "kind", "applied": [...], "not_applicable": [...]}``: the
    run's nemeses that reached the system, and the in-process mechanisms
    that did not apply to it (e.g. the fsync tracer and coverage for ``exec:``)."""
    k = kind(system)
    can = supports(system)
    applied = [n for n in nemeses if n != "none"]
    off = [m for m in ("failpoints", "fsync-tracer") if m not in can]
    if k == "exec":
        off.append("coverage")
    return {"system": system, "kind": k, "applied": applied, "not_applicable": off}


def line(system: str, nemeses: list[str], fault_model: str | None) -> str:
    """The summary's line about the system under test."""
    a = applicability(system, nemeses, fault_model)
    head = "system: persist (the reference engine, in the workers)" if system == DEFAULT else f"system: {system}"
    return (f"{head}; faults applied: {', '.join(a['applied']) or 'none'}"
            + (f"; not applicable: {', '.join(a['not_applicable'])}" if a["not_applicable"] else ""))
