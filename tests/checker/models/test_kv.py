from __future__ import annotations

from checker.history import pair
from checker.linear import check
from checker.models import get_model


def h(*evs):
    return pair([dict(zip(("process", "type", "f", "value"), e)) for e in evs])


def test_kv_partitions_by_key_and_names_it() -> None:
    hist = h(
        (0, "invoke", "append", ["a", "x"]), (0, "ok", "append", ["a", "x"]),
        (1, "invoke", "append", ["b", "y"]), (1, "ok", "append", ["b", "y"]),
        (0, "invoke", "get", ["a", None]), (0, "ok", "get", ["a", "x"]),
        (1, "invoke", "get", ["b", None]), (1, "ok", "get", ["b", ""]),
    )
    r = check(hist, get_model("kv"))
    assert r.valid is False and r.stats["partitions"] == 2
    assert "key 'b'" in r.anomalies[0].message and r.anomalies[0].ops[0] == 6
    assert check(hist, get_model("kv"), partition=False).valid is False


def test_kv_initial_map_and_scalar() -> None:
    hist = h((0, "invoke", "get", ["a", None]), (0, "ok", "get", ["a", "z"]))
    assert check(hist, get_model("kv")).valid is False
    assert check(hist, get_model("kv", {"a": "z"})).valid is True
    assert check(hist, get_model("kv", "z")).valid is True


def test_append_refutation_read_too_long() -> None:
    hist = h((0, "invoke", "append", ["a", "x"]), (0, "ok", "append", ["a", "x"]), (1, "invoke", "get", ["a", None]), (1, "ok", "get", ["a", "xx"]))
    r = check(hist, get_model("kv"))
    assert r.valid is False and "longer than all appends" in r.anomalies[0].message


def _upserts(last_read):
    up = lambda k, v: {"key": k, "value": v}  # noqa: E731
    return pair([
        {"process": 0, "type": "invoke", "f": "upsert", "value": up("k", "a")},
        {"process": 0, "type": "ok", "f": "upsert", "value": up("k", "a")},
        {"process": 0, "type": "invoke", "f": "delete", "value": {"key": "k"}},
        {"process": 0, "type": "info", "f": "delete", "value": {"key": "k"}},
        {"process": 1, "type": "invoke", "f": "get", "value": {"key": "k"}},
        {"process": 1, "type": "ok", "f": "get", "value": up("k", None)},
        {"process": 1, "type": "invoke", "f": "get", "value": {"key": "k"}},
        {"process": 1, "type": "ok", "f": "get", "value": up("k", last_read)},
    ])


def test_upsert_crashed_delete_may_happen_once() -> None:
    """Keys start absent; a read of nil means absent; the crashed delete
    may explain the first absent read, but not a return of "a" after it."""
    assert check(_upserts(None), get_model("upsert")).valid is True
    r = check(_upserts("a"), get_model("upsert"))
    assert r.valid is False and r.anomalies[0].ops[0] == 6
