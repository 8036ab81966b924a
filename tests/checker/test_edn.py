from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import edn
from checker.edn import EdnError, Keyword


def test_jepsen_shapes() -> None:
    v = edn.loads('{:type :ok, :f :cas, :value [1 2] :s #{1 "a"} :l (1 2.5) :n nil :t true :ns :a/b :big 3N :dec 1.5M}')
    assert v["type"] == "ok" and isinstance(v["type"], Keyword)
    assert v["value"] == [1, 2] and v["s"] == frozenset({1, "a"}) and v["l"] == [1, 2.5]
    assert v["n"] is None and v["t"] is True and v["ns"] == "a/b" and v["big"] == 3 and v["dec"] == 1.5
    assert repr(v["type"]) == ":ok"


def test_tags_comments_discard_chars_strings() -> None:
    v = edn.loads('; head\n[#jepsen.history.Op{:a 1} #inst "2020-01-01" #_ :gone \\a \\newline "x\\"y\\n\\u0041" ##Inf]')
    assert v[0] == {"a": 1} and v[1] == "2020-01-01" and v[2] == "a" and v[3] == "\n"
    assert v[4] == 'x"y\nA' and math.isinf(v[5])


def test_collection_keys_are_frozen() -> None:
    assert edn.loads("{[1 2] :a}") == {(1, 2): "a"}


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("{:a 1\n :b", 2, "end of input"),
        ("[1\n2\n}", 3, "does not close"),
        ('\n"abc', 2, "unterminated string"),
        ("{:a}", 1, "odd number"),
        ("\n\n12x", 3, "expected a number"),
        ("]", 1, "unexpected"),
    ],
)
def test_errors_name_line_and_expectation(text: str, line: int, words: str) -> None:
    with pytest.raises(EdnError) as ei:
        edn.loads(text)
    assert ei.value.line == line and words in str(ei.value) and str(ei.value).startswith(f"line {line}:")


def test_iter_items_vector_and_lines() -> None:
    assert list(edn.iter_items("[{:a 1}\n {:b 2}]")) == [(1, {"a": 1}), (2, {"b": 2})]
    assert list(edn.iter_items("{:a 1}\n\n{:b 2}\n")) == [(1, {"a": 1}), (3, {"b": 2})]
    with pytest.raises(EdnError, match="after the history"):
        list(edn.iter_items("[{:a 1}] {:b 2}"))


def _to_edn(v) -> str:
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + " ".join(_to_edn(x) for x in v) + "]"
    return "{" + ", ".join(f"{_to_edn(k)} {_to_edn(x)}" for k, x in v.items()) + "}"


values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip(v) -> None:
    assert edn.loads(_to_edn(v)) == v


flat_values = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=6) | st.lists(st.integers(0, 9) | st.text(max_size=3) | st.none(), max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.from_regex(r"[a-z][a-z-]{0,5}", fullmatch=True), flat_values, max_size=5), min_size=1, max_size=5))
def test_fast_flat_maps_agree_with_the_general_reader(maps) -> None:
    text = "\n".join("{" + ", ".join(f":{k} {_to_edn(v)}" for k, v in m.items()) + "}" for m in maps) + "\n"
    fast = edn.fast_flat_maps(text)
    if len(text.splitlines()) == len(maps):  # no line break inside a string
        assert fast is not None
    assert fast is None or fast == list(edn.iter_items(text))


def test_fast_path_declines_other_shapes() -> None:
    for text in ("{:a {:b 1}}", "{:a #{1}}", "{:a 1} {:b 2}", "{:a [1 [2]]}", "[{:a 1}]", "{:a 1"):
        assert edn.fast_flat_maps(text) is None
