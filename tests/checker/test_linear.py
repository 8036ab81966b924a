"""Semantics of the search on hand-built histories: closed intervals,
indeterminate ops (anywhere after their call, or never), limits."""

from __future__ import annotations

import pytest

from checker.history import pair
from checker.linear import check
from checker.models import get_model
from tests.checker.hard import hard_register_history

ALGS = ["dfs", "sweep", "wgl"]


def h(*evs):
    """(process, type, f, value, time)"""
    return pair([dict(zip(("process", "type", "f", "value", "time"), e)) for e in evs])


@pytest.mark.parametrize("alg", ALGS)
def test_touching_intervals_are_concurrent(alg: str) -> None:
    # the read returns at 5 and the write is invoked at 5: concurrent, so the read may follow it
    hist = h((0, "invoke", "read", None, 0), (1, "invoke", "write", 1, 5), (0, "ok", "read", 1, 5), (1, "ok", "write", 1, 9))
    assert check(hist, get_model("register"), algorithm=alg, refute=False).valid is True
    later = h((0, "invoke", "read", None, 0), (0, "ok", "read", 1, 4), (1, "invoke", "write", 1, 5), (1, "ok", "write", 1, 9))
    assert check(later, get_model("register"), algorithm=alg, refute=False).valid is False


@pytest.mark.parametrize("alg", ALGS)
def test_indeterminate_may_happen_late_or_never(alg: str) -> None:
    crashed = [(1, "invoke", "write", 2, 1), (1, "info", "write", 2, 2)]
    late = h(*crashed, (0, "invoke", "read", None, 10), (0, "ok", "read", None, 11), (0, "invoke", "read", None, 12), (0, "ok", "read", 2, 13))
    hist_late = late
    # nil read in the project's convention is the absent value: the write had not happened yet, then it did
    assert check(hist_late, get_model("register"), algorithm=alg).valid is True
    never = h(*crashed, (0, "invoke", "read", None, 10), (0, "ok", "read", None, 11))
    assert check(never, get_model("register"), algorithm=alg).valid is True
    # but not before its call
    early = h((0, "invoke", "read", None, 0), (0, "ok", "read", 2, 1), (1, "invoke", "write", 2, 5), (1, "info", "write", 2, 6))
    assert check(early, get_model("register"), algorithm=alg, refute=False).valid is False


@pytest.mark.parametrize("alg", ALGS)
def test_indeterminate_cas_takes_effect_once(alg: str) -> None:
    hist = h(
        (0, "invoke", "write", 0, 0), (0, "ok", "write", 0, 1),
        (1, "invoke", "cas", [0, 1], 2), (1, "info", "cas", [0, 1], 3),
        (0, "invoke", "read", None, 4), (0, "ok", "read", 1, 5),
        (0, "invoke", "write", 0, 6), (0, "ok", "write", 0, 7),
        (0, "invoke", "read", None, 8), (0, "ok", "read", 1, 9),
    )
    r = check(hist, get_model("cas-register"), algorithm=alg)
    assert r.valid is False and r.anomalies[0].ops[0] == 8


def test_failing_op_and_prefix_agree_between_algorithms() -> None:
    hist = h(
        (0, "invoke", "write", 1, 0), (1, "invoke", "write", 2, 1), (0, "ok", "write", 1, 2), (1, "ok", "write", 2, 3),
        (0, "invoke", "read", None, 4), (0, "ok", "read", 1, 5), (0, "invoke", "read", None, 6), (0, "ok", "read", 2, 7),
    )
    a, b = (check(hist, get_model("register"), algorithm=x) for x in ("dfs", "sweep"))
    assert a.valid is b.valid is False
    assert a.stats["linear"][0]["failed_op"] == b.stats["linear"][0]["failed_op"] == 6
    assert a.stats["linear"][0]["prefix"] == [1, 0, 4]


def test_search_space_limit_gives_unknown() -> None:
    from checker.formats.jepsen_edn import history_from_edn

    hist = history_from_edn(hard_register_history(16))
    r = check(hist, get_model("register"), max_configs=5000)
    assert r.valid == "unknown" and "search-space limit of 5000" in r.reason


def test_time_limit_gives_unknown() -> None:
    from checker.formats.jepsen_edn import history_from_edn

    r = check(history_from_edn(hard_register_history(24)), get_model("register"), time_limit=0.2)
    assert r.valid == "unknown" and r.reason.startswith("time limit reached")


def test_highly_concurrent_valid_history_is_decided_along_one_path() -> None:
    """Depth-first: 24 concurrent writes and a read of the last to return,
    valid, are decided along one path; the breadth-first sweep must carry
    every subset of the open writes and runs into the same limit.
    (A read of the *first* write would need the other 23 ordered before it:
    exponential for any Wing-Gong search, Porcupine's included.)"""
    from checker.formats.jepsen_edn import history_from_edn

    hist = history_from_edn(hard_register_history(24, reads=(23,)))
    assert check(hist, get_model("register"), max_configs=20_000).valid is True
    assert check(hist, get_model("register"), max_configs=20_000, algorithm="sweep").valid == "unknown"


def test_empty_and_all_failed() -> None:
    assert check(pair([]), get_model("register")).reason == "empty history"
    failed = h((0, "invoke", "write", 1, 0), (0, "fail", "write", 1, 1))
    assert check(failed, get_model("register")).valid is True


def test_completion_before_invoke_is_bad_input() -> None:
    from checker.history import HistoryError

    hist = h((0, "invoke", "write", 1, 5), (0, "ok", "write", 1, 3))
    with pytest.raises(HistoryError, match="before its invoke"):
        check(hist, get_model("register"))
