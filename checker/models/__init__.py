"""Models for the linearizability search (see :mod:`checker.models.base`).

``MODELS`` maps the names the command line accepts to model classes."""

from __future__ import annotations

from typing import Any

from checker.models.base import DEFAULT, INVALID, UNKNOWN, Model, ModelError
from checker.models.kv import KV, Upsert
from checker.models.multi_register import MultiRegister
from checker.models.mutex import Mutex
from checker.models.register import CASRegister, Register

MODELS: dict[str, type[Model]] = {
    "register": Register,
    "cas-register": CASRegister,
    "multi-register": MultiRegister,
    "mutex": Mutex,
    "kv": KV,
    "upsert": Upsert,
}


def model_names() -> list[str]:
    return list(MODELS) + [f"independent-{n}" for n in MODELS]


def get_model(name: str, initial: Any = DEFAULT) -> Model:
    """A model by name; ``independent-<name>`` is one copy of ``<name>``
    per key (:mod:`checker.models.independent`)."""
    if name.startswith("independent-") and name[len("independent-"):] in MODELS:
        from checker.models.independent import Independent

        return Independent(MODELS[name[len("independent-"):]], initial)
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)} (or independent-<one of them>)") from None
    return cls(initial)


__all__ = ["DEFAULT", "INVALID", "MODELS", "UNKNOWN", "Model", "ModelError", "get_model"]
