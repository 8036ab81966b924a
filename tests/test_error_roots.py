"""One error hierarchy per package (DEVELOPERS.md): every exception class a
package defines descends from that package's single root and says whether
what it stopped happened. Internal control-flow signals that never leave
their module are listed by name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import checker
import nemesis
import persist
import workloads
from checker.errors import CheckerError
from nemesis.errors import NemesisError
from persist.errors import PersistError
from workloads.errors import WorkloadError

#: exceptions used as signals inside one module, never raised to a caller
INTERNAL = {"checker.linear._GiveUp", "nemesis.s3.middleware.DropConnection", "nemesis.shrink.BudgetSpent",
            "nemesis.shrink.GoalReached", "persist.persister._Stale", "persist.storage.s3._Missing"}
#: stop signals: a ``KeyboardInterrupt`` on purpose, so that no ``except
#: Exception`` (say, "reports never fail a run") swallows a Ctrl-C or SIGTERM
SIGNALS = {"nemesis.lifecycle.Interrupted": KeyboardInterrupt}


def defined_exceptions(package):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        try:
            mod = importlib.import_module(info.name)
        except ImportError:
            continue
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == mod.__name__:
                yield f"{obj.__module__}.{obj.__qualname__}", obj


@pytest.mark.parametrize("package,root", [(persist, PersistError), (checker, CheckerError),
                                          (nemesis, NemesisError), (workloads, WorkloadError)],
                         ids=["persist", "checker", "nemesis", "workloads"])
def test_every_error_has_the_package_root(package, root):
    found = dict(defined_exceptions(package))
    assert found, "no exception classes found: the walk is broken"
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, root) and name not in INTERNAL
                    and not issubclass(cls, SIGNALS.get(name, ())))
    assert not strays, f"exceptions outside {root.__name__}: {strays}"


def test_each_root_says_whether_it_happened():
    from persist.errors import Determinate, Indeterminate

    assert issubclass(Determinate, PersistError) and issubclass(Indeterminate, PersistError)
    assert CheckerError.determinate is True
    for root in (NemesisError, WorkloadError):
        assert hasattr(root, "happened")
