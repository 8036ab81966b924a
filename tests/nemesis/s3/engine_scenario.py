"""An engine scenario under one S3 fault rule, and its verdict.

Used in-process by ``test_faults.py`` and as a child process (so that a
mutant's monkeypatching stays in the child) by ``test_mutants.py``::

    python -m tests.nemesis.s3.engine_scenario ENDPOINT BUCKET WAL_DIR RULE SEED [--mutant FILE.py] [--debug]

prints one JSON line: the verdict (see :func:`verdict`).
"""

from __future__ import annotations

import argparse
import json
import random
import runpy
import sys
from typing import Any

READ_TIMEOUT = 0.5
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def engine_options(endpoint_url: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint_url,
            "blob_options": {**CREDENTIALS, "read_timeout": READ_TIMEOUT, "connect_timeout": 1.0}}


def run(rules, url: str, wal_dir: str, opts: dict[str, Any], rule: str | None, seed: int, steps: int = 40,
        debug: bool = True) -> dict[str, Any]:
    """Writes, drains, seals, compaction under ``rule`` (``rules`` is a
    RuleControl), with a crash and reopen half-way; then the rules are
    cleared, the location reopened, sealed past every write and read back.
    Returns the verdict."""
    import persist
    from persist.errors import PersistError

    rng = random.Random(seed)
    acked: set[str] = set()
    unknown: set[str] = set()
    errors: list[str] = []
    p = persist.open(url, wal_dir=wal_dir, background=False, debug=debug, **opts)
    s = p.stream("s")
    if rule:
        rules.add(f"{rule} seed={seed}")
    sealed = 0
    ts = 0
    fired = 0
    out_unexpected: list[str] = []
    for i in range(steps):
        if i == steps // 2:
            p.crash()  # a crash half-way: the reopen replays the Wal
            fired += sum(r["hits"] for r in rules.clear())
            p = persist.open(url, wal_dir=wal_dir, background=False, debug=debug, **opts)
            s = p.stream("s")
            if rule:
                rules.add(f"{rule} seed={seed + 1}")
        x = rng.random()
        try:
            if x < 0.6:
                ts += 1
                keys = [f"k{i}.{j}" for j in range(rng.randint(1, 3))]
                try:
                    s.write([(k.encode(), b"v", ts, 1) for k in keys])
                except PersistError as e:
                    if not e.determinate:
                        unknown.update(keys)
                    raise
                acked.update(keys)
            elif x < 0.75:
                p.drain()
            elif x < 0.9:
                t = max(s.upper, ts - 2)
                s.seal(t)
                sealed = max(sealed, t)
            elif x < 0.95:
                s.allow_compaction(max(s.since, s.upper // 2))
            else:
                p.compact()
                p.gc()
        except Exception as e:  # noqa: BLE001 - a non-persist error is recorded, and judged below
            errors.append(f"step {i}: {type(e).__name__}: {e}")
            if not isinstance(e, PersistError):
                out_unexpected.append(f"step {i}: {type(e).__name__}: {e}")
    fired += sum(r["hits"] for r in rules.clear())
    p.crash()
    out: dict[str, Any] = {"fired": fired, "errors": errors, "acked": len(acked), "sealed": sealed,
                           "unexpected": out_unexpected}
    try:
        from persist.cache import BatchCache

        # a fresh cache: the final read sees the store, as a restarted process would
        with persist.open(url, wal_dir=wal_dir, background=False, debug=False, cache=BatchCache(), **opts) as p:
            s = p.stream("s")
            out["upper"] = s.upper
            s.seal(max(s.upper, ts + 1))
            rows = list(s.snapshot(ts))
        seen = {k.decode(): d for k, _, d in rows}
        out["doubled"] = sorted(k for k, d in seen.items() if d != 1)
        out["lost"] = sorted(acked - set(seen))
        out["phantom"] = sorted(set(seen) - acked - unknown)
    except Exception as e:  # noqa: BLE001 - persist errors and bugs alike fail the final read
        out["final_read_error"] = f"{type(e).__name__}: {e}"
    report = persist.check(url, **opts)
    out["check_ok"] = report.ok
    out["check_problems"] = [str(x) for x in report.problems if x.kind != "orphan-blob"]
    return out


def violations(v: dict[str, Any]) -> list[str]:
    """What in a verdict breaks the engine's contract (empty: none)."""
    bad = []
    if "final_read_error" in v:
        bad.append(f"the final read failed: {v['final_read_error']}")
    if v.get("unexpected"):
        bad.append(f"non-persist errors escaped the API: {v['unexpected'][:2]}")
    for what in ("lost", "doubled", "phantom"):
        if v.get(what):
            bad.append(f"{what}: {v[what][:5]}")
    if v.get("upper", 0) < v.get("sealed", 0):
        bad.append(f"an acknowledged seal to {v['sealed']} went back to {v['upper']}")
    if not v["check_ok"]:
        bad.append(f"persist.check: {v['check_problems'][:3]}")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("bucket")
    ap.add_argument("wal_dir")
    ap.add_argument("rule")
    ap.add_argument("seed", type=int)
    ap.add_argument("--mutant")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)
    if args.mutant:
        runpy.run_path(args.mutant, run_name="__mutant__")
    from nemesis.s3.control import RuleControl

    v = run(RuleControl(args.endpoint), f"s3://{args.bucket}/loc", args.wal_dir, engine_options(args.endpoint),
            args.rule or None, args.seed, debug=args.debug)
    print(json.dumps(v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
