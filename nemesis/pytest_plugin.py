"""The pytest plugin: crash-safety tests in a project's own test suite.

    def test_crash_safety(nemesis):
        result = nemesis.campaign(workloads=["append"], nemeses=["kill", "lose-unsynced"], seeds=3)
        assert result.valid, result.summary

The ``nemesis`` fixture is the library (:mod:`nemesis.api`: ``run``,
``campaign``, ``hunt``, ``shrink``, same keyword arguments, same results)
with this session's defaults filled in, and every result it returns written
into the test's JUnit properties (the test's ``user_properties``, what
``record_property`` appends to, without its warning under pytest's default
``junit_family=xunit2``: pytest writes them in every family):

- ``nemesis_verdict``: valid / invalid / unknown (one per call);
- ``nemesis_run_dir``: every run directory the call made (one property each);
- ``nemesis_repro``: the reproduce command of every run that was not valid.

The failure message of ``assert result.valid, result.summary`` names each
failing run, its first complaint, its run directory and the commands that
reproduce it (``persist-nemesis repro RUN_DIR``, or the full ``run`` line).
``result.valid`` is false for an unknown verdict too (:data:`nemesis.api.UNKNOWN`).

**Options** (each the default of the fixture's calls; an argument given in
the test wins):

- ``--nemesis-seeds N``: ``seeds=`` of ``campaign`` (seeds 1..N; default 1);
- ``--nemesis-time-limit S``: ``time_limit=`` of ``run`` and ``campaign``
  (default 5 s);
- ``--nemesis-store DIR``: where runs go (default: ``nemesis-runs`` under
  pytest's temporary directory, kept for pytest's last three sessions).

**pytest-xdist.** Every worker gets its own store, ``DIR/<worker id>``
(``gw0``, ``gw1``...; pytest's temporary directory is per worker already),
so run directories, ``latest`` and campaign records never collide; a
campaign in a worker runs one run at a time unless ``jobs=`` says otherwise
(the workers already share the cores).

**Loading.** Installed, the package registers the plugin through the
``pytest11`` entry point named ``nemesis.pytest_plugin`` (pyproject.toml),
so the fixture is there in any project that has ``persist-nemesis``
installed. Without the installed entry point (a checkout on ``PYTHONPATH``),
load it with ``pytest -p nemesis.pytest_plugin`` or ``pytest_plugins =
["nemesis.pytest_plugin"]`` in the top ``conftest.py``; the entry point's
name is the module's, so both ways together register it once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nemesis", "crash-safety tests (the nemesis fixture)")
    group.addoption("--nemesis-seeds", type=int, default=None, metavar="N",
                    help="the nemesis fixture's campaigns run seeds 1..N unless the test says seeds= (default 1)")
    group.addoption("--nemesis-store", default=None, metavar="DIR",
                    help="where the nemesis fixture's runs go (per xdist worker: DIR/<worker>; default: "
                         "nemesis-runs under pytest's temporary directory)")
    group.addoption("--nemesis-time-limit", type=float, default=None, metavar="S",
                    help="seconds of each run of the nemesis fixture unless the test says time_limit= (default 5)")


def worker_id(config: pytest.Config) -> str | None:
    """The xdist worker this process is (``gw0``...), None outside xdist."""
    wi = getattr(config, "workerinput", None)
    return wi.get("workerid") if wi else None


class Nemesis:
    """What the ``nemesis`` fixture gives a test: :mod:`nemesis.api`'s calls
    with the session's defaults (``store``, ``seeds``, ``time_limit``,
    ``jobs``), each result recorded in the test's JUnit properties."""

    def __init__(self, store: str, seeds: int | None, time_limit: float | None, jobs: int | None,
                 record: Callable[[str, Any], None]) -> None:
        self.store = store
        self.seeds = seeds
        self.time_limit = time_limit
        self.jobs = jobs
        self._record = record

    def run(self, **kwargs: Any):
        """:func:`nemesis.api.run` (one test) with the session's store and time limit."""
        from nemesis import api

        kwargs.setdefault("store", self.store)
        if self.time_limit is not None:
            kwargs.setdefault("time_limit", self.time_limit)
        return self._recorded(api.run(**kwargs))

    def campaign(self, **kwargs: Any):
        """:func:`nemesis.api.campaign` with the session's store, seeds, time limit and jobs."""
        from nemesis import api

        kwargs.setdefault("store", self.store)
        if self.seeds is not None and "seed_range" not in kwargs:
            kwargs.setdefault("seeds", self.seeds)
        if self.time_limit is not None:
            kwargs.setdefault("time_limit", self.time_limit)
        if self.jobs is not None:
            kwargs.setdefault("jobs", self.jobs)
        return self._recorded(api.campaign(**kwargs))

    def hunt(self, mutant: str | os.PathLike, **kwargs: Any):
        """:func:`nemesis.api.hunt` with its runs in the session's store (``<store>/mutants/<name>``)."""
        from nemesis import api

        kwargs.setdefault("store", os.path.join(self.store, "mutants", Path(mutant).stem))
        return self._recorded(api.hunt(mutant, **kwargs))

    def shrink(self, run_dir: str | os.PathLike, **kwargs: Any):
        """:func:`nemesis.api.shrink` (candidates in the run's own store unless ``store=``)."""
        from nemesis import api

        return self._recorded(api.shrink(run_dir, **kwargs))

    def _recorded(self, result: Any) -> Any:
        verdict = {True: "valid", False: "invalid"}.get(result.valid, "unknown")  # type: ignore[arg-type]
        self._record("nemesis_verdict", verdict)
        for d in result.run_dirs:
            self._record("nemesis_run_dir", d)
        failing = getattr(result, "failures", None)
        if failing is None:
            failing = [result] if result.valid is not True and getattr(result, "repro_command", None) else []
        for r in failing:
            cmd = r.repro_command or getattr(r, "command", None)
            if cmd:
                self._record("nemesis_repro", cmd)
        return result


@pytest.fixture
def nemesis(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Nemesis:
    """The nemesis library with this session's defaults (``--nemesis-seeds``,
    ``--nemesis-store``, ``--nemesis-time-limit``); each call's verdict, run
    directories and reproduce commands land in the JUnit properties."""
    config = request.config
    store = config.getoption("nemesis_store")
    wid = worker_id(config)
    if store is None:
        store = str(tmp_path_factory.getbasetemp() / "nemesis-runs")  # per xdist worker already
    elif wid is not None:
        store = os.path.join(store, wid)
    store = os.path.abspath(store)
    os.makedirs(store, exist_ok=True)
    return Nemesis(store, config.getoption("nemesis_seeds"), config.getoption("nemesis_time_limit"),
                   1 if wid is not None else None, lambda k, v: request.node.user_properties.append((k, v)))
