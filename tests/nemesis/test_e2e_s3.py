"""End to end on S3 (``--blob s3``): the run starts its own moto server; a
short append run under the ``s3`` nemesis is valid on the correct engine,
under every fault mode; each S3 mutant is caught; bad S3 input is a clear
error (exit 3) before anything runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.nemesis.harness import MUTANTS, REPO, explain, nemesis_infos, results

pytestmark = pytest.mark.s3

META_RULES = ["error-after method=PUT key=*meta p=0.5", "drop-after method=PUT key=*meta p=0.5"]


def run_s3(store, seed=1, time_limit=8.0, rules=(), mutant=None, nemesis="s3", workload="append", keep_data=False):
    from nemesis.runner import build_config, execute

    cfg = build_config(workload, nemesis, seed, time_limit, 4, 0, os.path.join(MUTANTS, mutant) if mutant else None,
                       keep_data, blob="s3", s3_faults=list(rules))
    cfg.interval = (0.3, 0.8)
    code = execute(cfg, str(store), quiet=True, reports=False)
    return code, os.path.realpath(os.path.join(str(store), "latest"))


def s3_rules_fired(run):
    cleared = [r for v in nemesis_infos(run, "s3") for r in v.get("cleared", [])]
    return sum(r["hits"] for r in cleared)


def test_append_on_s3_under_the_s3_nemesis_is_valid(tmp_path):
    code, run = run_s3(tmp_path, seed=1, keep_data=True)
    assert code == 0, explain(run)
    assert results(run)["fsck"]["ok"], results(run)["fsck"]  # persist.check ran while the server was up
    assert "integrity" in {c["checker"] for c in results(run)["checkers"]}
    assert os.path.isfile(os.path.join(run, "moto.log"))  # the server's log stays with the run
    assert os.path.isfile(os.path.join(run, "data", "s3", "loc", "meta"))  # the bucket, kept for a post-mortem
    assert os.path.isdir(os.path.join(run, "data", "wal"))
    sets = [v for v in nemesis_infos(run, "s3") if v.get("rules")]
    clears = [v for v in nemesis_infos(run, "s3") if v.get("rules") == []]
    assert len(sets) >= 2 and len(clears) == len(sets)
    assert all(r["bucket"] == "nemesis-run" and "applies" in r for v in sets for r in v["rules"])
    assert s3_rules_fired(run) > 0


def test_the_run_starts_and_stops_its_own_moto_server(tmp_path):
    import psutil

    from nemesis.runner import build_config
    from nemesis.controller import Controller

    cfg = build_config("append", "s3", 1, 2.0, 4, 0, None, False, blob="s3")
    ctl = Controller(cfg, str(tmp_path / "run"))
    pid = ctl.s3.server.pid
    try:
        assert psutil.pid_exists(pid) and ctl.s3.server.health()["ok"]
        assert ctl.url == "s3://nemesis-run/loc" and ctl.ctx.s3["endpoint_url"] == ctl.s3.endpoint_url
        assert all(w.options["persist"]["endpoint_url"] == ctl.s3.endpoint_url for w in ctl.workers.values())
        assert pid not in {w.pid for w in ctl.workers.values()}  # never a kill target
    finally:
        ctl.close()
    try:
        psutil.Process(pid).wait(timeout=10)
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(pid)


@pytest.mark.parametrize("rule", [
    "error-before p=0.5",
    "error-after method=PUT p=0.3",
    "drop-after method=PUT p=0.3",
    "timeout method=PUT apply=true seconds=1.3 count=2",
    "timeout method=PUT apply=false seconds=1.3 count=2",
    "latency seconds=0.1 p=0.5",
    "conflict method=PUT p=0.3",
])
def test_every_fault_mode_end_to_end_is_valid(tmp_path, rule):
    code, run = run_s3(tmp_path, seed=2, rules=[rule])
    assert code == 0, explain(run)
    assert s3_rules_fired(run) > 0, "the rule never fired"


@pytest.mark.parametrize("mutant", ["s3_blind_cas_retry.py", "s3_ambiguous_put_deleted.py"])
def test_s3_mutant_is_caught_by_a_run(tmp_path, mutant):
    tried = []
    for seed in (1, 2, 3):
        code, run = run_s3(tmp_path / f"s{seed}", seed=seed, rules=META_RULES, mutant=mutant)
        tried.append((seed, code))
        if code == 1:
            print(f"{mutant} caught with seed {seed}: {run}\n{explain(run)}")
            return
    pytest.fail(f"{mutant} not caught in seeds {tried}")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nemesis.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)


BASE = ["run", "--workload", "append", "--seed", "1", "--time-limit", "2", "--quiet", "--no-report"]


def test_a_fault_rule_that_does_not_parse_is_refused_before_the_run(tmp_path):
    r = cli(*BASE, "--nemesis", "s3", "--blob", "s3", "--s3-fault", "error-after p=2", "--store", str(tmp_path))
    assert r.returncode == 3, r.stderr
    assert "--s3-fault" in r.stderr and "p=2 must be in (0, 1]" in r.stderr and "error-before" in r.stderr
    assert not os.path.exists(tmp_path / "append")  # nothing ran


def test_the_s3_nemesis_without_a_run_on_s3_is_refused(tmp_path):
    r = cli(*BASE, "--nemesis", "s3", "--store", str(tmp_path))
    assert r.returncode == 3 and "--blob s3" in r.stderr, r.stderr
    r = cli(*BASE, "--nemesis", "kill", "--blob", "tape", "--store", str(tmp_path))
    assert r.returncode == 3 and "file, s3" in r.stderr, r.stderr


def test_a_port_in_use_is_a_clear_error_before_any_worker(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli(*BASE, "--nemesis", "s3", "--blob", "s3", "--s3-port", str(port), "--store", str(tmp_path))
    assert r.returncode == 3, r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "moto server" in r.stderr
    assert "Traceback" not in r.stderr
    assert not list((tmp_path / "append").glob("*/workers/*.log"))  # no worker started
    assert list((tmp_path / "append").glob("*/moto.log"))  # what the server said is kept


def test_moto_missing_is_a_clear_error(tmp_path):
    shadow = tmp_path / "shadow" / "moto"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named moto (test shadow)')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'shadow'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = cli(*BASE, "--nemesis", "s3", "--blob", "s3", "--store", str(tmp_path / "runs"), env=env)
    assert r.returncode == 3, r.stderr
    assert "moto" in r.stderr and "not installed" in r.stderr and "Traceback" not in r.stderr
