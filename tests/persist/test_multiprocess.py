"""Real processes (issue 3, "Must show" 2): a writer SIGKILLed at random
points (and by crash failpoints armed through PERSIST_FAILPOINTS) while a
reader process snapshots; a second writer refused while the first lives and
recovering its Wal once it is killed; an S3 location taken over from another
Wal directory while the first writer is SIGSTOPped."""

import random
import signal
import time

import pytest

import persist
from persist import errors
from tests.persist.proc_util import Child

FAILPOINTS = [
    None,
    "drain.before_metadata=crash@2",
    "drain.after_metadata=crash@2",
    "seal.before_metadata=crash@3",
    "seal.after_metadata=crash@4",
    "write.after_wal=crash@5",
    "compaction.before_metadata=crash@1",
    "compaction.after_metadata=crash@1",
    "gc.after_delete=crash@1",
    "metadata.before_cas=crash@6",
]


def acks(child):
    return [l.split()[1] for l in child.lines if l.startswith("ack ")]


def final_keys(url, **kw):
    p = persist.open(url, background=False, **kw)
    s = p.stream("s")
    s.seal(max(s.upper, 10**7) + 1)
    rows = s.snapshot(s.upper - 1).to_list()
    p.close()
    return rows


def test_sigkilled_writer_loses_no_acknowledged_write_while_a_reader_snapshots(tmp_path):
    url = f"file://{tmp_path}/loc"
    rng = random.Random(20261123)
    reader = Child("reader", url)
    acked = []
    try:
        for round_ in range(8):
            fp = FAILPOINTS[round_ % len(FAILPOINTS)] if round_ < len(FAILPOINTS) else rng.choice(FAILPOINTS)
            w = Child("writer", url, env={"PERSIST_FAILPOINTS": fp or "", "DRAIN_BYTES": str(rng.choice([1, 3000]))})
            target = rng.randint(2, 40)
            w.wait_for(lambda ls: sum(l.startswith("ack ") for l in ls) >= target or w.proc.poll() is not None)
            w.kill()
            acked += acks(w)
            assert w.proc.returncode == -signal.SIGKILL
        reader.wait_for(lambda ls: sum(l.startswith("snap") for l in ls) >= 3)
        assert reader.proc.poll() is None, reader.stderr()
    finally:
        reader.kill()
    assert not [l for l in reader.lines if l.startswith("BAD")]
    rows = final_keys(url)
    keys = [k.decode() for k, _, _ in rows]
    assert all(d == 1 for _, _, d in rows), "an update was applied twice"
    missing = set(acked) - set(keys)
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    report = persist.check(url)
    assert report.ok, str(report)


def test_second_writer_refused_while_first_lives_then_recovers_its_wal(tmp_path):
    url = f"file://{tmp_path}/loc"
    first = Child("writer", url, env={"DRAIN_BYTES": str(10**9)})  # acked writes stay in the Wal
    try:
        first.wait_for(lambda ls: sum(l.startswith("ack ") for l in ls) >= 10)
        with pytest.raises(errors.LockedError) as e:
            persist.open(url)
        assert str(first.proc.pid) in str(e.value)
        with pytest.raises(errors.LockedError):  # and again: the refusal left nothing behind
            persist.open(url, background=False)
    finally:
        first.kill()
    acked = acks(first)
    keys = {k.decode() for k, _, d in final_keys(url)}
    assert set(acked) <= keys


@pytest.mark.s3
def test_s3_takeover_fences_a_stopped_writer(tmp_path, moto_server, s3_bucket):
    from nemesis.s3.server import CREDENTIALS

    url = f"s3://{s3_bucket}/loc"
    env = {
        "PERSIST_TEST_ENDPOINT": moto_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": CREDENTIALS["region_name"],
    }
    a = Child("fenced", url, tmp_path / "w1", env=env)
    try:
        a.wait_for(lambda ls: sum(l.startswith("ok ") for l in ls) >= 5)
        a.signal(signal.SIGSTOP)
        time.sleep(0.2)  # let the line reader drain what A printed before it stopped
        started_before = max(int(l.split()[1]) for l in a.lines if l.startswith("start "))
        b = persist.open(url, wal_dir=tmp_path / "w2", endpoint_url=moto_server.endpoint_url,
                         background=False, blob_options=CREDENTIALS)
        sb = b.stream("s")
        sb.write([(b"B-0", b"", sb.upper, 1)])
        sb.seal(sb.upper + 1)
        a.signal(signal.SIGCONT)
        a.wait_for(lambda ls: any(l.startswith("after-fence-write") for l in ls))
        assert "after-fence-write fenced" in a.lines
        assert a.proc.wait() == 0
        sb.seal(10**6 + 10)
        keys = {k.decode() for k, _, _ in sb.snapshot(10**6 + 9).to_list()}
        b.close()
    finally:
        a.signal(signal.SIGCONT)
        a.kill()
    fenced_at = next(int(l.split()[1]) for l in a.lines if l.startswith("fenced "))
    assert fenced_at >= started_before  # the op in flight at SIGSTOP, or a later one
    late = {f"A-{i}" for i in range(started_before + 1, fenced_at + 1)} | {"A-after"}
    assert not (late & keys), f"a fenced writer's writes became visible: {sorted(late & keys)}"
    assert "B-0" in keys
    assert {f"A-{i}" for i in range(started_before)} <= keys  # acknowledged and sealed before the stop
    report = persist.check(url, endpoint_url=moto_server.endpoint_url, blob_options=CREDENTIALS)
    assert report.ok, str(report)


def test_persisted_stream_operator_sigkilled_20_times_emits_each_durable_update_once(tmp_path):
    """The operator in a real process, SIGKILLed 20 times at random points
    (some by crash failpoints inside its writes, seals and drains)."""
    url = f"file://{tmp_path}/loc"
    rng = random.Random(4242)
    ticks = 120
    everything = {f"u{t}-{i}" for t in range(ticks) for i in range(2)}
    ever_emitted: set = set()
    points = [None, "write.after_wal=crash@3", "seal.before_metadata=crash@2", "seal.after_metadata=crash@2",
              "drain.after_metadata=crash@1", "metadata.before_cas=crash@4"]
    for incarnation in range(21):
        final = incarnation == 20
        fp = None if final else rng.choice(points)
        child = Child("operator", url, env={"TICKS": str(ticks), "PERSIST_FAILPOINTS": fp or "",
                                            "DRAIN_BYTES": str(rng.choice([1, 2000, 10**9]))})
        if final:
            child.wait_for(lambda ls: "done" in ls, limit=120)
            child.proc.wait()
        else:
            stop = rng.randint(1, 12)
            child.wait_for(lambda ls: len(ls) >= stop or child.proc.poll() is not None)
            child.kill()
        emitted = [k for l in child.lines if l.startswith("data ") for k in l[5:].split(",")]
        assert len(emitted) == len(set(emitted)), f"incarnation {incarnation} emitted an update twice"
        assert set(emitted) <= everything
        ever_emitted |= set(emitted)
    assert set(emitted) == everything, "the last incarnation did not see the whole stream exactly once"
    assert ever_emitted <= set(emitted)  # nothing emitted was lost (it was durable when emitted)
    assert persist.check(url).ok
