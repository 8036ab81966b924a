"""The model protocol of the linearizability search (after Porcupine's:
init, step, partition; plus encode and a cheap refutation hook).

A model is a small object describing a sequential object. Its *states* must
be hashable and compare by value: the search memoises (linearized set,
state) pairs. ``step`` is deterministic: given a state and an operation
(its input and its observed output) it returns the next state, or
:data:`INVALID` if the object could not have produced that output there.

An indeterminate operation (``info``, or no completion) is stepped with
output :data:`UNKNOWN`: the step must accept it and return the state the
operation would leave whatever it returned. An ``ok`` op with
``unknown_result`` is stepped the same way.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from checker.errors import ModelError  # re-exported
from checker.formats.rows_delta import DeltaRows
from checker.history import Op


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name


#: output of an operation whose result is not known
UNKNOWN: Any = _Sentinel("UNKNOWN")
#: returned by ``step`` when the operation is impossible in that state
INVALID: Any = _Sentinel("INVALID")
#: "use the model's default initial value"
DEFAULT: Any = _Sentinel("DEFAULT")




def freeze(v: Any) -> Hashable:
    """A hashable, value-comparing twin of a JSON/EDN value (a read kept as
    its delta, :class:`~checker.formats.rows_delta.DeltaRows`, as its rows)."""
    if isinstance(v, list | tuple | DeltaRows):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((freeze(k), freeze(x)) for k, x in v.items()), key=repr))
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    if isinstance(v, str) and type(v) is not str:
        return str(v)
    return v


def show(v: Any) -> str:
    """A value as a human reads it in a message (EDN-ish: nil for None)."""
    if v is None:
        return "nil"
    if v is UNKNOWN:
        return "?"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(str(v))
    if isinstance(v, tuple):
        return "[" + " ".join(show(x) for x in v) + "]"
    return str(v)


class Model:
    """Base class: override ``init``, ``encode`` and ``step``; optionally
    ``readonly``, ``partition``, ``refute`` and ``show_state``."""

    name = "model"

    def __init__(self, initial: Any = DEFAULT):
        self.initial = initial

    def init(self) -> Hashable:
        raise NotImplementedError

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        """``(f, input, output)`` for ``op``, hashable; ``output`` is
        UNKNOWN for an indeterminate op or an unknown result. Raises
        ModelError for an op this model does not have."""
        raise NotImplementedError

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        raise NotImplementedError

    def readonly(self, f: str, arg: Any) -> bool:
        """True if the op never changes the state: then an indeterminate
        instance, or one with an unknown result, constrains nothing and the
        search drops it."""
        return False

    def partition(self, ops: list[Op]) -> list[tuple[Any, list[Op], Model]] | None:
        """P-compositionality: independent sub-histories, each checked with
        its own (sub)model, such that the whole is linearizable iff every
        part is. None when the model does not partition."""
        return None

    def refute(self, entries: list[Any]) -> tuple[Op, str] | None:
        """A cheap proof of non-linearizability before any search, or None.
        ``entries`` are :class:`checker.linear.Entry` values."""
        return None

    def monotone(self, entries: list[Any]) -> bool:
        """True if, in the history of ``entries``, every state is a prefix
        of every later state and a read's output is the state it read (a
        string or tuple): e.g. a key that is only appended to. The search
        then prunes every configuration whose state is not a prefix of the
        reads still to come (:func:`checker.linear._bounds`)."""
        return False

    def show_state(self, state: Any) -> str:
        return show(state)

    def describe(self, op: Op) -> str:
        """An op as a short phrase: ``process 3: cas [1 2] -> false``."""
        if op.type == "info":
            res = "?"
        elif op.unknown_result:
            res = "?"
        else:
            res = show(freeze(op.result))
        arg = "" if op.value is None else " " + show(freeze(op.value))
        return f"process {op.process}: {op.f}{arg} -> {res}"

    def bad(self, op: Op, expected: str) -> ModelError:
        return ModelError(f"op {op.index} ({op.f} {show(freeze(op.value))}) does not fit the {self.name} model; expected {expected}")
