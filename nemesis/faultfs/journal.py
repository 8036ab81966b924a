"""What a power loss could still take away: the unsynced state of the fault filesystem.

Two journals, kept in the server process and mutated only by the filesystem's
operations (under their locks):

**Per file** (keyed by the backing inode) the data operations since the last
successful ``fsync``/``fdatasync`` of that inode, in the order they ran::

    WriteOp(offset, data, old, size_before)   data: the new bytes written at offset
                                              old:  the bytes it overwrote (only the part
                                                    inside size_before; b"" for an append)
    TruncOp(length, size_before, cut)         cut: the bytes a shrink removed
                                              (size_before - length of them), b"" for a grow

Each op is enough to be undone (the durable content is the current content
with every journaled op undone, newest first) and to be re-applied, whole or
in pieces, on top of that durable content. An op has a state:

* ``UNSYNCED`` — written, not yet covered by a successful fsync;
* ``POISONED`` — an fsync of its file *failed* while it was unsynced
  (fsyncgate: Linux marks such pages clean, so no later fsync writes them):
  a power loss may lose it whatever fsyncs succeed later;
* ``DURABLE`` — covered by a successful fsync that came after a poisoned op
  of the same file (kept in the list only because the poisoned ops before it
  are still undoable; a power loss always keeps it).

A successful fsync of a file with no poisoned op simply empties its list.

**Directories**: one global list, in the order they ran, of the entry
operations not yet made durable by an ``fsyncdir``::

    DirOp(seq, kind, names, objs, dirs, undo)
      kind   create | mknod | mkdir | symlink | link | unlink | rmdir | rename
      names  the (dir inode, entry name) pairs it changed
      objs   the inodes it created, removed, linked or moved
      dirs   the parent directory inodes of those names
      undo   what undoing it needs (stash names of removed inodes, old/new names)

A removed inode (unlink, rmdir, the target a rename replaced) is kept alive
in a stash directory inside the backing directory (hidden from the mount),
so that its removal can be undone.

Y *depends on* an earlier X when they share a name, when X's objects are
Y's objects or parent directories, or when X's parent directories are Y's
objects. ``fsyncdir(D)`` makes durable every op with D among its ``dirs``
and, transitively, every op such an op depends on (a journal commit carries
what the operation needs); durable ops leave the list and their stashed
inodes are freed. So the list holds only unsynced ops, and any subset of it
closed under "depends on" can be undone consistently, newest first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

UNSYNCED = 0
POISONED = 1
DURABLE = 2


@dataclass(slots=True)
class WriteOp:
    offset: int
    data: bytes
    old: bytes
    size_before: int
    state: int = UNSYNCED

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    def describe(self) -> str:
        return f"write {len(self.data)}B @{self.offset}"


@dataclass(slots=True)
class TruncOp:
    length: int
    size_before: int
    cut: bytes
    state: int = UNSYNCED

    def describe(self) -> str:
        return f"truncate {self.size_before}->{self.length}"


@dataclass(slots=True)
class FileJournal:
    """One inode's data ops since its last successful fsync, and its tracked size."""

    ino: int
    path: str  # the mount-relative path it was first journaled under (seeds the choices)
    size: int  # current size as the filesystem left it
    ops: list[WriteOp | TruncOp] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def unsynced_bytes(self) -> int:
        return sum(len(o.data) if isinstance(o, WriteOp) else abs(o.length - o.size_before)
                   for o in self.ops if o.state != DURABLE)

    def pending(self) -> bool:
        return any(o.state != DURABLE for o in self.ops)

    def sync(self) -> None:
        """A successful fsync/fdatasync: everything not poisoned is durable now."""
        if not any(o.state == POISONED for o in self.ops):
            self.ops.clear()
            return
        for o in self.ops:
            if o.state == UNSYNCED:
                o.state = DURABLE

    def poison(self) -> int:
        """A failed fsync: the unsynced ops may be lost whatever happens later. Returns their count."""
        n = 0
        for o in self.ops:
            if o.state == UNSYNCED:
                o.state = POISONED
                n += 1
        return n


@dataclass(slots=True)
class DirOp:
    seq: int
    kind: str
    names: tuple[tuple[int, str], ...]
    objs: tuple[int, ...]
    dirs: tuple[int, ...]
    undo: dict[str, Any]
    text: str  # human-readable, mount-relative

    def depends_on(self, x: "DirOp") -> bool:
        if set(self.names) & set(x.names):
            return True
        mine = set(self.objs) | set(self.dirs)
        if set(x.objs) & mine:
            return True
        return bool(set(x.dirs) & set(self.objs))


class Journal:
    """Both journals plus counters; the filesystem's one record of what is not durable."""

    def __init__(self) -> None:
        self.files: dict[int, FileJournal] = {}
        self.dirops: list[DirOp] = []
        self.seq = 0
        self.lock = threading.Lock()  # guards dirops/seq and the files dict's membership

    # --- files ---------------------------------------------------------------
    def file(self, ino: int, path: str, size: int) -> FileJournal:
        fj = self.files.get(ino)
        if fj is None:
            with self.lock:
                fj = self.files.get(ino)
                if fj is None:
                    fj = self.files[ino] = FileJournal(ino, path, size)
        return fj

    # --- directories ---------------------------------------------------------
    def add_dirop(self, kind: str, names, objs, dirs, undo: dict[str, Any], text: str) -> DirOp:
        """Append a dir op; the caller holds ``self.lock`` (the filesystem's dir-op lock)."""
        self.seq += 1
        op = DirOp(self.seq, kind, tuple(names), tuple(objs), tuple(dirs), undo, text)
        self.dirops.append(op)
        return op

    def sync_dir(self, dir_ino: int) -> list[DirOp]:
        """``fsyncdir`` of ``dir_ino`` succeeded: remove and return the ops now durable
        (those touching the directory and, transitively, what they depend on).
        Caller holds ``self.lock``."""
        ops = self.dirops
        durable = [False] * len(ops)
        for i in range(len(ops) - 1, -1, -1):
            if dir_ino in ops[i].dirs:
                durable[i] = True
        closure(ops, durable)
        if not any(durable):
            return []
        gone = [o for o, d in zip(ops, durable) if d]
        self.dirops = [o for o, d in zip(ops, durable) if not d]
        return gone

    def stats(self) -> dict[str, Any]:
        pend = [f for f in self.files.values() if f.pending()]
        return {
            "unsynced_files": len(pend),
            "unsynced_bytes": sum(f.unsynced_bytes() for f in pend),
            "unsynced_writes": sum(1 for f in pend for o in f.ops if o.state != DURABLE),
            "poisoned_writes": sum(1 for f in pend for o in f.ops if o.state == POISONED),
            "unsynced_dirops": len(self.dirops),
        }

    def clear(self) -> None:
        self.files.clear()
        self.dirops.clear()


def closure(ops: list[DirOp], keep: list[bool]) -> None:
    """Close ``keep`` (in place) under "depends on": a kept op keeps every earlier op it depends on."""
    for i in range(len(ops) - 1, -1, -1):
        if keep[i]:
            for j in range(i - 1, -1, -1):
                if not keep[j] and ops[i].depends_on(ops[j]):
                    keep[j] = True
