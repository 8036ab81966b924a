"""Shrinking a failing run: delta debugging over its schedule and its generators.

Given a run judged invalid, find a smaller configuration that still fails:
fewer operations, fewer client processes, fewer faults. Every candidate is a
real run (real worker processes, real faults) of the same workload, seed,
nemeses (less those left with no fault to inject) and mutant; what changes is only what the seed already fixed:

* **faults**: a subset of the faults the original run injected, each replayed
  at the operation count at which it hit in the original (read back from its
  history: the client invokes before the fault's ``invoke``), through the
  controller's *fault gate* (``RunConfig.fault_ops``: no operation is
  dispatched past that count until the fault is in);
* **processes**: a subset of the client processes (``RunConfig.processes``),
  each keeping its worker and its seeded generator, so it issues the same
  operations as in the original;
* **operations**: the operation limit (``op_limit``), and the fault counts
  themselves, moved earlier ("compressed").

A candidate *still fails* when it is judged invalid by at least one checker
that found the original invalid (the same checker family: a different bug is
not progress). Crash tests are not perfectly deterministic (threads, the
page cache, restarts), so a candidate that passes is run again, up to
``tries`` times, before it is rejected; the first invalid run accepts it.

The passes, each keeping the smallest failing candidate so far (``Plan``):

1. *prefix*: the first k faults only (k = 1, 2, 4, ... then bisection),
   the run stopped ``tail`` operations after the last of them;
2. *ddmin* (Zeller's delta debugging) over those faults: drop halves,
   quarters, ... single faults, keeping any subset or complement that fails;
3. *compress*: divide every fault's operation count by 8, then by 2, while
   the run still fails;
4. *tail*: bisect the operations after the last fault (down to 1);
5. *ddmin* over the client processes;
6. passes 3, 4 and 2 again while they gain; with one fault left, no fault at all;
7. *confirm*: the smallest failing plan is run ``confirm`` (2) more times
   and must fail every time; if it does not (it failed by luck), the next
   smallest is tried (3 plans at most). With ``goal_ops``, the first plan
   that small is confirmed before the search stops, and dropped if it is not.

Operations come first (the cheapest candidates are the short ones, and
fewer processes make each operation slower). Every pass stops when the
budget (seconds) is spent, or (``goal_ops``) as soon as a failing run has at
most that many operations; the best failing run so far is the result. Known
limits: the search assumes the failure is monotone in each dimension (as
ddmin does); a fault that only fails because of wall-clock timing (a
background drain running meanwhile) may not survive compression.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from nemesis.faults.base import Fault
from nemesis.regressions import failing_checkers
from nemesis.errors import Stopped


class ShrinkError(Stopped):
    """Shrinking cannot start or go on (not a failing run, a run that cannot
    be made); the message says why."""


class BudgetSpent(Exception):
    pass


class GoalReached(Exception):
    pass


@dataclass(frozen=True)
class Plan:
    """One candidate: faults replayed at operation counts, the client
    processes that run, and the operation limit."""

    faults: tuple[Fault, ...]
    fault_ops: tuple[int, ...]
    processes: tuple[int, ...]
    op_limit: int

    @property
    def tail(self) -> int:
        return self.op_limit - (self.fault_ops[-1] if self.fault_ops else 0)

    def describe(self) -> str:
        at = ",".join(str(n) for n in self.fault_ops)
        procs = ",".join(str(p) for p in self.processes)
        return (f"{len(self.faults)} fault(s){' at op ' + at if at else ''}, "
                f"process(es) {procs}, op limit {self.op_limit}")


@dataclass
class Trial:
    n: int
    plan: Plan
    failed: bool
    runs: list[dict[str, Any]]  # {"run_dir", "verdict", "failing", "ops", "seconds"}
    confirm: bool = False  # a confirmation of an accepted plan (every run must fail), not a search step


@dataclass
class Outcome:
    original: dict[str, Any]  # {"run_dir", "ops", "processes", "faults", "failing"}
    best: Plan | None
    best_run: dict[str, Any] | None  # the run that failed with ``best``
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0
    budget_spent: bool = False
    #: "k/n": the best plan failed again in k of n confirmation runs (None: not confirmed: flaky)
    confirmed: str | None = None


def recorded_faults(run_dir: str) -> list[tuple[Fault, int]]:
    """The faults a run injected, each with the number of client operations
    invoked before it (read from ``history.jsonl``)."""
    ops = 0
    out: list[tuple[Fault, int]] = []
    with open(os.path.join(run_dir, "history.jsonl"), encoding="utf-8") as f:
        for line in f:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line
            if e.get("type") != "invoke":
                continue
            if e.get("process") != "nemesis":
                ops += 1
                continue
            v = e.get("value")
            if isinstance(v, dict) and {"at", "nemesis", "target", "duration", "seed"} <= set(v):
                out.append((Fault(float(v["at"]), v["nemesis"], int(v["target"]), float(v["duration"]),
                                  int(v["seed"])), ops))
    return out


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Shrinker:
    """Shrinks one failing run (see the module docstring). ``on_trial`` is
    called after every candidate with its :class:`Trial`."""

    def __init__(self, run_dir: str, store: str, budget: float = 120.0, tries: int = 2,
                 on_trial: Callable[[Trial], None] | None = None, time_limit: float | None = None,
                 goal_ops: int = 0, confirm: int = 2):
        from nemesis.regressions import config_from_dict

        self.run_dir = os.path.realpath(run_dir)
        cfg_path = os.path.join(self.run_dir, "config.json")
        res_path = os.path.join(self.run_dir, "results.json")
        if not os.path.isfile(cfg_path):
            raise ShrinkError(f"{run_dir} is not a run directory (no config.json); pass one under the store, "
                              "e.g. runs/latest")
        if not os.path.isfile(res_path):
            raise ShrinkError(f"{run_dir} has no results.json (the run did not finish): nothing to shrink")
        try:
            self.raw = read_json(cfg_path)
            self.results = read_json(res_path)
        except (OSError, ValueError) as e:
            raise ShrinkError(f"{run_dir}: config.json or results.json is unreadable ({e})") from None
        if not os.path.isfile(os.path.join(self.run_dir, "history.jsonl")):
            raise ShrinkError(f"{run_dir} has no history.jsonl: the faults it injected cannot be read back")
        if self.results.get("valid") is not False:
            word = {True: "valid", "unknown": "unknown"}.get(self.results.get("valid"), repr(self.results.get("valid")))
            raise ShrinkError(f"{run_dir} was judged {word}, not invalid: only a failing run can be shrunk (a run "
                              "that `persist-nemesis mutants` or a campaign reported INVALID)")
        try:
            self.base = config_from_dict(self.raw)
        except Exception as e:
            raise ShrinkError(f"{cfg_path} cannot be run again: {getattr(e, 'message', None) or e}") from None
        self.base.keep_data = False
        self.store = store
        self.budget = budget
        self.goal_ops = goal_ops  # > 0: stop at the first failing run with at most this many operations
        self.tries = max(1, tries)
        self.on_trial = on_trial
        self.failing = failing_checkers(self.results)
        recorded = recorded_faults(self.run_dir)
        procs = tuple(self.base.processes if self.base.processes is not None else range(self.base.concurrency))
        ops = int(self.results.get("ops") or 0)
        self.full = Plan(tuple(f for f, _ in recorded), tuple(n for _, n in recorded), procs,
                         max(ops, (recorded[-1][1] + 1) if recorded else 1))
        # candidates stop at their op limit; the time limit only bounds a stuck one
        self.time_limit = time_limit or max(30.0, 2 * self.base.time_limit)
        self.original = {"run_dir": self.run_dir, "ops": ops, "processes": len(procs), "faults": len(recorded),
                         "failing": sorted(self.failing), "elapsed": self.results.get("elapsed")}
        self._seen: dict[Plan, bool] = {}
        self._t0 = 0.0
        self.trials: list[Trial] = []
        self.best: Plan | None = None
        self.best_run: dict[str, Any] | None = None
        self.confirm = confirm  # runs that must all fail again before a plan is the result
        self.accepted: list[tuple[Plan, dict[str, Any]]] = []  # every failing candidate and its failing run
        self.confirmed: str | None = None

    # --- running candidates ----------------------------------------------

    def config(self, plan: Plan):
        all_procs = plan.processes == tuple(range(self.base.concurrency))
        cfg = replace(self.base, faults=list(plan.faults), fault_ops=list(plan.fault_ops),
                      processes=None if all_procs else list(plan.processes), op_limit=plan.op_limit,
                      time_limit=self.time_limit)
        return replace(cfg, nemeses=cfg.only_nemeses_used())  # e.g. --nemesis kill once no power loss is left

    def fails(self, plan: Plan) -> bool:
        """Run ``plan`` (up to ``tries`` times); True when a run fails like the original."""
        from nemesis.runner import run_one

        if plan in self._seen:
            return self._seen[plan]
        runs: list[dict[str, Any]] = []
        failed = False
        for _ in range(self.tries):
            if time.monotonic() - self._t0 > self.budget:
                if runs:
                    break
                raise BudgetSpent
            t = time.monotonic()
            r = run_one(self.config(plan), self.store, quiet=True, reports=False)
            if r["verdict"] == "error":
                raise ShrinkError(f"a candidate could not be run: {r.get('error')}")
            failing = sorted(failing_checkers(r.get("results")))
            run = {"run_dir": r.get("run_dir"), "verdict": r["verdict"], "failing": failing, "ops": r.get("ops"),
                   "seconds": round(time.monotonic() - t, 2)}
            runs.append(run)
            if self._failed_like_original(run):
                failed = True
                self.accepted.append((plan, run))
                self._pick_best()
                break
        self._seen[plan] = failed
        self._record(Trial(len(self.trials) + 1, plan, failed, runs))
        if failed and self.goal_ops > 0 and (runs[-1].get("ops") or 0) <= self.goal_ops:
            if self._confirmed(plan):
                raise GoalReached
            self._reject(plan)  # a fluke: the search goes on without it
            return False
        return failed

    def _failed_like_original(self, run: dict[str, Any]) -> bool:
        return run["verdict"] == "invalid" and (not self.failing or bool(self.failing & set(run["failing"])))

    def _record(self, trial: Trial) -> None:
        self.trials.append(trial)
        if self.on_trial:
            self.on_trial(trial)

    @staticmethod
    def _key(item: tuple[Plan, dict[str, Any]]) -> tuple[int, int, int]:
        p, r = item
        return (r.get("ops") or p.op_limit, len(p.faults), len(p.processes))

    def _pick_best(self) -> None:
        if self.accepted:
            self.best, self.best_run = min(reversed(self.accepted), key=self._key)  # ties: the latest
        else:
            self.best, self.best_run = None, None

    def _reject(self, plan: Plan) -> None:
        self._seen[plan] = False
        self.accepted = [a for a in self.accepted if a[0] != plan]
        self._pick_best()

    def _confirmed(self, plan: Plan) -> bool:
        """Run an accepted plan ``confirm`` more times (past the budget: at
        most a few plans get this); True when every run fails like the
        original. Keeps a shrunk run that failed only by luck out of the
        regression seeds."""
        from nemesis.runner import run_one

        if self.confirm < 1:
            self.confirmed = "0/0"
            return True
        runs = []
        for _ in range(self.confirm):
            t = time.monotonic()
            r = run_one(self.config(plan), self.store, quiet=True, reports=False)
            if r["verdict"] == "error":
                raise ShrinkError(f"a candidate could not be run: {r.get('error')}")
            runs.append({"run_dir": r.get("run_dir"), "verdict": r["verdict"], "ops": r.get("ops"),
                         "failing": sorted(failing_checkers(r.get("results"))),
                         "seconds": round(time.monotonic() - t, 2)})
            if not self._failed_like_original(runs[-1]):
                break
        k = sum(self._failed_like_original(r) for r in runs)
        ok = k == self.confirm
        self._record(Trial(len(self.trials) + 1, plan, ok, runs, confirm=True))
        if ok:
            self.confirmed = f"{k + 1}/{self.confirm + 1}"
        return ok

    def confirm_best(self, fallbacks: int = 3) -> None:
        """The smallest accepted plan that fails again every time (up to
        ``fallbacks`` plans tried, smallest first); if none does, the
        smallest stays the result and ``confirmed`` stays None."""
        for plan, run in sorted(self.accepted, key=self._key)[:fallbacks]:
            if self._confirmed(plan):
                self.best, self.best_run = plan, run
                return

    # --- the passes -------------------------------------------------------

    def _with_faults(self, plan: Plan, idx: list[int], tail: int) -> Plan:
        faults = tuple(plan.faults[i] for i in idx)
        ops = tuple(plan.fault_ops[i] for i in idx)
        return Plan(faults, ops, plan.processes, (ops[-1] if ops else 0) + tail)

    def _tail0(self) -> int:
        # operations after the last kept fault in the first passes: enough for
        # a restart and a few writes, small against the run
        return max(20, min(200, self.full.op_limit // 20))

    def prefix(self, plan: Plan) -> Plan:
        n, tail = len(plan.faults), self._tail0()
        if n == 0:
            return plan
        ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k < n] + [n]
        lo = 0  # largest k known not to fail (no fault at all is tried last, in run())
        for k in ks:
            cand = self._with_faults(plan, list(range(k)), tail)
            if k == n and plan.tail < tail:
                cand = plan
            if self.fails(cand):
                if k == 1:
                    return cand
                hi, best = k, cand
                while hi - lo > 1:  # bisect between the last k that passed and this one
                    mid = (lo + hi) // 2
                    c = self._with_faults(plan, list(range(mid)), tail)
                    if self.fails(c):
                        hi, best = mid, c
                    else:
                        lo = mid
                return best
            lo = k
        return plan

    def ddmin_faults(self, plan: Plan) -> Plan:
        tail = plan.tail

        def test(idx: list[int]) -> bool:
            return self.fails(self._with_faults(plan, idx, tail))

        idx = ddmin(list(range(len(plan.faults))), test)
        return self._with_faults(plan, idx, tail)

    def ddmin_processes(self, plan: Plan) -> Plan:
        def mk(ps: list[int]) -> Plan:
            return replace(plan, processes=tuple(ps))

        ps = ddmin(list(plan.processes), lambda ps: self.fails(mk(ps)))
        return mk(ps)

    def compress(self, plan: Plan) -> Plan:
        """Move every fault earlier: operation counts divided by 8 while that
        fails, then by 2 while that fails (most failures need few operations
        before the fault, so the big step usually pays)."""
        for factor in (8, 2):
            while plan.fault_ops and plan.fault_ops[-1] > 1:
                ops = tuple(max(1, n // factor) for n in plan.fault_ops)
                cand = Plan(plan.faults, ops, plan.processes, ops[-1] + plan.tail)
                if not self.fails(cand):
                    break
                plan = cand
        return plan

    def shorten_tail(self, plan: Plan, steps: int = 4) -> Plan:
        base = plan.fault_ops[-1] if plan.fault_ops else 0
        lo, hi = 0, plan.tail  # tail lo passes (or untried), hi fails
        for _ in range(steps):
            if hi - lo <= 1:
                break
            mid = max(1, (lo + hi) // 2)
            cand = replace(plan, op_limit=base + mid)
            if self.fails(cand):
                hi, plan = mid, cand
            else:
                lo = mid
        return plan

    def run(self) -> Outcome:
        self._t0 = time.monotonic()
        spent = False
        plan = self.full
        try:
            self.prefix(plan)
            if self.best is None:  # even the whole schedule did not fail again
                self.fails(self.full)
            if self.best is not None:
                self.ddmin_faults(self.best)
                self.compress(self.best)
                self.shorten_tail(self.best)
                self.ddmin_processes(self.best)
                for _ in range(3):
                    before = self.best
                    self.compress(self.best)
                    self.shorten_tail(self.best)
                    self.ddmin_faults(self.best)  # moved together, faults may have become redundant
                    if self.best == before:
                        break
                if len(self.best.faults) == 1:  # ddmin never tries no fault at all
                    self.fails(Plan((), (), self.best.processes, self.best.op_limit))
            self.confirm_best()
        except BudgetSpent:
            spent = True
            self.confirm_best()
        except GoalReached:
            pass
        return Outcome(self.original, self.best, self.best_run, self.trials, time.monotonic() - self._t0, spent,
                       self.confirmed)


def ddmin(items: list[Any], test: Callable[[list[Any]], bool]) -> list[Any]:
    """Zeller's ddmin: a 1-minimal sublist of ``items`` for which ``test``
    (True = still fails) holds, assuming it holds for ``items``. The empty
    list is never tested (the prefix pass does that)."""
    n = 2
    while len(items) >= 2:
        size = len(items)
        chunks = [items[i * size // n:(i + 1) * size // n] for i in range(n)]
        chunks = [c for c in chunks if c]
        reduced = False
        for c in chunks:
            if test(c):
                items, n, reduced = c, 2, True
                break
        if not reduced and n > 2:
            for i in range(len(chunks)):
                comp = [x for j, c in enumerate(chunks) if j != i for x in c]
                if test(comp):
                    items, n, reduced = comp, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= size:
                break
            n = min(size, 2 * n)
    return items


# --- what a shrink leaves behind (nemesis.api.shrink, persist-nemesis shrink) ---

def default_store(run_dir: str) -> str:
    """Where a shrink's candidate runs go by default: the store the run
    directory is in now (``<store>/<workload>/<run>``), not the one recorded:
    a run copied from another machine shrinks here."""
    return os.path.dirname(os.path.dirname(os.path.realpath(run_dir)))


def regression_entry(shrinker: Shrinker, outcome: Outcome) -> dict[str, Any]:
    """The regression case for a shrink outcome (see :mod:`nemesis.regressions`)."""
    import datetime as _dt

    from nemesis.regressions import repo_path
    from nemesis.runner import fs_of

    cfg = shrinker.config(outcome.best)
    mutant = repo_path(cfg.mutant)
    stem = os.path.splitext(os.path.basename(mutant))[0] if mutant else "engine"
    o, b = outcome.original, outcome.best_run
    overrides = {"faults": [f.to_json() for f in cfg.faults], "fault_ops": list(cfg.fault_ops)}
    if cfg.processes is not None:
        overrides["processes"] = list(cfg.processes)
    entry = {
        "name": f"{stem}-{cfg.workload}-{'-'.join(cfg.nemeses)}-seed{cfg.seed}",
        "workload": cfg.workload, "nemesis": list(cfg.nemeses), "seed": cfg.seed, "time_limit": cfg.time_limit,
        "concurrency": cfg.concurrency, "op_limit": cfg.op_limit, "mutant": mutant, "blob": cfg.blob,
        "s3_faults": list(cfg.s3_faults), "interval": list(cfg.interval), "overrides": overrides,
        "expect": "invalid", "checkers": b["failing"], "tries": 5,
        "note": (f"shrunk from {o['run_dir']}: {o['ops']} -> {b['ops']} operations, {o['processes']} -> "
                 f"{len(outcome.best.processes)} processes, {o['faults']} -> {len(outcome.best.faults)} faults; "
                 f"failed in {outcome.confirmed or 'not all'} runs when shrunk"),
        "from_run": b["run_dir"], "added": _dt.date.today().isoformat(),
        # the fault model the candidates ran on (a shrunk power loss on the fault filesystem is another test
        # on the tracer), and the system under test where it is not the reference engine
        "fs": fs_of(cfg.to_json()),
    }
    if cfg.system != "persist":
        entry["system"] = cfg.system
    k, _, n = str(outcome.confirmed or "").partition("/")
    if k.isdigit() and n.isdigit() and 0 < int(k) <= int(n):  # how often the shrunk plan failed when confirmed
        entry["rate"] = f"{k}/{n}"
    return entry


def write_lineage(run_dir: str, out: Outcome) -> None:
    """``shrink.json`` in the shrunk run: where it came from and every candidate tried."""
    from nemesis.store import write_json

    write_json(os.path.join(run_dir, "shrink.json"), {
        "original": out.original, "seconds": round(out.seconds, 2), "budget_spent": out.budget_spent,
        "plan": {"faults": [f.to_json() for f in out.best.faults], "fault_ops": list(out.best.fault_ops),
                 "processes": list(out.best.processes), "op_limit": out.best.op_limit},
        "confirmed": out.confirmed,
        "trials": [{"n": t.n, "confirm": t.confirm, "faults": len(t.plan.faults), "fault_ops": list(t.plan.fault_ops),
                    "processes": list(t.plan.processes), "op_limit": t.plan.op_limit, "failed": t.failed,
                    "runs": t.runs} for t in out.trials]})


from nemesis.api import make_callable  # noqa: E402 - nemesis.shrink(run_dir, ...) is nemesis.api.shrink

make_callable(__name__, "shrink")
