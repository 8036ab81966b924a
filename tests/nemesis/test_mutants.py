"""The harness catches planted bugs: each mutant in ``mutants/`` gets an
invalid verdict within a bounded run (a few seeds at most), and the seed is
printed. ``repro`` of a failing run fails again."""

from __future__ import annotations

import pytest

from tests.nemesis.harness import explain, run_test

CASES = [
    # mutant file, workload, nemesis that exposes it, seconds
    ("ack_before_fsync.py", "append", "lose-unsynced", 6),
    ("nonatomic_metadata.py", "append", "lose-unsynced", 6),
    ("replay_twice.py", "append", "kill", 6),
    ("lose_seal.py", "append", "kill", 6),
    ("operator_forgets_replay.py", "rehydrate", "kill", 6),
]
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


@pytest.mark.parametrize("mutant,workload,nemesis,secs", CASES, ids=[c[0][:-3] for c in CASES])
def test_mutant_is_caught(tmp_path, mutant, workload, nemesis, secs):
    catch(tmp_path, mutant, workload, nemesis, secs)


def test_repro_of_a_failing_run_fails_again(tmp_path, capsys):
    from nemesis.cli import main

    seed, run = catch(tmp_path, "replay_twice.py", "append", "kill", 6)
    with pytest.raises(SystemExit) as e:
        main(["repro", run, "--quiet", "--attempts", "3"])
    out = capsys.readouterr().out
    assert e.value.code == 1, out
    assert f"seed {seed}" in out
