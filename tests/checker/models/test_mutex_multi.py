from __future__ import annotations

from checker.history import pair
from checker.linear import check
from checker.models import INVALID, get_model


def h(*evs):
    return pair([dict(zip(("process", "type", "f", "value"), e)) for e in evs])


def test_mutex_steps() -> None:
    m = get_model("mutex")
    assert m.step(False, "acquire", None, None) is True and m.step(True, "acquire", None, None) is INVALID
    assert m.step(True, "release", None, None) is False and m.step(False, "release", None, None) is INVALID


def test_mutex_release_unheld_is_invalid() -> None:
    assert check(h((0, "invoke", "release", None), (0, "ok", "release", None)), get_model("mutex")).valid is False
    assert check(h((0, "invoke", "release", None), (0, "ok", "release", None)), get_model("mutex", True)).valid is True


def test_multi_register_txn() -> None:
    hist = h(
        (0, "invoke", "txn", [["write", "x", 1], ["write", "y", 1]]), (1, "invoke", "txn", [["read", "x", None], ["read", "y", None]]),
        (0, "ok", "txn", [["write", "x", 1], ["write", "y", 1]]), (1, "ok", "txn", [["read", "x", 1], ["read", "y", None]]),
    )
    assert check(hist, get_model("multi-register")).valid is True
    hist.ops[1].result = [["read", "x", 1], ["read", "y", 2]]
    assert check(hist, get_model("multi-register")).valid is False
