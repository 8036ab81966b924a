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
