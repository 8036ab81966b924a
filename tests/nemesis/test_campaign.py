"""``persist-nemesis campaign``: planning (cross product, shards, blob per
mix, skips), bad input refused before any run, JUnit XML, and end to end:
a small campaign that is all valid (JUnit parses, the index lists every
run) and a campaign that finds a failpoint-only mutant whose printed
command reproduces the failure."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nemesis import campaign as cp
from nemesis import junit
from nemesis.cli import main

from .harness import MUTANTS, REPO

FAILPOINT_MUTANT = os.path.join(MUTANTS, "truncate_before_metadata.py")


def cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(["campaign", *args])
    out = capsys.readouterr()
    return e.value.code, out.out + out.err


def cli_proc(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "nemesis.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def small_plan(tmp_path, **kw):
    args = dict(workloads=["append", "rehydrate"], mixes=[["kill"], ["pause", "lose-unsynced"]],
                seeds=[1, 2, 3, 4, 5], time_limit=2.0, store=str(tmp_path))
    args.update(kw)
    return cp.plan(**args)


# --- planning -------------------------------------------------------------------

def test_cross_product_in_a_fixed_order(tmp_path):
    p = small_plan(tmp_path)
    assert p.total == len(p.runs) == 20
    assert [(r.seed, r.workload, "+".join(r.mix)) for r in p.runs[:4]] == [
        (1, "append", "kill"), (1, "append", "pause+lose-unsynced"),
        (1, "rehydrate", "kill"), (1, "rehydrate", "pause+lose-unsynced")]
    assert [r.command for r in small_plan(tmp_path).runs] == [r.command for r in p.runs]
    assert p.runs[1].cfg.nemeses == ["pause", "lose-unsynced"] and p.runs[1].cfg.seed == 1


def test_shards_partition_the_campaign(tmp_path):
    whole = [r.command for r in small_plan(tmp_path).runs]
    shards = [[r.command for r in small_plan(tmp_path, shard=(k, 3)).runs] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(whole)
    assert [len(s) for s in shards] == [7, 7, 6]
    assert shards[1] == whole[1::3]  # every Nth, from K-1


@pytest.mark.parametrize("text,msg", [("3/2", "shard 3 of 2 does not exist"), ("0/2", "1 <= K <= N"),
                                      ("2", "K/N"), ("a/b", "K/N"), ("1/0", "K/N"), ("-1/2", "K/N")])
def test_bad_shards(text, msg):
    with pytest.raises(cp.CampaignError, match=re.escape(msg)) as e:
        cp.parse_shard(text)
    assert "--shard" in str(e.value)


def test_seeds_workloads_and_mixes_parse():
    assert cp.parse_seeds(None, None) == [1]
    assert cp.parse_seeds(3, None) == [1, 2, 3]
    assert cp.parse_seeds(None, "7-9") == [7, 8, 9]
    for bad in ("9-7", "x", "3", "-1-2"):
        with pytest.raises(cp.CampaignError, match="--seed-range"):
            cp.parse_seeds(None, bad)
    with pytest.raises(cp.CampaignError, match="not both"):
        cp.parse_seeds(2, "1-2")
    from nemesis.generator import NEMESES
    from workloads.base import WORKLOADS

    assert cp.parse_workloads(None) == sorted(WORKLOADS)  # the registry as it is now, whatever was added
    assert cp.parse_mixes(None) == [[n] for n in NEMESES if n != "none"]
    assert cp.parse_mixes("kill, pause+lose-unsynced,kill") == [["kill"], ["pause", "lose-unsynced"]]


def test_s3_mixes_run_on_s3_and_their_commands_say_so(tmp_path):
    p = cp.plan(workloads=["append"], mixes=[["kill"], ["s3"], ["s3", "kill"]], seeds=[4], time_limit=2.0,
                store=str(tmp_path), s3_faults=["error-after method=PUT key=*meta p=0.5"],
                mutant=FAILPOINT_MUTANT)
    blobs = {"+".join(r.mix): r.cfg.blob for r in p.runs}
    assert blobs == {"kill": "file", "s3": "s3", "s3+kill": "s3"}
    s3run = next(r for r in p.runs if r.mix == ["s3"])
    args = shlex.split(s3run.command)
    assert args[:2] == ["persist-nemesis", "run"] and "--blob" in args and args[args.index("--blob") + 1] == "s3"
    assert args[args.index("--s3-fault") + 1] == "error-after method=PUT key=*meta p=0.5"
    assert args[args.index("--mutant") + 1] == FAILPOINT_MUTANT and args[args.index("--seed") + 1] == "4"
    assert args[args.index("--store") + 1] == str(tmp_path)
    kill = next(r for r in p.runs if r.mix == ["kill"])
    assert "--s3-fault" not in kill.command and "--blob" not in kill.command


def test_a_workload_can_decline_a_combination(tmp_path, monkeypatch):
    from workloads.base import load

    wl = load("rehydrate").WORKLOAD
    monkeypatch.setattr(wl, "incompatible", lambda names, blob: "no pauses here" if "pause" in names else None,
                        raising=False)
    p = small_plan(tmp_path, seeds=[1, 2])
    assert [(s.workload, s.mix, s.reason) for s in p.skipped] == [("rehydrate", ["pause", "lose-unsynced"],
                                                                     "no pauses here")]
    assert p.total == 6 and not any(r.workload == "rehydrate" and "pause" in r.mix for r in p.runs)


def test_exit_code_of_a_campaign():
    def rs(*verdicts):
        return [{"verdict": v, "code": {"valid": 0, "invalid": 1, "unknown": 2}.get(v, 3)} for v in verdicts]

    assert cp.exit_code(rs("valid", "valid")) == 0
    assert cp.exit_code(rs("valid", "unknown", "invalid")) == 1
    assert cp.exit_code(rs("valid", "unknown")) == 2
    assert cp.exit_code(rs("valid", "error")) == 2
    assert cp.exit_code(rs("error", "error")) == 3
    assert cp.exit_code(rs("valid"), interrupted=True) == 130


def test_junit_parses_and_carries_the_failure_and_its_command(tmp_path):
    base = {"workload": "append", "blob": "file", "seconds": 3.5, "ops": 10}
    results = [
        {**base, "mix": "kill", "seed": 1, "verdict": "valid", "run_dir": "/r/1", "command": "persist-nemesis run a"},
        {**base, "mix": "kill", "seed": 2, "verdict": "invalid", "run_dir": "/r/2", "command": "persist-nemesis run b",
         "message": "lost-writes: acknowledged write op 7 lost <1> update", "details": ["lost-writes: x", "y"],
         "repro": "persist-nemesis repro /r/2"},
        {**base, "workload": "upsert", "mix": "s3", "seed": 1, "verdict": "unknown", "run_dir": "/r/3",
         "command": "persist-nemesis run c", "message": "gave up"},
    ]
    path = junit.write(str(tmp_path / "out" / "j.xml"), results,
                       [{"workload": "upsert", "mix": "corrupt", "reason": "not here"}], wall=12.0)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("4", "1", "1", "1")
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["kill seed 1", "kill seed 2", "s3 seed 1", "corrupt (skipped)"]
    failure = cases[1].find("failure")
    assert failure.get("message") == "lost-writes: acknowledged write op 7 lost <1> update"
    assert "reproduce: persist-nemesis run b" in failure.text and "seed: 2" in failure.text
    props = {p.get("name"): p.get("value") for p in cases[1].iter("property")}
    assert props["seed"] == "2" and props["command"] == "persist-nemesis run b"
    assert cases[0].find("failure") is None and cases[2].find("error") is not None
    assert cases[3].find("skipped").get("message") == "not here"


# --- bad input: refused before anything runs ----------------------------------------

@pytest.mark.parametrize("args,msg", [
    (["--shard", "3/2"], "shard 3 of 2 does not exist"),
    (["--shard", "two"], "K/N"),
    (["--seeds", "0"], "--seeds"),
    (["--workloads", "append,nope"], "unknown workload 'nope'"),
    (["--nemeses", "kill,pause+bogus"], "unknown nemesis 'bogus'"),
    (["--nemeses", "s3", "--blob", "file"], "needs a run on S3"),
    (["--nemeses", "s3", "--s3-fault", "error-after p=2"], "p=2 must be in (0, 1]"),
    (["--nemeses", "kill", "--s3-fault", "error-after"], "add a mix with s3"),
    (["--nemeses", "s3", "--s3-port", "5999", "--jobs", "2"], "--jobs 1"),
    (["--time-limit", "0"], "--time-limit"),
    (["--mutant", "/no/such/mutant.py"], "no such file"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_input_is_a_clear_error_before_any_run(capsys, tmp_path, args, msg):
    store = tmp_path / "runs"
    code, text = cli(capsys, "--store", str(store), "--workloads", "append", *args)
    assert code == 3, text
    assert msg in text and "Traceback" not in text
    # one usage-error format for every subcommand: click's usage block, then "Error: ..."
    assert text.startswith("Usage: ") and "\nError: " in text
    assert not store.exists()  # nothing ran, not even a directory


def test_junit_path_that_cannot_be_written(capsys, tmp_path):
    code, text = cli(capsys, "--store", str(tmp_path / "runs"), "--junit", str(tmp_path))
    assert code == 3 and "--junit" in text and "is a directory" in text
    assert not (tmp_path / "runs").exists()


def test_a_busy_s3_port_is_refused_before_any_run(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, text = cli(capsys, "--store", str(tmp_path), "--workloads", "append", "--nemeses", "kill,s3",
                         "--s3-port", str(port), "--jobs", "1")
    assert code == 3, text
    assert f"127.0.0.1:{port}" in text and "in use" in text and "no run was started" in text
    assert not (tmp_path / "append").exists()


@pytest.mark.s3
def test_moto_missing_is_refused_before_any_run(tmp_path):
    shadow = tmp_path / "shadow" / "moto"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named moto (test shadow)')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'shadow'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = cli_proc("campaign", "--store", str(tmp_path / "runs"), "--workloads", "append", "--nemeses", "kill,s3",
                 env=env, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "moto" in r.stderr and "not installed" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs" / "append").exists()


def test_dry_run_lists_the_shard(capsys, tmp_path):
    code, text = cli(capsys, "--store", str(tmp_path), "--workloads", "append,rehydrate", "--nemeses",
                     "kill,s3", "--seeds", "2", "--shard", "2/3", "--dry-run")
    assert code == 0
    lines = text.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("persist-nemesis run ") for line in lines)
    assert "--nemesis s3" in lines[0] and "--blob s3" in lines[0] and "--seed 1" in lines[0]


def test_dry_run_passes_fs_and_system_to_every_run(capsys, tmp_path):
    system = "exec:python examples/sqlite_kv.py --synchronous off {data_dir}"
    code, text = cli(capsys, "--store", str(tmp_path), "--workloads", "kv", "--nemeses", "lose-unsynced",
                     "--seed-range", "1-2", "--fs", "tracer", "--system", system, "--dry-run")
    assert code == 3 and "--fs fuse" in text  # the tracer cannot see an exec: system: refused, not dropped
    code, text = cli(capsys, "--store", str(tmp_path), "--workloads", "kv", "--nemeses", "kill",
                     "--seed-range", "1-2", "--fs", "tracer", "--system", system, "--dry-run")
    lines = text.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert all("--fs tracer" in line and "--synchronous off" in line and "--workload kv" in line for line in lines)


# --- end to end ----------------------------------------------------------------------

def _parse_out(text: str):
    return [line.split("reproduce: ", 1)[1] for line in text.splitlines() if "reproduce: " in line]


@pytest.mark.slow
def test_a_small_campaign_is_all_valid_with_junit_and_index(tmp_path):
    store, xml = tmp_path / "runs", tmp_path / "ci" / "campaign.xml"
    r = cli_proc("campaign", "--workloads", "append,rehydrate", "--nemeses", "kill,pause+lose-unsynced",
                 "--seeds", "1", "--time-limit", "2", "--jobs", "2", "--store", str(store), "--junit", str(xml),
                 "--concurrency", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 of 4 runs" in r.stdout and "4 valid" in r.stdout
    assert re.search(r"append\s+│\s+pause\+lose-unsynced\s+│\s+1\s+│\s+1\s+│\s+0", r.stdout), r.stdout
    root = ET.parse(xml).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 4 and root.get("failures") == "0" and root.get("errors") == "0"
    run_dirs = sorted(next(p.get("value") for p in c.iter("property") if p.get("name") == "run_dir") for c in cases)
    assert all(os.path.isfile(os.path.join(d, "results.json")) for d in run_dirs)
    assert all(os.path.isfile(os.path.join(d, "timeline.html")) for d in run_dirs)
    index = (store / "index.html").read_text()
    for d in run_dirs:
        assert os.path.relpath(d, store) + "/" in index
    assert index.count('class="run v-valid"') == 4
    assert len(list(store.glob("campaign-*.json"))) == 1


@pytest.mark.slow
def test_a_campaign_finds_a_failpoint_mutant_and_its_command_reproduces_it(tmp_path):
    """Must-show 2: the mutant truncates the Wal before the drain's metadata
    swap; only a failpoint crash lands in that window. One client process and
    failpoints only: the runs are on the operation clock, so a seed gives the
    same history. The campaign prints the failing seed and its command;
    running that command fails with the very same complaint."""
    store, xml = tmp_path / "runs", tmp_path / "campaign.xml"
    r = cli_proc("campaign", "--workloads", "append", "--nemeses", "failpoint", "--seed-range", "4-5",
                 "--concurrency", "1", "--op-limit", "1500", "--time-limit", "75", "--jobs", "2",
                 "--store", str(store), "--junit", str(xml), "--mutant", FAILPOINT_MUTANT, "--no-report")
    assert r.returncode == 1, r.stdout + r.stderr
    found = re.search(r"INVALID: append / failpoint / seed (\d+): ((\S+): .*)", r.stdout)
    assert found, r.stdout
    seed, complaint, checker = found.group(1), found.group(2), found.group(3)
    commands = [c for c in _parse_out(r.stdout) if shlex.split(c)[shlex.split(c).index("--seed") + 1] == seed]
    assert len(commands) == 1, r.stdout
    failure = ET.parse(xml).getroot().find(".//failure")
    assert failure is not None and f"reproduce: {commands[0]}" in failure.text and f"seed: {seed}" in failure.text
    args = shlex.split(commands[0])
    assert args[:2] == ["persist-nemesis", "run"] and args[args.index("--mutant") + 1] == FAILPOINT_MUTANT
    assert args[args.index("--seed") + 1] == seed
    again = cli_proc(*args[1:], "--quiet", "--no-report")
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"verdict: INVALID   seed {seed}" in again.stdout
    rerun = json.load(open(os.path.join(os.path.realpath(store / "latest"), "results.json")))
    judged = next(c for c in rerun["checkers"] if c["checker"] == checker)
    assert judged["valid"] is False
    assert f"{checker}: {judged['anomalies'][0]['message']}" == complaint  # the same operations, the same complaint


def test_ctrl_c_stops_the_runs_in_flight_and_reports_what_finished(tmp_path):
    import signal
    import time

    import psutil

    store = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "nemesis.cli", "campaign", "--workloads", "append", "--nemeses",
                          "kill", "--seeds", "3", "--time-limit", "60", "--jobs", "2", "--store", str(store),
                          "--concurrency", "2", "--no-report"],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), os.setpgrp()))
    try:
        deadline = time.monotonic() + 120

        def workers():
            out = []
            for c in psutil.Process(p.pid).children(recursive=True):
                try:
                    if "worker_main" in " ".join(c.cmdline()):
                        out.append(c)
                except psutil.Error:
                    pass
            return out

        while (len(list(store.glob("append/*/history.jsonl"))) < 2 or len(workers()) < 4) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        started = workers()
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, out + err
    assert "of 3 runs" in out and "interrupted" in out
    statuses = [json.load(open(s))["status"] for s in store.glob("append/*/status.json")]
    assert statuses == ["interrupted", "interrupted"], statuses  # the third never started
    assert len(started) >= 4

    def alive(w):
        try:
            return w.is_running() and w.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    # Every run closed its workers; one interrupted while it was (re)spawning one may leave a process that
    # exits on its own at the EOF of its stdin, once its imports are done.
    deadline = time.monotonic() + 30
    while [w for w in started if alive(w)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w.cmdline() for w in started if alive(w)]


def test_a_run_past_its_deadline_is_stopped_and_is_an_error_of_that_run_only(tmp_path, monkeypatch):
    import json as _json

    monkeypatch.setattr(cp, "GRACE", -55.0)  # a 60 s run gets 5 s
    p = cp.plan(workloads=["append"], mixes=[["none"]], seeds=[1], time_limit=60.0, store=str(tmp_path),
                concurrency=2)
    done = []
    o = cp.execute(p, 1, reports=False, on_done=done.append)
    assert [r["verdict"] for r in o.results] == ["error"] and done == o.results
    r = o.results[0]
    assert "took more than 5 s and was stopped" in r["error"] and r["command"].startswith("persist-nemesis run ")
    assert _json.load(open(os.path.join(r["run_dir"], "status.json")))["status"] == "interrupted"
    assert cp.exit_code(o.results) == 2


@pytest.mark.s3
def test_an_s3_mix_runs_on_its_own_moto_server(tmp_path):
    store = tmp_path / "runs"
    r = cli_proc("campaign", "--workloads", "append", "--nemeses", "s3", "--time-limit", "2", "--concurrency", "2",
                 "--store", str(store), "--no-report", "--quiet", "--s3-fault", "error-after method=PUT key=*meta p=0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = store.glob("append/*/config.json")
    cfg = json.load(open(run))
    assert cfg["blob"] == "s3" and cfg["s3_faults"] == ["error-after method=PUT key=*meta p=0.5"]
    assert "--blob s3 --s3-fault 'error-after method=PUT key=*meta p=0.5'" in cfg["command"]
