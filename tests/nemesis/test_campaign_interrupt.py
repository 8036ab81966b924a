"""An interrupted campaign keeps what it has (nemesis/campaign.py, nemesis/junit.py).

A real ``persist-nemesis campaign`` process is sent SIGINT or SIGTERM during
start-up (right after it announced its runs, while the forkserver imports)
or mid-run (after the first run finished). It must exit 130 / 143 and leave a
JUnit file that parses, lists every finished run and carries an error case
saying it was interrupted and how many runs never ran; the summary, the
index and the campaign record are written; no process is left behind.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import psutil
import pytest

from nemesis import junit
from nemesis.lifecycle import alive

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_junit_of_an_interrupted_campaign_never_reads_as_passing():
    """Interrupted before any run finished: tests=1, errors=1 (was tests=0: green)."""
    tree = junit.build([], interruption={"signal": "SIGINT", "planned": 4, "finished": 0, "stopped": 0,
                                         "never_ran": 4})
    root = ET.fromstring(ET.tostring(tree.getroot()))
    assert root.get("tests") == "1" and root.get("errors") == "1"
    err = root.find(".//testcase[@name='campaign interrupted']/error")
    assert err is not None and "SIGINT" in err.get("message") and "4 never ran" in err.get("message")
    assert junit.build([]).getroot().find(".//error") is None  # and nothing of the kind without an interruption


def _campaign(tmp_path, sig, when):
    store = tmp_path / "runs"
    xml = tmp_path / "campaign.xml"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "nemesis.cli", "campaign", "--workloads", "append",
                             "--nemeses", "kill", "--seeds", "3", "--time-limit", "2", "--jobs", "1",
                             "--concurrency", "2", "--no-report", "--store", str(store), "--junit", str(xml)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    seen = threading.Event()
    marker = "campaign: " if when == "start-up" else "valid"

    def watch(stream):
        for line in stream:
            lines.append(line)
            if marker in line:
                seen.set()

    threads = [threading.Thread(target=watch, args=(s,), daemon=True) for s in (proc.stdout, proc.stderr)]
    for t in threads:
        t.start()
    family: list[int] = []
    try:
        assert seen.wait(180), "".join(lines)[-3000:]
        try:
            family = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        except psutil.Error:
            pass
        proc.send_signal(sig)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for t in threads:
        t.join(5)
    return proc.returncode, "".join(lines), store, xml, family


@pytest.mark.slow
@pytest.mark.parametrize("when", ["start-up", "mid-run"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_campaign_keeps_what_it_has(tmp_path, sig, when):
    code, text, store, xml, family = _campaign(tmp_path, sig, when)
    assert code == 128 + sig, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    root = ET.parse(xml).getroot()  # parses
    cases = root.findall(".//testcase")
    stop = root.find(".//testcase[@name='campaign interrupted']/error")
    assert stop is not None, ET.tostring(root).decode()
    assert signal.Signals(sig).name in stop.get("message")
    assert int(root.get("errors")) >= 1
    runs = [c for c in cases if c.get("name") != "campaign interrupted"]
    finished = [c for c in runs if c.find("error") is None and c.find("failure") is None]
    rec = json.load(open(glob.glob(str(store / "campaign-*.json"))[0]))
    i = rec["interruption"]
    assert rec["interrupted"] and i["signal"] == signal.Signals(sig).name and rec["exit_code"] == 128 + sig
    assert i["finished"] + i["stopped"] + i["never_ran"] == i["planned"] == 3
    assert len(finished) == i["finished"] and f"{i['never_ran']} never ran" in stop.get("message")
    if when == "mid-run":
        assert len(finished) >= 1 and i["never_ran"] <= 2
        assert all(c.find("properties/property[@name='verdict']").get("value") == "valid" for c in finished)
        assert (store / "index.html").is_file()
        assert "campaign" in text and "INTERRUPTED" in text  # the summary table and its last word
    else:
        assert finished == [] and i["never_ran"] + i["stopped"] == 3
    deadline = time.monotonic() + 10
    while any(alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in family if alive(p)], "a process outlived the campaign"
