"""The delta-driven comparison (``contents._analyse``) against the whole one
(``contents.analyse_reference``, every row of every snapshot): the same
discrepancies, row issues, ``seen`` lists and counts, in the same order, on
generated histories whose reads go through the recorder's encoder and the
loaders' decoder (so most reads arrive as deltas of the previous one)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

import checker.domain.contents as contents
from checker.domain.append import AppendHistory
from checker.formats.rows_delta import Decoder, DeltaRows, Encoder
from checker.history import pair

KEYS = [f"k{i}" for i in range(6)]

write = st.tuples(st.just("w"), st.sampled_from(["ok", "ok", "ok", "info", "fail"]), st.sampled_from(KEYS),
                  st.sampled_from(["1", "2"]), st.integers(0, 8), st.sampled_from([1, 1, 1, 1, 2, -1]))
perturb = st.tuples(st.sampled_from(["drop", "phantom", "diff", "twice", "zero", "bad", "future"]),
                    st.integers(0, 50))
read = st.tuples(st.just("r"), st.sampled_from([100, 101, 102]), st.integers(0, 9), st.booleans(),
                 st.lists(perturb, max_size=2), st.booleans())


def build(steps):
    """Events of the steps: writes on process 0.. (a new process after an
    info), snapshots by readers; a snapshot's rows are the model at its
    ``as_of`` (``honest``) or the reader's previous rows with changes."""
    ev: list[dict] = []
    wp = 0
    done: list[tuple] = []  # (type, k, v, ts, diff) of writes completed so far
    every: list[tuple] = [s for s in steps if s[0] == "w"]
    prev: dict[int, list] = {}

    def add(e):
        e["index"] = len(ev)
        e["time"] = len(ev)
        ev.append(e)

    for s in steps:
        if s[0] == "w":
            _, typ, k, v, ts, diff = s
            val = {"writes": {"s0": [[k, v, ts, diff]]}}
            add({"process": wp, "type": "invoke", "f": "write", "value": val})
            add({"process": wp, "type": typ, "f": "write", "value": val})
            done.append((typ, k, v, ts, diff))
            if typ == "info":
                wp += 1
            continue
        _, p, as_of, honest, changes, late = s
        if honest or p not in prev:
            model: dict[tuple, int] = {}
            for typ, k, v, ts, diff in done:
                if typ != "fail" and ts <= as_of:
                    model[(k, v)] = model.get((k, v), 0) + diff
            rows = [[k, v, d] for (k, v), d in sorted(model.items()) if d != 0]
        else:
            rows = [list(r) for r in prev[p]]
        for what, n in changes:
            if what == "drop" and rows:
                rows.pop(n % len(rows))
            elif what == "phantom":
                rows.append([KEYS[n % 6], "ghost", 1])
            elif what == "diff" and rows and len(rows[n % len(rows)]) == 3:
                rows[n % len(rows)][2] += 1
            elif what == "twice" and rows:
                rows.append(list(rows[n % len(rows)]))
            elif what == "zero" and rows and len(rows[n % len(rows)]) == 3:
                rows[n % len(rows)][2] = 0
            elif what == "bad":
                rows.append(["only", "two"])
            elif what == "future" and every:
                _, _t, k, v, _ts, d = every[n % len(every)]  # possibly written after this read
                rows.append([k, v, d])
        try:
            rows.sort()
        except TypeError:
            pass
        prev[p] = rows
        add({"process": p, "type": "invoke", "f": "snapshot", "value": {"stream": "s0", "as_of": as_of}})
        add({"process": p, "type": "ok", "f": "snapshot",
             "value": {"stream": "s0", "as_of": as_of, "upper": 10, "since": 0, "rows": rows}})
        if late:  # a reader that vanished: its next reads start afresh
            prev.pop(p, None)
    return ev


def through_recorder(ev):
    enc, dec = Encoder(), Decoder()
    return [dec.decode(json.loads(json.dumps(enc.encode(e)))) for e in ev]


def same(a: contents.Contents, b: contents.Contents) -> None:
    assert repr(a.discrepancies) == repr(b.discrepancies)
    assert repr(a.row_issues) == repr(b.row_issues)
    assert list(a.seen) == list(b.seen)
    assert {g: [id(s) for s in ss] for g, ss in a.seen.items()} == {g: [id(s) for s in ss] for g, ss in b.seen.items()}
    assert (a.truncated, a.rows, a.snapshots) == (b.truncated, b.rows, b.snapshots)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(write, read), max_size=40))
def test_the_delta_path_gives_the_reference_verdicts(steps):
    ah = AppendHistory.of(pair(through_recorder(build(steps))))
    same(contents._analyse(ah), contents.analyse_reference(ah))


def test_the_generated_reads_do_arrive_as_deltas():
    """The property above exercises the delta path: a growing stream read
    repeatedly by one reader decodes to DeltaRows, and a planted anomaly in
    a delta (a phantom row) is found by both paths."""
    steps = []
    for i in range(30):
        steps.append(("w", "ok", KEYS[i % 6], str(i), i % 9, 1))
        steps.append(("r", 100, 9, True, [("phantom", 3)] if i == 20 else [], False))
    ah = AppendHistory.of(pair(through_recorder(build(steps))))
    assert sum(s.rows.__class__ is DeltaRows for s in ah.snapshots) > 20
    fast, ref = contents._analyse(ah), contents.analyse_reference(ah)
    same(fast, ref)
    assert [d.val for d in fast.discrepancies] == ["ghost"]


def test_a_row_of_a_later_write_in_a_delta_is_found():
    """A delta adding the row of a write invoked after the read returned
    (ts within the read's as_of): excluded as ``after-snapshot`` by both paths."""
    steps = []
    for i in range(12):
        steps.append(("w", "ok", KEYS[i % 6], str(i), 1, 1))
        steps.append(("r", 100, 9, i != 8, [("future", 12)] if i == 8 else [], False))
    steps.append(("w", "ok", "k0", "late", 1, 1))  # every[12]: written after read 8
    ah = AppendHistory.of(pair(through_recorder(build(steps))))
    assert ah.snapshots[8].rows.__class__ is DeltaRows
    fast, ref = contents._analyse(ah), contents.analyse_reference(ah)
    same(fast, ref)
    # read 8 also lacks write 8 (it repeats read 7 plus the later row)
    assert [(d.val, [why for _u, why in d.excluded]) for d in fast.discrepancies] == [("late", [contents.AFTER]), ("8", [])]
