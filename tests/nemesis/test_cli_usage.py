"""One usage-error format for every subcommand (issue 15): click's usage
block, then ``Error: Invalid value for <flag>: <what was wrong>``, exit 3,
whether the command refused the input itself or the library did
(:class:`nemesis.errors.BadInput` through ``nemesis.cli.usage_errors``)."""

from __future__ import annotations

import pytest

from nemesis.cli import main


@pytest.mark.parametrize("args,flag,msg", [
    (["run", "--workload", "nope", "--nemesis", "kill", "--seed", "1", "--time-limit", "1"], "--workload",
     "unknown workload 'nope'"),
    (["run", "--workload", "append", "--nemesis", "kill", "--seed", "1", "--time-limit", "1", "--replay", "{x"],
     "--replay", "not JSON"),
    (["campaign", "--seeds", "0"], "--seeds", "must be >= 1"),
    (["campaign", "--workloads", "append", "--shard", "3/2"], "--shard", "shard 3 of 2 does not exist"),
    (["repro", "{tmp}"], "RUN_DIR", "is not a run directory"),
    (["shrink", "{tmp}"], "RUN_DIR", "is not a run directory"),
    (["shrink", "--replay-regressions", "--regressions", "{tmp}/none.json"], "--regressions", "no regressions file"),
    (["prune", "--store", "{tmp}/none"], "--store", "no such directory"),
    (["mutants", "{tmp}/none.py"], "FILE.py", "none.py"),
])
def test_every_subcommand_refuses_bad_input_in_one_format(capsys, tmp_path, args, flag, msg):
    with pytest.raises(SystemExit) as e:
        main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    assert e.value.code == 3, err
    assert err.startswith("Usage: ") and "Try '" in err and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("Error: ")]
    assert line.startswith(f"Error: Invalid value for {flag}") and msg in line, err
