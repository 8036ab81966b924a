"""What the fault filesystem's controller raises (all under :class:`nemesis.errors.NemesisError`).

    FaultFSUnavailable  StartError  happened=False  no /dev/fuse, not root, no libfuse3, no mfusepy
    FaultFSMountError   StartError  happened=False  the server could not mount (its log is in the message)
    FaultFSBadInput     BadInput    happened=False  a refused request (unknown op, errno, mode, model)
    FaultFSControlError Stopped     happened=None   the control request failed or the server died:
                                                    it may or may not have taken effect
"""

from __future__ import annotations

from nemesis.errors import BadInput, StartError, Stopped


class FaultFSUnavailable(StartError):
    """This machine cannot mount the fault filesystem; the message says why."""


class FaultFSMountError(StartError):
    """The fault filesystem did not come up; nothing is mounted."""


class FaultFSBadInput(BadInput):
    """A request the fault filesystem refused before doing anything."""


class FaultFSControlError(Stopped):
    """A control request failed part-way or the server is gone: it may have taken effect."""
