"""Failpoints: named places in the engine where a test makes it crash, raise
or stall (FoundationDB's BUGGIFY, TiKV's fail-rs).

A failpoint is a call ``failpoint("drain.before_metadata")`` on an engine
path. Disarmed (the normal case) it costs one truthiness test of a module
dict: nothing is counted, nothing allocated.

Arming:

- from code: ``arm("drain.before_metadata", "crash", at=3)``, ``disarm(name)``,
  ``disarm_all()``, or the context manager ``armed(name, mode, ...)``;
- in a child process, through the environment variable ``PERSIST_FAILPOINTS``
  read at import::

      PERSIST_FAILPOINTS="drain.before_metadata=crash@3;write.after_wal=stall:0.5"

  Each ``;``-separated entry is ``name=mode[:arg][@n]``; ``@n`` triggers at
  the n-th hit only (default: every hit), ``@n+`` at the n-th and every later.

Modes:

- ``crash``: the process kills itself with SIGKILL (no ``finally``, no
  atexit, no flush: what a power cut or OOM kill does to the process; the
  page cache survives, as it does for a real SIGKILL).
- ``error``: raise :class:`~persist.errors.FailpointError` (indeterminate).
- ``stall``: sleep ``arg`` seconds (default 3600: stop until killed).
- ``wait``: block until ``release(name)`` is called from another thread (or
  ``arg`` seconds pass); for in-process tests that need an exact interleaving.

The names (``NAMES``) are the places listed in the engine's write, drain,
seal, compaction, GC and open paths; arming an unknown name is refused so a
typo does not silently test nothing.

Hit counting (coverage): :func:`count_hits` makes every hit of every name
counted, armed or not, into a dict that :func:`hit_counts` copies (the
harness reports it from each worker; ``nemesis/coverage.py``). Off by
default, and then it costs one ``is None`` test more per hit. Counts are
increments under the GIL without a lock: two threads hitting the same name
at once may count one hit, never zero. ``on_crash``: a callable run just
before a ``crash`` failpoint kills the process (the harness flushes its
counts there); it must not raise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field

from persist.errors import FailpointError, InvalidArgumentError

ENV_VAR = "PERSIST_FAILPOINTS"

#: Every failpoint the engine hits, with where it sits.
NAMES: dict[str, str] = {
    "write.before_wal": "a write was validated, its Wal record not yet appended",
    "write.after_wal": "the Wal record is durable, the write not yet acknowledged",
    "drain.before_blob": "a drain chose its records, no batch blob written yet",
    "drain.before_metadata": "the drain's batch blobs are written, metadata not yet swapped",
    "drain.after_metadata": "the metadata absorbed the records, the Wal not yet truncated",
    "drain.after_truncate": "the Wal was truncated after a drain",
    "seal.before_blob": "a seal chose its data, no trace batch written yet",
    "seal.before_metadata": "the seal's trace batch is written, metadata not yet swapped",
    "seal.after_metadata": "the seal's metadata is durable, replaced blobs not yet deleted",
    "compaction.before_blob": "compaction chose batches to merge, merged batch not yet written",
    "compaction.before_metadata": "the merged batch is written, metadata not yet swapped",
    "compaction.after_metadata": "the merge is durable, the merged inputs not yet deleted",
    "gc.before_delete": "GC listed orphan blobs, deleted none yet",
    "gc.after_delete": "GC deleted one orphan blob",
    "metadata.before_cas": "a new metadata record is about to be compare-and-set",
    "metadata.after_cas": "a metadata compare-and-set returned success",
    "open.after_epoch": "open bumped the epoch, nothing replayed yet",
}

MODES = ("crash", "error", "stall", "wait")


@dataclass
class _Spec:
    mode: str
    at: int = 0  # 0: every hit; n: the n-th hit (and later ones if every_after)
    every_after: bool = False
    arg: float | None = None
    hits: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)


_ARMED: dict[str, _Spec] = {}
_LOCK = threading.Lock()
#: name -> hits since count_hits() (None: not counting)
_COUNTS: dict[str, int] | None = None
#: called just before a crash failpoint kills the process (see the module docstring)
on_crash = None


def failpoint(name: str) -> None:
    """Hit the failpoint ``name``. Free when nothing is armed and nothing counts."""
    if _COUNTS is not None:
        _COUNTS[name] = _COUNTS.get(name, 0) + 1
    if _ARMED:
        _hit(name)


def count_hits(on: bool = True) -> None:
    """Start (``on``) counting every hit of every failpoint, from zero; or stop."""
    global _COUNTS
    _COUNTS = {} if on else None


def hit_counts() -> dict[str, int]:
    """A copy of the hits counted since :func:`count_hits` (empty when not counting)."""
    return dict(_COUNTS) if _COUNTS is not None else {}


def _hit(name: str) -> None:
    with _LOCK:
        spec = _ARMED.get(name)
        if spec is None:
            return
        spec.hits += 1
        n = spec.hits
        if spec.at and (n < spec.at or (n > spec.at and not spec.every_after)):
            return
    if spec.mode == "crash":
        if on_crash is not None:
            try:
                on_crash()
            except Exception:  # noqa: BLE001 - the crash must happen whatever the hook does
                pass
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # pragma: no cover - the signal arrives first
    elif spec.mode == "error":
        raise FailpointError(f"failpoint {name!r} armed in error mode fired at hit {n}")
    elif spec.mode == "stall":
        time.sleep(3600.0 if spec.arg is None else spec.arg)
    elif spec.mode == "wait":
        spec.reached.set()
        spec.released.wait(3600.0 if spec.arg is None else spec.arg)


def arm(name: str, mode: str, *, at: int = 0, every_after: bool = False, arg: float | None = None) -> None:
    """Arm ``name`` in ``mode`` ('crash', 'error', 'stall'); ``at``: trigger at
    that hit only (0: every hit; with ``every_after``, at it and later)."""
    if name not in NAMES:
        raise InvalidArgumentError(f"unknown failpoint {name!r}; known: {', '.join(sorted(NAMES))}")
    if mode not in MODES:
        raise InvalidArgumentError(f"failpoint {name!r}: unknown mode {mode!r}; use one of {MODES}")
    if at < 0:
        raise InvalidArgumentError(f"failpoint {name!r}: at={at} must be >= 0")
    with _LOCK:
        _ARMED[name] = _Spec(mode=mode, at=at, every_after=every_after, arg=arg)


def wait_reached(name: str, timeout: float | None = 60.0) -> bool:
    """Block until a thread is held at ``name`` (armed in ``wait`` mode)."""
    with _LOCK:
        spec = _ARMED.get(name)
    if spec is None:
        raise InvalidArgumentError(f"failpoint {name!r} is not armed")
    return spec.reached.wait(timeout)


def release(name: str) -> None:
    """Let every thread held at ``name`` (``wait`` mode) go on."""
    with _LOCK:
        spec = _ARMED.get(name)
    if spec is not None:
        spec.released.set()


def disarm(name: str) -> None:
    with _LOCK:
        spec = _ARMED.pop(name, None)
    if spec is not None:
        spec.released.set()


def disarm_all() -> None:
    with _LOCK:
        specs = list(_ARMED.values())
        _ARMED.clear()
    for spec in specs:
        spec.released.set()


def hits(name: str) -> int:
    """How often ``name`` was hit since it was armed (0 when disarmed)."""
    with _LOCK:
        spec = _ARMED.get(name)
        return 0 if spec is None else spec.hits


@contextlib.contextmanager
def armed(name: str, mode: str, **kw):
    arm(name, mode, **kw)
    try:
        yield
    finally:
        disarm(name)


def parse(text: str) -> list[tuple[str, str, int, bool, float | None]]:
    """Parse the ``PERSIST_FAILPOINTS`` syntax into (name, mode, at, every_after, arg)."""
    out = []
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        if "=" not in entry:
            raise InvalidArgumentError(f"{ENV_VAR} entry {entry!r} is not name=mode[:arg][@n]")
        name, rest = entry.split("=", 1)
        at, every_after = 0, False
        if "@" in rest:
            rest, count = rest.split("@", 1)
            if count.endswith("+"):
                every_after, count = True, count[:-1]
            try:
                at = int(count)
            except ValueError:
                raise InvalidArgumentError(f"{ENV_VAR} entry {entry!r}: hit count {count!r} is not an integer") from None
        arg = None
        if ":" in rest:
            rest, a = rest.split(":", 1)
            try:
                arg = float(a)
            except ValueError:
                raise InvalidArgumentError(f"{ENV_VAR} entry {entry!r}: argument {a!r} is not a number") from None
        out.append((name.strip(), rest.strip(), at, every_after, arg))
    return out


def arm_from_env(environ=os.environ) -> None:
    """Arm what ``PERSIST_FAILPOINTS`` names (called once at import)."""
    text = environ.get(ENV_VAR, "")
    for name, mode, at, every_after, arg in parse(text):
        arm(name, mode, at=at, every_after=every_after, arg=arg)


def env_value(specs: dict[str, str]) -> str:
    """The ``PERSIST_FAILPOINTS`` value for ``{name: "mode[:arg][@n]"}``."""
    return ";".join(f"{k}={v}" for k, v in specs.items())


arm_from_env()
