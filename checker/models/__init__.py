"""Models for the linearizability search (see :mod:`checker.models.base`).

``MODELS`` maps the names the command line accepts to model classes; each
class is imported the first time it is looked up (``check`` on a register
history never imports the kv or multi-register models: start-up time)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from checker.models.base import DEFAULT, INVALID, UNKNOWN, Model, ModelError

_WHERE: dict[str, tuple[str, str]] = {
    "register": ("checker.models.register", "Register"),
    "cas-register": ("checker.models.register", "CASRegister"),
    "multi-register": ("checker.models.multi_register", "MultiRegister"),
    "mutex": ("checker.models.mutex", "Mutex"),
    "kv": ("checker.models.kv", "KV"),
    "upsert": ("checker.models.kv", "Upsert"),
    "kv-cas": ("checker.models.kv", "KVCas"),
}


class _Lazy(Mapping[str, type[Model]]):
    """name -> model class, importing the class's module on first use."""

    def __getitem__(self, name: str) -> type[Model]:
        mod, attr = _WHERE[name]
        return getattr(importlib.import_module(mod), attr)

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


MODELS: Mapping[str, type[Model]] = _Lazy()


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
