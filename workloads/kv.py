"""The ``kv`` workload: a generic key-value store, for systems that are not
persist (per-key linearizable put/get/compare-and-set, checked with the
``kv-cas`` model of :mod:`checker.models.kv`; the checkers are
:mod:`checker.kv`).

Processes. One worker process (slot 0, role ``"client"``) holds the system's
handle; every client process is a thread of it, so requests of several
processes are in flight at once. The system is asked for three operations
on its handle (``docs/protocol.md``, ``kv_put``/``kv_get``/``kv_cas``):

* ``kv_put(key, value)`` — set ``key`` to ``value`` (bytes);
* ``kv_get(key)`` — the value, or None when the key is absent;
* ``kv_cas(key, expect, value)`` — set ``key`` to ``value`` if its value is
  ``expect`` (None: absent); when it is not, raise a *determinate* error
  (the protocol's class ``CasMismatch``): the write certainly did not happen.

An ``exec:`` system serves them over the protocol; a ``module:Class``
system's handle has them as methods. The default system, persist, has no
key-value surface of its own: the client serves kv over persist's upsert
operator (:class:`PersistKV`: one stream ``kv``, each put one upsert and a
seal; a cas reads and upserts under the writer's lock, which makes it atomic
since the writer process is the only one).

Keys are ``k0`` .. ``k4``; every value written is unique in the run
(``"<process>.<n>"``), so a read names the write it saw.

Operations (history values, ``docs/history.md``)::

    put   invoke {"key": "k3", "value": "2.17"}                 ok the same
    get   invoke {"key": "k3"}                                  ok {"key": "k3", "value": v | null}
    cas   invoke {"key": "k3", "expect": v | null, "value": w}  ok the same; fail when the value was not expect

A cas expects the value its process last read or wrote for the key (absent
before that), so a good share of them succeed.

Final reads: after healing, a ``get`` of every key with ``"final": true``.
"""

from __future__ import annotations

import threading
from typing import Any

from workloads.base import WorkerSpec, rng_for

KEYS = tuple(f"k{i}" for i in range(5))
CLIENT = "client"


class KVGenerator:
    def __init__(self, process: int, seed: int) -> None:
        self.process = process
        self.rng = rng_for(seed, "kv", process)
        self.n = 0
        self.seen: dict[str, str | None] = {}  # the value this process last read or wrote per key

    def next_op(self) -> dict[str, Any] | None:
        r = self.rng
        self.n += 1
        x = r.random()
        key = r.choice(KEYS)
        if x < 0.45:
            return {"f": "put", "value": {"key": key, "value": f"{self.process}.{self.n}"}}
        if x < 0.65:
            return {"f": "cas", "value": {"key": key, "expect": self.seen.get(key), "value": f"{self.process}.{self.n}"}}
        return {"f": "get", "value": {"key": key}}

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None:
        if type_ == "ok" and isinstance(value, dict) and "key" in value:
            self.seen[value["key"]] = value.get("value")


class KVWorkload:
    name = "kv"
    #: the location holds the system's own files, not persist's format: no fsck
    #: (``persist.check``) of it at the end unless the system is persist itself
    own_format = True

    def workers(self, concurrency: int) -> list[WorkerSpec]:
        return [WorkerSpec(0, CLIENT)]

    def assign(self, concurrency: int) -> list[int]:
        return [0] * concurrency

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> KVGenerator:
        return KVGenerator(process, seed)

    def final_ops(self, gens: list[KVGenerator]) -> list[tuple[int, dict[str, Any]]]:
        return [(0, {"f": "get", "value": {"key": k, "final": True}}) for k in KEYS]

    def checkers(self) -> list[str]:
        return ["kv"]

    def pace(self, role: str) -> float:
        return 0.0


WORKLOAD = KVWorkload()


def _b(v: str | None) -> bytes | None:
    return None if v is None else v.encode()


def _s(v: bytes | None) -> str | None:
    return None if v is None else bytes(v).decode()


class PersistKV:
    """kv over persist's upsert operator (the default system has no kv
    surface): the ``upsert`` workload's writer (rehydrated after any
    failure, every upsert sealed before it is acknowledged), plus a lock that
    makes a cas's read and upsert one step. Keys and values must be UTF-8
    (the upsert client's are text; the workload's are ASCII)."""

    def __init__(self, p: Any) -> None:
        from workloads.upsert import UpsertClient

        self.u = UpsertClient()
        self.u.attach(p)
        self.lock = threading.Lock()

    def kv_put(self, key: bytes, value: bytes) -> None:
        with self.lock:
            self.u.invoke("upsert", {"key": key.decode(), "value": value.decode()})

    def kv_get(self, key: bytes) -> bytes | None:
        return _b(self.u.invoke("get", {"key": key.decode()})["value"])

    def kv_cas(self, key: bytes, expect: bytes | None, value: bytes) -> None:
        with self.lock:
            cur = self.u.invoke("get", {"key": key.decode()})["value"]
            if _b(cur) != expect:
                from workloads.exec_system import remote_error  # the protocol's CasMismatch, determinate

                raise remote_error({"type": "determinate", "class": "CasMismatch",
                                    "message": f"cas of {key.decode()}: expected {_s(expect)!r}, the value is {cur!r}"})
            self.u.invoke("upsert", {"key": key.decode(), "value": value.decode()})

    def close(self) -> None:
        self.u.close()


class KVClient:
    """Runs kv operations against the system's handle (its ``kv_*`` methods)."""

    def open(self, url: str, options: dict[str, Any]) -> None:
        from workloads.append import open_persist

        h = open_persist(url, options, False)
        self.h = h if hasattr(h, "kv_put") else PersistKV(h)

    def invoke(self, f: str, value: Any) -> Any:
        key = value["key"]
        if f == "put":
            self.h.kv_put(key.encode(), value["value"].encode())
            return value
        if f == "get":
            return {"key": key, "value": _s(self.h.kv_get(key.encode()))}
        if f == "cas":
            self.h.kv_cas(key.encode(), _b(value["expect"]), value["value"].encode())
            return value
        raise ValueError(f"kv workload: unknown operation {f!r}")

    def close(self) -> None:
        self.h.close()


CLIENTS = {CLIENT: KVClient}
