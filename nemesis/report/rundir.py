"""A stored run as the reports see it: read from its directory alone.

Reports must work on a run stored years ago, by a different version of the
harness, or on a run that died half-way. So everything here is tolerant:

- ``history.jsonl`` is required (without it there is nothing to draw); a
  torn last line (the controller died mid-write) is dropped and counted, a
  malformed line elsewhere is skipped and counted, never fatal.
- Operations are paired as in ``checker.history.pair`` (an invoke with the
  next event of the same process), except that what the checker would reject
  is absorbed: a second invoke while one is outstanding ends the first as
  indeterminate; a completion with no invoke is dropped and counted.
- ``config.json``, ``results.json`` and any status file are optional; what
  they lack is derived from the directory name (``<UTC time>-seed<N>``) or left
  blank.

Nothing here imports ``persist`` or ``workloads``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from nemesis.errors import BadInput

HISTORY = "history.jsonl"
CONFIG = "config.json"
RESULTS = "results.json"
STATUS_FILES = ("status.json", "status")


class ReportError(BadInput):
    """Input a report cannot be made from; the message says what was expected."""


@dataclass(slots=True)
class Op:
    """One operation: an invoke and its completion.

    ``done`` is when the completion arrived, whatever its type (for ``info``
    that is when the harness gave up on it, not when it took effect, which is
    unknown); None when there was no completion at all.
    """

    index: int  # index of the invoke event: the operation's name everywhere
    process: Any
    f: str
    value: Any  # the invoke's argument
    type: str  # "ok", "fail" or "info" (no completion is "info")
    call: int  # invoke time, ns
    done: int | None = None
    result: Any = None  # the ok completion's value
    error: str | None = None
    worker: Any = None

    @property
    def latency(self) -> int | None:
        return None if self.done is None else self.done - self.call


@dataclass
class CheckerVerdict:
    """One checker's verdict as stored in ``results.json``."""

    checker: str
    valid: Any  # True, False or "unknown" (anything else is shown as is)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    category: str | None = None


@dataclass
class Run:
    path: Path
    config: dict[str, Any]
    ops: list[Op]
    nemesis: list[dict[str, Any]]  # nemesis events in history order
    verdicts: list[CheckerVerdict]
    valid: Any  # the combined verdict, or None when the run was never checked
    status: dict[str, Any]
    end: int  # time of the last event (ns); the right edge of every picture
    events: int = 0
    skipped_lines: int = 0  # malformed or torn lines not read
    orphan_completions: int = 0  # completions with no invoke before them

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def workload(self) -> str:
        return str(self.config.get("workload") or self.path.parent.name)

    @property
    def seed(self) -> Any:
        for k in ("seed",):
            if k in self.config:
                return self.config[k]
        m = re.search(r"seed(\d+)", self.path.name)
        return int(m.group(1)) if m else None

    @property
    def nemeses(self) -> list[str]:
        return nemeses_of(self.config)

    @property
    def anomalous_ops(self) -> set[int]:
        out: set[int] = set()
        for v in self.verdicts:
            for a in v.anomalies:
                for i in a.get("ops") or []:
                    if isinstance(i, int):
                        out.add(i)
        return out


def nemeses_of(config: dict[str, Any]) -> list[str]:
    """The run's nemesis names, whatever spelling the config used."""
    for k in ("nemeses", "nemesis", "faults"):
        v = config.get(k)
        if v is None:
            continue
        if isinstance(v, str):
            return [s for s in v.split(",") if s and s != "none"]
        if isinstance(v, (list, tuple)):
            return [str(x if not isinstance(x, dict) else x.get("name", x)) for x in v]
        if isinstance(v, dict):
            return list(v)
    return []


def started_of(config: dict[str, Any], status: dict[str, Any], path: Path) -> str:
    """When the run started (UTC), as stored; else the directory name's stamp."""
    for src in (config, status):
        for k in ("started", "start_time", "started_at"):
            v = src.get(k)
            if isinstance(v, str) and v:
                return v
            if isinstance(v, (int, float)) and v > 1e9:
                return datetime.fromtimestamp(v, timezone.utc).isoformat()
    stamp = path.name.split("-seed")[0]
    return stamp if re.match(r"\d{8}T\d{6}", stamp) else "-"


def code_of(config: dict[str, Any]) -> str | None:
    """The code version a run was made with, in one string."""
    code = config.get("code") or config.get("code_version") or config.get("version")
    if isinstance(code, dict):
        return str(code.get("describe") or code.get("commit") or "") or None
    return str(code) if code else None


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every well-formed event of a history file, and how many lines were
    skipped (torn or malformed)."""
    from checker.formats.rows_delta import Decoder

    decoder = Decoder(strict=False)  # reads recorded as a delta get their rows back
    events: list[dict[str, Any]] = []
    skipped = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if not isinstance(e, dict) or "process" not in e or e.get("type") not in ("invoke", "ok", "fail", "info"):
                skipped += 1
                continue
            events.append(decoder.decode(e))
    return events, skipped


def pair_tolerant(events: list[dict[str, Any]]) -> tuple[list[Op], list[dict[str, Any]], int, int]:
    """Pair operations like :func:`checker.history.pair` without ever failing.

    Returns ``(ops, nemesis_events, end_time, orphan_completions)``. An op
    left open (no completion at all) stays ``info`` with ``done=None``.
    """
    ops: list[Op] = []
    nem: list[dict[str, Any]] = []
    open_: dict[Any, Op] = {}
    orphans = 0
    end = 0
    for pos, e in enumerate(events):
        idx = e.get("index", pos)
        t = e.get("time", pos)
        if not isinstance(t, (int, float)):
            t = pos
        t = int(t)
        end = max(end, t)
        p = e["process"]
        if p == "nemesis":
            nem.append({**e, "index": idx, "time": t})
            continue
        if p == "harness":  # the harness's own observations (fsck): not an operation
            continue
        kind = e["type"]
        f = str(e.get("f", "?"))
        if kind == "invoke":
            prev = open_.pop(p, None)
            if prev is not None:  # never completed: indeterminate
                prev.error = "no completion before the next invoke of this process"
            op = Op(idx, p, f, e.get("value"), "info", t, worker=e.get("worker"))
            open_[p] = op
            ops.append(op)
            continue
        op = open_.pop(p, None)
        if op is None:
            orphans += 1
            continue
        op.type = kind if kind in ("ok", "fail") else "info"
        op.done = t
        op.error = _error_text(e.get("error"))
        if op.worker is None:
            op.worker = e.get("worker")
        if kind == "ok":
            op.result = e.get("value")
    return ops, nem, end, orphans


def _error_text(err: Any) -> str | None:
    if err is None:
        return None
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        cls = err.get("class") or err.get("type") or err.get("name")
        msg = err.get("message") or err.get("msg")
        if cls or msg:
            return ": ".join(str(x) for x in (cls, msg) if x)
    if isinstance(err, (list, tuple)):
        return ": ".join(str(x) for x in err)
    return json.dumps(err, default=str)


def verdicts_of(results: Any) -> tuple[list[CheckerVerdict], Any]:
    """Normalise ``results.json``: a list of Result objects, a dict with a
    ``results`` list (and maybe a combined ``valid``), or a dict of checker
    name -> Result. Returns the verdicts and the combined verdict (None when
    there is nothing)."""
    if results is None:
        return [], None
    combined = None
    items: list[tuple[str | None, Any]] = []
    if isinstance(results, list):
        items = [(None, r) for r in results]
    elif isinstance(results, dict):
        combined = results.get("valid")
        inner = results.get("results", results.get("checkers"))
        if isinstance(inner, list):
            items = [(None, r) for r in inner]
        elif isinstance(inner, dict):
            items = list(inner.items())
        elif "checker" in results and "valid" in results:
            items = [(None, results)]
        else:
            items = [(k, v) for k, v in results.items() if isinstance(v, dict) and "valid" in v]
    out: list[CheckerVerdict] = []
    for name, r in items:
        if not isinstance(r, dict):
            continue
        anomalies = [a for a in (r.get("anomalies") or []) if isinstance(a, dict)]
        out.append(
            CheckerVerdict(
                checker=str(r.get("checker") or name or "checker"),
                valid=r.get("valid"),
                anomalies=anomalies,
                reason=r.get("reason"),
                category=r.get("category"),
            )
        )
    if combined is None and out:
        vs = [v.valid for v in out]
        combined = False if any(v is False for v in vs) else True if all(v is True for v in vs) else "unknown"
    return out, combined


def read_status(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    for name in STATUS_FILES:
        p = path / name
        if not p.is_file():
            continue
        data = read_json(p)
        if isinstance(data, dict):
            from nemesis.lifecycle import effective_status

            return effective_status(data)  # "running" with its controller gone reads "abandoned"
        try:
            text = p.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        return {"status": text}
    st = config.get("status")
    if isinstance(st, dict):
        return st
    if isinstance(st, str):
        return {"status": st}
    return {}


def is_run_dir(path: Path) -> bool:
    return (path / HISTORY).is_file() or (path / CONFIG).is_file()


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory. Raises :class:`ReportError` when it is not one."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ReportError(f"{path}: no such run directory (expected <store>/<workload>/<UTC time>-seed<N>/ holding {HISTORY})")
    hist = path / HISTORY
    if not hist.is_file():
        raise ReportError(f"{path}: not a run directory: {HISTORY} is missing (expected a run directory, <store>/<workload>/<UTC time>-seed<N>/, holding config.json, {HISTORY}, results.json)")
    config = read_json(path / CONFIG)
    if not isinstance(config, dict):
        config = {}
    events, skipped = read_events(hist)
    ops, nem, end, orphans = pair_tolerant(events)
    verdicts, valid = verdicts_of(read_json(path / RESULTS))
    return Run(
        path=path,
        config=config,
        ops=ops,
        nemesis=nem,
        verdicts=verdicts,
        valid=valid,
        status=read_status(path, config),
        end=end,
        events=len(events),
        skipped_lines=skipped,
        orphan_completions=orphans,
    )
