"""Everything the harness raises, under one root.

Each class says whether the thing it stopped happened:

* ``happened = False`` (**determinate**): it was refused before anything ran
  or changed (bad input: a flag, a name, a file, a rule; a store that cannot
  be written; a moto server that cannot start). Fix the input and run again.
* ``happened = None`` (**indeterminate**): it stopped part-way and may have
  had effects (a run aborted after its workers started: the run directory
  holds what was recorded and says ``aborted``; a fault rule whose control
  request failed may or may not be installed).

A verdict (valid, invalid, unknown) is never an exception: it is a
:class:`checker.result.Result`.

    NemesisError
    ├── BadInput            happened = False  (exit code 3 at the command line)
    │   ├── UnknownNemesis, StoreError, RuleError, ReportError,
    │   ├── RegressionError, MutantError, CampaignError, CheckInputError
    ├── StartError          happened = False  (MotoStartError: nothing ran)
    └── Stopped             happened = None   (RunAborted, ShrinkError, ControlError)
"""

from __future__ import annotations

#: the exit code of bad input at the command line (Jepsen's 0 valid, 1 invalid, 2 unknown stay verdicts)
EXIT_USAGE = 3


class NemesisError(Exception):
    """Root of the harness's errors."""

    #: False: certainly nothing happened; None: it may have, in part
    happened: bool | None = False


class BadInput(NemesisError, ValueError):
    """Input refused before anything ran; the message says what was wrong and
    what is accepted."""

    happened = False


class StartError(NemesisError, RuntimeError):
    """A part the run needs could not be started; nothing ran."""

    happened = False


class Stopped(NemesisError, RuntimeError):
    """Stopped part-way: what ran is recorded, and may have had effects."""

    happened = None
