"""Everything the workloads raise, under one root.

Inside a worker, a client's ``invoke`` raises to say how an operation ended
(``workloads.base.Client``): a :class:`persist.errors.Determinate` error is
recorded as ``fail`` (it did not happen); anything else, including
:class:`Interrupted`, as ``info`` (it may have happened).

    WorkloadError
    ├── UnknownWorkload   happened = False: a name that is not a workload
    ├── Interrupted       happened = None: a multi-step operation failed
    │                     after a step that may have taken effect
    ├── system.SystemSpecError          happened = False: a --system that names nothing runnable
    ├── exec_system.RemoteDeterminate   happened = False: an exec: system's determinate error
    │                                   (also a persist.errors.Determinate: recorded fail)
    └── exec_system.RemoteIndeterminate happened = None: its indeterminate error (also a
        └── SystemGone                  persist.errors.Indeterminate: recorded info); the system's
                                        process is gone
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
