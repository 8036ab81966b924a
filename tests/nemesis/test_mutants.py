"""``repro`` of a run that caught a planted bug fails again, with the same
seed. (That every mutant of ``mutants/`` is caught is the zoo's test,
``tests/nemesis/test_zoo.py``, through ``persist-nemesis mutants``.)"""

from __future__ import annotations

import pytest

from tests.nemesis.harness import explain, run_test

SEEDS = (1, 2, 3)


def catch(tmp_path, mutant, workload, nemesis, secs):
    tried = []
    for seed in SEEDS:
        code, run = run_test(tmp_path / f"s{seed}", workload=workload, nemesis=nemesis, seed=seed, time_limit=secs,
                             mutant=mutant, interval=(0.2, 0.6), concurrency=4 if workload == "append" else 2)
        tried.append((seed, code))
        if code == 1:
            print(f"mutant {mutant} caught by {nemesis} with seed {seed}: {run}")
            print(explain(run))
            return seed, run
    pytest.fail(f"mutant {mutant} not caught by {nemesis} in seeds {tried}")


def test_repro_of_a_failing_run_fails_again(tmp_path, capsys):
    from nemesis.cli import main

    seed, run = catch(tmp_path, "replay_twice.py", "append", "kill", 6)
    with pytest.raises(SystemExit) as e:
        main(["repro", run, "--quiet", "--attempts", "3"])
    out = capsys.readouterr().out
    assert e.value.code == 1, out
    assert f"seed {seed}" in out


# --- hunting without hints: the spread, attribution (issue 14) ----------------

import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nemesis import mutation  # noqa: E402
from tests.nemesis.harness import REPO  # noqa: E402


def _key(cfg):
    return json.dumps(cfg, sort_keys=True)


@settings(max_examples=25, deadline=None)
@given(name=st.text(min_size=1, max_size=20), rounds=st.integers(1, 4))
def test_without_hints_every_configuration_runs_before_any_runs_again_with_varied_seeds(name, rounds):
    n = len(mutation.SPREAD)
    got = list(itertools.islice(mutation.trials({}, name), rounds * n))
    every = {_key(mutation.config_of(c)) for c in mutation.SPREAD}
    assert len(every) == n  # no configuration listed twice
    for r in range(rounds):  # each round is every configuration once
        assert sorted(_key(c) for c, _ in got[r * n:(r + 1) * n]) == sorted(every)
    assert len({s for _, s in got}) == len(got)  # no seed repeats, in a configuration or across them
    hinted = {"workload": "upsert", "nemesis": "kill"}
    assert got == list(itertools.islice(mutation.trials(hinted, name, no_hints=True), rounds * n))  # hint ignored
    assert got == list(itertools.islice(mutation.trials({}, name), rounds * n))  # reproducible


def test_the_spread_covers_every_workload_every_nemesis_and_both_blobs():
    from nemesis.generator import NEMESES
    from workloads.base import WORKLOADS

    cfgs = [mutation.config_of(c) for c in mutation.SPREAD]
    assert {c["workload"] for c in cfgs} == set(WORKLOADS)
    assert {n for c in cfgs for n in c["nemesis"].split(",")} >= set(NEMESES) - {"none"}
    assert {c["blob"] for c in cfgs} == {"file", "s3"}
    for w in ("append", "rehydrate", "upsert"):
        assert any(c["workload"] == w and c["blob"] == "s3" for c in cfgs), w


def _fake(verdicts_and_ran):
    """A runner whose runs are invalid or valid and ran the patched function so often."""
    it = iter(verdicts_and_ran)

    def runner(mutant, cfg, seed, store):
        v, ran = next(it)
        cov = {"failpoints": {}, "patched": ["persist.x.f"], "patched_ran": {"persist.x.f": ran}}
        return {"code": 1 if v == "invalid" else 0, "verdict": v, "run_dir": f"/r/{seed}", "command": f"c {seed}",
                "results": {"valid": v == "valid", "coverage": cov,
                            "checkers": [{"checker": "lost-writes", "valid": v == "valid"}]}}

    return runner


def test_an_invalid_run_that_never_ran_the_patch_is_a_catch_not_attributed(tmp_path):
    m = mutation.Mutant("m", str(tmp_path / "m.py"), "", {})
    res = mutation.hunt(m, 60, str(tmp_path), runner=_fake([("invalid", 0), ("valid", 5), ("invalid", 2)]))
    assert res["caught"] and res["runs"] == 3 and res["attributed"] is True
    assert res["patched_ran"] == {"persist.x.f": 2}
    (u,) = res["unattributed"]
    assert u["patched_ran"] == {"persist.x.f": 0} and u["checker"] == "lost-writes" and u["command"].startswith("c ")


def test_a_catch_whose_control_fails_on_any_seed_is_flagged(tmp_path):
    m = mutation.Mutant("m", str(tmp_path / "m.py"), "", {"nemesis": "kill"})
    seen = []

    def runner(mutant, cfg, seed, store):
        seen.append((mutant, seed))
        controls = sum(1 for x, _ in seen if x is None)
        v = "invalid" if mutant is not None or controls == 2 else "valid"  # the second control seed fails
        cov = {"patched": ["persist.x.f"], "patched_ran": {"persist.x.f": 1}}
        return {"code": 0, "verdict": v, "run_dir": store, "command": "c", "results": {"valid": v == "valid",
                                                                                     "coverage": cov}}

    res = mutation.hunt(m, 60, str(tmp_path), runner=runner, control=True)
    assert res["caught"] and res["control"] == "invalid"
    assert [c["verdict"] for c in res["controls"]] == ["valid", "invalid", "valid"]


#: a planted engine bug (compiled under another file name, so it is not the
#: mutant's patch) plus the mutant's own, harmless patch of the upsert
#: operator, which the append workload never calls
PLANTED = '''
"""Fixture: consolidation drops the last run (as the engine itself would), and Upsert.upsert is wrapped; exposed by none."""
import textwrap

from persist import columnar, compaction, persister
from persist.operators import persisted, upsert

EXPOSED_BY = {{"nemesis": "none", "time_limit": 2, "seeds": [1]}}

_src = {src!r}
_ns = {{"columnar": columnar, "pa": __import__("pyarrow")}}
exec(compile(_src, "<engine>", "exec"), _ns)
for mod in (columnar, compaction, persister, persisted, upsert):
    mod.consolidate_updates = _ns["consolidate_updates"]

_orig = upsert.Upsert.upsert


def _upsert(self, items):
    return _orig(self, items)


upsert.Upsert.upsert = _upsert
'''


def _planted(tmp_path):
    with open(os.path.join(REPO, "mutants", "wrong_consolidation.py"), encoding="utf-8") as f:
        text = f.read()
    src = text[text.index("def consolidate_updates"):text.index("\n\n\nfor mod in")]
    path = tmp_path / "planted.py"
    path.write_text(PLANTED.format(src=src))
    return mutation.load(str(path))


def test_a_real_catch_by_a_run_that_never_called_the_patch_is_not_counted(tmp_path):
    """The planted bug: the append run is invalid (an engine bug the patch did
    not cause) but never calls the patched upsert operator: not a catch. The
    upsert workload calls it and is invalid too: a catch."""
    m = _planted(tmp_path)
    res = mutation.hunt(m, 1, str(tmp_path / "append"))  # one run: the hint's, append
    assert not res["caught"], res
    (u,) = res["unattributed"]
    assert u["patched_ran"] == {"persist.operators.upsert.Upsert.upsert": 0}, u
    assert u["config"].startswith("append none")
    m.hint = {**m.hint, "workload": "upsert"}
    res = mutation.hunt(m, 1, str(tmp_path / "upsert"))
    assert res["caught"] and res["attributed"] is True, res
    assert res["patched_ran"]["persist.operators.upsert.Upsert.upsert"] > 0
    # the runs someone will open have a timeline, the hunt's store an index, and `caught` names the catch
    store = tmp_path / "upsert"
    assert os.path.samefile(store / "caught", res["run_dir"])
    assert os.path.isfile(os.path.join(res["run_dir"], "timeline.html"))
    assert os.path.basename(res["run_dir"]) in (store / "index.html").read_text()
    assert os.path.isfile(os.path.join(u["run_dir"], "timeline.html"))


@pytest.mark.slow
def test_every_zoo_mutant_patches_something_a_run_can_see(tmp_path):
    """Attribution needs each zoo mutant's replacement to be found: run each
    file as the worker does and list what coverage wraps."""
    script = textwrap.dedent("""
        import json, runpy, sys
        from nemesis import coverage
        coverage.install(sys.argv[2])
        runpy.run_path(sys.argv[1], run_name="__mutant__")
        print(json.dumps(coverage.after_mutant(sys.argv[1])))
    """)
    empty = []
    for path in mutation.zoo_files():
        r = subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "r.cov")], capture_output=True,
                           text=True, timeout=120, cwd=REPO)
        assert r.returncode == 0, r.stderr[-2000:]
        patched = json.loads(r.stdout.strip().splitlines()[-1])
        if not all(p.startswith("persist.") for p in patched) or not patched:
            empty.append((os.path.basename(path), patched))
    assert not empty, empty
