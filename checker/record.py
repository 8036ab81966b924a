"""Plain record classes for the checker's data (operations, results, search
entries): what ``@dataclass`` would generate, written out once.

Why not dataclasses: creating a dataclass runs generated code through
``exec`` at import time, a few milliseconds per class; the checker's eight
records cost ``persist-nemesis check`` a third of its start-up (issue 12:
time to a verdict on one small file). A subclass lists its fields in
``__slots__`` (in constructor order) and writes its own ``__init__``;
:class:`Record` gives it dataclass-like ``repr`` and ``==`` (field by field,
same class), and, like a dataclass with ``eq``, no hash.
"""

from __future__ import annotations

from typing import Any


class Record:
    __slots__: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value, as a dataclass

    def _fields(self) -> tuple[str, ...]:
        out: list[str] = []
        for cls in reversed(type(self).__mro__):
            out.extend(k for k in getattr(cls, "__slots__", ()) if k not in ("__dict__", "__weakref__"))
        return tuple(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields()) + ")"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self._fields())
