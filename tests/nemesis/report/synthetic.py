"""A plausible run directory, made up: an append workload with kills and
pauses, written per ``docs/history.md``, for the report tests (and to look
at: ``python -m tests.nemesis.report.synthetic DIR [OPS]``).

What it imitates: N worker slots, each running one operation at a time
(write / seal / compact / snapshot / frontiers on a few streams); a nemesis
that SIGKILLs a worker (its op in flight becomes ``info``, the slot comes back
under a new process number after a restart) or SIGSTOPs it (its op in flight
completes only after the resume, with a long latency); final seals and
snapshots at the end. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

MS = 1_000_000
S = 1_000_000_000


def make_history(
    seed: int = 1,
    ops: int = 400,
    concurrency: int = 4,
    faults: bool = True,
    unmatched_tail: bool = False,
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[tuple[int, int, dict[str, Any]]] = []  # (time, tiebreak, event)
    seq = 0

    def emit(t: int, **e: Any) -> None:
        nonlocal seq
        events.append((t, seq, {"time": t, **e}))
        seq += 1

    streams = ["s0", "s1", "s2"]
    # the nemesis schedule first: per slot, intervals when it is down or stopped
    horizon = (ops // concurrency) * 3 * MS  # ~3 ms an operation per worker
    down: dict[int, list[tuple[int, int, str]]] = {w: [] for w in range(concurrency)}
    if faults:
        t = horizon // 10
        while t < horizon * 0.85:
            w = rng.randrange(concurrency)
            kind = rng.choice(["kill", "pause"])
            dur = int(rng.uniform(0.04, 0.12) * horizon) + 100 * MS
            if not any(a <= t + dur and t <= b for a, b, _ in down[w]):
                down[w].append((t, t + dur, kind))
                pid = 4000 + seq
                # as nemesis/controller.py records them: the fault's invoke
                # carries the schedule entry, its info what was done
                fault = {"at": t / S, "nemesis": kind, "target": w, "duration": dur / S, "seed": rng.randrange(2**32)}
                emit(t, process="nemesis", type="invoke", f=kind, value=fault)
                emit(t + MS // 2, process="nemesis", type="info", f=kind, value={"worker": w, "pid": pid})
                if kind == "kill":
                    emit(t + dur - 60 * MS, process="nemesis", type="invoke", f="restart", value={"worker": w})
                    emit(t + dur, process="nemesis", type="info", f="restart", value={"worker": w, "pid": pid + 1, "seconds": 0.06})
                else:
                    emit(t + dur, process="nemesis", type="info", f="resume", value={"worker": w, "pid": pid})
            t += int(rng.uniform(0.05, 0.15) * horizon) + 50 * MS
        corrupt_at = int(horizon * 0.6)
        emit(corrupt_at, process="nemesis", type="info", f="corrupt",
             value={"file": "wal/00000003.log", "offset": 1234, "bits": [5]})
    for w in range(concurrency):  # first starts: not faults
        emit(0, process="nemesis", type="invoke", f="start", value={"worker": w})
        emit(MS // 4, process="nemesis", type="info", f="start", value={"worker": w, "pid": 3000 + w, "seconds": 0.00025})
    # the clients
    key = 0
    per_worker = ops // concurrency
    end = 0
    for w in range(concurrency):
        p = w
        t = rng.randrange(0, 2 * MS)
        windows = sorted(down[w])
        for _ in range(per_worker):
            f = rng.choices(["write", "seal", "compact", "snapshot", "frontiers"], [10, 2, 1, 2, 2])[0]
            s = rng.choice(streams)
            if f == "write":
                rows = []
                for _ in range(rng.randint(1, 3)):
                    rows.append([f"k{key}", f"v{key}", rng.randint(0, 50), 1])
                    key += 1
                value: Any = {"writes": {s: rows}}
            elif f == "seal":
                value = {"stream": s, "ts": rng.randint(0, 60)}
            elif f == "compact":
                value = {"stream": s, "since": rng.randint(0, 30)}
            elif f == "snapshot":
                value = {"stream": s, "as_of": rng.randint(0, 30)}
            else:
                value = {"stream": s}
            # skip over down windows of kind kill: the slot is not running
            for a, b, kind in windows:
                if kind == "kill" and a <= t <= b:
                    t = b + rng.randrange(MS)
            lat = int(rng.lognormvariate(0, 0.7) * 1.5 * MS) + (4 * MS if f == "snapshot" else 0)
            done = t + lat
            outcome = "ok"
            hit = next(((a, b, k) for a, b, k in windows if t <= a <= done or a <= t <= b), None)
            if hit is not None:
                a, b, kind = hit
                if kind == "kill":
                    emit(t, process=p, type="invoke", f=f, value=value, worker=w)
                    emit(a + MS, process=p, type="info", f=f, value=value, worker=w,
                         error="WorkerDied: worker killed with the operation in flight")
                    p += concurrency
                    t = b + rng.randrange(MS)
                    continue
                done = max(done, b + lat)  # stopped: completes after the resume
            if f in ("seal", "compact") and rng.random() < 0.08:
                outcome = "fail"
            emit(t, process=p, type="invoke", f=f, value=value, worker=w)
            if outcome == "fail":
                emit(done, process=p, type="fail", f=f, value=value, worker=w,
                     error="InvalidUsage: seal(3) below upper 7")
            else:
                res = dict(value) if isinstance(value, dict) else value
                if f in ("seal", "compact", "frontiers"):
                    res = {**value, "upper": rng.randint(0, 60), "since": rng.randint(0, 30)}
                if f == "snapshot":
                    res = {**value, "upper": 31, "since": 0,
                           "rows": [[f"k{i}", f"v{i}", 1] for i in range(rng.randint(0, 40))]}
                emit(done, process=p, type="ok", f=f, value=res, worker=w)
            t = done + rng.randrange(2 * MS)
            end = max(end, t)
    # final reads
    t = end + 50 * MS
    for i, s in enumerate(streams):
        p = 1000 + i
        emit(t, process=p, type="invoke", f="snapshot", value={"stream": s, "as_of": 99, "final": True})
        if unmatched_tail and i == len(streams) - 1:
            break  # the controller died here: no completion
        emit(t + 3 * MS, process=p, type="ok", f="snapshot",
             value={"stream": s, "as_of": 99, "upper": 100, "since": 0, "rows": [["k1", "v1", 1]]})
        t += 4 * MS
    events.sort(key=lambda x: (x[0], x[1]))
    return [{"index": i, **e} for i, (_, _, e) in enumerate(events)]


def write_run(
    run_dir: Path,
    seed: int = 1,
    ops: int = 400,
    concurrency: int = 4,
    faults: bool = True,
    results: Any = "valid",
    unmatched_tail: bool = False,
    torn_tail: bool = False,
    workload: str = "append",
    config: bool = True,
) -> Path:
    """Write a run directory; ``results`` is "valid", "invalid" (a lost write
    naming two ops), None (never checked) or the JSON to store."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    events = make_history(seed, ops, concurrency, faults, unmatched_tail)
    nem = sorted({e["f"] for e in events if e["process"] == "nemesis" and e["f"] in ("kill", "pause")})
    if config:
        (run_dir / "config.json").write_text(json.dumps({
            "workload": workload, "nemesis": nem, "seed": seed, "time_limit": 10,
            "concurrency": concurrency, "code": {"commit": "abc1234" * 5, "describe": "abc1234", "dirty": False},
            "command": f"persist-nemesis run --workload {workload} --seed {seed}",
        }, indent=2))
        (run_dir / "status.json").write_text(json.dumps({
            "status": "finished", "started": "2026-11-23T19:00:00.000000+00:00", "valid": True}))
    lines = [json.dumps(e) for e in events]
    text = "\n".join(lines) + "\n"
    if torn_tail:
        text += lines[-1][: len(lines[-1]) // 2]
    (run_dir / "history.jsonl").write_text(text)
    (run_dir / "workers").mkdir(exist_ok=True)
    for w in range(concurrency):
        (run_dir / "workers" / f"{w}-writer.log").write_text(f"worker {w} started\n")
    # as nemesis/judge.py writes them
    if results == "valid":
        results = {"valid": True, "category": None, "checkers": [
            {"checker": "lost-writes", "valid": True}, {"checker": "frontiers", "valid": True}]}
    elif results == "invalid":
        writes = [e["index"] for e in events if e.get("f") == "write" and e["type"] == "invoke"]
        results = {"valid": False, "category": None, "checkers": [
            {"checker": "lost-writes", "valid": False, "anomalies": [
                {"kind": "lost-write", "message": "acknowledged write of k3 is missing from the final snapshot of s0",
                 "ops": writes[3:5]}]},
            {"checker": "frontiers", "valid": True},
        ]}
    if results is not None:
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    return run_dir


if __name__ == "__main__":
    out = write_run(Path(sys.argv[1]), ops=int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
                    results=sys.argv[3] if len(sys.argv) > 3 else "invalid")
    print(out)
