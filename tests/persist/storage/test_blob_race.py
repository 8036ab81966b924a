"""Conditional writes under 8 real processes racing on one key: exactly one
winner per round, for FileBlob (flock) and S3Blob (moto behind the
serialising middleware)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from persist.storage import FileBlob, S3Blob

CHILD = os.path.join(os.path.dirname(__file__), "race_child.py")
PROCS = 8
ROUNDS = 12
INCS = 3


def race(kind: str, spec: dict) -> list[dict]:
    spec = {**spec, "rounds": ROUNDS, "incs": INCS}
    procs = [
        subprocess.Popen([sys.executable, CHILD, kind, json.dumps(spec)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
        for _ in range(PROCS)
    ]
    try:
        for p in procs:  # all started and connected before anyone writes
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs)
    return results


def check(results: list[dict], blob) -> None:
    winners: dict[int, list[str]] = {}
    for res in results:
        for r in res["wins"]:
            winners.setdefault(r, []).append(res["pid"])
    for r in range(ROUNDS):
        assert len(winners.get(r, [])) == 1, f"round {r}: winners {winners.get(r)}"
        assert blob.get(f"round-{r}") == winners[r][0].encode()
    installed = sorted(n for res in results for n in res["incs"])
    # every successful increment installed a distinct value: no lost update
    assert installed == list(range(1, PROCS * INCS + 1))
    assert blob.get("counter").split(b":")[0] == str(PROCS * INCS).encode()


def test_file_blob_race(tmp_path):
    root = tmp_path / "blob"
    blob = FileBlob(root)
    check(race("file", {"root": str(root)}), blob)


@pytest.mark.s3
def test_s3_blob_race(moto_server, s3_bucket):
    opts = moto_server.client_options()
    blob = S3Blob(s3_bucket, **opts)
    check(race("s3", {"bucket": s3_bucket, "options": opts}), blob)


def test_the_check_catches_a_double_winner_and_a_lost_update():
    """The race checker bites: two winners of one round, or two processes
    that installed the same counter value (a lost update), fail it."""
    from persist.storage import MemBlob

    blob = MemBlob()
    for r in range(ROUNDS):
        blob.set(f"round-{r}", b"1")
    blob.set("counter", f"{PROCS * INCS}:1".encode())
    good = [{"pid": "1", "wins": list(range(ROUNDS)), "incs": list(range(1, PROCS * INCS + 1))}]
    check(good, blob)
    double = good + [{"pid": "2", "wins": [0], "incs": []}]
    with pytest.raises(AssertionError, match="round 0"):
        check(double, blob)
    lost = [{"pid": "1", "wins": list(range(ROUNDS)), "incs": [1, 1] + list(range(3, PROCS * INCS + 1))}]
    with pytest.raises(AssertionError):
        check(lost, blob)
