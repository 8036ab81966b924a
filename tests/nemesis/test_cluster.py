"""Campaigns on a dask cluster (``--cluster``, :mod:`nemesis.cluster`).

Fast: the address and store parsing, the errors for a missing dask and an
unreachable scheduler, a run directory's archive unpacked into a store.
Slow, on a ``LocalCluster`` of two worker processes: the same campaign gives
the same verdicts and the same runs as the local executor (summary, JUnit,
index and record of the same shape; ``repro`` works on a shipped run); a
dask worker SIGKILLed while it runs a run gives that run ``error``, never a
lost or a doubled one, and the campaign finishes the rest; a soak runs
through the cluster; SIGTERM cancels the campaign's tasks.

They need dask.distributed (the ``cluster`` extra, also in ``test``); without
it they skip, saying so.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

import psutil
import pytest

import nemesis
from nemesis import campaign as cp
from nemesis import cluster as cl

from .harness import REPO

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="dask.distributed is not installed: pip install -e '.[cluster]'")

SMALL = dict(workloads=["append", "upsert"], nemeses=["kill"], seeds=2, time_limit=2.0)


# --- parsing and errors -------------------------------------------------------------

@pytest.mark.parametrize("text,workers,url", [("local:2", 2, None), ("local:1", 1, None),
                                              ("tcp://10.0.0.5:8786", 0, "tcp://10.0.0.5:8786"),
                                              ("tls://sched.example:8786/", 0, "tls://sched.example:8786")])
def test_addresses(text, workers, url):
    a = cl.parse_address(text)
    assert (a.workers, a.url, a.local) == (workers, url, url is None)


@pytest.mark.parametrize("text", ["local:0", "local", "local:x", "10.0.0.5:8786", "tcp://host", "http://h:1",
                                  "tcp://h:0", ""])
def test_bad_addresses_say_what_is_accepted(text):
    with pytest.raises(cp.CampaignError) as e:
        cl.parse_address(text)
    assert e.value.param == "--cluster" and "local:N" in e.value.message and "tcp://HOST:PORT" in e.value.message


def test_stores():
    assert cl.parse_store("runs") == ("runs", False)
    assert cl.parse_store("file:///mnt/shared/runs") == ("/mnt/shared/runs", True)
    for bad in ("file://relative/runs", "s3://bucket/prefix", "http://x/y"):
        with pytest.raises(cp.CampaignError) as e:
            cl.parse_store(bad)
        assert e.value.param == "--store"


def test_without_dask_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(cp.CampaignError) as e:
        nemesis.campaign(**SMALL, store=str(tmp_path), cluster="local:2")
    assert e.value.param == "--cluster" and "pip install -e '.[cluster]'" in e.value.message
    assert not os.listdir(tmp_path)  # refused before anything ran


def test_a_fixed_moto_port_is_refused_on_a_cluster(tmp_path):
    with pytest.raises(cp.CampaignError) as e:
        nemesis.campaign(workloads=["append"], nemeses=["s3"], seeds=1, time_limit=1, store=str(tmp_path),
                         cluster="local:1", s3_port=9999, dry_run=True)
    assert e.value.param == "--s3-port"


@needs_dask
def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cl, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    with pytest.raises(cp.CampaignError) as e:
        nemesis.campaign(**SMALL, store=str(tmp_path), cluster=f"tcp://127.0.0.1:{port}")
    assert e.value.param == "--cluster"
    assert f"tcp://127.0.0.1:{port}" in e.value.message and "dask scheduler" in e.value.message
    assert not glob.glob(str(tmp_path / "*" / "*seed*"))  # no run started


def test_ship_to_wants_an_s3_url_and_a_cluster(tmp_path):
    assert cl.parse_ship_to("s3://nightly-runs/persist/x/") == ("nightly-runs", "persist/x")
    assert cl.parse_ship_to("s3://nightly-runs") == ("nightly-runs", "")
    for bad in ("nightly-runs", "s3://", "file:///x", "s3://UPPER/x"):
        with pytest.raises(cp.CampaignError) as e:
            cl.parse_ship_to(bad)
        assert e.value.param == "--ship-to" and "s3://BUCKET/PREFIX" in e.value.message
    with pytest.raises(cp.CampaignError) as e:
        nemesis.campaign(**SMALL, store=str(tmp_path), ship_to="s3://b/p", dry_run=True)
    assert e.value.param == "--ship-to" and "--cluster" in e.value.message


def test_a_run_directory_ships_into_the_store(tmp_path):
    src = tmp_path / "worker" / "append" / "20260101T000000.000001Z-seed1-kill"
    (src / "workers").mkdir(parents=True)
    (src / "workers" / "0-client.log").write_text("log")
    (src / "config.json").write_text(json.dumps({"workload": "append", "store": str(tmp_path / "worker"),
                                                 "paths": {"store": "../..", "checkout": "nowhere"}}))
    data = cl.archive(str(src), "append/" + src.name)
    store = tmp_path / "campaign"
    store.mkdir()
    first = cl.unpack(data, "append/" + src.name, str(store))
    second = cl.unpack(data, "append/" + src.name, str(store))  # the same name again: never overwritten
    assert first == str(store / "append" / src.name) and second == first + "-2"
    assert (store / "append" / src.name / "workers" / "0-client.log").read_text() == "log"
    c = json.loads((store / "append" / src.name / "config.json").read_text())
    assert c["store"] == str(store) and c["shipped_from"]["store"] == str(tmp_path / "worker")
    assert os.path.normpath(os.path.join(first, c["paths"]["checkout"])) == REPO
    assert sorted(os.listdir(store)) == ["append"]  # no staging left behind
    with pytest.raises(ValueError):
        cl.unpack(data, "../escape", str(store))


# --- on a LocalCluster ------------------------------------------------------------------

def _names(res):
    """A campaign's runs as (workload, mix, seed), and the run directories' names without their time."""
    runs = sorted((r.workload, "+".join(r.nemeses), r.seed) for r in res.runs)
    dirs = sorted(os.path.relpath(d, res.store).split("/")[0] + "/" + re.sub(r"^\d{8}T\d{6}\.\d{6}Z-", "",
                                                                             os.path.basename(d))
                  for d in res.run_dirs)
    return runs, dirs


@needs_dask
@pytest.mark.slow
def test_the_same_campaign_on_a_cluster_as_locally(tmp_path):
    local = nemesis.campaign(**SMALL, jobs=2, store=str(tmp_path / "local"), junit=str(tmp_path / "local.xml"))
    dist = nemesis.campaign(**SMALL, cluster="local:2", store=str(tmp_path / "cluster"),
                            junit=str(tmp_path / "cluster.xml"))
    assert [(r.label, r.verdict) for r in dist.runs] == [(r.label, r.verdict) for r in local.runs]
    assert local.valid is True and dist.valid is True and dist.exit_code == local.exit_code == 0
    assert _names(dist) == _names(local) and len(dist.run_dirs) == 4
    assert _names(dist)[1] == ["append/seed1-kill", "append/seed2-kill", "upsert/seed1-kill", "upsert/seed2-kill"]
    for d in dist.run_dirs:  # the whole run came back, into the campaign's store
        assert os.path.dirname(os.path.dirname(d)) == dist.store
        files = set(os.listdir(d))
        assert {"config.json", "history.jsonl", "results.json", "status.json", "workers"} <= files
        assert json.load(open(os.path.join(d, "config.json")))["store"] == dist.store
    # the record, JUnit and index: a local campaign's shape
    rec_l, rec_c = json.load(open(local.record)), json.load(open(dist.record))
    assert set(rec_c) == set(rec_l) and [set(r) for r in rec_c["results"]] == [set(r) for r in rec_l["results"]]
    assert [row["valid"] for row in rec_c["table"]] == [row["valid"] for row in rec_l["table"]]
    cases = lambda path: sorted(c.get("name") for c in ET.parse(path).getroot().iter("testcase"))  # noqa: E731
    assert cases(dist.junit) == cases(local.junit) and len(cases(dist.junit)) == 4
    index = open(dist.index, encoding="utf-8").read()
    assert all(os.path.basename(d) in index for d in dist.run_dirs)
    # repro on a shipped run, on this machine: the same configuration, a new run in the same store
    d = dist.run_dirs[0]
    out = subprocess.run([sys.executable, "-m", "nemesis.cli", "repro", d, "--quiet"], capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reproduced" in out.stdout and f"new runs go to {dist.store}" in out.stdout


def _runs_on_workers(ancestor: int) -> list[dict]:
    """The runs in progress on dask workers under process ``ancestor``: each
    task's ``run.json`` (the run's pid, workload, seed), with ``worker``, the
    pid of the dask worker process that runs it (its ``owner.json``)."""
    mine = {p.pid for p in psutil.Process(ancestor).children(recursive=True)}
    out = []
    for d in glob.glob(os.path.join(tempfile.gettempdir(), cl.TASK_PREFIX + "*")):
        try:
            run = json.load(open(os.path.join(d, "run.json")))
            owner = json.load(open(os.path.join(d, "owner.json")))
        except (OSError, ValueError):
            continue
        if owner["pid"] in mine and run["pid"] in mine:
            out.append({**run, "worker": owner["pid"]})
    return out


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_a_worker_mid_run(killed: dict, stop: threading.Event) -> None:
    """Find a run that has run for a second, note which it is, and SIGKILL
    the dask worker process running it."""
    while not stop.is_set():
        for run in _runs_on_workers(os.getpid()):
            if time.time() - run["started"] > 1.0:
                killed.update(run)
                try:
                    psutil.Process(run["worker"]).kill()
                except psutil.Error:
                    continue
                # the run dies with its worker, not when it is done (its 8 s of operations are far from over)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and _alive(run["pid"]):
                    time.sleep(0.05)
                killed["run_died"] = not _alive(run["pid"])
                return
        time.sleep(0.1)


@needs_dask
@pytest.mark.slow
@pytest.mark.parametrize("allowed_failures", [0, 3], ids=["killed-worker", "rescheduled"])
def test_a_worker_killed_mid_run_gives_an_error_run_not_a_lost_one(tmp_path, monkeypatch, allowed_failures):
    """``allowed_failures`` 0: dask gives up on the task (KilledWorker); 3 (dask's
    default, a real scheduler's): dask runs the task again on the other worker,
    which finds the run's claim and does not run it twice."""
    monkeypatch.setattr(cl, "ALLOWED_FAILURES", allowed_failures)
    killed: dict = {}
    stop = threading.Event()
    hunter = threading.Thread(target=_kill_a_worker_mid_run, args=(killed, stop), daemon=True)
    hunter.start()
    try:
        res = nemesis.campaign(workloads=["append"], nemeses=["kill"], seeds=4, time_limit=8.0, fs="tracer",
                               cluster="local:2", store=str(tmp_path))
    finally:
        stop.set()
        hunter.join(5)
    assert killed, "no run was found to kill"
    assert killed["run_died"], "the run outlived the dask worker that ran it"
    assert len(res.runs) == 4 and sorted(r.seed for r in res.runs) == [1, 2, 3, 4]  # none lost, none doubled
    bad = [r for r in res.runs if r.verdict != "valid"]
    assert [(r.workload, r.seed, r.verdict) for r in bad] == [("append", killed["seed"], "error")]
    assert "worker running this run died" in bad[0].error
    assert ("rescheduled it; it was not run again" if allowed_failures else "KilledWorker") in bad[0].error
    assert res.exit_code == 2 and res.valid == "unknown"
    assert sorted(os.path.basename(d).split("Z-")[1] for d in res.run_dirs) == \
        sorted(f"seed{s}-kill" for s in (1, 2, 3, 4) if s != killed["seed"])  # each finished run once
    rec = json.load(open(res.record))
    assert [r["verdict"] for r in rec["results"]].count("error") == 1 and rec["exit_code"] == 2
    # the dead task's temporary store is swept by the next task on this machine
    assert not [d for d in glob.glob(os.path.join(tempfile.gettempdir(), cl.TASK_PREFIX + "*"))
                if os.path.exists(os.path.join(d, "owner.json"))
                and json.load(open(os.path.join(d, "owner.json")))["pid"] == killed["worker"]]


@needs_dask
@pytest.mark.slow
def test_a_soak_through_the_cluster(tmp_path):
    res = nemesis.campaign(workloads=["append"], nemeses=["kill"], duration="6s", time_limit=1.5,
                           cluster="local:2", store=str(tmp_path))
    assert len(res.runs) >= 2 and res.valid is True, res.summary
    assert [r.seed for r in res.runs] == list(range(1, len(res.runs) + 1))  # seeds drawn in order, none twice
    assert len(set(res.run_dirs)) == len(res.runs)
    assert json.load(open(res.record))["runs"] == len(res.runs)


@needs_dask
@pytest.mark.slow
def test_sigterm_cancels_the_campaigns_tasks(tmp_path):
    store, xml = tmp_path / "runs", tmp_path / "c.xml"
    proc = subprocess.Popen([sys.executable, "-m", "nemesis.cli", "campaign", "--cluster", "local:1",
                             "--workloads", "append", "--nemeses", "kill", "--seeds", "3", "--time-limit", "20",
                             "--store", str(store), "--junit", str(xml)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    runs: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not runs and time.monotonic() < deadline and proc.poll() is None:
            runs = _runs_on_workers(proc.pid)
            time.sleep(0.2)
        assert runs, "the run never started"
        time.sleep(2)
        family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, out[-3000:]
    rec = json.load(open(glob.glob(str(store / "campaign-*.json"))[0]))
    i = rec["interruption"]
    assert rec["interrupted"] and i["signal"] == "SIGTERM" and i == {**i, "planned": 3, "finished": 0,
                                                                     "stopped": 1, "never_ran": 2}
    (stopped,) = rec["results"]
    assert stopped["error"] == "interrupted" and stopped["verdict"] != "valid"
    assert stopped["run_dir"] and json.load(open(os.path.join(stopped["run_dir"], "status.json")))["status"] \
        == "interrupted"  # the run stopped itself and was shipped back
    deadline = time.monotonic() + 15
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in family) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"], \
        "a process outlived the campaign"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_dask
@pytest.mark.slow
def test_a_campaign_on_a_running_scheduler_from_the_command_line(tmp_path):
    """docs/cluster.md's path: `dask scheduler`, `dask worker ADDRESS`, then
    `persist-nemesis campaign --cluster tcp://HOST:PORT`."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = os.path.join(os.path.dirname(sys.executable), "dask")
    procs = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        procs.append(subprocess.Popen([dask_cli, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                       "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        from distributed import Client

        with Client(address, timeout="60s") as c:  # both workers in, as a person would wait for them
            c.wait_for_workers(2, timeout=120)
        store = tmp_path / "runs"
        out = subprocess.run([sys.executable, "-m", "nemesis.cli", "campaign", "--cluster", address, "--workloads",
                              "append", "--nemeses", "kill,pause", "--seeds", "1", "--time-limit", "2", "--store",
                              str(store), "--quiet"], capture_output=True, text=True, timeout=300, cwd=REPO)
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"2 runs, 2 at a time on the cluster {address} (2 workers on {socket.gethostname()})" in out.stdout
    assert "2 of 2 runs" in out.stdout and "2 valid" in out.stdout
    rec = json.load(open(glob.glob(str(store / "campaign-*.json"))[0]))
    assert sorted(os.path.basename(r["run_dir"]).split("Z-")[1] for r in rec["results"]) == \
        ["seed1-kill", "seed1-pause"]
    assert all(os.path.isfile(os.path.join(r["run_dir"], "results.json")) for r in rec["results"])
