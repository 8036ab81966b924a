"""The mutant zoo planted into the ``exec:`` adapter's engine, caught through the protocol.

    python bench/protocol_zoo.py [--seeds N] [--jobs J] [--store DIR] [MUTANT.py ...]

For each mutant (default: every file of ``mutants/``) it runs ``persist-nemesis
run`` with ``--system 'exec:python examples/persist_server.py --mutant FILE
{data_dir}'``: the bug is in the engine behind the protocol, the worker runs
none of it. The configuration is the mutant's hint (``EXPOSED_BY``) made
fit for an ``exec:`` system (docs/protocol.md): workloads other than
``append`` become ``append``; ``failpoint`` and ``corrupt`` (in-process
mechanisms) become ``kill,lose-unsynced``; every disk fault runs on the fault
filesystem (``--fs fuse``); runs last at least ``--min-time`` (8 s). Seeds: the hint's, else 1..N, stopping at the
first invalid run. Prints one row per mutant and the score (caught / zoo).
A score, not a timing: the BENCHMARKS.md section "Mutants through the protocol".
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from nemesis.mutation import load  # noqa: E402

IN_PROCESS = {"failpoint", "corrupt"}


def protocol_config(hint: dict, min_time: float = 8.0) -> tuple[dict, list[str]]:
    """The hint as an ``exec:`` run can take it, and what was changed."""
    cfg = {"workload": "append", "nemesis": "kill,lose-unsynced", "blob": "file", "time_limit": 6.0,
           "concurrency": 4, **{k: v for k, v in hint.items() if k not in ("seeds", "s3_faults")}}
    changed = []
    if cfg["workload"] != "append":
        changed.append(f"workload {cfg['workload']}->append")
        cfg["workload"], cfg["concurrency"] = "append", 4
        cfg["nemesis"] = "kill,lose-unsynced" if cfg["blob"] == "file" else "s3,kill"
    names = cfg["nemesis"].split(",")
    if set(names) & IN_PROCESS:
        changed.append(f"nemesis {cfg['nemesis']}->kill,lose-unsynced")
        cfg["nemesis"], cfg["blob"] = "kill,lose-unsynced", "file"
    cfg["fs"] = "fuse"
    cfg["time_limit"] = max(float(cfg["time_limit"]), min_time)  # every request crosses two pipes: give it time
    cfg["s3_faults"] = list(hint.get("s3_faults", [])) if "s3" in cfg["nemesis"] else []
    return cfg, changed


def run_one(path: str, cfg: dict, seed: int, store: str) -> tuple[int, float]:
    system = f"exec:{sys.executable} {os.path.join(REPO, 'examples', 'persist_server.py')} --mutant {path} {{data_dir}}"
    argv = ["persist-nemesis", "run", "--workload", cfg["workload"], "--nemesis", cfg["nemesis"], "--seed", str(seed),
            "--time-limit", f"{cfg['time_limit']:g}", "--concurrency", str(cfg["concurrency"]), "--blob", cfg["blob"],
            "--fs", cfg["fs"], "--store", store, "--quiet", "--no-report", "--system", system]
    for rule in cfg["s3_faults"]:
        argv += ["--s3-fault", rule]
    t = time.monotonic()
    r = subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return r.returncode, time.monotonic() - t


def hunt(path: str, seeds: int, store: str, min_time: float = 8.0, first_seed: int = 1) -> tuple[str, str, str, str]:
    m = load(path)
    cfg, changed = protocol_config(m.hint, min_time)
    tried = []
    for seed in m.hint.get("seeds", list(range(first_seed, first_seed + seeds)))[:seeds]:
        code, secs = run_one(path, cfg, seed, os.path.join(store, m.name))
        tried.append(f"{seed}:{code}")
        if code == 1:
            return m.name, "caught", f"seed {seed} ({secs:.0f} s)", "; ".join(changed)
        if code not in (0, 2):
            break  # bad input or a crash: not a catch
    return m.name, "missed", " ".join(tried), "; ".join(changed)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mutants", nargs="*")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--store", default="/tmp/protocol-zoo")
    ap.add_argument("--min-time", type=float, default=8.0, help="every run lasts at least this many seconds")
    ap.add_argument("--first-seed", type=int, default=1)
    a = ap.parse_args()
    files = a.mutants or sorted(glob.glob(os.path.join(REPO, "mutants", "*.py")))
    files = [os.path.abspath(f) for f in files]
    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda f: hunt(f, a.seeds, a.store, a.min_time, a.first_seed), files))
    print(f"| mutant | through the protocol | runs (seed:exit) | config changed for exec: |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    caught = sum(r[1] == "caught" for r in rows)
    print(f"\ncaught {caught} of {len(rows)} ({100 * caught / max(1, len(rows)):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
