"""The fsync watcher and the lose-unsynced nemesis, without a workload: a
child process writes files under the watcher; the nemesis may cut only what
no fsync covered, so a skipped fsync is caught."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from nemesis.faults.base import Fault, RunContext
from nemesis.faults.disk import Corrupt, LoseUnsynced, wal_records
from nemesis.fsync_watch import DurableState

CHILD = textwrap.dedent(
    """
    import os, sys
    from nemesis.fsync_watch import install
    root, report = sys.argv[1], sys.argv[2]
    install(report, root)
    def write(path, data, sync):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(fd, data)
        if sync:
            os.fsync(fd)
        os.close(fd)
    def dirsync(path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    write(os.path.join(root, "synced"), b"a" * 100, True)
    write(os.path.join(root, "synced"), b"b" * 50, False)      # unsynced tail
    write(os.path.join(root, "never"), b"c" * 80, False)       # named, never fsynced
    dirsync(root)
    write(os.path.join(root, "late"), b"d" * 10, True)         # fsynced, name not durable
    with open(os.path.join(root, "rewritten"), "wb") as f:     # truncated after its fsync
        f.write(b"e" * 40)
    """
)


def run_child(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    reports = tmp_path / "reports"
    reports.mkdir()
    # "rewritten" exists durably with 60 bytes before the child starts
    (root / "rewritten").write_bytes(b"x" * 60)
    subprocess.run([sys.executable, "-c", CHILD, str(root), str(reports / "0.1.fsync")], check=True)
    return str(root), str(reports)


def test_reports_record_fsynced_lengths_and_names(tmp_path):
    root, reports = run_child(tmp_path)
    st = DurableState()
    assert st.apply_reports(reports) > 0
    real = os.path.realpath(root)
    assert st.file(os.path.join(real, "synced")).durable == 100
    assert st.file(os.path.join(real, "never")) is None
    assert st.dirs[real] == {"synced", "never", "rewritten"}
    assert st.file(os.path.join(real, "rewritten")).low == 0


def test_lose_unsynced_cuts_only_unsynced_bytes(tmp_path):
    root, reports = run_child(tmp_path)
    st = DurableState()
    # what existed before the child ran was durable
    st.dirs[os.path.realpath(root)] = {"rewritten"}
    never_cut = 0
    for seed in range(20):
        nem = LoseUnsynced()
        ctx = RunContext({}, root, reports, DurableState(dirs=dict(st.dirs)))
        nem.start(ctx)
        # a fresh copy of the files each round
        for name, data in [("synced", b"a" * 100 + b"b" * 50), ("never", b"c" * 80), ("late", b"d" * 10),
                           ("rewritten", b"e" * 40)]:
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        ctx.durable._offsets.clear()
        v = nem.invoke(Fault(0, "lose-unsynced", -1, 0.1, seed))
        assert "late" in v["dropped"], "a name created after the directory's fsync is lost"
        assert not os.path.exists(os.path.join(root, "late"))
        data = open(os.path.join(root, "synced"), "rb").read()
        assert len(data) >= 100 and data[:100] == b"a" * 100, "fsynced bytes are never cut"
        assert len(open(os.path.join(root, "never"), "rb").read()) <= 80
        never_cut += any(c["file"] == "never" for c in v["cut"])
        for c in v["cut"]:
            assert c["fsynced"] <= c["cut_to"] < c["size"]
        st.dirs[os.path.realpath(root)] = {"synced", "never", "rewritten"}
    assert never_cut > 0, "a file whose fsync was skipped loses bytes"


def test_wal_records_finds_whole_records():
    import struct
    import zlib

    def rec(seq, payload):
        head = struct.pack("<4sHHQII", b"PWAL", 1, 0, seq, len(payload), zlib.crc32(payload))
        return head + struct.pack("<I", zlib.crc32(head)) + payload

    data = rec(1, b"abc") + rec(2, b"hello") + rec(3, b"x")[:10]
    assert wal_records(data) == [(0, 31), (31, 64)]


def test_corrupt_never_touches_the_last_wal_record(tmp_path):
    import struct
    import zlib

    def rec(seq, payload):
        head = struct.pack("<4sHHQII", b"PWAL", 1, 0, seq, len(payload), zlib.crc32(payload))
        return head + struct.pack("<I", zlib.crc32(head)) + payload

    root = tmp_path / "data"
    (root / "wal").mkdir(parents=True)
    seg = root / "wal" / "00000000000000000001.wal"
    one, two = rec(1, b"a" * 50), rec(2, b"b" * 50)
    seg.write_bytes(one + two)
    st = DurableState()
    st.settle(str(root))
    for seed in range(30):
        seg.write_bytes(one + two)
        nem = Corrupt()
        ctx = RunContext({0: _Dead()}, str(root), str(tmp_path / "none"), st)
        nem.start(ctx)
        v = nem.invoke(Fault(0, "corrupt", 0, 0.1, seed))
        got = seg.read_bytes()
        assert got[len(one):] == two, f"seed {seed}: the last record was damaged: {v}"
        assert got != one + two and v["kind"] == "flip"


class _Dead:
    alive = False
    pid = None

    def kill(self):
        return None


def test_a_power_loss_finds_unsynced_data_to_take(tmp_path):
    """lose-unsynced slows the disk and keeps the run going while it aims, so
    (nearly) every power loss meets written-but-unsynced data: bytes cut or
    names dropped. (Aiming with the controller blocked found something in
    about 3 of 20 faults: the workers had gone idle.)"""
    from tests.nemesis.harness import nemesis_infos, run_test

    # the tracer's power loss (its events say "cut" and "dropped"); the fault filesystem's is
    # test_disk_error.py's
    code, run = run_test(tmp_path, nemesis="lose-unsynced", seed=3, time_limit=6, concurrency=4, fs="tracer")
    assert code == 0
    losses = nemesis_infos(run, "lose-unsynced")
    took = [v for v in losses if v["cut"] or v["dropped"]]
    assert len(losses) >= 3 and len(took) >= max(3, len(losses) // 2), [
        (v["aimed_tries"], len(v["cut"]), len(v["dropped"])) for v in losses]
    assert not os.path.exists(os.path.join(run, "reports", "slow-fsync")), "the disk is fast again after the run"
