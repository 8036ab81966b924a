from __future__ import annotations

import pytest

from checker.history import pair
from checker.linear import check
from checker.models import INVALID, UNKNOWN, ModelError, get_model


def h(*evs):
    return pair([dict(zip(("process", "type", "f", "value"), e)) for e in evs])


def test_cas_steps() -> None:
    m = get_model("cas-register")
    assert m.step(1, "cas", (1, 2), True) == 2
    assert m.step(3, "cas", (1, 2), True) is INVALID
    assert m.step(3, "cas", (1, 2), False) == 3  # ran and found another value
    assert m.step(1, "cas", (1, 2), False) is INVALID
    assert m.step(1, "cas", (1, 2), UNKNOWN) == 2 and m.step(5, "cas", (1, 2), UNKNOWN) == 5


def test_register_rejects_cas() -> None:
    with pytest.raises(ModelError, match="expected read or write"):
        check(h((0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2])), get_model("register"))


def test_initial_value() -> None:
    hist = h((0, "invoke", "read", None), (0, "ok", "read", 3))
    assert check(hist, get_model("register")).valid is False
    assert check(hist, get_model("register", 3)).valid is True


def test_refutation_names_the_read() -> None:
    r = check(h((0, "invoke", "read", None), (0, "ok", "read", 9)), get_model("cas-register"))
    assert r.valid is False and r.anomalies[0].ops == [0] and "read 9, which no operation wrote" in r.anomalies[0].message


def test_read_before_its_write_was_invoked() -> None:
    hist = h((0, "invoke", "read", None), (0, "ok", "read", 1), (1, "invoke", "write", 1), (1, "ok", "write", 1))
    r = check(hist, get_model("register"))
    assert r.valid is False and "before any write" in r.anomalies[0].message
    assert check(hist, get_model("register"), refute=False).valid is False


def test_independent_keys() -> None:
    hist = h(
        (0, "invoke", "write", ["a", 1]), (0, "ok", "write", ["a", 1]),
        (1, "invoke", "cas", ["b", [None, 2]]), (1, "ok", "cas", ["b", [None, 2]]),
        (0, "invoke", "read", ["a", None]), (0, "ok", "read", ["a", 1]),
        (1, "invoke", "read", ["b", None]), (1, "ok", "read", ["b", 2]),
    )
    r = check(hist, get_model("independent-cas-register"))
    assert r.valid is True and r.stats["partitions"] == 2
    hist.ops[3].result = ["b", 3]
    r = check(hist, get_model("independent-cas-register"))
    assert r.valid is False and "key 'b'" in r.anomalies[0].message and r.anomalies[0].ops[0] == 6
    assert hist.ops[0].value == ["a", 1]  # the history itself is not rewritten
