"""Writes the history (``docs/history.md``): one JSON object a line, with
``index`` (line number) and ``time`` (ns since the run started, monotonic).
Lines are buffered and flushed at least every ``flush_every`` seconds and on
close, so a run that dies half-way leaves a readable prefix.

A read's rows are written as the delta since the same process's previous read
of the same stream (``rows_delta``: :mod:`checker.formats.rows_delta`, whose
decoder every history loader runs), so the file grows with the run's length,
not its square. :meth:`Recorder.record` returns the event as recorded (with
``index``), its value as given."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from checker.formats.rows_delta import Encoder


class Recorder:
    def __init__(self, path: str, t0_ns: int | None = None, flush_every: float = 0.2) -> None:
        self.path = path
        self._fh = open(path, "w", encoding="utf-8")
        self.t0 = time.monotonic_ns() if t0_ns is None else t0_ns
        self.index = 0
        self._last_flush = time.monotonic()
        self.flush_every = flush_every
        self.counts: Counter[tuple[str, str]] = Counter()  # (f, type) of client ops
        self.faults: Counter[str] = Counter()  # nemesis f of info events
        self._rows = Encoder()

    def now(self) -> int:
        return time.monotonic_ns() - self.t0

    def record(self, process: Any, type_: str, f: str, value: Any, **extra: Any) -> dict[str, Any]:
        e = {"index": self.index, "time": self.now(), "process": process, "type": type_, "f": f, "value": value}
        e.update({k: v for k, v in extra.items() if v is not None})
        self._fh.write(json.dumps(self._rows.encode(e), separators=(",", ":")) + "\n")
        self.index += 1
        if process == "nemesis":
            if type_ == "info":
                self.faults[f] += 1
        elif type_ != "invoke" and process != "harness":
            self.counts[(f, type_)] += 1
        if time.monotonic() - self._last_flush > self.flush_every:
            self.flush()
        return e

    def flush(self) -> None:
        self._fh.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
