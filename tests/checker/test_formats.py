from __future__ import annotations

from pathlib import Path

import pytest

from checker.formats import infer_format, read_history
from checker.history import HistoryError


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_infer_by_extension_and_content(tmp_path: Path) -> None:
    assert infer_format("a.edn") == "jepsen-edn" and infer_format("a.log") == "jepsen-log" and infer_format("a.jsonl") == "jsonl"
    assert infer_format(write(tmp_path, "x.txt", '{:process 0, :type :invoke, :f :read}')) == "jepsen-edn"
    assert infer_format(write(tmp_path, "y.txt", '{"process": 0}')) == "jsonl"


def test_log_conventions(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "h.log",
        "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n"
        "INFO  jepsen.util - 2\t:invoke\t:write\t3\n"
        "INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n"
        "INFO  jepsen.util - 3 :invoke :read nil\n"
        "INFO  jepsen.util - 3 :ok :read nil\n",
    )
    cas, read, write_, read2 = read_history(p).ops
    assert cas.type == "ok" and cas.result is False and cas.value == [1, 2]
    assert read.type == "ok" and read.unknown_result
    assert write_.type == "info" and write_.value == 3
    assert read2.type == "ok" and read2.result is None and not read2.unknown_result  # nil = absent


@pytest.mark.parametrize(
    "name,text,line,words",
    [
        ("a.log", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nhello\n", 2, "not an operation line"),
        ("b.log", "INFO  jepsen.util - 0\t:invoke\t:read\t[1\n", 1, "not EDN"),
        ("c.log", "INFO  jepsen.util - 0\t:ok\t:read\t1\n", 1, "no invoke"),
        ("d.edn", "{:process 0, :type :invoke, :f :read}\n[1 2]\n", 2, "expected an operation map"),
        ("e.edn", "{:process 0, :type :invoke, :f :read}\n{:process 0 :type :invoke}\n", 2, "lacks :f"),
        ("f.edn", "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :read}\n", 2, "still outstanding"),
        ("g.edn", "{:process 0, :type :invoke, :f :read}\n\n{:process 0, :type :done, :f :read", 3, "malformed EDN"),
        ("h.jsonl", '{"process": 0, "type": "invoke", "f": "r"}\n{oops\n', 2, "not JSON"),
        ("i.jsonl", '{"process": 0, "type": "invoke", "f": "r"}\n\n{"process": 0, "type": "invoke", "f": "r"}\n', 3, "still outstanding"),
        ("j.jsonl", '{"process": 0, "type": "begin", "f": "r"}\n', 1, "is not one of"),
    ],
)
def test_malformed_names_line(tmp_path: Path, name: str, text: str, line: int, words: str) -> None:
    p = write(tmp_path, name, text)
    with pytest.raises(HistoryError) as ei:
        read_history(p)
    msg = str(ei.value)
    assert f"{p}:{line}:" in msg and words in msg, msg


def test_edn_key_folded_into_value(tmp_path: Path) -> None:
    p = write(tmp_path, "kv.edn", '{:process 0, :type :invoke, :f :get, :key "k", :value nil}\n{:process 0, :type :ok, :f :get, :key "k", :value ""}\n')
    (op,) = read_history(p).ops
    assert op.value == ["k", None] and op.result == ["k", ""] and not op.unknown_result


def test_a_torn_last_line_is_left_out_but_a_bad_complete_line_is_an_error(tmp_path):
    """A run that died half-way leaves its last line torn (no newline): the
    complete events before it are the history. A malformed line that was
    fully written (it ends in a newline) is still bad input."""
    from checker.history import HistoryError, read_jsonl

    good = '{"process": 0, "type": "invoke", "f": "read", "value": null}\n'
    torn = tmp_path / "torn.jsonl"
    torn.write_text(good + '{"process": 0, "type": "ok", "f": "re')
    h = read_jsonl(torn)
    assert [op.f for op in h.ops] == ["read"] and h.ops[0].type == "info"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good + '{"process": 0, "type": "ok", "f": "re\n')
    with pytest.raises(HistoryError, match=r"bad.jsonl:2: not JSON"):
        read_jsonl(bad)
