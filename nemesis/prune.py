"""Pruning a run store: keep the failing runs and the newest N, delete the rest.

A run is **kept** when any of these holds:

- its verdict (``results.json`` ``valid``) is ``false`` or ``"unknown"``: a
  failing run is evidence (a bug found, or a run that proved nothing and
  should be looked at);
- it is among the ``keep`` newest runs of the store (by the start time in
  ``status.json``, else the directory's modification time);
- it is still running (its controller is alive: :mod:`nemesis.lifecycle`);
- ``latest`` points at it.

Every other run (valid, or never judged: interrupted, aborted, abandoned,
crashed) is deleted with everything in it. Campaign records
(``campaign-*.json``) are left alone; the store's ``index.html`` is rewritten
when anything was deleted. :func:`plan` decides without touching anything
(``--dry-run`` prints it), :func:`apply` deletes.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nemesis.lifecycle import effective_status


@dataclass
class Decision:
    keep: list[tuple[Path, str]] = field(default_factory=list)  # (run, why)
    delete: list[tuple[Path, str]] = field(default_factory=list)
    bytes_freed: int = 0


def _json(p: Path):
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _size(p: Path) -> int:
    total = 0
    for d, _, files in os.walk(p):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def _started(run: Path, status: dict) -> float:
    try:
        return _dt.datetime.fromisoformat(status["started"]).timestamp()
    except (KeyError, TypeError, ValueError):
        try:
            return run.stat().st_mtime
        except OSError:
            return 0.0


def plan(store: Path, keep: int) -> Decision:
    """What pruning ``store`` down to the failing runs and the newest ``keep`` would do."""
    from nemesis.report.index import find_runs

    if keep < 0:
        raise ValueError(f"--keep must be >= 0, got {keep}")
    latest = (store / "latest").resolve() if (store / "latest").is_symlink() else None
    runs = []
    for run in find_runs(store):
        status = _json(run / "status.json")
        status = effective_status(status) if isinstance(status, dict) else {}
        results = _json(run / "results.json")
        valid = results.get("valid") if isinstance(results, dict) else None
        runs.append((run, status, valid, _started(run, status)))
    runs.sort(key=lambda r: (r[3], r[0].name), reverse=True)
    d = Decision()
    for i, (run, status, valid, _) in enumerate(runs):
        if valid is False or valid == "unknown":
            d.keep.append((run, "invalid" if valid is False else "unknown"))
        elif i < keep:
            d.keep.append((run, f"among the newest {keep}"))
        elif status.get("status") == "running":
            d.keep.append((run, "still running"))
        elif latest is not None and run.resolve() == latest:
            d.keep.append((run, "latest"))
        else:
            d.delete.append((run, "valid" if valid is True else str(status.get("status") or "not judged")))
    d.bytes_freed = sum(_size(r) for r, _ in d.delete)
    return d


def apply(store: Path, d: Decision) -> None:
    """Delete what ``d`` says, then rewrite the store's index (if it has one or anything was deleted)."""
    for run, _ in d.delete:
        shutil.rmtree(run, ignore_errors=True)
    if d.delete:
        try:
            from nemesis.report import write_index

            write_index(store)
        except Exception:  # noqa: BLE001 - the index is a derived page; `report --store` remakes it
            pass
