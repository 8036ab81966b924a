"""The persisted-stream operator restarted 20 times mid-stream emits every
durable update exactly once; upsert keeps one value per key across restarts
(issue 3, "Must show" 3). Restarts are in-process crashes (the handle is
dropped without a drain and its Wal lock released) at random events, some
inside a write or a seal through failpoints."""

import random
from collections import Counter

import pytest

import persist
from persist import errors, failpoints
from persist.operators import PersistedStream, persisted_stream, upsert_stream

T = 60
PER_TICK = 3
CRASH_POINTS = [None, "write.after_wal", "write.before_wal", "seal.before_metadata", "seal.after_metadata",
                "seal.before_blob"]


def source(resume_from):
    for t in range(resume_from, T):
        yield ("data", [(b"k%03d-%d" % (t, i), b"v%d" % (t * i), t, 1 + i) for i in range(PER_TICK)])
        if (t + 1) % 3 == 0 or t + 1 == T:
            yield ("progress", t + 1)


ALL = Counter(u for t in range(T) for u in next(iter(source(t)))[1])


def data_rows(events):
    return [u for kind, arg in events if kind == "data" for u in arg]


def test_persisted_stream_exactly_once_over_20_restarts(loc):
    rng = random.Random(1234)
    ever = set()  # every update any incarnation emitted downstream
    restarts = 0
    while True:
        p = persist.open(loc, background=False, debug=True, drain_bytes=rng.choice([1, 2**20]))
        durable = Counter(data_rows(PersistedStream(p.stream("s")).rehydrate()))
        assert ever <= set(durable), f"incarnation {restarts} lost updates an earlier one emitted"
        out = []
        final = restarts == 20
        stop_after = None if final else rng.randint(1, 12)
        point = None if final else rng.choice(CRASH_POINTS)
        try:
            for i, ev in enumerate(persisted_stream(p.stream("s"), source)):
                out.append(ev)
                if stop_after is not None and i == stop_after:
                    if point is None:
                        break  # crash between two events
                    failpoints.arm(point, "error")  # crash inside the next write or seal
        except errors.FailpointError:
            pass
        finally:
            failpoints.disarm_all()
        rows = data_rows(out)
        got = Counter(rows)
        assert all(n == 1 for n in got.values()), f"incarnation {restarts} emitted duplicates"
        assert not got - ALL, "emitted an update nobody wrote"
        ever |= set(got)
        p.crash()
        if final:
            break
        restarts += 1
    assert restarts == 20
    assert got == ALL  # the last incarnation: the whole stream, exactly once
    r = persist.open_reader(loc)
    assert r.stream("s").upper == T
    r.close()
    assert persist.check(loc).ok


def test_operator_output_of_each_incarnation_is_its_durable_state(loc):
    """Nothing is emitted that a restart does not bring back."""
    p = persist.open(loc, background=False)
    gen = persisted_stream(p.stream("s"), source)
    first = [next(gen) for _ in range(7)]
    p.crash()
    p = persist.open(loc, background=False)
    gen = persisted_stream(p.stream("s"), source)
    rehydrated = []
    for ev in gen:
        rehydrated.append(ev)
        if ev[0] == "progress" and ev[1] > 0 and len(rehydrated) > 1:
            break
    assert Counter(data_rows(first)) <= Counter(data_rows(rehydrated + [next(gen)]))
    p.close()


def upsert_source(resume_from, n_keys=7):
    for t in range(resume_from, T):
        key = b"key%d" % (t % n_keys)
        val = None if t % 11 == 10 else b"val%d" % t
        yield ("upsert", [(key, val, t), (b"key%d" % ((t * 3) % n_keys), b"x%d" % t, t)] if t % n_keys != (t * 3) % n_keys else [(key, val, t)])
        if (t + 1) % 4 == 0 or t + 1 == T:  # seal every few ticks: restarts find unsealed upserts
            yield ("progress", t + 1)


def model_at(t_max):
    state = {}
    for kind, arg in upsert_source(0):
        if kind == "upsert":
            for k, v, t in arg:
                if t <= t_max:
                    if v is None:
                        state.pop(k, None)
                    else:
                        state[k] = v
    return state


def test_upsert_keeps_one_value_per_key_across_restarts(loc):
    rng = random.Random(99)
    for incarnation in range(12):
        p = persist.open(loc, background=False, debug=True)
        s = p.stream("u")
        final = incarnation == 11
        stop_after = None if final else rng.randint(1, 15)
        point = None if final else rng.choice(CRASH_POINTS)
        try:
            for i, _ in enumerate(upsert_stream(s, upsert_source)):
                if stop_after is not None and i == stop_after:
                    if point is None:
                        break
                    failpoints.arm(point, "error")
        except errors.FailpointError:
            pass
        finally:
            failpoints.disarm_all()
        upper = s.upper
        for as_of in range(upper):
            snap = s.snapshot(as_of).to_list()
            keys = [k for k, _, _ in snap]
            assert len(keys) == len(set(keys)), f"two values for one key at {as_of}: {snap}"
            assert all(d == 1 for _, _, d in snap)
            assert {k: v for k, v, _ in snap} == model_at(as_of), as_of
        p.crash()
    assert upper == T
