"""The crash-safety gate CI runs (issue 7): a bounded campaign of every
workload under every nemesis, on the correct engine, must be all valid.

It also prints the campaign's failpoint coverage (issue 14, must-show 3):
every engine failpoint must be hit by some run, except those listed in
:data:`UNREACHED` with the reason the current workloads cannot reach them in
a 2 s run; one of those that is hit after all is printed as reached.

The zoo (every planted bug caught) is ``test_zoo.py``; the regression seeds
are ``test_regressions.py``. Together with this file they are what
``.ci/run`` enforces through the README's test command.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nemesis.coverage import known_failpoints
from nemesis.generator import NEMESES
from workloads.base import WORKLOADS


_COMPACTION = ("compaction runs in the background only when the spine holds two batches to merge; a 2 s run "
               "seals too few batches (hit in 4 s append runs, never in the gate's 2 s runs, 2 Dec 2026)")
_GC = ("the gc.* failpoints are hit only when GC finds orphan batch blobs; GC runs after a merge or every 20th "
       "background pass (one a second or so), and orphans exist only after a crash or failed commit between "
       "writing a batch and swapping the metadata: a 2 s run seldom has both; no workload asks for compaction or "
       "GC explicitly yet (issue 14: the workloads' compact/gc operations)")
#: failpoints the gate's runs cannot hit today, and why
UNREACHED: dict[str, str] = {
    "compaction.before_blob": _COMPACTION, "compaction.before_metadata": _COMPACTION,
    "compaction.after_metadata": _COMPACTION, "gc.before_delete": _GC, "gc.after_delete": _GC,
}


@pytest.mark.slow
def test_every_workload_under_every_nemesis_is_valid(tmp_path):
    store, xml = tmp_path / "runs", tmp_path / "gate.xml"
    nemeses = sorted(n for n in NEMESES if n != "none")
    r = subprocess.run(
        [sys.executable, "-m", "nemesis.cli", "campaign", "--workloads", ",".join(sorted(WORKLOADS)),
         "--nemeses", ",".join(nemeses), "--seeds", "1", "--time-limit", "2", "--concurrency", "4",
         "--jobs", str(min(2, os.cpu_count() or 1)), "--store", str(store), "--junit", str(xml), "--no-report",
         "--quiet"],
        capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    root = ET.parse(xml).getroot()
    cases = root.findall(".//testcase")
    ran = {(c.get("classname"), c.get("name")) for c in cases}
    assert len(cases) == len(WORKLOADS) * len(nemeses), ran
    assert root.get("failures") == "0" and root.get("errors") == "0", r.stdout[-4000:]
    (rec,) = glob.glob(str(store / "campaign-*.json"))
    with open(rec, encoding="utf-8") as f:
        cov = json.load(f)["coverage"]
    print("failpoint coverage of the gate campaign:")
    for name in known_failpoints():
        hits = cov["failpoints"].get(name, 0)
        why = "" if hits else f"  NOT HIT: {UNREACHED.get(name, 'no reason known: a workload stopped reaching it')}"
        print(f"  {name:<28} {hits:>6}{why}")
    reached = sorted(set(UNREACHED) - set(cov["never_hit"]))
    if reached:
        print(f"listed as unreachable but hit: {', '.join(reached)} (drop them from UNREACHED)")
    assert set(cov["never_hit"]) <= set(UNREACHED), (
        f"failpoints no gate run hit: {sorted(set(cov['never_hit']) - set(UNREACHED))}")
    assert set(UNREACHED) <= set(known_failpoints())
