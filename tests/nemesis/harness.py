"""Helpers for harness tests: run a short test in-process and read its run."""

from __future__ import annotations

import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MUTANTS = os.path.join(REPO, "mutants")


def run_test(store, workload="append", nemesis="none", seed=1, time_limit=5.0, concurrency=4, mutant=None,
             interval=(0.3, 0.8), keep_data=False, op_limit=0, reports=False, fs="auto"):
    """Run one test into ``store``; returns (exit code, run dir). ``fs``: ``--fs``."""
    from nemesis.runner import build_config, execute

    cfg = build_config(workload, nemesis, seed, time_limit, concurrency, op_limit,
                       os.path.join(MUTANTS, mutant) if mutant else None, keep_data, fs=fs)
    cfg.interval = interval
    code = execute(cfg, str(store), quiet=True, reports=reports)
    latest = os.path.realpath(os.path.join(str(store), "latest"))
    return code, latest


def events(run_dir):
    with open(os.path.join(run_dir, "history.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def nemesis_infos(run_dir, f):
    return [e["value"] for e in events(run_dir) if e["process"] == "nemesis" and e["type"] == "info" and e["f"] == f]


def results(run_dir):
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def explain(run_dir) -> str:
    r = results(run_dir)
    lines = [f"run {run_dir}: valid={r['valid']}"]
    for c in r["checkers"]:
        for a in c.get("anomalies", [])[:3]:
            lines.append(f"  {c['checker']}: {a['message']}")
        if c.get("reason"):
            lines.append(f"  {c['checker']}: {c['reason']}")
    return "\n".join(lines)
