"""Everything the checker raises, under one root.

The checker is a pure function from a history to a verdict, so an error never
means "invalid": it means no verdict was reached because the input could not
be read. Nothing was judged and nothing was changed (every checker error is
*determinate*: re-running on the same input raises it again). Verdicts,
including ``"unknown"`` for a time or search limit, are :class:`checker.result.Result`
values, never exceptions.

    CheckerError
    └── HistoryError        a history that cannot be read (names the line)
        ├── EdnError        malformed EDN
        └── ModelError      an operation the chosen model does not understand
"""

from __future__ import annotations


class CheckerError(ValueError):
    """Root of the checker's errors: bad input, no verdict reached, nothing
    judged (a ``ValueError``, so callers that treat bad input generically
    keep working)."""

    #: the checker never has side effects: the call certainly did nothing
    determinate = True


class HistoryError(CheckerError):
    """A history that cannot be read: says which line and what was expected."""


class EdnError(HistoryError):
    """Malformed EDN: ``line`` is 1-based; the message says what was expected."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.detail = message


class ModelError(HistoryError):
    """An operation the model does not understand (wrong ``f`` or value
    shape): bad input, not a verdict."""
