"""Soaks (nemesis/soak.py): ``campaign --duration`` draws seeds across the
cross product until the time is spent, with a campaign's summary and JUnit."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from nemesis import campaign as cp
from nemesis.cli import main
from nemesis.soak import Soak, parse_duration


@pytest.mark.parametrize("text,secs", [("600", 600), ("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400),
                                       ("0.5m", 30)])
def test_durations(text, secs):
    assert parse_duration(text) == secs


@pytest.mark.parametrize("text", ["", "abc", "10x", "0", "-5m", "1h fish"])
def test_bad_durations(text):
    with pytest.raises(cp.CampaignError, match="--duration"):
        parse_duration(text)


def test_soak_draws_seeds_across_the_cross_product_until_the_deadline(tmp_path):
    now = [0.0]

    def make(seed):
        return cp.plan(workloads=["append", "upsert"], mixes=[["kill"]], seeds=[seed], time_limit=1,
                       store=str(tmp_path)).runs

    s = Soak(make, 3, 10.0, clock=lambda: now[0])
    taken = []
    while len(s):
        taken.append(s.pop(0))
        now[0] += 2.0
    assert [(r.seed, r.workload) for r in taken] == [(3, "append"), (3, "upsert"), (4, "append"), (4, "upsert"),
                                                     (5, "append")]
    assert [r.index for r in taken] == list(range(5)) and s.started == taken


def test_duration_and_seeds_are_refused_together(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["campaign", "--duration", "1m", "--seeds", "3", "--store", str(tmp_path)])
    assert e.value.code == 3 and "--duration" in capsys.readouterr().err


@pytest.mark.slow
def test_a_short_soak(tmp_path, capsys):
    xml = tmp_path / "soak.xml"
    with pytest.raises(SystemExit) as e:
        main(["campaign", "--duration", "15s", "--time-limit", "1", "--workloads", "append", "--nemeses", "kill",
              "--jobs", "1", "--concurrency", "2", "--no-report", "--store", str(tmp_path / "runs"),
              "--junit", str(xml), "--quiet"])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    root = ET.parse(xml).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) >= 1 and root.get("failures") == "0" and root.get("errors") == "0", out
    names = [c.get("name") for c in cases]
    assert names == [f"kill seed {i}" for i in range(1, len(names) + 1)]  # seeds drawn in turn (more on a quiet machine)
    assert "history: median" in out and "judging: median" in out
    rec = json.load(open(next((tmp_path / "runs").glob("campaign-*.json"))))
    assert rec["runs"] == len(cases) and all(r["history_bytes"] > 0 for r in rec["results"])
