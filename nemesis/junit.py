"""JUnit XML for CI systems, from a campaign's results.

One ``<testsuite>`` per workload, one ``<testcase>`` per run, named
``<mix> seed <N>`` with ``classname`` ``persist-nemesis.<workload>``:

- ``valid``: a passing test case;
- ``invalid``: ``<failure>`` whose ``message`` is the first checker's
  complaint; its text has the other complaints and the commands that
  reproduce the run (``persist-nemesis run ...`` with the same flags, and
  ``persist-nemesis repro RUN_DIR``);
- ``unknown`` and ``error``: ``<error>`` likewise (the run proved nothing);
- a combination the campaign skipped: ``<skipped>`` with the reason;
- an interrupted campaign (Ctrl-C, SIGTERM: ``interruption``): one more
  suite ``persist-nemesis.campaign`` with a case ``campaign interrupted``
  whose ``<error>`` names the signal and how many runs never ran or were
  stopped half-way, so that a campaign cut short never reads as passing, not
  even one interrupted before any run finished (``tests="1" errors="1"``).

Each case has ``<properties>`` (seed, workload, nemesis, blob, verdict,
run_dir, command) and ``<system-out>`` with the run directory and command.
The layout is the de-facto schema Jenkins, GitLab and GitHub reporters read;
it parses with :mod:`xml.etree.ElementTree`.
"""

from __future__ import annotations

import os
import socket
import xml.etree.ElementTree as ET
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

SUITE = "persist-nemesis"


def _case_name(r: dict[str, Any]) -> str:
    return f"{r['mix']} seed {r['seed']}"


def _text(r: dict[str, Any]) -> str:
    lines = []
    for d in r.get("details") or ([r["message"]] if r.get("message") else []):
        lines.append(d)
    if r.get("faults"):
        lines.append("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items())))
    lines.append(f"seed: {r['seed']}")
    if r.get("run_dir"):
        lines.append(f"run: {r['run_dir']}")
    lines.append(f"reproduce: {r['command']}")
    if r.get("repro"):
        lines.append(f"       or: {r['repro']}")
    return "\n".join(lines)


def interruption_message(i: dict[str, Any]) -> str:
    """One sentence: the campaign was interrupted, by what, and what never ran."""
    return (f"the campaign was interrupted by {i['signal']}: {i['finished']} of {i['planned']} runs finished, "
            f"{i['stopped']} stopped half-way, {i['never_ran']} never ran")


def build(results: list[dict[str, Any]], skipped: list[dict[str, Any]] = (), *, name: str = SUITE,
          wall: float | None = None, interruption: dict[str, Any] | None = None) -> ET.ElementTree:
    """The JUnit tree of a campaign. ``skipped``: dicts with workload, mix, reason;
    ``interruption``: ``Outcome.interruption()`` of an interrupted campaign."""
    by_wl: OrderedDict[str, list[tuple[str, dict[str, Any]]]] = OrderedDict()
    for r in results:
        by_wl.setdefault(r["workload"], []).append(("run", r))
    for s in skipped:
        by_wl.setdefault(s["workload"], []).append(("skip", s))
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    for wl, items in by_wl.items():
        suite = ET.SubElement(root, "testsuite", name=f"{name}.{wl}", hostname=socket.gethostname(), timestamp=stamp)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for kind, r in items:
            counts["tests"] += 1
            if kind == "skip":
                case = ET.SubElement(suite, "testcase", name=f"{r['mix']} (skipped)", classname=f"{name}.{wl}",
                                     time="0")
                ET.SubElement(case, "skipped", message=r["reason"])
                counts["skipped"] += 1
                continue
            secs = float(r.get("seconds") or 0.0)
            suite_time += secs
            case = ET.SubElement(suite, "testcase", name=_case_name(r), classname=f"{name}.{wl}", time=f"{secs:.3f}")
            props = ET.SubElement(case, "properties")
            for k in ("seed", "workload", "mix", "blob", "verdict", "run_dir", "command"):
                if r.get(k) is not None:
                    ET.SubElement(props, "property", name=k, value=str(r[k]))
            verdict = r["verdict"]
            if verdict == "invalid":
                el = ET.SubElement(case, "failure", message=(r.get("message") or "invalid history")[:1000],
                                   type="invalid")
                el.text = _text(r)
                counts["failures"] += 1
            elif verdict != "valid":
                el = ET.SubElement(case, "error", message=(r.get("message") or verdict)[:1000], type=verdict)
                el.text = _text(r)
                counts["errors"] += 1
            out = ET.SubElement(case, "system-out")
            out.text = (f"run: {r.get('run_dir')}\n" if r.get("run_dir") else "") + f"command: {r['command']}\n"
        suite.set("time", f"{suite_time:.3f}")
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        total_time += suite_time
    if interruption is not None:
        suite = ET.SubElement(root, "testsuite", name=f"{name}.campaign", hostname=socket.gethostname(),
                              timestamp=stamp, tests="1", failures="0", errors="1", skipped="0", time="0")
        case = ET.SubElement(suite, "testcase", name="campaign interrupted", classname=f"{name}.campaign", time="0")
        el = ET.SubElement(case, "error", message=interruption_message(interruption), type="interrupted")
        el.text = interruption_message(interruption) + "; the cases above are the runs that finished"
        totals["tests"] += 1
        totals["errors"] += 1
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{wall if wall is not None else total_time:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write(path: str, results: list[dict[str, Any]], skipped: list[dict[str, Any]] = (), **kw: Any) -> str:
    """Write the JUnit XML to ``path`` (atomically); returns its absolute path."""
    path = os.path.abspath(path)
    tree = build(results, skipped, **kw)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
