"""Regression seeds: configurations that once failed, replayed forever.

The file (``regressions/seeds.json`` in the repo, format below) lists runs
that once found a bug. Each entry says what to run and what verdict to
expect:

* ``expect: "invalid"`` with a ``mutant``: a planted bug the harness must
  keep catching with this exact configuration (typically the output of
  ``persist-nemesis shrink``: a few hundred operations, one or two faults);
* ``expect: "valid"`` without a mutant: a configuration that once failed on
  the real engine; the bug is fixed and must stay fixed.

An entry::

    {"name": "replay_twice-append-kill-seed1",   # unique, [A-Za-z0-9_.-]
     "workload": "append", "nemesis": ["kill"], "seed": 1,
     "time_limit": 16.0, "concurrency": 4, "op_limit": 120,
     "mutant": "mutants/replay_twice.py",        # repo-relative, or null
     "blob": "file", "s3_faults": [], "interval": [0.2, 0.6],
     "overrides": {"faults": [{"at": .., "nemesis": "kill", "target": 0, "duration": .., "seed": ..}],
                   "fault_ops": [37], "processes": [0, 3]},   # all optional (RunConfig fields)
     "expect": "invalid", "checkers": ["duplicates"], "tries": 5, "rate": "5/5",
     "note": "what it once found", "from_run": "...", "added": "2026-12-01"}

``checkers`` (for ``invalid``): a run *fails as recorded* when it is judged
invalid by at least one of them. ``tries`` and ``rate`` (for ``invalid``): a
crash test is not perfectly deterministic (the operation clock and the
recorded schedule fix the operations and where each fault strikes, not the
threads' interleaving), so the replay runs the entry ``tries`` times, every
time, and reports the observed rate ``k/n`` (runs that failed as recorded,
of the runs made); ``rate: "k/n"`` records the rate the entry showed when it
was measured. The replay fails when no run failed as recorded, or when its
count is *significantly* below the recorded rate: a one-sided exact binomial
test at ``ALPHA`` (5%) of ``k`` failures in ``n`` tries against the recorded
rate's Laplace estimate ``(k_r + 1) / (n_r + 2)`` (a recorded 5/5 is evidence of
a high rate, not of certainty: one miss in five under a loaded machine's
interleaving passes, 2/5 and 1/5 do not). An entry without ``rate`` needs one
failing run in ``tries``. A replay with another number of tries (``tries=``
of :func:`replay_one`) tests the same way. A ``valid`` entry runs once (and ``tries`` times if
given: every run must be valid).

``config_from_dict`` turns an entry, or a run's ``config.json`` (same keys),
into a :class:`nemesis.config.RunConfig`; ``replay`` runs entries;
``add`` appends one to the file (atomic rewrite, names kept unique).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import time
from typing import Any, Callable
from nemesis.errors import BadInput

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FILE = os.path.join(REPO, "regressions", "seeds.json")
FORMAT = 1
EXPECT = ("invalid", "valid")
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class RegressionError(BadInput):
    """The regressions file or an entry is unusable; the message says which and why."""


def repo_path(path: str | None) -> str | None:
    """A mutant path as stored: relative to the repo when inside it."""
    if not path:
        return None
    path = os.path.abspath(path)
    rel = os.path.relpath(path, REPO)
    return path if rel.startswith("..") else rel


def abs_path(path: str | None) -> str | None:
    if not path:
        return None
    return path if os.path.isabs(path) else os.path.join(REPO, path)


def config_from_dict(d: dict[str, Any]):
    """A RunConfig from a regression entry or a run's ``config.json``: the
    same checks as ``persist-nemesis run`` (raises :class:`nemesis.runner.ConfigError`), then
    ``interval`` and the replay fields (``faults``, ``fault_ops``,
    ``processes``, at the top level or under ``overrides``)."""
    from nemesis.runner import build_config, fs_of

    nem = d["nemesis"]
    cfg = build_config(d["workload"], ",".join(nem) if isinstance(nem, list) else str(nem), int(d["seed"]),
                       float(d["time_limit"]), int(d.get("concurrency", 4)), int(d.get("op_limit", 0)),
                       abs_path(d.get("mutant")), bool(d.get("keep_data", False)), blob=d.get("blob", "file"),
                       s3_faults=list(d.get("s3_faults") or []), s3_port=int(d.get("s3_port", 0)), fs=fs_of(d),
                       system=d.get("system", "persist"))
    if d.get("interval"):
        cfg.interval = (float(d["interval"][0]), float(d["interval"][1]))
    apply_overrides(cfg, {**{k: d[k] for k in ("faults", "fault_ops", "processes") if k in d},
                          **(d.get("overrides") or {})})
    return cfg


def apply_overrides(cfg, overrides: dict[str, Any] | None):
    """Set the replay fields of ``cfg`` from their JSON form; raises
    RegressionError naming a field that does not make sense."""
    from nemesis.faults.base import Fault
    from nemesis.generator import NEMESES

    o = overrides or {}
    unknown = set(o) - {"faults", "fault_ops", "processes"}
    if unknown:
        raise RegressionError(f"unknown override(s) {sorted(unknown)}; accepted: faults, fault_ops, processes")
    if o.get("faults") is not None:
        faults = []
        for f in o["faults"]:
            try:
                fault = Fault(float(f["at"]), str(f["nemesis"]), int(f["target"]), float(f["duration"]), int(f["seed"]))
            except (KeyError, TypeError, ValueError) as e:
                raise RegressionError(f"a fault needs at, nemesis, target, duration, seed; got {f!r} ({e})") from None
            if fault.nemesis not in cfg.nemeses or fault.nemesis not in NEMESES:
                raise RegressionError(f"fault {f!r}: nemesis {fault.nemesis!r} is not one of the run's {cfg.nemeses}")
            faults.append(fault)
        cfg.faults = faults
    if o.get("fault_ops") is not None:
        cfg.fault_ops = [int(n) for n in o["fault_ops"]]
    if o.get("processes") is not None:
        cfg.processes = [int(n) for n in o["processes"]]
    try:
        cfg.check_replay()
    except ValueError as e:
        raise RegressionError(str(e)) from None
    return cfg


def load(path: str = DEFAULT_FILE) -> list[dict[str, Any]]:
    """The entries of a regressions file, each checked (RegressionError says
    which entry is wrong and how)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise RegressionError(f"no regressions file at {path}; pass --regressions FILE") from None
    except json.JSONDecodeError as e:
        raise RegressionError(f"{path} is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("regressions"), list):
        raise RegressionError(f'{path}: expected {{"format": {FORMAT}, "regressions": [...]}}')
    seen: set[str] = set()
    for i, e in enumerate(doc["regressions"]):
        where = f"{path}: entry {i}"
        if not isinstance(e, dict):
            raise RegressionError(f"{where} is not an object")
        missing = [k for k in ("name", "workload", "nemesis", "seed", "time_limit", "expect") if k not in e]
        if missing:
            raise RegressionError(f"{where} lacks {', '.join(missing)}")
        if not NAME.match(str(e["name"])) or e["name"] in seen:
            raise RegressionError(f"{where}: name {e['name']!r} must be unique and match {NAME.pattern}")
        seen.add(e["name"])
        if e["expect"] not in EXPECT:
            raise RegressionError(f"{where} ({e['name']}): expect must be one of {EXPECT}, got {e['expect']!r}")
        if e.get("rate") is not None:
            try:
                parse_rate(e["rate"])
            except RegressionError as err:
                raise RegressionError(f"{where} ({e['name']}): {err}") from None
        if e.get("mutant") and not os.path.isfile(abs_path(e["mutant"]) or ""):
            raise RegressionError(f"{where} ({e['name']}): mutant {e['mutant']} not found (paths are repo-relative)")
    return doc["regressions"]


def add(entry: dict[str, Any], path: str = DEFAULT_FILE) -> dict[str, Any]:
    """Append ``entry`` to the file (created if missing), renaming it
    ``name-2``, ``name-3``... if the name is taken; returns the entry saved."""
    doc: dict[str, Any] = {"format": FORMAT, "regressions": []}
    if os.path.exists(path):
        load(path)  # refuse to rewrite a broken file
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    names = {e["name"] for e in doc["regressions"]}
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", entry["name"]).strip("-") or "regression"
    name, n = base, 1
    while name in names:
        n += 1
        name = f"{base}-{n}"
    entry = {**entry, "name": name}
    entry.setdefault("added", _dt.date.today().isoformat())
    doc["regressions"].append(entry)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return entry


def parse_rate(text: Any) -> tuple[int, int]:
    """``"k/n"`` -> (k, n), 0 <= k <= n, n >= 1; RegressionError otherwise."""
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise RegressionError(f"rate must be 'k/n' (k of n runs failed as recorded), got {text!r}") from None
    if n < 1 or not 0 <= k <= n:
        raise RegressionError(f"rate {text!r}: need 0 <= k <= n and n >= 1")
    return k, n


ALPHA = 0.05


def consistent_rate(k: int, n: int, rk: int, rn: int, alpha: float = ALPHA) -> tuple[bool, float]:
    """Is ``k`` of ``n`` runs failing as recorded consistent with a recorded
    ``rk/rn``? Returns (ok, p): ``p`` is P(X <= k) for X ~ Binomial(n, (rk+1)/(rn+2)),
    1.0 when ``k/n >= rk/rn``. Never ok at ``k == 0``: a regression seed that
    never fails any more does not reproduce its bug."""
    from math import comb

    if k <= 0:
        return False, 0.0
    if k * rn >= rk * n:
        return True, 1.0
    q = (rk + 1) / (rn + 2)
    p = sum(comb(n, i) * q ** i * (1 - q) ** (n - i) for i in range(k + 1))
    return p >= alpha, p


def failing_checkers(results: dict[str, Any] | None) -> set[str]:
    return {c["checker"] for c in (results or {}).get("checkers", []) if c.get("valid") is False}


def replay_one(entry: dict[str, Any], store: str, on_run: Callable[[dict[str, Any]], None] | None = None,
               tries: int | None = None) -> dict[str, Any]:
    """Run one entry as it says; returns {"name", "expect", "ok", "verdict",
    "runs": [{"run_dir", "verdict", "failing", "seconds", "as_recorded"}], "rate": "k/n"
    (runs that failed as recorded, of those made), "recorded": the entry's rate, "why"}."""
    from nemesis.runner import run_one

    try:
        cfg = config_from_dict(entry)
    except Exception as e:  # ConfigError, RegressionError, KeyError: the entry is wrong
        raise RegressionError(f"entry {entry.get('name')!r}: {getattr(e, 'message', None) or e}") from None
    expect = entry["expect"]
    want = set(entry.get("checkers") or [])
    n = max(1, int(tries if tries is not None else entry.get("tries", 5 if expect == "invalid" else 1)))
    rk, rn = parse_rate(entry["rate"]) if entry.get("rate") is not None else (1, n)
    out: dict[str, Any] = {"name": entry["name"], "expect": expect, "ok": False, "verdict": None, "runs": [],
                           "rate": None, "recorded": f"{rk}/{rn}" if expect == "invalid" else None, "why": ""}
    k = 0
    for _ in range(n):
        t0 = time.monotonic()
        r = run_one(cfg, store, quiet=True, reports=False)
        failing = sorted(failing_checkers(r.get("results")))
        as_recorded = r["verdict"] == "invalid" and (not want or bool(want & set(failing)))
        k += as_recorded
        run = {"run_dir": r.get("run_dir"), "verdict": r["verdict"], "failing": failing,
               "seconds": round(time.monotonic() - t0, 2), "ops": r.get("ops"), "as_recorded": as_recorded}
        out["runs"].append(run)
        out["verdict"] = r["verdict"]
        out["rate"] = f"{k}/{len(out['runs'])}"
        if on_run:
            on_run({"name": entry["name"], **run})
        if r["verdict"] == "error":
            out["why"] = f"the run could not be made: {r.get('error')}"
            return out
        if expect == "valid" and r["verdict"] != "valid":
            out["why"] = (f"expected valid, got {r['verdict']} ({', '.join(failing) or 'no checker'}): "
                          f"{r['run_dir']}")
            return out
    if expect == "valid":
        out["ok"] = True
    else:
        ok, p = consistent_rate(k, n, rk, rn)
        out["ok"], out["p"] = ok, round(p, 4)
        if not ok:
            out["why"] = (f"failed as recorded (invalid{' by ' + ', '.join(sorted(want)) if want else ''}) in "
                          f"{k}/{n} run(s), significantly below the recorded rate {rk}/{rn} (P = {p:.3f} < "
                          f"{ALPHA} that a seed still failing at that rate does this badly); verdicts: "
                          f"{', '.join(x['verdict'] for x in out['runs'])}")
    return out


def replay(entries: list[dict[str, Any]], store: str, on_run: Callable[[dict[str, Any]], None] | None = None,
           tries: int | None = None) -> list[dict[str, Any]]:
    """Replay every entry (in order); one result per entry (see replay_one)."""
    return [replay_one(e, store, on_run, tries) for e in entries]
