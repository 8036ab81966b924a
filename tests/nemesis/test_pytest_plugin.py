"""The pytest plugin (nemesis/pytest_plugin.py): a project's test with the
``nemesis`` fixture fails when its campaign finds a bug, and says how to
reproduce it, in the failure message and in the JUnit properties.

Each test runs pytest in a subprocess on a small test file (``pytester``),
loading the plugin by name as a project with a checkout would (installed,
the ``pytest11`` entry point does it)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from .harness import MUTANTS

TEST_FILE = '''
def test_crash_safety(nemesis):
    result = nemesis.campaign(workloads=["append"], nemeses=["kill"], concurrency=4, report=False{extra})
    assert result.valid, result.summary
'''


def _props(xml) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in ET.parse(xml).getroot().iter("property"):
        out.setdefault(p.get("name"), []).append(p.get("value"))
    return out


def _pytest(pytester, store, xml, extra: str, *args: str):
    pytester.makepyfile(test_project=TEST_FILE.format(extra=extra))
    return pytester.runpytest_subprocess("-p", "nemesis.pytest_plugin", "-p", "no:cacheprovider",
                                         "--nemesis-store", str(store), "--nemesis-time-limit", "5",
                                         "--junitxml", str(xml), *args, timeout=600)


def test_the_options_are_the_fixture_s_defaults_and_the_test_s_arguments_win(pytester, tmp_path):
    """``--nemesis-seeds``, ``--nemesis-time-limit`` and ``--nemesis-store``
    reach the campaign (a dry run: nothing runs); ``time_limit=`` in the
    test wins over the option."""
    store = tmp_path / "store"
    pytester.makepyfile(test_opts='''
def test_defaults(nemesis):
    r = nemesis.campaign(workloads=["append"], nemeses=["kill"], dry_run=True)
    assert len(r.commands) == 3 and all("--time-limit 7" in c for c in r.commands), r.commands
    assert all(c.endswith("--store " + nemesis.store) for c in r.commands)
    print("STORE", nemesis.store)

def test_argument_wins(nemesis):
    r = nemesis.campaign(workloads=["append"], nemeses=["kill"], seeds=1, time_limit=2, dry_run=True)
    assert len(r.commands) == 1 and "--time-limit 2" in r.commands[0]
''')
    result = pytester.runpytest_subprocess("-p", "nemesis.pytest_plugin", "-p", "no:cacheprovider", "-s",
                                           "--nemesis-seeds", "3", "--nemesis-time-limit", "7",
                                           "--nemesis-store", str(store), timeout=300)
    result.assert_outcomes(passed=2)
    assert f"STORE {store}" in result.stdout.str()


@pytest.mark.slow
def test_a_failing_campaign_fails_the_test_with_the_reproduce_command(pytester, tmp_path):
    """The zoo's replay_twice (Wal records applied twice on restart) under
    kill, its hinted configuration: the campaign is invalid, so the test
    fails, and the message names the run directory and the command that
    reproduces it."""
    store, xml = tmp_path / "store", tmp_path / "junit.xml"
    mutant = os.path.join(MUTANTS, "replay_twice.py")
    result = _pytest(pytester, store, xml, f", mutant={mutant!r}", "--nemesis-seeds", "2")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "campaign INVALID" in out and "AssertionError" in out
    assert "reproduce: persist-nemesis repro " + str(store) in out, out[-4000:]
    assert "or: persist-nemesis run --workload append --nemesis kill --seed" in out
    props = _props(xml)
    assert props["nemesis_verdict"] == ["invalid"]
    assert len(props["nemesis_run_dir"]) == 2  # seeds 1..2 from --nemesis-seeds
    assert all(d.startswith(str(store)) and os.path.isdir(d) for d in props["nemesis_run_dir"])
    assert props["nemesis_repro"] and all(c.startswith("persist-nemesis repro ") for c in props["nemesis_repro"])
    assert any(c.split()[-1] in out for c in props["nemesis_repro"])


@pytest.mark.slow
def test_a_valid_campaign_passes_and_xdist_workers_get_their_own_store(pytester, tmp_path):
    """The correct engine under kill: the test passes; under ``-n 2`` each
    worker's runs go to ``<store>/<worker id>``."""
    store, xml = tmp_path / "store", tmp_path / "junit.xml"
    pytester.makepyfile(test_other='''
def test_second(nemesis):
    result = nemesis.run(workload="append", nemesis="kill", concurrency=2, report=False)
    assert result.valid, result.summary
''')
    result = _pytest(pytester, store, xml, "", "-n", "2")
    result.assert_outcomes(passed=2)
    props = _props(xml)
    assert props["nemesis_verdict"] == ["valid", "valid"] and "nemesis_repro" not in props
    workers = {os.path.relpath(d, store).split(os.sep)[0] for d in props["nemesis_run_dir"]}
    assert workers <= {"gw0", "gw1"} and workers, props
