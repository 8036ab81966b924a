"""``report.json``: a run's one-line summary, for the store's index.

The index lists every run of a store; reading every history for it would cost
seconds per thousand runs, so :func:`nemesis.report.write_reports` leaves this
small file beside the reports and the index reads it while it is newer than
the files it was made from (``history.jsonl``, ``results.json``,
``config.json``). Shape::

    {"workload": "append", "seed": 7, "nemeses": ["kill"], "started": "...",
     "duration_s": 12.3, "events": 20031, "ops": {"ok": 9852, "fail": 147, "info": 4},
     "faults": {"kill": 3, "pause": 2}, "valid": true | false | "unknown" | null,
     "verdicts": [{"checker": "set-full", "valid": true}, ...], "status": "..."}

``valid`` null: never checked (no ``results.json``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from nemesis.report.markup import write_atomic
from nemesis.report.periods import Period, periods_of
from nemesis.report.rundir import CONFIG, HISTORY, RESULTS, Run, code_of, load_run, read_json, read_status, started_of, verdicts_of

SUMMARY = "report.json"
VERSION = 3


def summarize(run: Run, periods: list[Period] | None = None) -> dict[str, Any]:
    if periods is None:
        periods = periods_of(run.nemesis, run.end)
    c = Counter(op.type for op in run.ops)
    st = run.status
    return {
        "version": VERSION,
        "workload": run.workload,
        "seed": run.seed,
        "nemeses": run.nemeses,
        "started": started_of(run.config, run.status, run.path),
        "code": code_of(run.config),
        "mutant": Path(str(run.config["mutant"])).name if run.config.get("mutant") else None,
        "duration_s": round(run.end / 1e9, 3),
        "events": run.events,
        "ops": {k: c.get(k, 0) for k in ("ok", "fail", "info")},
        "faults": dict(Counter(p.f for p in periods)),
        "valid": run.valid,
        "verdicts": [{"checker": v.checker, "valid": v.valid, "anomalies": len(v.anomalies), "category": v.category} for v in run.verdicts],
        "status": st.get("status") or st.get("state"),
        "incomplete": bool(run.skipped_lines) or any(op.done is None for op in run.ops),
    }


def write_summary(run: Run, periods: list[Period] | None = None) -> dict[str, Any]:
    s = summarize(run, periods)
    write_atomic(run.path / SUMMARY, json.dumps(s, indent=1, default=str))
    return s


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def cached_summary(run_dir: Path, *, refresh: bool = True) -> dict[str, Any]:
    """The run's summary: from ``report.json`` while it is fresh; else read
    from the run (and, if ``refresh``, written back). A run whose history is
    missing gets a summary from its config alone."""
    cache = run_dir / SUMMARY
    sources = [_mtime(run_dir / n) for n in (HISTORY, RESULTS, CONFIG)]
    if cache.is_file() and _mtime(cache) >= max(sources):
        data = read_json(cache)
        if isinstance(data, dict) and data.get("version") == VERSION:
            if data.get("status") == "running":  # it may have been abandoned since
                data["status"] = read_status(run_dir, {}).get("status") or data["status"]
            return data
    if not (run_dir / HISTORY).is_file():
        config = read_json(run_dir / CONFIG)
        config = config if isinstance(config, dict) else {}
        verdicts, valid = verdicts_of(read_json(run_dir / RESULTS))
        run = Run(run_dir, config, [], [], verdicts, valid, read_status(run_dir, config), 0)
        s = summarize(run, [])
        s["status"] = s["status"] or "no history"
        s["incomplete"] = True
        return s
    run = load_run(run_dir)
    if refresh:
        try:
            return write_summary(run)
        except OSError:
            pass
    return summarize(run)
