"""Power loss: rebuild the backing directory into a state a real disk could be left in.

Given the journal (:mod:`nemesis.faultfs.journal`), a seed and a model, the
rebuild

1. for every file with journaled ops: undoes them all, newest first, which
   leaves its durable content; then re-applies, oldest first, the ops the
   model keeps — whole, or (a torn write) only some of its 512-byte sectors
   or 4 KiB pages, taken at the file's own sector/page boundaries. Ops made
   durable by an fsync after a failed one are always re-applied;
2. chooses which unsynced entry operations survive, closes that set under
   "depends on" (a kept op keeps what it needs), and undoes the others
   newest first: a create/mkdir/link/symlink removed, an unlink/rmdir put
   back from the stash, a rename moved back (and the target it replaced put
   back);
3. empties the stash and the journal.

Models (``MODELS``; ``None`` lets the seed pick one of them):

=============  ==============================================  ==========================
model          file data (per file, its unsynced ops o1..on)   entry operations
=============  ==============================================  ==========================
clear-cache    all lost                                        all undone
prefix         o1..ok kept, k uniform in 0..n                  a prefix of the global order
torn           o1..o(k-1) kept, ok torn, the rest lost         a prefix of the global order
reorder        a subset in which a later op is kept while an   a prefix of the global order
               earlier one is lost (when n >= 2)
dirops         all kept                                        a prefix, never all (n >= 1)
mixed          each file its own of the above (or all kept)    a prefix of the global order
=============  ==============================================  ==========================

Invariants: every fsynced byte and every entry op made durable by an
``fsyncdir`` survives; every byte of a file is either its durable value or
a value some journaled write put there (re-applying a write beyond the
file's kept end leaves a hole, which reads as zeros — as on XFS or ext4
``data=writeback``). Deterministic: the choices depend only on the seed,
the model, each file's first journaled path (and how many files before it
were first journaled under the same path) and the journal's contents.
"""

from __future__ import annotations

import os
import random
import shutil
from typing import Any

from nemesis.faultfs.journal import DURABLE, DirOp, FileJournal, Journal, TruncOp, WriteOp, closure

MODELS = ("clear-cache", "prefix", "torn", "reorder", "dirops", "mixed")
FILE_MODELS = ("clear-cache", "prefix", "torn", "reorder", "keep")
PIECE_SIZES = (512, 4096)

FULL = True
DROP = None


def pieces(offset: int, end: int, size: int) -> list[tuple[int, int]]:
    """The [a, b) pieces of [offset, end) cut at multiples of ``size`` (file offsets)."""
    out = []
    a = offset
    while a < end:
        b = min(end, (a // size + 1) * size)
        out.append((a, b))
        a = b
    return out


def choose_file(model: str, ops: list, rng: random.Random) -> list[Any]:
    """One decision per op: FULL, DROP, or a list of (a, b) pieces of a write to keep."""
    plan: list[Any] = [FULL if o.state == DURABLE else DROP for o in ops]
    idx = [i for i, o in enumerate(ops) if o.state != DURABLE]
    n = len(idx)
    if n == 0 or model == "clear-cache":
        return plan
    if model in ("keep", "dirops"):
        for i in idx:
            plan[i] = FULL
    elif model == "prefix":
        for i in idx[: rng.randint(0, n)]:
            plan[i] = FULL
    elif model == "torn":
        k = rng.randint(0, n - 1)
        for i in idx[:k]:
            plan[i] = FULL
        op = ops[idx[k]]
        if isinstance(op, WriteOp) and op.data:
            ps = pieces(op.offset, op.end, rng.choice(PIECE_SIZES))
            if len(ps) == 1:
                ps = pieces(op.offset, op.end, 512)
            if len(ps) >= 2:
                keep = [p for p in ps if rng.random() < 0.5]
                if len(keep) == len(ps):
                    keep.pop(rng.randrange(len(keep)))
                if not keep:
                    keep = [rng.choice(ps)]
                plan[idx[k]] = keep
            else:
                plan[idx[k]] = FULL if rng.random() < 0.5 else DROP
        else:
            plan[idx[k]] = FULL if rng.random() < 0.5 else DROP
    elif model == "reorder":
        keep = [rng.random() < 0.5 for _ in idx]
        if n >= 2 and not any(not keep[a] and keep[b] for a in range(n) for b in range(a + 1, n)):
            a = rng.randrange(n - 1)
            b = rng.randrange(a + 1, n)
            keep[a], keep[b] = False, True
        for i, k in zip(idx, keep):
            if k:
                plan[i] = FULL
    else:
        raise ValueError(f"unknown file model {model!r}")
    return plan


def choose_dirops(model: str, ops: list[DirOp], rng: random.Random) -> list[bool]:
    """Which unsynced entry ops survive: always a prefix of their global order (as a journal commits)."""
    n = len(ops)
    if model == "clear-cache" or n == 0:
        k = 0
    elif model == "dirops":
        k = rng.randint(0, n - 1)
    else:
        k = rng.randint(0, n)
    keep = [i < k for i in range(n)]
    closure(ops, keep)
    return keep


# --- applying ----------------------------------------------------------------------


def _undo_file(fd: int, ops: list) -> None:
    for op in reversed(ops):
        if isinstance(op, WriteOp):
            if op.old:
                os.pwrite(fd, op.old, op.offset)
            if op.end > op.size_before:
                os.ftruncate(fd, op.size_before)
        else:
            os.ftruncate(fd, op.size_before)
            if op.cut:
                os.pwrite(fd, op.cut, op.length)


def _apply(fd: int, op, decision) -> int:
    """Re-apply one op (whole or pieces); returns the bytes of new data kept."""
    if decision is DROP:
        return 0
    if isinstance(op, TruncOp):
        os.ftruncate(fd, op.length)
        return 0
    if decision is FULL:
        os.pwrite(fd, op.data, op.offset)
        return len(op.data)
    kept = 0
    for a, b in decision:
        os.pwrite(fd, op.data[a - op.offset: b - op.offset], a)
        kept += b - a
    return kept


def rebuild_file(path: str, fj: FileJournal, plan: list[Any]) -> dict[str, Any]:
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        before = os.fstat(fd).st_size
        _undo_file(fd, fj.ops)
        durable_size = os.fstat(fd).st_size
        kept_bytes = sum(_apply(fd, op, d) for op, d in zip(fj.ops, plan))
        after = os.fstat(fd).st_size
    finally:
        os.close(fd)
    unsynced = [(op, d) for op, d in zip(fj.ops, plan) if op.state != DURABLE]
    torn = [{"write": op.describe(), "kept_pieces": [list(p) for p in d],
             "of": len(pieces(op.offset, op.end, 512))} for op, d in unsynced if isinstance(d, list)]
    return {"unsynced_ops": len(unsynced),
            "kept_ops": sum(1 for _, d in unsynced if d is FULL),
            "lost_ops": sum(1 for _, d in unsynced if d is DROP),
            "torn": torn,
            "unsynced_bytes": sum(len(op.data) for op, _ in unsynced if isinstance(op, WriteOp)),
            "kept_bytes": kept_bytes - sum(len(op.data) for op in fj.ops
                                           if op.state == DURABLE and isinstance(op, WriteOp)),
            "size_before": before, "durable_size": durable_size, "size_after": after}


def _scan(root: str, stash_parent: str) -> tuple[dict[int, str], dict[int, str]]:
    """(inode -> a path of a non-directory, directory inode -> its path) over root, stash included."""
    files: dict[int, str] = {}
    dirs: dict[int, str] = {}
    for top, _dnames, fnames in os.walk(root):
        dirs[os.lstat(top).st_ino] = top
        for n in fnames:
            p = os.path.join(top, n)
            try:
                files.setdefault(os.lstat(p).st_ino, p)
            except FileNotFoundError:
                pass
    for ino, p in list(dirs.items()):  # the stash holds files, but no name lives there
        if p == stash_parent or p.startswith(stash_parent + os.sep):
            del dirs[ino]
    return files, dirs


def _undo_dirop(op: DirOp, stash: str, dirs: dict[int, str]) -> None:
    u = op.undo
    if op.kind in ("create", "mknod", "symlink", "link"):
        os.unlink(os.path.join(dirs[u["dir"]], u["name"]))
    elif op.kind == "mkdir":
        p = os.path.join(dirs[u["dir"]], u["name"])
        os.rmdir(p)
        dirs.pop(op.objs[0], None)
    elif op.kind in ("unlink", "rmdir"):
        p = os.path.join(dirs[u["dir"]], u["name"])
        os.rename(os.path.join(stash, u["stash"]), p)
        if op.kind == "rmdir":
            dirs[op.objs[0]] = p
    elif op.kind == "rename":
        src = os.path.join(dirs[u["sdir"]], u["sname"])
        dst = os.path.join(dirs[u["tdir"]], u["tname"])
        os.rename(dst, src)
        if u["stash"]:
            os.rename(os.path.join(stash, u["stash"]), dst)
    else:  # pragma: no cover
        raise ValueError(f"unknown dir op {op.kind!r}")


def power_loss(root: str, stash: str, journal: Journal, seed: int, model: str | None = None) -> dict[str, Any]:
    """Rebuild ``root`` (see the module docstring); returns the report. The caller clears the journal."""
    if model is None:
        model = random.Random(f"faultfs:{seed}:model").choice(MODELS)
    if model not in MODELS:
        raise ValueError(f"unknown power-loss model {model!r}: use one of {', '.join(MODELS)}")
    stash_parent = os.path.dirname(stash)
    inode_paths, _ = _scan(root, stash_parent)

    files: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for fj in list(journal.files.values()):  # insertion order: the order files were first journaled
        if not fj.pending():
            continue
        path = inode_paths.get(fj.ino)
        if path is None:  # removed for good (a durable unlink): nothing left to lose
            continue
        nth = seen[fj.path] = seen.get(fj.path, -1) + 1  # a name reused by a new inode (temp files)
        rng = random.Random(f"faultfs:{seed}:file:{fj.path}:{nth}")
        fmodel = rng.choice(FILE_MODELS) if model == "mixed" else model
        plan = choose_file(fmodel, fj.ops, rng)
        rep = rebuild_file(path, fj, plan)
        rep["model"] = fmodel
        rep["path"] = os.path.relpath(path, root)
        files[fj.path if nth == 0 else f"{fj.path} #{nth}"] = rep

    ops = journal.dirops
    keep = choose_dirops(model, ops, random.Random(f"faultfs:{seed}:dirops"))
    _, dirs = _scan(root, stash_parent)
    undone, errors = [], []
    for op, k in zip(reversed(ops), reversed(keep)):
        if k:
            continue
        try:
            _undo_dirop(op, stash, dirs)
            undone.append(op.text)
        except (OSError, KeyError) as e:  # a bug in the model: say so in the report, don't hide it
            errors.append(f"{op.text}: {type(e).__name__}: {e}")
        if op.kind in ("rename", "rmdir") and (op.undo.get("moved_dir") or op.undo.get("replaced_dir")
                                               or op.kind == "rmdir"):
            _, dirs = _scan(root, stash_parent)
    shutil.rmtree(stash_parent, ignore_errors=True)
    os.makedirs(stash, exist_ok=True)
    return {"seed": seed, "model": model, "files": files,
            "dirops_undone": undone, "dirops_kept": [o.text for o, k in zip(ops, keep) if k],
            "undo_errors": errors}
