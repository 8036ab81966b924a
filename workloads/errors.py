"""Everything the workloads raise, under one root.

Inside a worker, a client's ``invoke`` raises to say how an operation ended
(``workloads.base.Client``): a :class:`persist.errors.Determinate` error is
recorded as ``fail`` (it did not happen); anything else, including
:class:`Interrupted`, as ``info`` (it may have happened).

    WorkloadError
    ├── UnknownWorkload   happened = False: a name that is not a workload
    └── Interrupted       happened = None: a multi-step operation failed
                          after a step that may have taken effect
"""

from __future__ import annotations


class WorkloadError(Exception):
    """Root of the workloads' errors."""

    #: False: certainly nothing happened; None: it may have, in part
    happened: bool | None = False


class UnknownWorkload(WorkloadError, ValueError):
    """A workload name that does not exist; the message lists the accepted ones."""

    happened = False


class Interrupted(WorkloadError):
    """An operation failed after a step that may have become durable: ``info``."""

    happened = None
