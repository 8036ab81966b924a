"""Reads kept as their deltas in memory (``checker/formats/rows_delta.py``
``DeltaRows``): the verdicts are those of the same history with every read
whole, byte for byte, and a ``DeltaRows`` behaves as the plain list of its
rows."""

from __future__ import annotations

import copy
import json
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from checker.domain.simulate import simulate
from checker.errors import HistoryError
from checker.formats import rows_delta
from checker.formats.rows_delta import DeltaRows, Decoder, Encoder, json_default
from checker.history import read_jsonl
from nemesis.judge import judge_history

HISTORIES = Path(__file__).parent / "domain" / "histories"


def _write(path: Path, events: list[dict], encode: bool) -> None:
    enc = Encoder()
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(enc.encode(e) if encode else e, separators=(",", ":")) + "\n")


def _reads(h) -> list:
    return [op.result["rows"] for op in h.ops if op.type == "ok" and isinstance(op.result, dict) and "rows" in op.result]


MATERIALISED: list[int] = []


def judged_both_ways(tmp_path: Path, events: list[dict], workload: str) -> tuple[dict, dict, int]:
    """Every checker's result on ``events`` written with every read whole
    (loaded as plain lists) and as the recorder writes them (reads as
    deltas, kept lazily); and how many reads arrived as deltas.
    ``MATERIALISED`` then holds the events of the reads the lazy judging
    materialised."""
    whole, lazy = tmp_path / "whole.jsonl", tmp_path / "lazy.jsonl"
    _write(whole, events, encode=False)
    _write(lazy, events, encode=True)
    hw, hl = read_jsonl(whole), read_jsonl(lazy)
    assert not any(r.__class__ is DeltaRows for r in _reads(hw))
    deltas = sum(r.__class__ is DeltaRows for r in _reads(hl))
    a = judge_history(hw, workload)
    real = rows_delta.materialise
    MATERIALISED.clear()

    def counted(node):
        MATERIALISED.append(node.event)
        return real(node)

    rows_delta.materialise = counted
    try:
        b = judge_history(hl, workload)
    finally:
        rows_delta.materialise = real
    return a, b, deltas


def _untimed(x):
    """``x`` without the wall-clock seconds a search reports (``time_s``:
    the linearizability search's and its explanation's), which differ
    between any two judgings."""
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k != "time_s"}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def _same(a: dict, b: dict) -> None:
    # no default=: a DeltaRows left in a result would not serialise
    ja, jb = json.dumps(_untimed(a), sort_keys=True), json.dumps(_untimed(b), sort_keys=True)
    assert ja == jb


def _sim(seed: int, n: int, **kw) -> list[dict]:
    mix = {"write": 0.5, "seal": 0.15, "compact": 0.05, "snapshot": 0.2, "frontiers": 0.1}
    return list(simulate(seed, n, processes=3, streams=2, mix=mix, **kw))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_valid_histories_same_verdicts(tmp_path, seed):
    ev = _sim(seed, 1500, p_info=0.01)
    a, b, deltas = judged_both_ways(tmp_path, ev, "append")
    _same(a, b)
    assert deltas > 30 and a["valid"] is True
    assert MATERIALISED == []  # a valid run's reads are judged by their deltas alone


def _plant(ev: list[dict], what: str) -> int:
    """Change one ok snapshot in the middle of a reader's chain (one whose
    process reads the stream again afterwards, so later reads are deltas of
    it): ``drop`` its first row (an acknowledged write lost) or add a
    ``phantom`` row; the invoke index of the changed read."""
    snaps = [i for i, e in enumerate(ev) if e["f"] == "snapshot" and e["type"] == "ok" and len(e["value"]["rows"]) > 3]
    keyed = [(ev[i]["process"], ev[i]["value"]["stream"]) for i in snaps]
    for n, i in enumerate(snaps[len(snaps) // 3:], len(snaps) // 3):
        if keyed[n] in keyed[n + 1:]:
            rows = [list(r) for r in ev[i]["value"]["rows"]]
            stream, as_of = ev[i]["value"]["stream"], ev[i]["value"]["as_of"]
            if what == "drop":
                rows.pop(0)
            elif what == "phantom":
                rows = sorted(rows + [[rows[0][0], "ghost", 1]])
            else:  # "future": the row of an acknowledged write at a ts past this read's as_of
                k, v, _ts, d = next(u for e in ev if e["f"] == "write" and e["type"] == "ok"
                                    for u in e["value"]["writes"].get(stream, []) if u[2] > as_of)
                rows = sorted(rows + [[k, v, d]])
            ev[i] = {**ev[i], "value": {**ev[i]["value"], "rows": rows}}
            return next(e["index"] for e in reversed(ev[:i]) if e["process"] == ev[i]["process"] and e["type"] == "invoke")
    raise AssertionError("no snapshot to plant in")


@pytest.mark.parametrize("what", ["drop", "phantom", "future"])
def test_an_invalid_history_same_verdicts_and_its_read_explained(tmp_path, what):
    """A wrong read in the middle of a chain, found and explained; the same
    JSON both ways. A lost or phantom row is judged from the chain's state;
    a row past the read's ``as_of`` makes the model comparison judge the
    read whole (it materialises it)."""
    ev = _sim(7, 1500, p_info=0.01)
    op = _plant(ev, what)
    a, b, deltas = judged_both_ways(tmp_path, ev, "append")
    _same(a, b)
    assert deltas > 30 and a["valid"] is False
    model = next(c for c in b["checkers"] if c["checker"] == "snapshot-model")
    assert model["valid"] is False and any(op in an["ops"] for an in model["anomalies"])
    if what == "future":
        ret = next(e["index"] for e in ev if e["type"] == "ok" and e["process"] == ev[op]["process"] and e["index"] > op)
        assert ret in MATERIALISED  # the wrong read judged whole


@pytest.mark.parametrize("name", sorted(p.name for p in HISTORIES.glob("*.jsonl")))
def test_stored_histories_same_verdicts(tmp_path, name):
    events = [json.loads(line) for line in (HISTORIES / name).read_text().splitlines() if line.strip()]
    a, b, _deltas = judged_both_ways(tmp_path, events, "append")
    _same(a, b)


def _upsert_history(seed: int, lose: bool) -> list[dict]:
    """Writers upsert unique values into k0..k7, a reader reads them all
    repeatedly (reads grow a little: deltas) and gets keys; a final read_all.
    ``lose``: the final read misses the last acknowledged upsert."""
    rng = random.Random(seed)
    ev: list[dict] = []
    state: dict[str, str] = {}
    last = None

    def add(p, typ, f, value):
        ev.append({"index": len(ev), "time": len(ev), "process": p, "type": typ, "f": f, "value": value})

    def rows():
        return sorted([k, v, 1] for k, v in state.items())

    for i in range(200):
        k = f"k{rng.randrange(8)}"
        v = f"{i % 3}.{i}"
        add(i % 3, "invoke", "upsert", {"key": k, "value": v})
        state[k] = v
        last = k
        add(i % 3, "ok", "upsert", {"key": k, "value": v, "ts": i, "upper": i + 1})
        if i % 4 == 0:
            add(10, "invoke", "read_all", {})
            add(10, "ok", "read_all", {"rows": rows(), "as_of": i, "upper": i + 1})
        if i % 7 == 0:
            add(11, "invoke", "get", {"key": k})
            add(11, "ok", "get", {"key": k, "value": v, "rows": [[v, 1]], "as_of": i, "upper": i + 1})
    fin = rows()
    if lose:
        fin = [r for r in fin if r[0] != last]
    add(10, "invoke", "read_all", {"final": True})
    add(10, "ok", "read_all", {"rows": fin, "as_of": 200, "upper": 201})
    return ev


@pytest.mark.parametrize("lose", [False, True])
def test_upsert_reads_same_verdicts(tmp_path, lose):
    """The upsert checkers read whole reads (iterating a DeltaRows): the same JSON."""
    a, b, deltas = judged_both_ways(tmp_path, _upsert_history(5, lose), "upsert")
    _same(a, b)
    assert deltas > 10 and a["valid"] is (not lose)


def test_a_long_chain_holds_its_deltas_not_its_reads():
    """3000 reads of a growing stream: the decoded reads hold (in lists of
    their own) about as many rows as the deltas, plus checkpoints that are
    no larger; not the 4.5 M rows that every read whole would hold."""
    enc, dec = Encoder(), Decoder()
    rows: list = []
    out = []
    for i in range(3000):
        rows = rows + [[f"k{i:05d}", "v", 1]]
        e = {"index": i, "process": 1, "type": "ok", "f": "snapshot", "value": {"stream": "s", "rows": list(rows)}}
        out.append(dec.decode(json.loads(json.dumps(enc.encode(e))))["value"]["rows"])
    dec.finish()
    held = sum(len(r.add) + len(r.remove) + len(r.full or ()) if r.__class__ is DeltaRows else len(r) for r in out)
    assert sum(map(len, out)) == 3000 * 3001 // 2
    assert held < 3 * 3000
    assert out[-1] == rows and out[1234] == rows[:1235]


# --- a DeltaRows against the plain list of its rows -------------------------------------

row = st.tuples(st.sampled_from(["a", "b", "c", "k1", "k2"]), st.sampled_from(["1", "2", "x"]),
                st.integers(-2, 3)).map(list)
chain = st.lists(st.lists(row, max_size=10).map(sorted), min_size=1, max_size=25)


def _decoded(reads: list[list]) -> list:
    enc, dec = Encoder(), Decoder()
    out = []
    for i, rows in enumerate(reads):
        e = {"index": i, "process": 1, "type": "ok", "f": "snapshot", "value": {"stream": "s", "rows": rows}}
        out.append(dec.decode(json.loads(json.dumps(enc.encode(e))))["value"]["rows"])
    dec.finish()
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain, st.randoms(use_true_random=False))
def test_delta_rows_behave_as_their_list(reads, rnd):
    out = _decoded(reads)
    order = list(range(len(out)))
    rnd.shuffle(order)  # materialised in any order: the cache and checkpoints must not matter
    for i in order:
        got, want = out[i], reads[i]
        assert len(got) == len(want) and bool(got) == bool(want)
        assert got == want and want == got and not (got != want)
        assert list(got) == want and list(reversed(got)) == want[::-1]
        assert repr(got) == repr(want) and str(got) == str(want)
        if want:
            j = rnd.randrange(-len(want), len(want))
            assert got[j] == want[j] and got[j:] == want[j:] and want[j] in got
            assert got.index(want[j]) == want.index(want[j]) and got.count(want[j]) == want.count(want[j])
        with pytest.raises(IndexError):
            got[len(want)]
        assert ["zz", "zz", 0] not in got
        assert json.dumps(got, default=json_default) == json.dumps(want)
        for back in (pickle.loads(pickle.dumps(got)), copy.deepcopy(got), copy.copy(got)):
            assert back.__class__ is list and back == want
        other = out[(i + 1) % len(out)]
        assert (got == other) == (want == reads[(i + 1) % len(out)])


@settings(max_examples=200, deadline=None)
@given(chain, st.integers(0, 10**6), st.sampled_from(["drop", "add"]))
def test_a_tampered_delta_is_an_error_naming_it(reads, pick, how):
    """A delta that removes a row its base lacks is a HistoryError naming
    its event when the history is loaded (whether or not anything reads it)."""
    enc = Encoder()
    written = [json.loads(json.dumps(enc.encode({"index": i, "process": 1, "type": "ok", "f": "snapshot",
                                                  "value": {"stream": "s", "rows": r}}))) for i, r in enumerate(reads)]
    deltas = [w for w in written if rows_delta.DELTA in w["value"]]
    if not deltas:
        return
    bad = deltas[pick % len(deltas)]
    bad["value"][rows_delta.DELTA]["remove"].append(["zz", "nowhere", 1])
    if how == "add":
        bad["value"][rows_delta.DELTA]["add"].append(["zz", "nowhere", 1])  # added back: the count still goes below 0 first
    dec = Decoder()
    with pytest.raises(HistoryError, match=f"event {bad['index']}: rows_delta removes rows its base lacks"):
        for w in written:
            dec.decode(w)
        dec.finish()


def test_the_report_shows_a_delta_read_without_materialising_it(monkeypatch):
    """The timeline's hover text of a read kept as its delta: its row count
    and its delta, cut like any value; the read is never materialised."""
    from nemesis.report.markup import short_json

    out = _decoded([[[f"k{i:03d}", "v", 1] for i in range(n)] for n in (50, 60, 61)])

    def boom(node):
        raise AssertionError("materialised")

    monkeypatch.setattr(rows_delta, "materialise", boom)
    text = short_json({"stream": "s", "rows": out[2]}, 200)
    assert '"rows":{"rows":61,"delta_from_event":1,"add":[["k060","v",1]],"remove":[]}' in text


def test_materialising_a_read_keeps_no_history_alive():
    """The one-read cache holds its read weakly: a dropped history's chain
    of deltas is freed."""
    import gc
    import weakref

    out = _decoded([[[f"k{i:03d}", "v", 1] for i in range(n)] for n in range(1, 40)])
    assert list(out[-1]) == [[f"k{i:03d}", "v", 1] for i in range(39)]
    first = weakref.ref(out[1])
    del out
    gc.collect()
    assert first() is None
