"""A fault-injecting FUSE filesystem: passthrough to a backing directory that journals what a
power loss could take away, rebuilds the backing directory into a crash state on request, and
injects I/O errors and latency. Semantics: ``docs/faultfs.md``.

    from nemesis.faultfs import FaultFS, available
"""

from nemesis.faultfs.errors import FaultFSBadInput, FaultFSControlError, FaultFSMountError, FaultFSUnavailable
from nemesis.faultfs.fs import FaultFS, available
from nemesis.faultfs.powerloss import MODELS

__all__ = ["FaultFS", "available", "MODELS", "FaultFSBadInput", "FaultFSControlError", "FaultFSMountError",
           "FaultFSUnavailable"]
