"""Reads recorded as deltas (checker/formats/rows_delta.py): what the
recorder writes loads back as exactly what the workers returned."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from checker.errors import HistoryError
from checker.formats.rows_delta import DELTA, Decoder, Encoder
from checker.history import read_jsonl

row = st.tuples(st.sampled_from(["a", "b", "c", "k1", "k2"]), st.sampled_from(["1", "2", "x"]),
                st.integers(-2, 3)).map(list)
read = st.tuples(st.sampled_from([1, 2]), st.sampled_from(["s0", "s1"]), st.lists(row, max_size=12),
                 st.booleans())


def _events(reads):
    out = []
    for i, (proc, stream, rows, ordered) in enumerate(reads):
        rows = sorted(rows) if ordered else rows
        out.append({"index": i, "time": i, "process": proc, "type": "ok", "f": "snapshot",
                    "value": {"stream": stream, "as_of": i, "rows": rows}})
    return out


@settings(max_examples=200)
@given(st.lists(read, max_size=30))
def test_round_trip(reads):
    events = _events(reads)
    enc, dec = Encoder(), Decoder()
    written = [json.loads(json.dumps(enc.encode(e))) for e in events]
    assert [dec.decode(w) for w in written] == events


def test_a_growing_stream_is_written_linearly():
    enc = Encoder()
    rows: list[list] = []
    sizes = []
    for i in range(400):
        rows = sorted(rows + [[f"k{i:04d}", "v", 1]])
        e = {"index": i, "time": i, "process": 3, "type": "ok", "f": "snapshot",
             "value": {"stream": "s0", "as_of": i, "rows": list(rows)}}
        sizes.append(len(json.dumps(enc.encode(e))))
    assert max(sizes[1:]) < 2 * sizes[1]  # each line holds what changed, not the whole stream
    whole = sum(len(json.dumps({"rows": [[f"k{j:04d}", "v", 1] for j in range(i + 1)]})) for i in range(400))
    assert sum(sizes) * 20 < whole


def test_a_delta_needs_its_base(tmp_path):
    enc = Encoder()
    a = enc.encode({"index": 0, "process": 1, "type": "ok", "f": "snapshot", "value": {"stream": "s", "rows": [["a", "1", 1]] * 3}})
    b = enc.encode({"index": 1, "process": 1, "type": "ok", "f": "snapshot",
                    "value": {"stream": "s", "rows": [["a", "1", 1]] * 3 + [["b", "1", 1]]}})
    assert DELTA in b["value"] and "rows" not in b["value"] and "rows" in a["value"]
    with pytest.raises(HistoryError, match="base 0"):
        Decoder().decode(b)
    assert Decoder(strict=False).decode(b) == b  # the reports' reader leaves it as it is
    path = tmp_path / "h.jsonl"
    lines = [{"index": 0, "time": 0, "process": 1, "type": "invoke", "f": "snapshot", "value": {"stream": "s"}}, {**a, "index": 1, "time": 1},
             {"index": 2, "time": 2, "process": 1, "type": "invoke", "f": "snapshot", "value": {"stream": "s"}}, {**b, "time": 3, "index": 3,
              "value": {**b["value"], DELTA: {**b["value"][DELTA], "base": 1}}}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    h = read_jsonl(path)
    assert h.ops[1].result["rows"] == [["a", "1", 1]] * 3 + [["b", "1", 1]]
    lines[3]["value"][DELTA]["remove"] = [["z", "9", 1]]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(HistoryError, match="h.jsonl:4.*removes rows"):
        read_jsonl(path)


def test_a_decoded_read_pickles_as_its_rows_alone():
    """A decoded read remembers its base (DeltaRows), but a pickle or copy of
    it is the plain list: a long chain of bases is not dragged along."""
    import copy
    import pickle

    from checker.formats.rows_delta import DeltaRows

    enc, dec = Encoder(), Decoder()
    rows: list = []
    out = None
    for i in range(3000):
        rows = rows + [[f"k{i:05d}", "v", 1]]
        e = {"index": i, "process": 1, "type": "ok", "f": "snapshot", "value": {"stream": "s", "rows": list(rows)}}
        out = dec.decode(enc.encode(e))
    last = out["value"]["rows"]
    assert last.__class__ is DeltaRows and last == rows
    for back in (pickle.loads(pickle.dumps(last)), copy.deepcopy(last)):
        assert back.__class__ is list and back == rows
