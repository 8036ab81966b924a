"""The ``s3`` nemesis: S3 and network faults through the moto server's rules.

It needs a run on S3 (``--blob s3``): the controller starts a moto server
behind :mod:`nemesis.s3.injector` and puts its address in
``RunContext.s3``. Each scheduled fault installs one rule
(:mod:`nemesis.s3.rules`) for the fault's duration, then removes it; the
history gets ``info s3 {"rules": [rule]}`` when it is set and
``info s3 {"rules": [], "cleared": [rule with hits]}`` when it is removed, so
the report shades the period and the reader sees how often it fired.
"""

from __future__ import annotations

import random
from typing import Any

from nemesis.faults.base import Fault, RunContext
from nemesis.s3.rules import Rule, parse

#: the client's read timeout a run on S3 configures, and how far past it a timeout hangs
DEFAULT_READ_TIMEOUT = 1.0
TIMEOUT_MARGIN = 0.3


def catalogue_rule(rng: random.Random, read_timeout: float) -> Rule:
    """One rule drawn from every mode the server offers, aimed at the keys the
    engine uses (the metadata record, batch blobs, anything)."""
    # the ambiguous modes (applied, answer lost) are what an engine most often gets wrong: twice as likely
    mode = rng.choice(["error-before", "error-after", "error-after", "drop-after", "drop-after", "timeout", "timeout",
                       "latency", "conflict"])
    # the metadata record is where an unknown outcome matters most: aim there half the time
    key = rng.choice([None, "*meta", "*meta", "*batch/*"])  # with or without a location prefix
    fields: dict[str, Any] = {"mode": mode, "p": rng.choice([0.2, 0.5, 1.0]), "count": rng.choice([1, 2, 3, 5, 0])}
    if key is not None:
        fields["key"] = key
    if mode in ("error-after", "drop-after", "conflict"):
        fields["method"] = rng.choice(["PUT", "PUT", "DELETE"]) if mode != "conflict" else "PUT"
    elif mode == "error-before":
        fields["method"] = rng.choice(["PUT", "GET", "DELETE", "*"])
        fields["status"] = rng.choice([500, 503])
    elif mode == "timeout":
        fields["method"] = rng.choice(["PUT", "GET", "*"])
        fields["apply"] = rng.random() < 0.5
        fields["seconds"] = round(read_timeout + TIMEOUT_MARGIN, 3)
        fields["count"] = rng.choice([1, 2])  # each hit costs the client a read timeout
    else:  # latency
        fields["seconds"] = round(rng.uniform(0.02, min(0.4, read_timeout / 2)), 3)
    return parse(fields)


class S3Faults:
    """``s3``: stands for S3 and the network in front of it misbehaving — a
    5xx or SlowDown before the request is applied, a 5xx or a reset
    connection after it was applied, an answer that never comes before the
    client's read timeout (the request applied or not), added latency, and
    409 conflicts on conditional writes.

    It never does what a real S3 could not: an error after applying is
    always a 5xx (never a 4xx that a client may read as "not applied"), a
    timeout either applied or did not and says which in its event, a dropped
    or refused request is never applied later, and it never changes or
    deletes an object behind the client's back. It never kills or pauses a
    worker, never touches local files, and never stops the moto server
    (whose memory is the store)."""

    name = "s3"

    def start(self, ctx: RunContext) -> None:
        from nemesis.s3.control import RuleControl

        s3 = getattr(ctx, "s3", None)
        if not s3:
            raise RuntimeError("the s3 nemesis needs a run on S3 (--blob s3): there is no moto server to drive")
        self.ctx = ctx
        self.bucket = s3["bucket"]
        self.read_timeout = float(s3.get("read_timeout", DEFAULT_READ_TIMEOUT))
        self.user_rules = [parse(r) for r in s3.get("rules", [])]
        self.control = RuleControl(s3["endpoint_url"])
        self.control.clear()
        self._ids: set[int] = set()
        self._healed: dict[int, dict[str, Any]] = {}

    def rule_for(self, fault: Fault) -> Rule:
        """The rule ``fault`` installs: one of the user's rules, or one from
        the catalogue, drawn from the fault's seed; scoped to the run's bucket."""
        rng = fault.rng()
        if self.user_rules:
            j = rng.choice(self.user_rules).to_json()
        else:
            j = catalogue_rule(rng, self.read_timeout).to_json()
        j["bucket"] = self.bucket
        j["seed"] = fault.seed
        return parse(j)

    def invoke(self, fault: Fault) -> dict[str, Any]:
        rule = self.rule_for(fault)
        added = self.control.add(rule)
        self._ids |= {r["id"] for r in added}
        name = " ".join(x for x in (rule.mode, rule.method if rule.method != "*" else "", rule.key or "") if x)
        return {"rules": added, "applies": rule.applies, "name": name}  # name: the report's label

    def recover(self, fault: Fault) -> list[tuple[str, dict[str, Any]]]:
        ids, self._ids = sorted(self._ids), set()
        return [("end", {"nemesis": self.name, "ids": ids})]

    def act(self, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
        """The controller's call at the end of a fault: remove its rules."""
        ids = value.get("ids") or []
        cleared = self.control.clear(ids) if ids else []
        cleared += [self._healed.pop(i) for i in ids if i in self._healed]
        if not cleared:
            return None
        return {"rules": [], "cleared": cleared}

    def heal(self) -> None:
        """Remove every rule now (the pending ``end`` still reports them)."""
        for r in self.control.clear():
            self._healed[r["id"]] = r
