"""checker/rehydrate: each anomaly in a hand-built history, and its fixed twin."""

from __future__ import annotations

from checker.history import pair
from checker.rehydrate import Rehydrate, source_updates


def src(t0, t1, s="r0"):
    return [list(u) for t in range(t0, t1) for u in source_updates(s, t)]


def step(events, p, t, value, result=None, type_="ok"):
    events.append({"process": p, "type": "invoke", "f": "step", "value": value, "time": t})
    events.append({"process": p, "type": type_, "f": "step", "value": result if type_ == "ok" else value,
                   "time": t + 1})


def history(second_rehydrated, final_extra=None, second_upper=3):
    e: list = []
    step(e, 0, 0, {"stream": "r0", "to": 3},
         {"stream": "r0", "to": 3, "incarnation": "1.1", "rehydrated": [], "rehydrated_upper": 0,
          "source": [0, 3], "emitted": src(0, 3), "upper": 3})
    step(e, 0, 10, {"stream": "r0", "to": 5}, type_="info")
    step(e, 1, 20, {"stream": "r0", "to": 6, "final": True},
         {"stream": "r0", "to": 6, "incarnation": "2.1", "rehydrated": second_rehydrated,
          "rehydrated_upper": second_upper, "source": [3, 6], "emitted": src(3, 6) + (final_extra or []), "upper": 6})
    return pair(e)


def kinds(h):
    return sorted({a.kind for a in Rehydrate().check(h).anomalies})


def test_valid():
    r = Rehydrate().check(history(src(0, 3)))
    assert r.valid is True, r.anomalies
    assert r.stats["final_steps_ok"] == 1


def test_lost_output():
    assert "lost-output" in kinds(history(src(0, 2)))


def test_duplicate_output():
    assert kinds(history(src(0, 3) + src(2, 3))) == ["duplicate-output"]


def test_phantom_output():
    assert "phantom-output" in kinds(history(src(0, 3), final_extra=[["r0.99.7", "v", 99, 1]]))


def test_progress_regressed():
    assert "progress-regressed" in kinds(history(src(0, 3), second_upper=1))


def test_incomplete_output():
    e: list = []
    step(e, 0, 0, {"stream": "r0", "to": 4, "final": True},
         {"stream": "r0", "to": 4, "incarnation": "1.1", "rehydrated": [], "rehydrated_upper": 0,
          "source": [0, 4], "emitted": src(0, 3), "upper": 4})
    assert kinds(pair(e)) == ["incomplete-output"]
