"""The same engine on S3 (moto): open/write/seal/snapshot/restart, a reader,
compaction + GC, and check."""

import pytest

import persist

pytestmark = pytest.mark.s3


@pytest.fixture
def s3(tmp_path, moto_server, s3_bucket):
    from nemesis.s3.server import CREDENTIALS

    url = f"s3://{s3_bucket}/some/prefix"
    kw = dict(endpoint_url=moto_server.endpoint_url, blob_options=CREDENTIALS)
    return url, tmp_path / "wal", kw


def test_s3_round_trip_restart_reader_compaction(s3):
    url, wal, kw = s3
    p = persist.open(url, wal_dir=wal, background=False, debug=True, **kw)
    s = p.stream("s")
    for t in range(12):
        s.write([(b"k%d" % (t % 4), b"v", t, 1)])
        if t % 3 == 2:
            s.seal(t + 1)
    s.write([(b"late", b"", 20, 1)])  # unsealed, in the Wal only
    p.crash()
    p = persist.open(url, wal_dir=wal, background=False, debug=True, **kw)
    s = p.stream("s")
    assert s.upper == 12
    s.seal(21)
    expect = [(b"k0", b"v", 3), (b"k1", b"v", 3), (b"k2", b"v", 3), (b"k3", b"v", 3), (b"late", b"", 1)]
    assert s.snapshot(20).to_list() == expect
    s.allow_compaction(20)
    assert p.compact() > 0
    p.gc()
    assert s.snapshot(20).to_list() == expect
    r = persist.open_reader(url, **kw)
    assert r.stream("s").snapshot(20).to_list() == expect
    lis = r.stream("s").listen(20)
    s.write([(b"new", b"", 21, 1)])
    s.seal(22)
    events = lis.poll(timeout=None)
    assert events[0].rows() == [(b"new", b"", 21, 1)] and events[-1].upper == 22
    r.close()
    p.close()
    report = persist.check(url, **kw)
    assert report.ok and report.problems == [], str(report)


def test_s3_writer_needs_a_wal_dir(s3):
    url, _, kw = s3
    with pytest.raises(persist.InvalidArgumentError, match="wal_dir"):
        persist.open(url, **kw)
