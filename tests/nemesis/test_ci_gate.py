"""The crash-safety gate CI runs (issue 7): a bounded campaign of every
workload under every nemesis, on the correct engine, must be all valid.

The zoo (every planted bug caught) is ``test_zoo.py``; the regression seeds
are ``test_regressions.py``. Together with this file they are what
``.ci/run`` enforces through the README's test command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nemesis.generator import NEMESES
from workloads.base import WORKLOADS


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
