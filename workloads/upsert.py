"""The ``upsert`` workload: keys and values through persist's upsert operator
(``persist.operators.upsert.Upsert``), read back through the arrangement
view; each key's value at the sealed frontier is a register, checked for
linearizability per key (BRIEF §4; the checker is :mod:`checker.upsert`).

Processes. Worker slot 0 is the **writer** process: one ``Persister``, one
stream ``u``, one upsert operator shared by its client processes (a lock
makes their upserts one at a time: the operator keeps one value per key and
needs its upserts in time order). Worker slot 1 (when ``concurrency >= 2``)
is a **reader** process on persist's read-only handle; about a quarter of the
client processes are readers.

The writer keeps a logical clock ``t``. An ``upsert`` (or ``delete``) is
``operator.upsert([(key, value_or_None, t)])`` (one durable write: the
retraction of the old value and the new value together) followed by
``operator.advance(t + 1)`` (a seal), so an acknowledged upsert is visible to
every read at the sealed frontier. After any failure, and in every new
worker process, the operator is rebuilt from the durable stream
(``rehydrate``) and ``t`` restarts above everything durable (the sealed
upper and every unsealed update's time), so no upsert is ever skipped as a
re-send. An operation that fails after its write may have reached the Wal is
indeterminate (``info``): the value is durable and becomes visible with the
next seal.

Keys are ``k0`` .. ``k7``; every value is unique in the run
(``"<process slot>.<n>"``), so a read names the write it saw.

Operations (history values)::

    upsert   invoke {"key": "k3", "value": "2.17"}
             ok     {"key", "value", "ts", "upper"}          # ts written at; upper after the seal
    delete   invoke {"key": "k3"}
             ok     {"key", "value": null, "ts", "upper"}
    get      invoke {"key": "k3"}
             ok     {"key", "value": v|null, "rows": [[v, diff], ...], "as_of", "upper"}
    read_all invoke {} (or {"final": true})
             ok     {"rows": [[k, v, diff], ...], "as_of", "upper"}

``get`` reads ``upper`` and then ``stream.arrange(upper - 1).get(key)``;
``value`` is the single value when ``rows`` is ``[[v, 1]]``, null when it is
empty, else the rows themselves (the checker flags that). Before anything
is sealed (``upper == 0``) reads return the empty map with ``as_of: null``.
``read_all`` iterates the whole arrangement.

Final reads: after healing, the writer rebuilds its operator, seals past
everything durable (making indeterminate upserts that did land visible) and
reads the whole map (``read_all`` with ``"final": true``); the reader then
reads it too.
"""

from __future__ import annotations

import threading
from typing import Any

from workloads.base import OneWriterOneReader, WorkerSpec, rng_for
from workloads.errors import Interrupted

STREAM = "u"
KEYS = tuple(f"k{i}" for i in range(8))
WRITER, READER = "writer", "reader"


class UpsertGenerator:
    def __init__(self, process: int, role: str, seed: int) -> None:
        self.process = process
        self.role = role
        self.rng = rng_for(seed, "upsert", process)
        self.n = 0

    def next_op(self) -> dict[str, Any] | None:
        r = self.rng
        self.n += 1
        x = r.random()
        key = r.choice(KEYS)
        if self.role == READER:
            if x < 0.8:
                return {"f": "get", "value": {"key": key}}
            return {"f": "read_all", "value": {}}
        if x < 0.55:
            return {"f": "upsert", "value": {"key": key, "value": f"{self.process}.{self.n}"}}
        if x < 0.65:
            return {"f": "delete", "value": {"key": key}}
        if x < 0.95:
            return {"f": "get", "value": {"key": key}}
        return {"f": "read_all", "value": {}}

    def completed(self, op: dict[str, Any], type_: str, value: Any) -> None:
        pass


class UpsertWorkload(OneWriterOneReader):
    name = "upsert"

    def generator(self, process: int, worker: WorkerSpec, seed: int) -> UpsertGenerator:
        return UpsertGenerator(process, worker.role, seed)

    def final_ops(self, gens: list[UpsertGenerator]) -> list[tuple[int, dict[str, Any]]]:
        ops = [(0, {"f": "read_all", "value": {"final": True}})]
        if any(g.role == READER for g in gens):
            ops.append((1, {"f": "read_all", "value": {"final": True}}))
        return ops

    def checkers(self) -> list[str]:
        return ["upsert"]

    def pace(self, role: str) -> float:
        return 0.01 if role == READER else 0.0


WORKLOAD = UpsertWorkload()


class UpsertInterrupted(Interrupted):
    """An upsert failed after its write may have become durable: ``info``."""


def _val(v: bytes | None) -> str | None:
    return None if v is None else v.decode()


class UpsertClient:
    """The writer: one upsert operator over stream ``u``, rebuilt after any failure."""

    read_only = False

    def open(self, url: str, options: dict[str, Any]) -> None:
        from workloads.append import open_persist

        self.attach(open_persist(url, options, self.read_only))

    def attach(self, p: Any) -> None:
        """Serve from the open handle ``p`` (what ``open`` opened)."""
        self.p = p
        self._lock = threading.Lock()  # one upsert at a time (time order per key)
        self._op = None  # the upsert operator, None until (re)built
        self._t = 0  # the next time to upsert at
        self._stream = None

    def stream(self):
        if self._stream is None:
            self._stream = self.p.stream(STREAM)
        return self._stream

    def _operator(self):
        """The operator, rebuilt from the durable stream if needed (lock held)."""
        if self._op is None:
            from persist.operators.upsert import Upsert

            s = self.stream()
            op = Upsert(s)
            op.rehydrate()
            unsealed = s.unsealed()
            top = max(unsealed.column("ts").to_pylist()) + 1 if len(unsealed) else 0
            self._t = max(s.upper, top)
            self._op = op
        return self._op

    def invoke(self, f: str, value: Any) -> Any:
        if f in ("upsert", "delete"):
            return self._upsert(value["key"], value.get("value") if f == "upsert" else None)
        if f == "get":
            return get(self.stream(), value["key"])
        if f == "read_all":
            if value.get("final") and not self.read_only:
                with self._lock:  # make every durable upsert visible: seal past them
                    try:
                        op = self._operator()
                        op.advance(self._t)
                    except Exception:
                        self._op = None
                        raise
            return read_all(self.stream())
        raise ValueError(f"upsert workload: unknown operation {f!r}")

    def _upsert(self, key: str, val: str | None) -> dict[str, Any]:
        from persist.errors import PersistError

        with self._lock:
            touched = False
            try:
                op = self._operator()
                t = self._t
                touched = True
                op.upsert([(key.encode(), None if val is None else val.encode(), t)])
                self._t = t + 1
                op.advance(t + 1)
            except Exception as e:
                self._op = None  # its state is unknown now: rebuild before the next operation
                if touched and not (isinstance(e, PersistError) and e.determinate and self._t == t):
                    raise UpsertInterrupted(f"upsert of {key} at {t} failed after its write began: "
                                            f"{type(e).__name__}: {e}") from e
                raise
            return {"key": key, "value": val, "ts": t, "upper": op.stream.upper}

    def close(self) -> None:
        self.p.close()


class UpsertReader(UpsertClient):
    read_only = True

    def invoke(self, f: str, value: Any) -> Any:
        if f in ("upsert", "delete"):
            raise ValueError(f"the reader process cannot {f}")
        return super().invoke(f, value)  # its stream exists once the writer has registered it


def get(s, key: str) -> dict[str, Any]:
    upper = s.upper
    if upper == 0:
        return {"key": key, "value": None, "rows": [], "as_of": None, "upper": 0}
    rows = [[_val(v), int(d)] for v, d in s.arrange(upper - 1).get(key.encode())]
    value: Any = None if not rows else rows[0][0] if (len(rows) == 1 and rows[0][1] == 1) else rows
    return {"key": key, "value": value, "rows": rows, "as_of": upper - 1, "upper": upper}


def read_all(s) -> dict[str, Any]:
    upper = s.upper
    if upper == 0:
        return {"rows": [], "as_of": None, "upper": 0}
    rows = [[k.decode(), v.decode(), int(d)] for k, v, d in s.arrange(upper - 1)]
    return {"rows": rows, "as_of": upper - 1, "upper": upper}


CLIENTS = {WRITER: UpsertClient, READER: UpsertReader}
