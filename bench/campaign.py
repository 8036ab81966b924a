"""Campaign throughput (issue 6, must-show 3): at least 50 short runs across
every workload of the registry and every nemesis, on this machine's cores.

It runs the real command line, ``persist-nemesis campaign`` (every workload,
every nemesis on its own, ``s3`` on a moto server), with enough seeds for
``--min-runs`` runs, into a fresh store, then checks what CI would: the exit
code, that the JUnit XML parses with one test case per run, and that the
store's ``index.html`` lists every run. It prints one table: runs, wall time,
verdicts, runs per minute, median seconds per run, and the load average
before and after (the machine is shared: note it with the figure).

    python bench/campaign.py [--time-limit 3] [--jobs 2] [--min-runs 50] [--store DIR] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=3.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--min-runs", type=int, default=50)
    ap.add_argument("--store", default=None, help="default: a temporary directory (removed unless --keep)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-report", action="store_true", help="pass --no-report (no per-run timeline/plots)")
    a = ap.parse_args()

    from nemesis.generator import NEMESES
    from workloads.base import WORKLOADS

    workloads = sorted(WORKLOADS)
    nemeses = [n for n in NEMESES if n != "none"]
    seeds = math.ceil(a.min_runs / (len(workloads) * len(nemeses)))
    store = a.store or tempfile.mkdtemp(prefix="bench-campaign-")
    xml = os.path.join(store, "campaign.xml")
    cmd = [sys.executable, "-m", "nemesis.cli", "campaign", "--seeds", str(seeds), "--time-limit", f"{a.time_limit:g}",
           "--jobs", str(a.jobs), "--store", store, "--junit", xml, "--quiet"] + (["--no-report"] if a.no_report else [])
    print(f"{len(workloads)} workloads x {len(nemeses)} nemeses x {seeds} seeds "
          f"= {len(workloads) * len(nemeses) * seeds} runs, --time-limit {a.time_limit:g}, --jobs {a.jobs}")
    print("  " + " ".join(cmd[3:]))
    load0 = os.getloadavg()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - t0
    load1 = os.getloadavg()
    print(proc.stdout)
    if proc.returncode not in (0, 1, 2):
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    record = json.load(open(sorted(glob.glob(os.path.join(store, "campaign-*.json")))[-1], encoding="utf-8"))
    results = record["results"]
    cases = ET.parse(xml).getroot().findall(".//testcase")
    index = open(os.path.join(store, "index.html"), encoding="utf-8").read()
    listed = sum(1 for r in results if r["run_dir"] and os.path.relpath(r["run_dir"], store) + "/" in index)
    verdicts = {v: sum(1 for r in results if r["verdict"] == v) for v in ("valid", "invalid", "unknown", "error")}
    secs = [r["seconds"] for r in results]
    rows = [
        ("machine", f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"),
        ("date (UTC)", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("runs", f"{len(results)} ({len(workloads)} workloads x {len(nemeses)} nemeses x {seeds} seeds)"),
        ("wall time", f"{wall:.1f} s (campaign's own: {record['wall_seconds']:.1f} s)"),
        ("verdicts", ", ".join(f"{n} {v}" for v, n in verdicts.items() if n) + f"; exit code {proc.returncode}"),
        ("runs/minute", f"{len(results) / (wall / 60):.1f}"),
        ("seconds per run", f"median {statistics.median(secs):.1f}, max {max(secs):.1f} (time limit {a.time_limit:g})"),
        ("JUnit", f"parses, {len(cases)} test cases"),
        ("index.html", f"lists {listed} of {len(results)} runs"),
        ("load average", f"{load0[0]:.1f} before, {load1[0]:.1f} after (1 min)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for r in results:
        if r["verdict"] != "valid":
            print(f"not valid: {r['workload']} / {r['mix']} / seed {r['seed']}: {r['verdict']}: {r.get('message')}")
    if not a.keep and a.store is None:
        shutil.rmtree(store, ignore_errors=True)
    return 0 if len(cases) == len(results) and listed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
