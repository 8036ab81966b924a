"""Crash test: a child appends from 4 threads and prints each acknowledged
seqno; it is SIGKILLed at a random moment; after reopening, every
acknowledged record is there, intact, and nothing else is.

The ``power_loss`` variant also cuts the newest segment back to a random
point at or after the last fsynced length the child's *tracer* saw
(``os.fsync``/``os.fdatasync`` wrapped from outside the engine, see
tests/persist/durable.py; sometimes with garbage after it), standing for a
power loss: acknowledged records must survive that too, because an append
is acknowledged only after its fsync. An engine patched to acknowledge
without the fsync fails it (``test_an_engine_that_skips_its_fsync_is_caught``)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from persist.errors import CorruptionError
from persist.storage import FileWal

CHILD = os.path.join(os.path.dirname(__file__), "wal_crash_child.py")
ROUNDS = 3


def run_child(d: str, seed: int, rng: random.Random, lie: bool = False) -> tuple[dict[int, str], dict[str, int]]:
    args = [sys.executable, CHILD, d, str(seed)] + (["lie"] if lie else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, start_new_session=True)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any(raw.startswith(b"A ") for raw in list(lines)):  # the child recovered and acknowledged
        if proc.poll() is not None:
            raise AssertionError(f"child exited with {proc.returncode} before appending")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("child acknowledged nothing in 60 s")
        time.sleep(0.01)
    time.sleep(rng.uniform(0.02, 0.3))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(10)
    acked: dict[int, str] = {}
    synced: dict[str, int] = {}
    for raw in lines:
        if not raw.endswith(b"\n"):
            continue  # a line the kill cut short acknowledges nothing
        parts = raw.decode().split()
        if parts[0] == "A":
            acked[int(parts[1])] = parts[2]
        elif parts[0] == "F":
            synced[parts[1]] = max(synced.get(parts[1], 0), int(parts[2]))
    return acked, synced


def lose_unsynced(d: str, synced: dict[str, int], rng: random.Random) -> None:
    """Cut every segment back to a random point at or after what the tracer
    saw fsynced (garbage may follow in the newest one: a torn write)."""
    names = sorted(n for n in os.listdir(d) if n.endswith(".wal"))
    for name in names:
        path = os.path.join(d, name)
        low, size = synced.get(path, 0), os.path.getsize(path)
        if size > low:
            point = rng.randint(low, size)
            with open(path, "r+b") as f:
                f.truncate(point)
                if name == names[-1] and point < size and rng.random() < 0.5:
                    f.seek(point)
                    f.write(os.urandom(rng.randint(1, size - point)))


def crash_rounds(d: str, seed: int, power_loss: bool, lie: bool = False) -> None:
    rng = random.Random(seed)
    all_acked: dict[int, str] = {}
    for rnd in range(ROUNDS):
        acked, synced = run_child(d, seed * 10 + rnd, rng, lie)
        assert acked, f"seed {seed}: the child acknowledged nothing"
        assert not set(acked) & set(all_acked), f"seed {seed}: a seqno was handed out twice"
        all_acked.update(acked)
        if power_loss:
            lose_unsynced(d, synced, rng)
        with FileWal(d) as w:
            got = {s: p for s, p in w.records()}
        missing = sorted(set(all_acked) - set(got))
        assert not missing, f"seed {seed} (WAL_CRASH_SEED={seed}): acknowledged seqnos lost: {missing[:10]}"
        for s, tag in all_acked.items():
            assert got[s].split(b":", 1)[0] == tag.encode(), f"seed {seed}: record {s} holds the wrong payload"
        for s, p in got.items():  # nothing that was never appended
            tag = p.split(b":", 1)[0].decode()
            assert tag.startswith(f"{seed}") or tag.split(".")[0].startswith(str(seed)), f"record {s}: {tag!r}"


@pytest.mark.parametrize("power_loss", [False, True], ids=["sigkill", "power_loss"])
def test_acknowledged_appends_survive_sigkill(tmp_path, power_loss):
    seed = int(os.environ.get("WAL_CRASH_SEED", random.randrange(10**6)))
    crash_rounds(str(tmp_path / "wal"), seed, power_loss)


def test_an_engine_that_skips_its_fsync_is_caught(tmp_path):
    """The power-loss test bites: with the Wal's fsync skipped (acknowledged
    before anything is durable) it finds acknowledged records lost, because
    what is durable comes from the tracer, not from the engine."""
    with pytest.raises((AssertionError, CorruptionError), match="acknowledged seqnos lost|without its seal|sealed and fsynced"):
        crash_rounds(str(tmp_path / "wal"), 7, power_loss=True, lie=True)
