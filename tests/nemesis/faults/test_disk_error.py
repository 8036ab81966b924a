"""The fault filesystem's nemeses (``disk-error``, ``slow-disk``), the
power loss of ``lose-unsynced`` on it, and the choice of fault model.

The unit tests drive each nemesis against a recording stand-in for
:class:`nemesis.faultfs.FaultFS` (the piece under test is the nemesis, not
the filesystem); the end-to-end tests at the bottom mount the real one and
are skipped where FUSE cannot work.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import pytest

from nemesis.faults.base import Fault, RunContext
from nemesis.faults.disk import LoseUnsynced, kill_users, mount_users
from nemesis.faults.fs import ERRORS, OPS, DiskError, SlowDisk, choose_error, choose_slow
from nemesis.fsync_watch import DurableState


class RecordingFS:
    """Records the controller-side calls of the FaultFS contract, in order."""

    def __init__(self, stats=None):
        self.calls: list[tuple] = []
        self._stats = stats if stats is not None else {}
        self.frozen = False

    def freeze(self):
        self.frozen = True
        self.calls.append(("freeze",))

    def thaw(self):
        self.frozen = False
        self.calls.append(("thaw",))

    def power_loss(self, seed, model=None):
        assert self.frozen, "power_loss while the filesystem is not frozen"
        self.calls.append(("power_loss", seed))
        return {"model": "torn", "lost": ["wal/1.wal"], "torn": [], "undone": [{"op": "rename"}]}

    def fail(self, op, err, *, path=None, mode="once", count=1):
        self.calls.append(("fail", op, err, path, mode, count))

    def clear_faults(self):
        self.calls.append(("clear_faults",))

    def slow(self, fsync_ms=0.0, write_ms=0.0):
        self.calls.append(("slow", fsync_ms, write_ms))

    def stats(self):
        return dict(self._stats)


class FakeWorker:
    def __init__(self, slot):
        self.slot = slot
        self.alive = True
        self.kills = 0

    def kill(self):
        self.alive = False
        self.kills += 1
        return 1000 + self.slot


def ctx_with(tmp_path, fs, slots=(0, 1)):
    workers = {s: FakeWorker(s) for s in slots}
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    ctx = RunContext(workers, str(data), str(tmp_path / "reports"), DurableState())
    ctx.fs = fs
    order = []

    def kill(slot):
        order.append(("kill", slot, fs.frozen))
        workers[slot].kill()
        return {"worker": slot, "pid": 1000 + slot}

    ctx.kill = kill
    ctx.idle = lambda s: None
    return ctx, order


# --- seeded choices ----------------------------------------------------------

def test_a_seed_chooses_the_same_disk_error_and_every_op_and_errno_comes_up():
    faults = [Fault(1.0, "disk-error", -1, 0.5, s) for s in range(300)]
    specs = [choose_error(f) for f in faults]
    assert specs == [choose_error(f) for f in faults]
    assert set(OPS) == {"write", "fsync", "fdatasync", "rename", "create", "open", "read"}
    assert {s["op"] for s in specs} == set(OPS) | {"fsyncdir"}
    assert {s["errno"] for s in specs} == {"EIO", "ENOSPC", "EDQUOT"}
    assert {s["mode"] for s in specs} == {"once", "sticky"}
    assert {s["end"] for s in specs} == {"restart", "power-loss"}
    assert {s["path"] for s in specs} == {"wal", "blob", None}
    for s in specs:
        assert s["errno"] in ERRORS["fsync" if s["op"] == "fsyncdir" else s["op"]]
        if s["op"] in ("read", "open"):  # a full disk never fails a read
            assert s["errno"] == "EIO"
        assert (s["count"] >= 1) == (s["mode"] == "once")


def test_slow_disk_is_seeded_and_bounded():
    for seed in range(100):
        f = Fault(0.5, "slow-disk", -1, 1.0, seed)
        s = choose_slow(f)
        assert s == choose_slow(f)
        assert 5 <= s["fsync_ms"] <= 60 and 0 <= s["write_ms"] <= 3


# --- disk-error / slow-disk against a recording filesystem ------------------

def test_disk_error_fails_the_chosen_op_then_clears_and_restarts_every_worker(tmp_path):
    fs = RecordingFS({"injected": [{"op": "x"}]})
    ctx, order = ctx_with(tmp_path, fs)
    nem = DiskError()
    nem.start(ctx)
    seed = next(s for s in range(100) if choose_error(Fault(0, "disk-error", -1, 1, s))["path"] == "wal"
                and choose_error(Fault(0, "disk-error", -1, 1, s))["end"] == "restart")
    fault = Fault(1.0, "disk-error", -1, 0.5, seed)
    spec = choose_error(fault)
    v = nem.invoke(fault)
    fs._stats = {"injected": [{"op": "x"}, {"op": spec["op"]}, {"op": spec["op"]}]}
    (call,) = fs.calls
    assert call[:3] == ("fail", spec["op"], getattr(errno, spec["errno"]))
    assert call[3] == "wal/" and call[4] == spec["mode"] and call[5] >= 1
    assert v["action"] == "on" and v["op"] == spec["op"] and v["errno"] == spec["errno"] and "killed" not in v
    actions = nem.recover(fault)
    assert actions[0] == ("end", {"nemesis": "disk-error", "end": "restart", "loss_seed": spec["loss_seed"]})
    assert [a for a, _ in actions[1:]] == ["restart", "restart"]
    done = nem.act(*actions[0])
    assert fs.calls[-1] == ("clear_faults",)
    assert done["action"] == "clear" and done["fired"]["count"] == 2 and done["restart"] == [0, 1]
    assert [o[:2] for o in order] == [("kill", 0), ("kill", 1)]
    assert not any(c[0] == "power_loss" for c in fs.calls)
    nem.heal()  # already cleared: nothing more
    assert fs.calls.count(("clear_faults",)) == 1


def test_disk_error_may_end_in_a_power_loss_with_its_own_seed(tmp_path):
    fs = RecordingFS()
    ctx, order = ctx_with(tmp_path, fs)
    nem = DiskError()
    nem.start(ctx)
    seed = next(s for s in range(100) if choose_error(Fault(0, "disk-error", -1, 1, s))["end"] == "power-loss")
    fault = Fault(1.0, "disk-error", -1, 0.5, seed)
    nem.invoke(fault)
    end = nem.recover(fault)[0]
    done = nem.act(*end)
    names = [c[0] for c in fs.calls]
    assert names.index("clear_faults") < names.index("freeze") < names.index("power_loss")
    assert ("power_loss", choose_error(fault)["loss_seed"]) in fs.calls and not fs.frozen
    assert order == [("kill", 0, True), ("kill", 1, True)]  # killed while frozen
    assert done["end"] == "power-loss" and done["model"] == "torn" and done["restart"] == [0, 1]


def test_slow_disk_sets_and_resets_latency(tmp_path):
    fs = RecordingFS()
    ctx, _ = ctx_with(tmp_path, fs)
    nem = SlowDisk()
    nem.start(ctx)
    fault = Fault(1.0, "slow-disk", -1, 0.5, 7)
    v = nem.invoke(fault)
    s = choose_slow(fault)
    assert fs.calls == [("slow", s["fsync_ms"], s["write_ms"])] and v["action"] == "on"
    assert nem.act(*nem.recover(fault)[0]) == {"action": "off"}
    assert fs.calls[-1] == ("slow", 0.0, 0.0)
    nem.heal()
    assert len(fs.calls) == 2


def test_the_fs_nemeses_refuse_a_run_without_the_filesystem(tmp_path):
    ctx, _ = ctx_with(tmp_path, None)
    for cls in (DiskError, SlowDisk):
        with pytest.raises(RuntimeError, match="fault filesystem"):
            cls().start(ctx)


# --- lose-unsynced on the filesystem ----------------------------------------

def test_power_loss_freezes_kills_every_worker_then_loses_with_the_faults_seed(tmp_path):
    fs = RecordingFS({"unsynced_bytes": 300})
    ctx, order = ctx_with(tmp_path, fs)
    nem = LoseUnsynced()
    nem.start(ctx)
    v = nem.invoke(Fault(1.0, "lose-unsynced", -1, 0.1, 4242))
    assert order == [("kill", 0, True), ("kill", 1, True)]  # killed while frozen
    names = [c[0] for c in fs.calls]
    assert names.index("freeze") < names.index("power_loss") < len(names) - 1 - names[::-1].index("thaw")
    assert ("power_loss", 4242) in fs.calls and not fs.frozen
    assert v["fault_model"] == "faultfs" and v["model"] == "torn" and v["power_loss"]["undone"]
    assert [k["worker"] for k in v["killed"]] == [0, 1]
    assert nem.recover(Fault(1.0, "lose-unsynced", -1, 0.1, 4242)) == [("restart", {"worker": 0}),
                                                                      ("restart", {"worker": 1})]


def test_power_loss_waits_for_unsynced_data_when_the_stats_say(tmp_path):
    class Later(RecordingFS):
        n = 0

        def __init__(self, writes):
            super().__init__()
            self.writes = writes

        def stats(self):
            self.n += 1
            w = self.writes(self.n)
            return {"unsynced_bytes": 100 * w, "unsynced_writes": w, "unsynced_dirops": 0}

    # first a rich moment is looked for (RICH_WRITES unsynced writes), one write is not enough yet
    from nemesis.faults.disk import RICH_WRITES

    fs = Later(lambda n: [0, 0, 1, RICH_WRITES][min(n, 4) - 1])
    ctx, _ = ctx_with(tmp_path, fs)
    nem = LoseUnsynced()
    nem.start(ctx)
    v = nem.invoke(Fault(1.0, "lose-unsynced", -1, 0.1, 1))
    assert v["aimed_tries"] == 4 and [c[0] for c in fs.calls].count("freeze") == 4
    # in the second half of the tries any unsynced write will do
    fs = Later(lambda n: 1)
    ctx, _ = ctx_with(tmp_path, fs)
    nem = LoseUnsynced()
    nem.start(ctx)
    v = nem.invoke(Fault(1.0, "lose-unsynced", -1, 0.1, 1))
    assert v["aimed_tries"] == LoseUnsynced.AIM_TRIES // 2 + 1


def test_mount_users_finds_a_process_by_cwd_or_open_file_and_kill_users_kills_it(tmp_path):
    mnt = tmp_path / "mnt"
    (mnt / "sub").mkdir(parents=True)
    by_cwd = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=mnt / "sub")
    by_fd = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'w'); time.sleep(60)",
                              str(mnt / "file")])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not (mnt / "file").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        users = mount_users(str(mnt))
        assert by_cwd.pid in users and by_fd.pid in users and other.pid not in users and os.getpid() not in users
        killed = kill_users(str(mnt))
        assert {k["pid"] for k in killed} == {by_cwd.pid, by_fd.pid}
        assert by_cwd.wait(10) == -9 and by_fd.wait(10) == -9 and other.poll() is None
    finally:
        for p in (by_cwd, by_fd, other):
            p.kill()
            p.wait()


# --- choosing the fault model -----------------------------------------------

def test_fault_model_resolution(monkeypatch):
    from nemesis import faultmodel as fm

    monkeypatch.setattr(fm, "fuse_available", lambda: (False, "no /dev/fuse"))
    m = fm.resolve("auto", ["kill"])
    assert m.name == "tracer" and "no /dev/fuse" in m.reason and m.fs == "tracer"
    with pytest.raises(fm.FaultModelError, match="--fs fuse.*no /dev/fuse"):
        fm.resolve("fuse", ["kill"])
    with pytest.raises(fm.FaultModelError, match="disk-error nemesis needs the fault filesystem"):
        fm.resolve("tracer", ["kill", "disk-error"])
    with pytest.raises(fm.FaultModelError, match="slow-disk"):
        fm.resolve("auto", ["slow-disk"])  # never silently weaker: refused, not dropped
    with pytest.raises(fm.FaultModelError, match="accepted: auto, fuse, tracer"):
        fm.resolve("ext4")
    monkeypatch.setattr(fm, "fuse_available", lambda: (True, ""))
    assert fm.resolve("auto", ["disk-error"]) == fm.FaultModel("faultfs")
    assert fm.resolve("tracer", ["kill"]) == fm.FaultModel("tracer")


def test_the_config_records_the_model_and_the_command_reruns_it(monkeypatch):
    import shlex

    from nemesis import faultmodel as fm
    from nemesis.runner import ConfigError, build_config, command_line, fs_of

    monkeypatch.setattr(fm, "fuse_available", lambda: (False, "no /dev/fuse"))
    cfg = build_config("append", "kill", 3, 5, 2, 0, None, False)
    j = cfg.to_json()
    assert j["fs"] == "auto" and j["fault_model"] == "tracer" and "no /dev/fuse" in j["fs_reason"]
    args = shlex.split(command_line(cfg))
    assert args[args.index("--fs") + 1] == "tracer"
    assert fs_of(j) == "tracer" and fs_of({"fault_model": "faultfs", "fs": "auto"}) == "fuse"
    assert fs_of({}) == "tracer"  # a config older than --fs ran on the tracer
    with pytest.raises(ConfigError, match="fault filesystem"):
        build_config("append", "disk-error", 3, 5, 2, 0, None, False, fs="auto")


def test_a_disk_error_period_is_shaded_on_the_timeline():
    from nemesis.report.periods import periods_of

    fault = Fault(1.0, "disk-error", -1, 0.5, 9).to_json()
    ev = [
        {"process": "nemesis", "type": "invoke", "f": "disk-error", "value": fault, "time": 100, "index": 0},
        {"process": "nemesis", "type": "info", "f": "disk-error",
         "value": {"action": "on", "name": "fsync EIO", "op": "fsync"}, "time": 110, "index": 1},
        {"process": "nemesis", "type": "info", "f": "disk-error", "value": {"action": "clear", "restart": [0]},
         "time": 400_000_000, "index": 2},
        {"process": "nemesis", "type": "invoke", "f": "restart", "value": {"worker": 0}, "time": 400_000_100, "index": 3},
        {"process": "nemesis", "type": "info", "f": "restart", "value": {"worker": 0}, "time": 500_000_000, "index": 4},
    ]
    (p,) = periods_of(ev)
    assert p.f == "disk-error" and p.start == 100 and p.end == 400_000_000 and "fsync EIO" in p.label


def test_the_new_nemeses_are_registered_everywhere():
    from nemesis import mutation
    from nemesis.generator import DURATION, NEMESES, schedule

    for n in ("disk-error", "slow-disk"):
        assert n in NEMESES and n in DURATION
    assert any("disk-error" in w["nemesis"] for w in mutation.WIDEN)
    assert any("slow-disk" in w["nemesis"] for w in mutation.WIDEN)
    faults = schedule(5, ["disk-error", "slow-disk"], 20, [0, 1])
    assert {f.nemesis for f in faults} == {"disk-error", "slow-disk"} and all(f.target == -1 for f in faults)
    assert faults == schedule(5, ["disk-error", "slow-disk"], 20, [0, 1])


# --- end to end on the real fault filesystem (slow; skipped where FUSE cannot work) ---------

def _fuse_ok() -> tuple[bool, str]:
    from nemesis.faultmodel import fuse_available

    return fuse_available()


needs_fuse = pytest.mark.skipif(not _fuse_ok()[0], reason=f"fault filesystem unavailable: {_fuse_ok()[1]}")

#: (mutant, nemesis, time limit, concurrency, seeds found invalid on the fault filesystem, the tracer's nemesis)
FS_MUTANTS = [
    # with durable reads and the Wal's cut-back the window is narrower: 6 s runs caught 1 of 12 seeds (13:30 UTC,
    # 2 Dec), 12 s runs 3 of 8 (1, 5, 6); up to 12 seeds: a miss in all of them ~0.4% at that rate
    ("metadata_no_dir_fsync", "lose-unsynced", 12, 4, [1, 5, 6, 2, 3, 4, 7, 8, 9, 10, 11, 12], "lose-unsynced"),
    ("fsync_error_swallowed", "disk-error", 8, 4, [21, 6], "kill,lose-unsynced"),
    ("wal_record_two_writes", "lose-unsynced", 6, 8, [2, 7, 8, 3, 5, 6, 9], "lose-unsynced"),  # ~12 in 17 runs catch
]


@pytest.mark.slow
@needs_fuse
@pytest.mark.parametrize("mutant,nemesis,secs,conc,seeds,tracer_nemesis", FS_MUTANTS,
                         ids=["metadata_no_dir_fsync", "fsync_error_swallowed", "wal_record_two_writes"])
def test_a_fault_filesystem_mutant_is_caught_on_fuse_and_missed_by_the_tracer(tmp_path, mutant, nemesis, secs, conc,
                                                                             seeds, tracer_nemesis):
    """Issue 11, must-show 1: each planted bug of the new fault classes is
    invalid on the fault filesystem for one of its stated seeds (timing moves
    the faults a little, so any of them will do), and valid on the tracer,
    which cannot produce the state that exposes it."""
    from tests.nemesis.harness import explain, results, run_test

    caught = None
    for seed in seeds:
        code, run_dir = run_test(tmp_path / "fuse", "append", nemesis, seed, secs, conc, mutant=f"{mutant}.py",
                                 fs="fuse", interval=(0.4, 1.2))
        assert results(run_dir)["fault_model"] == "faultfs"
        if code == 1:
            caught = run_dir
            break
    assert caught, f"{mutant} not caught on the fault filesystem with seeds {seeds}"
    code, run_dir = run_test(tmp_path / "tracer", "append", tracer_nemesis, seeds[0], secs, conc,
                             mutant=f"{mutant}.py", fs="tracer", interval=(0.4, 1.2))
    assert results(run_dir)["fault_model"] == "tracer"
    assert code == 0, explain(run_dir)


@pytest.mark.slow
@needs_fuse
def test_a_run_on_the_fault_filesystem_unmounts_and_keeps_the_backing_data(tmp_path):
    """The mount is gone after the run, data/ is what the disk held (the
    backing directory), and the events carry the filesystem's reports."""
    from tests.nemesis.harness import nemesis_infos, results, run_test

    code, run_dir = run_test(tmp_path, "append", "lose-unsynced,slow-disk", 3, 6, 4, keep_data=True, fs="fuse")
    assert not os.path.ismount(os.path.join(run_dir, "data"))
    assert not os.path.exists(os.path.join(run_dir, "data.backing"))
    assert os.path.isdir(os.path.join(run_dir, "data", "wal")) and os.path.isdir(os.path.join(run_dir, "data", "blob"))
    r = results(run_dir)
    assert r["fault_model"] == "faultfs" and "fs_reason" not in r
    losses = nemesis_infos(run_dir, "lose-unsynced")
    assert losses and all(v["fault_model"] == "faultfs" and "power_loss" in v for v in losses)
    with open("/proc/self/mounts") as f:
        assert str(tmp_path) not in f.read()
