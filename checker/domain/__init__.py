"""Domain checkers for persist histories (BRIEF §5): each one reads an
append-workload history (``docs/history.md``) and returns a :class:`Result`.

Every checker here is a small object with one verb, ``check(history)``
(the :class:`Checker` protocol), and runs in O(n log n) in the size of the
history (events plus snapshot rows). Run by
:func:`checker.workloads.check_workload`, they share one parse of the
history (:mod:`checker.domain.append`) and one comparison of snapshots with
the replayed model (:mod:`checker.domain.contents`); each then reports its
own view of it:

==================  ===========================================================
``lost-writes``     an acknowledged write missing from a snapshot invoked
                    after it completed (:mod:`.lost`)
``phantoms``        a row nobody could have written (:mod:`.phantom`)
``duplicates``      a row with more copies than its writes make (:mod:`.duplicates`)
``flicker``         an indeterminate write seen by one snapshot and not by
                    another covering its time, or seen in part only: a torn
                    write (:mod:`.flicker`)
``frontiers``       ``upper``/``since`` going back in real time (:mod:`.frontiers`)
``seals``           an acknowledged seal or compaction not seen later, or a
                    later write/read/seal it should have refused (:mod:`.frontiers`)
``snapshot-model``  a snapshot differing from the model replayed at its
                    ``as_of`` (:mod:`.model`), at any ``as_of`` in
                    ``[since, upper)`` (time travel)
``listen``          a listen that delivered an update twice, out of its
                    progress, before its seal, or unlike the model (:mod:`.listen`)
``failed-no-effect`` a determinately failed write seen, or a frontier value
                    only a failed seal/compaction asked for (:mod:`.failures`)
``no-fencing``      a ``FencedError`` in a workload with one writer
                    (:mod:`checker.fencing`)
==================  ===========================================================

The snapshot-model checker is the complete comparison; lost-writes, phantoms
and duplicates are named views of parts of it, so one engine bug may be
reported by two of them.
"""

from __future__ import annotations

from typing import Protocol

from checker.history import History
from checker.result import Result


class Checker(Protocol):
    """A pure function of a history. ``name`` is what its Result is called."""

    name: str

    def check(self, history: History) -> Result: ...


def append_checkers() -> list[Checker]:
    """The checkers for the ``append`` workload, in report order."""
    from checker.domain.duplicates import Duplicates
    from checker.domain.failures import FailedNoEffect
    from checker.domain.listen import ListenChecker
    from checker.fencing import NoFencing
    from checker.domain.flicker import Flicker
    from checker.domain.frontiers import FrontierMonotonic, SealsSeen
    from checker.domain.lost import LostWrites
    from checker.domain.model import SnapshotModel
    from checker.domain.phantom import Phantoms

    return [LostWrites(), Phantoms(), Duplicates(), Flicker(), FrontierMonotonic(), SealsSeen(), SnapshotModel(),
            ListenChecker(), FailedNoEffect(), NoFencing()]


__all__ = ["Checker", "append_checkers"]
