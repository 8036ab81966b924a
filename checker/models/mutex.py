"""A mutex, as in Knossos: ``acquire`` when free takes it, ``release`` when
held frees it; anything else is impossible. The state is ``True`` when held.
"""

from __future__ import annotations

from typing import Any

from checker.history import Op
from checker.models.base import DEFAULT, INVALID, Model


class Mutex(Model):
    name = "mutex"

    def init(self) -> Any:
        return False if self.initial is DEFAULT else bool(self.initial)

    def encode(self, op: Op) -> tuple[str, Any, Any]:
        if op.f not in ("acquire", "release"):
            raise self.bad(op, "acquire or release")
        return (op.f, None, None)

    def step(self, state: Any, f: str, arg: Any, out: Any) -> Any:
        if f == "acquire":
            return True if not state else INVALID
        return False if state else INVALID

    def show_state(self, state: Any) -> str:
        return "held" if state else "free"
