from __future__ import annotations

import re
from pathlib import Path

from checker.formats import read_history
from checker.linear import check
from checker.models import get_model
from checker.visual import render

HIST = Path(__file__).parent / "histories"


def test_picture_of_a_failure_is_self_contained_and_marks_the_ops() -> None:
    r = check(read_history(HIST / "knossos-lines-info-flicker.edn"), get_model("register"))
    (f,) = r.failures
    page = render(f, "flicker")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "<script>" in page and "<svg" in page
    # one lane per process, the failed op, the prefix numbered in order
    for p in (0, 1, 2):
        assert f">process {p}<" in page
    assert re.search(r'<g class="op failed[^"]*" data-idx="6">', page)
    for i, idx in enumerate(r.stats["linear"][0]["prefix"], 1):
        assert re.search(rf'<g class="op lin[^"]*" data-idx="{idx}">.*?>{i}</text>', page, re.S)
    # the crashed write runs to the right edge, hatched; hovering shows details
    assert re.search(r'<g class="op [^"]*info[^"]*" data-idx="2"><title>op 2 ', page)
    assert "every order failed here" in page and f.message.split(" (")[0] in page
