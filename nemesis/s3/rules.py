"""S3 fault rules: what the moto middleware does to which requests.

A rule says *which* requests it hits (method, object-key pattern, bucket),
*how often* (a probability drawn from the rule's own seeded RNG, and a
maximum number of hits), and *what it does* (the mode). Every mode stands
for something a real S3 and the network between can do, and none does what
a real S3 could not (BRIEF §3):

=============  ===============================================  ==============
mode           what the server does                              applied?
=============  ===============================================  ==============
error-before   answers ``status`` (default 503 SlowDown)         no
               without passing the request to moto
error-after    passes it to moto, then answers a 5xx instead     yes
               of moto's answer (default 500 InternalError)
drop-after     passes it to moto, then resets the connection     yes
               without an answer
timeout        ``apply=true``: passes it to moto, then hangs     as ``apply``
               ``seconds``; ``apply=false``: hangs ``seconds``
               and never passes it; then drops the connection.
               ``seconds`` must exceed the client's read
               timeout (S3Blob's ``read_timeout``).
latency        sleeps ``seconds``, then passes it to moto        yes (normally)
conflict       answers 409 (``ConditionalRequestConflict``)      no
               without passing it to moto
=============  ===============================================  ==============

``error-after`` is refused with a 4xx status: a real S3 never answers "your
request was wrong" after applying it, and a client is entitled to read a 4xx
as "not applied". A ``timeout`` always says in its JSON whether it applies.

Text form (the command line's ``--s3-fault``)::

    MODE [method=PUT] [key=GLOB | key=re:REGEX] [bucket=NAME] [p=0.5]
         [count=N] [seed=N] [status=503] [code=SlowDown] [seconds=1.5]
         [apply=true|false]

``key`` matches the whole object key (prefix included, e.g. ``run1/meta``):
a shell glob (``*/meta``, ``*batch/*``) or, after ``re:``, a Python regex
that must match the whole key. A rule with a ``key`` pattern only hits
requests on an object; without one it hits bucket requests too (list,
HeadBucket). ``method`` is ``GET``, ``PUT``, ``DELETE``, ``HEAD``, ``POST``
or ``*``. ``p`` (alias ``probability``) is in ``(0, 1]``; ``count`` (alias
``n``) is the most hits, 0 for no limit. The JSON form (the control
endpoint's) is the same fields as an object: ``{"mode": "timeout",
"method": "PUT", "key": "*/meta", "apply": true, "seconds": 2.5}``.

A rule decides with ``random.Random(seed)`` drawn once per matching
request, so the same requests in the same order meet the same faults.
"""

from __future__ import annotations

import fnmatch
import random
import re
import shlex
import threading
from dataclasses import dataclass, field
from typing import Any

from persist.storage.s3 import DEFAULT_READ_TIMEOUT as S3BLOB_READ_TIMEOUT
from nemesis.errors import BadInput

MODES: dict[str, str] = {
    "error-before": "answer a 5xx/4xx without applying",
    "error-after": "apply, then answer a 5xx",
    "drop-after": "apply, then drop the connection",
    "timeout": "apply or not (apply=), then hang past the client's read timeout and drop",
    "latency": "sleep, then apply",
    "conflict": "answer 409 without applying",
}
METHODS = ("GET", "PUT", "DELETE", "HEAD", "POST", "*")
FIELDS = ("mode", "method", "key", "bucket", "p", "count", "seed", "status", "code", "seconds", "apply")
ALIASES = {"probability": "p", "n": "count", "max": "count"}

#: a timeout rule hangs a little longer than S3Blob's default read timeout
DEFAULT_TIMEOUT_SECONDS = S3BLOB_READ_TIMEOUT + 1.0
DEFAULT_LATENCY_SECONDS = 0.2
DEFAULT_STATUS = {"error-before": (503, "SlowDown"), "error-after": (500, "InternalError"),
                  "conflict": (409, "ConditionalRequestConflict")}

SYNTAX = ("MODE [method=GET|PUT|DELETE|HEAD|POST|*] [key=GLOB|re:REGEX] [bucket=NAME] [p=0..1] [count=N] "
          "[seed=N] [status=NNN] [code=NAME] [seconds=S] [apply=true|false]; MODE one of: " + ", ".join(MODES))


class RuleError(BadInput):
    """A fault rule that does not parse or makes no sense; the message says
    what was wrong and what is accepted."""


@dataclass
class Rule:
    mode: str
    method: str = "*"
    key: str | None = None
    bucket: str | None = None
    p: float = 1.0
    count: int = 0  # 0: no limit
    seed: int = 0
    status: int | None = None
    code: str | None = None
    seconds: float | None = None
    apply: bool | None = None  # timeout only
    id: int = 0  # given by the server's table
    # runtime state (server side)
    matched: int = field(default=0, compare=False)
    hits: int = field(default=0, compare=False)
    _rng: random.Random | None = field(default=None, compare=False, repr=False)
    _key_re: re.Pattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode in DEFAULT_STATUS:
            st, code = DEFAULT_STATUS[self.mode]
            if self.status is None:
                self.status = st
            if self.code is None:
                self.code = code if self.status == st else _code_for(self.status)
        if self.mode == "timeout":
            if self.seconds is None:
                self.seconds = DEFAULT_TIMEOUT_SECONDS
            if self.apply is None:
                self.apply = False
        if self.mode == "latency" and self.seconds is None:
            self.seconds = DEFAULT_LATENCY_SECONDS
        if self.key is not None:
            pat = self.key[3:] if self.key.startswith("re:") else fnmatch.translate(self.key)
            self._key_re = re.compile(pat)
        self._rng = random.Random(self.seed)

    @property
    def applies(self) -> bool:
        """Whether a hit of this rule lets the request reach the store."""
        if self.mode == "timeout":
            return bool(self.apply)
        return self.mode in ("error-after", "drop-after", "latency")

    def matches(self, method: str, bucket: str | None, key: str | None) -> bool:
        if self.method != "*" and method != self.method:
            return False
        if self.bucket is not None and bucket != self.bucket:
            return False
        if self._key_re is not None:
            return key is not None and self._key_re.fullmatch(key) is not None
        return True

    def decide(self) -> bool:
        """Called for a matching request (under the table's lock): fire or not."""
        if self.count and self.hits >= self.count:
            return False
        self.matched += 1
        assert self._rng is not None
        if self.p < 1.0 and self._rng.random() >= self.p:
            return False
        self.hits += 1
        return True

    def to_json(self, stats: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "method": self.method}
        for name in ("key", "bucket"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update(p=self.p, count=self.count, seed=self.seed)
        for name in ("status", "code", "seconds", "apply"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["applies"] = self.applies
        if self.id:
            out["id"] = self.id
        if stats:
            out.update(matched=self.matched, hits=self.hits)
        return out

    def to_text(self) -> str:
        """The text form (parses back to an equal rule)."""
        parts = [self.mode]
        j = self.to_json()
        for name in FIELDS[1:]:
            if name in j and not (name == "method" and j[name] == "*"):
                v = j[name]
                parts.append(f"{name}={str(v).lower() if isinstance(v, bool) else v}")
        return " ".join(shlex.quote(p) for p in parts)


def _code_for(status: int) -> str:
    return {500: "InternalError", 503: "SlowDown", 502: "BadGateway", 504: "GatewayTimeout", 400: "InvalidRequest",
            403: "AccessDenied", 409: "ConditionalRequestConflict"}.get(status, "InjectedError")


def _bad(msg: str) -> RuleError:
    return RuleError(f"{msg}; a rule is: {SYNTAX}")


def parse(spec: str | dict[str, Any]) -> Rule:
    """A rule from its text or JSON form (see the module docstring); raises
    :class:`RuleError` naming what is wrong and what is accepted."""
    if isinstance(spec, str):
        try:
            tokens = shlex.split(spec)
        except ValueError as e:
            raise _bad(f"fault rule {spec!r} does not tokenize ({e})") from None
        if not tokens:
            raise _bad("empty fault rule")
        fields: dict[str, Any] = {"mode": tokens[0]}
        for tok in tokens[1:]:
            name, eq, value = tok.partition("=")
            if not eq:
                raise _bad(f"fault rule {spec!r}: {tok!r} is not name=value")
            fields[ALIASES.get(name, name)] = value
        where = f"fault rule {spec!r}"
    elif isinstance(spec, dict):
        fields = {ALIASES.get(k, k): v for k, v in spec.items() if k not in ("applies", "id", "matched", "hits")}
        where = f"fault rule {spec!r}"
    else:
        raise _bad(f"a fault rule must be text or a JSON object, not {type(spec).__name__}")
    unknown = [k for k in fields if k not in FIELDS]
    if unknown:
        raise _bad(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    mode = fields.get("mode")
    if mode not in MODES:
        raise _bad(f"{where}: unknown mode {mode!r} (modes: {', '.join(MODES)})")
    kw: dict[str, Any] = {"mode": mode}
    method = str(fields.get("method", "*")).upper()
    if method not in METHODS:
        raise _bad(f"{where}: method {fields.get('method')!r} is not one of {', '.join(METHODS)}")
    kw["method"] = method
    if fields.get("key") is not None:
        key = str(fields["key"])
        if not key:
            raise _bad(f"{where}: empty key pattern")
        if key.startswith("re:"):
            try:
                re.compile(key[3:])
            except re.error as e:
                raise _bad(f"{where}: key regex {key[3:]!r} does not compile ({e})") from None
        kw["key"] = key
    if fields.get("bucket") is not None:
        kw["bucket"] = str(fields["bucket"])
    kw["p"] = _num(fields.get("p", 1.0), float, "p", where)
    if not 0.0 < kw["p"] <= 1.0:
        raise _bad(f"{where}: p={kw['p']:g} must be in (0, 1]")
    kw["count"] = _num(fields.get("count", 0), int, "count", where)
    if kw["count"] < 0:
        raise _bad(f"{where}: count={kw['count']} must be >= 0 (0: no limit)")
    kw["seed"] = _num(fields.get("seed", 0), int, "seed", where)
    if fields.get("status") is not None:
        st = _num(fields["status"], int, "status", where)
        if mode == "conflict" and st == 409:
            pass
        elif mode not in ("error-before", "error-after"):
            raise _bad(f"{where}: status= is for error-before and error-after only (conflict is always 409)")
        lo = 500 if mode == "error-after" else 400
        if not lo <= st <= 599:
            why = (" (a real S3 never answers 4xx after applying a request)" if mode == "error-after" else "")
            raise _bad(f"{where}: status {st} must be in {lo}..599 for {mode}{why}")
        kw["status"] = st
    if fields.get("code") is not None:
        if mode not in DEFAULT_STATUS:
            raise _bad(f"{where}: code= is for error-before, error-after and conflict only")
        code = str(fields["code"])
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.]*", code):
            raise _bad(f"{where}: code {code!r} must be a word like SlowDown or InternalError")
        kw["code"] = code
    if fields.get("seconds") is not None:
        if mode not in ("timeout", "latency"):
            raise _bad(f"{where}: seconds= is for timeout and latency only")
        kw["seconds"] = _num(fields["seconds"], float, "seconds", where)
        if not 0.0 <= kw["seconds"] <= 3600.0:
            raise _bad(f"{where}: seconds={kw['seconds']:g} must be in 0..3600")
    if fields.get("apply") is not None:
        if mode != "timeout":
            raise _bad(f"{where}: apply= is for timeout only (the other modes say by their name whether they apply)")
        kw["apply"] = _bool(fields["apply"], where)
    return Rule(**kw)


def _num(value: Any, typ: type, name: str, where: str) -> Any:
    if isinstance(value, bool):
        raise _bad(f"{where}: {name}={value!r} is not a number")
    try:
        out = typ(value)
    except (TypeError, ValueError):
        raise _bad(f"{where}: {name}={value!r} is not {'an integer' if typ is int else 'a number'}") from None
    if typ is int and isinstance(value, float) and value != out:
        raise _bad(f"{where}: {name}={value!r} is not an integer")
    if typ is float and out != out:  # NaN
        raise _bad(f"{where}: {name} is NaN")
    return out


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise _bad(f"{where}: apply={value!r} is not true or false")


class RuleTable:
    """The rules in force in one server, in the order added; thread-safe.

    ``pick`` returns the first rule that matches a request and decides to
    fire (each matching rule draws from its own RNG, in table order, so one
    rule's draws do not depend on another's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[Rule] = []
        self.next_id = 1
        self.fired: dict[str, int] = {}  # mode -> hits, over the server's life

    def add(self, rules: list[Rule]) -> list[Rule]:
        with self.lock:
            for r in rules:
                r.id = self.next_id
                self.next_id += 1
                self.rules.append(r)
        return rules

    def clear(self, ids: list[int] | None = None) -> list[Rule]:
        """Remove the rules with ``ids`` (all when None); returns them with their counts."""
        with self.lock:
            if ids is None:
                gone, self.rules = self.rules, []
            else:
                gone = [r for r in self.rules if r.id in ids]
                self.rules = [r for r in self.rules if r.id not in ids]
        return gone

    def pick(self, method: str, bucket: str | None, key: str | None) -> Rule | None:
        with self.lock:
            for r in self.rules:
                if r.matches(method, bucket, key) and r.decide():
                    self.fired[r.mode] = self.fired.get(r.mode, 0) + 1
                    return r
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.to_json(stats=True) for r in self.rules]
