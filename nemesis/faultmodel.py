"""Which disk fault model a run uses: the fault filesystem or the tracer.

``--fs auto|fuse|tracer`` (``RunConfig.fs``) chooses it; :func:`resolve`
turns the choice into the model that runs:

* ``faultfs`` (``--fs fuse``): the run's data directory is a FUSE mount of
  :mod:`nemesis.faultfs` over a backing directory. The filesystem sees every
  call of every process on the mount (Python's ``os``, pyarrow's C++,
  SQLite, another language), keeps what a power loss could lose (unsynced
  byte ranges *and* unsynced directory operations) and fails or slows
  chosen operations. ``lose-unsynced`` is a power loss on it;
  ``disk-error`` and ``slow-disk`` exist only there.
* ``tracer`` (``--fs tracer``): the in-process tracer
  (:mod:`nemesis.fsync_watch`) inside each worker reports what Python's
  ``os`` made durable, and ``lose-unsynced`` cuts files back to a prefix of
  it. It never undoes a rename, an unlink or a create of an existing name,
  and sees nothing a C library writes: the weaker model.

``auto`` is ``faultfs`` where :func:`nemesis.faultfs.available` says a
mount can work, else ``tracer`` *with the reason*: the run summary, the
run's ``config.json`` and ``results.json`` say which model ran and why
(``fault_model``, ``fs_reason``): never silently the weaker one. ``fuse``
where FUSE cannot work, or a filesystem-only nemesis on the tracer, is bad
input (:class:`FaultModelError`, exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from nemesis.errors import BadInput, StartError

#: the values of ``--fs``
CHOICES = ("auto", "fuse", "tracer")
#: nemeses that only the fault filesystem can do (the tracer has no way to fail or slow a call of the engine's)
FS_ONLY = ("disk-error", "slow-disk")


class FaultModelError(BadInput):
    """``--fs`` cannot be honoured (unknown value, FUSE unavailable) or a
    nemesis needs the fault filesystem; the message says what to do."""


class MountError(StartError):
    """The fault filesystem could not be mounted over a run's data directory;
    nothing ran. The message quotes the filesystem's error."""


@dataclass(frozen=True)
class FaultModel:
    """The model that runs: ``name`` is ``"faultfs"`` or ``"tracer"``;
    ``reason`` says why the tracer runs when ``auto`` fell back (None otherwise)."""

    name: str
    reason: str | None = None

    @property
    def fs(self) -> str:
        """The ``--fs`` value that reproduces this model."""
        return "fuse" if self.name == "faultfs" else "tracer"


def fuse_available() -> tuple[bool, str]:
    """``nemesis.faultfs.available()``, or why the module itself is missing."""
    try:
        from nemesis.faultfs import available
    except ImportError as e:
        return False, f"the fault filesystem (nemesis.faultfs) cannot be imported: {e}"
    try:
        return available()
    except Exception as e:  # a probe that crashes is a reason too, never a crash of the run
        return False, f"the fault filesystem's availability check failed: {type(e).__name__}: {e}"


def resolve(fs: str, nemeses: list[str] | tuple[str, ...] = ()) -> FaultModel:
    """The model ``--fs fs`` gives on this machine for a run with ``nemeses``.

    Raises :class:`FaultModelError` for an unknown value, ``fuse`` where it
    cannot work, and a nemesis of :data:`FS_ONLY` on the tracer (also when
    ``auto`` fell back to it: the run would not be what was asked)."""
    if fs not in CHOICES:
        raise FaultModelError(f"unknown fault model {fs!r}; accepted: {', '.join(CHOICES)} "
                              "(auto: the fault filesystem where FUSE works, else the tracer)")
    only = [n for n in nemeses if n in FS_ONLY]
    if fs == "tracer":
        if only:
            raise FaultModelError(f"the {only[0]} nemesis needs the fault filesystem (--fs fuse or auto); the "
                                  "tracer cannot fail or slow the engine's calls: drop it or use --fs fuse")
        return FaultModel("tracer")
    ok, why = fuse_available()
    if ok:
        return FaultModel("faultfs")
    if fs == "fuse":
        raise FaultModelError(f"--fs fuse: the fault filesystem cannot run here: {why}; use --fs tracer "
                              "(the weaker in-process model) or run as root where /dev/fuse and fuse3 exist")
    if only:
        raise FaultModelError(f"the {only[0]} nemesis needs the fault filesystem, which cannot run here: {why}")
    return FaultModel("tracer", f"fault filesystem unavailable: {why}")
