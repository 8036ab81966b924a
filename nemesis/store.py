"""The run store: where runs live on disk (layout in ``docs/runs.md``).

    <store>/<workload>/<UTC time>-seed<N>-<nemeses>/   one run, never overwritten
    <store>/latest -> <workload>/<...>       the newest run (a relative symlink)

A run directory holds ``config.json`` (everything needed to reproduce it,
code version included), ``status.json`` (``running`` until the run ends, then
``finished`` or ``aborted`` with the reason: a run that died half-way still
says ``running``, with the pid, start time and host of the controller that
never came back: :func:`nemesis.lifecycle.effective_status` reads it as
``abandoned``),
``history.jsonl``, ``results.json``, ``workers/<slot>-<role>.log``,
``reports/`` (the fsync reports) and, with ``--keep-data``, ``data/``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
from typing import Any
from nemesis.errors import BadInput

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StoreError(BadInput):
    """The store cannot be used; the message says why and what to do."""


def ensure_writable_dir(path: str) -> None:
    """Create directory ``path`` if needed and prove a file can be written in
    it (write and remove a probe); raises OSError otherwise."""
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, f".probe-{os.getpid()}")
    with open(probe, "w") as f:
        f.write("ok")
    os.unlink(probe)


def check_store(store: str) -> str:
    """Create ``store`` if needed and make sure runs can be written there."""
    store = os.path.abspath(store)
    try:
        ensure_writable_dir(store)
    except OSError as e:
        raise StoreError(f"cannot write runs to the store {store}: {e.strerror or e}; "
                         "pass --store with a writable directory") from None
    return store


def new_run_dir(store: str, workload: str, seed: int, nemeses: list[str] | None = None) -> str:
    """A fresh, empty run directory; never an existing one. Named
    ``<UTC time>-seed<N>``, then ``-<nemeses joined by +>`` when given, so
    that a campaign's runs of one workload and seed differ by more than their
    microseconds."""
    parent = os.path.join(store, workload)
    os.makedirs(parent, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    mix = "+".join(n for n in (nemeses or []) if n.replace("-", "").isalnum())
    base = os.path.join(parent, f"{stamp}-seed{seed}" + (f"-{mix}" if mix else ""))
    path, n = base, 1
    while True:
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1
            path = f"{base}-{n}"


def point_latest(store: str, run_dir: str) -> None:
    point_link(store, "latest", run_dir)


def point_link(store: str, name: str, run_dir: str) -> None:
    """``<store>/<name>`` -> ``run_dir`` (relative), replaced atomically (``latest``, a hunt's ``caught``)."""
    link = os.path.join(store, name)
    tmp = os.path.join(store, f".{name}-{os.getpid()}")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(os.path.relpath(run_dir, store), tmp)
    os.replace(tmp, link)


def code_version() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("persist-nemesis")
    except PackageNotFoundError:
        pkg = None
    return {"commit": commit, "describe": git("describe", "--always", "--dirty"),
            "dirty": bool(status) if status is not None else None, "package": pkg}


def write_json(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)


def set_status(run_dir: str, status: str, **extra: Any) -> None:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat()
    path = os.path.join(run_dir, "status.json")
    old: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    from nemesis.lifecycle import me

    old.update({"status": status, "updated": now, **me(), **extra})
    old.setdefault("started", now)
    write_json(path, old)


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def drop_data(run_dir: str) -> None:
    """Remove the persist data directory (``data/``; a run on the fault
    filesystem also ``data.backing/``, the mount's backing directory, if it
    is still there). A mount still in place is never recursed into."""
    for name in ("data", "data.backing"):
        path = os.path.join(run_dir, name)
        if os.path.ismount(path):
            continue
        shutil.rmtree(path, ignore_errors=True)


def relative_paths(run_dir: str, cfg: Any) -> dict[str, Any]:
    """``config.json``'s ``paths``: what a run directory copied to another
    machine needs to find, relative to where it lives then: ``store`` relative
    to the run directory (``../..``), ``checkout`` (this code) relative to
    the run directory, and ``mutant`` relative to the checkout when the
    mutant is one of its files (``mutants/lose_seal.py``), else None."""
    out: dict[str, Any] = {"store": os.path.relpath(os.path.dirname(os.path.dirname(run_dir)), run_dir),
                           "checkout": os.path.relpath(REPO, run_dir), "mutant": None}
    mutant = getattr(cfg, "mutant", None)
    if mutant:
        rel = os.path.relpath(os.path.abspath(mutant), REPO)
        out["mutant"] = None if rel.startswith("..") else rel
    return out


def resolve_mutant(recorded: str | None, paths: dict[str, Any] | None, run_dir: str) -> str | None:
    """A run's mutant file on this machine: the recorded path if it exists,
    else ``paths.mutant`` in this checkout, else in the checkout recorded
    relative to the run directory; None if it has none; raises
    :class:`StoreError` saying where it looked when it is nowhere."""
    if not recorded:
        return None
    tried = [recorded]
    rel = (paths or {}).get("mutant") or (os.path.join("mutants", os.path.basename(recorded)))
    tried.append(os.path.join(REPO, rel))
    checkout = (paths or {}).get("checkout")
    if checkout:
        tried.append(os.path.normpath(os.path.join(run_dir, checkout, rel)))
    for path in tried:
        if os.path.isfile(path):
            return os.path.abspath(path)
    raise StoreError(f"the run's mutant is not on this machine: looked for {', '.join(dict.fromkeys(tried))}; "
                     "copy it into this checkout's mutants/ or pass the run's command with --mutant FILE")
