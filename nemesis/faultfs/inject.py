"""Error and latency injection: which filesystem call fails, with what errno, and how slow calls are.

A rule ``(op, errno, path, mode, count)`` matches a call of operation ``op``
whose mount-relative path (no leading ``/``; for a rename either name)
contains ``path`` as a substring or matches it as a glob; ``path=None``
matches every path. ``mode="once"`` fails the next ``count`` matching calls
and then retires; ``mode="sticky"`` fails every matching call until
:meth:`Injector.clear`. The first rule (in the order they were added) that
matches decides. A failed call does nothing: the filesystem returns the errno
without performing it (a failed ``fsync`` additionally poisons the file's
unsynced writes, see :mod:`nemesis.faultfs.journal`).

Latency (``slow``) is added before the real call of every write and every
fsync/fdatasync/fsyncdir.
"""

from __future__ import annotations

import errno as errno_mod
import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any

from nemesis.faultfs.errors import FaultFSBadInput

#: operations a rule may name
OPS = frozenset({"write", "fsync", "fdatasync", "rename", "create", "open", "read", "unlink", "mkdir",
                 "rmdir", "truncate", "fsyncdir", "link", "symlink", "fallocate"})
MODES = ("once", "sticky")


class RuleRefused(FaultFSBadInput):
    """A rule that cannot be installed; the message says what is accepted."""


@dataclass
class Rule:
    op: str
    errno: int
    path: str | None = None
    mode: str = "once"
    count: int = 1
    fired: int = 0

    def matches(self, op: str, paths: tuple[str, ...]) -> bool:
        if op != self.op:
            return False
        if self.path is None:
            return True
        return any(self.path in p or fnmatch.fnmatchcase(p, self.path) for p in paths)

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "errno": self.errno, "errno_name": errno_mod.errorcode.get(self.errno, "?"),
                "path": self.path, "mode": self.mode, "count": self.count, "fired": self.fired}


def check_rule(op: str, errno: int, path: str | None, mode: str, count: int) -> Rule:
    if op not in OPS:
        raise RuleRefused(f"unknown operation {op!r}: use one of {', '.join(sorted(OPS))}")
    if not isinstance(errno, int) or errno <= 0 or errno not in errno_mod.errorcode:
        raise RuleRefused(f"errno {errno!r} is not a known errno (e.g. errno.EIO={errno_mod.EIO})")
    if mode not in MODES:
        raise RuleRefused(f"mode {mode!r}: use 'once' or 'sticky'")
    if not isinstance(count, int) or count < 1:
        raise RuleRefused(f"count {count!r}: must be an integer >= 1")
    if path is not None and not isinstance(path, str):
        raise RuleRefused(f"path {path!r}: must be a string (substring or glob) or None")
    return Rule(op, errno, path.lstrip("/") if path else None, mode, count)


@dataclass
class Injector:
    rules: list[Rule] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)  # every injected error, in order
    fsync_s: float = 0.0
    write_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: Rule) -> None:
        with self.lock:
            self.rules.append(rule)

    def clear(self) -> list[Rule]:
        with self.lock:
            old, self.rules = self.rules, []
        return old

    def check(self, op: str, *paths: str) -> int:
        """The errno to fail this call with, or 0. Cheap when there are no rules."""
        if not self.rules:
            return 0
        with self.lock:
            for r in self.rules:
                if r.matches(op, paths):
                    r.fired += 1
                    if r.mode == "once" and r.fired >= r.count:
                        self.rules.remove(r)
                    self.fired.append({"op": op, "path": paths[0] if len(paths) == 1 else list(paths),
                                       "errno": r.errno, "errno_name": errno_mod.errorcode.get(r.errno, "?"),
                                       "mode": r.mode})
                    return r.errno
        return 0
