"""A reader for EDN, as far as Jepsen writes it.

Mapping to Python (chosen so that Jepsen histories read naturally):

=================  ===============================================
EDN                Python
=================  ===============================================
nil true false     None True False
42 42N -7          int
1.5 1e3 1.5M       float
3/4                float (ratios are rare in histories)
"s"                str (escapes \\" \\\\ \\n \\t \\r \\uXXXX)
\\c \\newline      str of one character
:kw :ns/kw         Keyword (a str subclass without the colon, so
                   ``Keyword("invoke") == "invoke"``)
sym                Symbol (a str subclass)
[...] (...)        list
{...}              dict (vector/map keys frozen to tuples)
#{...}             frozenset (members frozen likewise)
#tag form          the form itself (``#jepsen.history.Op{...}`` is its
                   map, ``#inst "..."`` its string): best effort
#_ form            discarded
; comment          skipped; commas are whitespace
=================  ===============================================

Every error is an :class:`EdnError` that names the line (1-based) and what
was expected there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from checker.errors import EdnError  # re-exported




class Keyword(str):
    """An EDN keyword, stored without its leading colon."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)


class Symbol(str):
    """An EDN symbol."""

    __slots__ = ()


_TOKEN = re.compile(
    r"""
     (?P<ws>(?:[\s,]+|;[^\n]*)+)
    |(?P<str>"(?:[^"\\]|\\.)*")
    |(?P<open>\#\{|[\[\(\{])
    |(?P<close>[\]\)\}])
    |(?P<disc>\#_)
    |(?P<tag>\#\#?[A-Za-z][^\s,\[\]\(\)\{\}"]*)
    |(?P<char>\\(?:newline|space|tab|return|formfeed|backspace|u[0-9a-fA-F]{4}|.))
    |(?P<atom>[^\s,\[\]\(\)\{\}";\\\#][^\s,\[\]\(\)\{\}";]*)
    |(?P<bad>.)
    """,
    re.X | re.S,
)
_INT = re.compile(r"[+-]?\d+N?\Z")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?\Z")
_RATIO = re.compile(r"[+-]?\d+/\d+\Z")
_ESC = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "/": "/"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "formfeed": "\f", "backspace": "\b"}
_CLOSE_FOR = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_SPECIAL_TAGS = {"##Inf": float("inf"), "##-Inf": float("-inf"), "##NaN": float("nan")}


def _unescape(m: re.Match[str]) -> str:
    s = m.group(1)
    if s[0] == "u" and len(s) == 5:
        return chr(int(s[1:], 16))
    return _ESCAPES.get(s, s)


def freeze(v: Any) -> Any:
    """A hashable twin of ``v``: lists become tuples, dicts sorted item tuples."""
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((freeze(k), freeze(x)) for k, x in v.items()), key=repr))
    if isinstance(v, set):
        return frozenset(freeze(x) for x in v)
    return v


def _atom(text: str, pos: int, r: _Reader) -> Any:
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    c = text[0]
    if c == ":":
        if len(text) == 1:
            raise EdnError("expected a keyword name after ':'", r.line_of(pos))
        return Keyword(text[1:])
    if c.isdigit() or (c in "+-" and len(text) > 1 and text[1].isdigit()):
        if _INT.match(text):
            return int(text.rstrip("N"))
        if _FLOAT.match(text):
            return float(text.rstrip("M"))
        if _RATIO.match(text):
            a, b = text.split("/")
            return int(a) / int(b)
        raise EdnError(f"expected a number, got {text!r}", r.line_of(pos))
    return Symbol(text)


class _Reader:
    """Reads forms from a text, tracking line numbers lazily (counted only
    when an error or a caller asks for one)."""

    def __init__(self, text: str):
        self.text = text
        self._line_pos = 0
        self._line_no = 1
        self.toks: list[tuple[str, str, int]] = [
            (m.lastgroup, m.group(), m.start()) for m in _TOKEN.finditer(text) if m.lastgroup != "ws"  # type: ignore[misc]
        ]
        for kind, tok, pos in self.toks:
            if kind == "bad":
                what = "an unterminated string" if tok == '"' else f"an unexpected character {tok!r}"
                raise EdnError(f"{what}; expected an EDN form", self.line_of(pos))
        self.i = 0

    def line_of(self, pos: int) -> int:
        """1-based line of ``pos``; incremental when asked in order."""
        if pos >= self._line_pos:
            self._line_no += self.text.count("\n", self._line_pos, pos)
        else:
            self._line_no = self.text.count("\n", 0, pos) + 1
        self._line_pos = pos
        return self._line_no

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def read(self) -> Any:
        """Read one form (``_DISCARDED`` for a top-level ``#_ form``);
        iterative, so deep nesting cannot overflow."""
        toks = self.toks
        n = len(toks)
        i = self.i
        kw = _KEYWORDS
        # stack of [opener, items, opener position]; "#_" and "#tag" entries
        # wait for the one form they apply to
        stack: list[list[Any]] = []
        while True:
            if i >= n:
                self.i = i
                end = self.line_of(len(self.text.rstrip()))
                if stack:
                    op = stack[-1]
                    if op[0] in ("#_", "#tag"):
                        raise EdnError(f"end of input after {op[1] or '#_'!r}; expected a form", end)
                    raise EdnError(f"end of input inside {op[0]!r} opened on line {self.line_of(op[2])}; expected {_CLOSE_FOR[op[0]]!r}", end)
                raise EdnError("end of input; expected an EDN form", end)
            kind, text, pos = toks[i]
            i += 1
            if kind == "atom":
                value = kw.get(text, _MISSING)
                if value is _MISSING:
                    value = _atom(text, pos, self)
                    if type(value) is Keyword and len(kw) < 100_000:
                        kw[text] = value
            elif kind == "str":
                body = text[1:-1]
                value = _ESC.sub(_unescape, body) if "\\" in body else body
            elif kind == "open":
                stack.append([text, [], pos])
                continue
            elif kind == "close":
                if not stack or stack[-1][0] in ("#_", "#tag"):
                    self.i = i
                    raise EdnError(f"unexpected {text!r}; expected an EDN form", self.line_of(pos))
                opener, items, opos = stack.pop()
                if _CLOSE_FOR[opener] != text:
                    raise EdnError(
                        f"{text!r} does not close {opener!r} opened on line {self.line_of(opos)}; expected {_CLOSE_FOR[opener]!r}",
                        self.line_of(pos),
                    )
                if opener == "{":
                    if len(items) % 2:
                        raise EdnError(f"map opened on line {self.line_of(opos)} has an odd number of forms; expected key/value pairs", self.line_of(pos))
                    it = iter(items)
                    value = {}
                    for key in it:
                        if isinstance(key, list | dict | set):
                            key = freeze(key)
                        value[key] = next(it)
                elif opener == "#{":
                    value = frozenset(freeze(x) for x in items)
                else:
                    value = items
            elif kind == "disc":
                stack.append(["#_", None, pos])
                continue
            elif kind == "tag":
                if text in _SPECIAL_TAGS:
                    value = _SPECIAL_TAGS[text]
                else:
                    stack.append(["#tag", text, pos])
                    continue
            else:  # char
                c = text[1:]
                value = _CHARS.get(c) or (chr(int(c[1:], 16)) if len(c) == 5 and c[0] == "u" else c)
            # deliver the value to the enclosing construct(s)
            while stack:
                top = stack[-1]
                opener = top[0]
                if opener == "#tag":
                    stack.pop()  # a tagged form is read as the form itself
                    continue
                if opener == "#_":
                    stack.pop()
                    if not stack:
                        self.i = i
                        return _DISCARDED
                else:
                    top[1].append(value)
                break
            else:
                self.i = i
                return value

    def read_form(self) -> Any:
        """The next form that is not discarded by ``#_``."""
        while True:
            v = self.read()
            if v is not _DISCARDED:
                return v


class _Discarded:
    pass


_DISCARDED = _Discarded()
_MISSING = object()
#: atoms read so far that are cached by text (keywords; nil/true/false)
_KEYWORDS: dict[str, Any] = {"nil": None, "true": True, "false": False}


def loads(text: str) -> Any:
    """Read exactly one EDN form from ``text``."""
    r = _Reader(text)
    v = r.read_form()
    if not r.at_end():
        raise EdnError("more than one form; expected exactly one", r.line_of(r.peek()[2]))  # type: ignore[index]
    return v


def loads_all(text: str) -> list[Any]:
    """Read every top-level form in ``text``."""
    return [v for _, v in iter_forms(text)]


def iter_forms(text: str, r: _Reader | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, form)`` for each top-level form."""
    r = r or _Reader(text)
    while not r.at_end():
        pos = r.peek()[2]  # type: ignore[index]
        v = r.read()
        if v is not _DISCARDED:
            yield r.line_of(pos), v


def iter_items(text: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, form)`` for each element of a history.

    A history is either one top-level vector or list of forms (Jepsen's
    ``history.edn`` written with ``pr``), or a sequence of top-level forms
    (one map a line, as ``jepsen.store`` writes it). Lines let callers name
    the exact line of a bad operation.
    """
    r = _Reader(text)
    first = r.peek()
    if first is not None and first[0] == "open" and first[1] in ("[", "("):
        opener = first[1]
        r.i += 1
        close = _CLOSE_FOR[opener]
        while True:
            t = r.peek()
            if t is None:
                raise EdnError(f"end of input inside the history {opener!r} opened on line {r.line_of(first[2])}; expected {close!r}", r.line_of(len(text)))
            if t[0] == "close":
                if t[1] != close:
                    raise EdnError(f"{t[1]!r} does not close the history {opener!r}; expected {close!r}", r.line_of(t[2]))
                r.i += 1
                break
            v = r.read()
            if v is not _DISCARDED:
                yield r.line_of(t[2]), v
        if not r.at_end():
            t = r.peek()
            raise EdnError(f"{t[1]!r} after the history's closing {close!r}; expected end of input", r.line_of(t[2]))  # type: ignore[index]
        return
    yield from iter_forms(text, r)


_FAST_ATOM = r'[^\s,\[\]{}()"#;\\]+'
_FAST_STR = r'"(?:[^"\\]|\\.)*"'
_FAST_VEC = rf"\[(?:\s*(?:{_FAST_STR}|{_FAST_ATOM})\s*,?)*\s*\]"
_FAST_KV = re.compile(rf"(:{_FAST_ATOM})\s+({_FAST_STR}|{_FAST_VEC}|{_FAST_ATOM})\s*,?\s*")
_FAST_LINE = re.compile(rf"\s*\{{\s*(?:(?::{_FAST_ATOM})\s+(?:{_FAST_STR}|{_FAST_VEC}|{_FAST_ATOM})\s*,?\s*)*\}}\s*\Z")
_FAST_ELEM = re.compile(rf"({_FAST_STR}|{_FAST_ATOM})")


class _NoLines:
    def line_of(self, pos: int) -> int:
        return 0


def _fast_value(v: str, kw: dict[str, Any]) -> Any:
    c = v[0]
    if c == '"':
        body = v[1:-1]
        return _ESC.sub(_unescape, body) if "\\" in body else body
    if c == "[":
        return [_fast_value(x, kw) for x in _FAST_ELEM.findall(v[1:-1])]
    r = kw.get(v, _MISSING)
    if r is _MISSING:
        r = _atom(v, 0, _NoLines())  # type: ignore[arg-type]
        if type(r) is Keyword and len(kw) < 100_000:
            kw[v] = r
    return r


def fast_flat_maps(text: str) -> list[tuple[int, dict[str, Any]]] | None:
    """``(line, map)`` for each line when every non-blank line is one flat
    map (keyword keys; values atoms, strings or vectors of those): the
    common shape of a Jepsen history written one op a line, read with
    regular expressions instead of the general reader. None if any line is
    another shape; the caller then uses :func:`iter_items`, which also
    reports errors."""
    out: list[tuple[int, dict[str, Any]]] = []
    kw = _KEYWORDS
    match = _FAST_LINE.match
    try:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line or line.isspace():
                continue
            if not match(line):
                return None
            d = {}
            for k, v in _FAST_KV.findall(line[line.index("{") + 1 : line.rindex("}")]):
                key = kw.get(k)
                if key is None:
                    key = kw[k] = Keyword(k[1:])
                d[key] = _fast_value(v, kw)
            out.append((lineno, d))
    except EdnError:
        return None
    return out
