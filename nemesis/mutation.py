"""Mutation testing of the harness: does it catch planted bugs?

A *mutant* is a Python file that monkeypatches one bug into the engine; the
worker runs it before persist starts (``persist-nemesis run --mutant``).
The zoo is ``mutants/*.py`` at the top of the repository. Each file starts
with a one-line docstring (what it breaks; which fault exposes it) and may
carry a hint, read without importing the file (importing it would patch this
process)::

    EXPOSED_BY = {"workload": "append", "nemesis": "kill,lose-unsynced", "blob": "file",
                  "time_limit": 5, "concurrency": 4, "s3_faults": [...], "seeds": [1, 2], "fs": "fuse"}

every key optional (``fs``: the disk fault model, ``--fs``; default auto). :func:`hunt` runs seeded runs against one mutant until
one of them is *caught* -- its verdict is invalid (``valid`` is false; for a
run with media corruption that is whatever the checkers found wrong beyond a
refusal, see :mod:`nemesis.judge`) *and the mutant's patched code ran in
that run* -- or the mutant's budget of seconds is spent.

**Order of tries** (:func:`trials`):

- *with a hint* (and not ``no_hints``): the hinted configuration with its
  seeds (default 1, 2, 3), then rounds of :data:`HINT_WEIGHT` runs of the
  hinted configuration with further seeds and one run of the next
  configuration of :data:`WIDEN` (round-robin, each with its own seeds 1,
  2, ...): a hint that names a fault which exposes the bug only now and then
  still gets most of the budget;
- *without a hint* (``--no-hints``, or a file with no ``EXPOSED_BY``): rounds
  over every configuration of :data:`SPREAD` (every workload, every nemesis,
  file and S3 blobs) in order, each configuration once per round, so every
  configuration gets a run before any gets a second. A run's seed is
  :func:`spread_seed` of (mutant, configuration, round): different for every
  configuration and round, the same for the same mutant every time.

A run is never started once the budget is spent; one started just before may
finish past it, and its time counts. Every run uses the command line's
defaults for what the command line cannot set, so the ``command`` of a catch
reproduces it.

**Attribution.** Every run records (``results.json`` ``coverage``, see
:mod:`nemesis.coverage`) which engine functions the mutant replaced
(``patched``) and how often each was called (``patched_ran``). An invalid
run in which none of them was called did not catch the planted bug: it is a
*catch not attributed* (``unattributed`` in the result, printed by the
``mutants`` command), and since the engine there was the correct one it is
possibly a real engine bug; the hunt goes on. A run without coverage, or a
mutant whose replacements cannot be seen (none of its functions ended up in
a persist module or class), counts as before (``attributed`` is None).

**Controls** (``control``): after a catch, the catching configuration is run
on the correct engine (no mutant) with the catching seed and
:data:`CONTROL_SEEDS` - 1 more; ``control`` is ``valid`` only if every
control run is, and a catch whose control is not valid is flagged by the
``mutants`` command (the configuration fails without the bug too). Controls
do not count in ``seconds``.

Time to catch is wall time from the start of the hunt to the end of the
catching run (every run before it included). Unknown verdicts (a checker
gave up) and runs that stopped half-way are not catches. A configuration
that cannot run at all (exit 3: bad input, S3 unavailable, the mutant does
not import) is dropped from the hunt; if none is left the mutant's result
carries the error.

``python -m nemesis.mutation FILE --budget S --store DIR [--no-hints]
[--control]`` hunts one mutant and prints one JSON object a line on stdout:
``{"event": "run", ...}`` after each run, then ``{"event": "done",
"result": {...}}``. The ``mutants`` command runs one such process per
mutant, ``--jobs`` at a time.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from nemesis.errors import BadInput

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = os.path.join(REPO, "mutants")

#: what a run uses for keys the hint leaves out
DEFAULTS: dict[str, Any] = {"workload": "append", "nemesis": "kill,lose-unsynced", "blob": "file",
                            "time_limit": 6.0, "concurrency": 4, "s3_faults": [], "fs": "auto"}
#: configurations tried after the hint's seeds, round-robin
WIDEN: list[dict[str, Any]] = [
    {"workload": "append", "nemesis": "kill,lose-unsynced"},
    {"workload": "append", "nemesis": "failpoint"},
    {"workload": "rehydrate", "nemesis": "kill,lose-unsynced", "concurrency": 2},
    {"workload": "append", "nemesis": "corrupt", "time_limit": 4.0},
    {"workload": "upsert", "nemesis": "kill,lose-unsynced"},
    {"workload": "multi-writer", "nemesis": "kill,pause"},
    {"workload": "append", "nemesis": "s3,kill", "blob": "s3"},
    # the fault filesystem's own faults (dropped from a hunt where FUSE does not work: exit 3)
    {"workload": "append", "nemesis": "disk-error,lose-unsynced", "fs": "fuse"},
    {"workload": "upsert", "nemesis": "slow-disk,disk-error,kill", "fs": "fuse"},
]
#: every workload x nemesis x blob configuration a hunt without a hint spreads its budget over, round-robin.
#: Every workload under its crash faults first (most bugs of a crash-safety engine show there); then
#: corruption (append, upsert, rehydrate: a checksum bug shows in about half the corrupt runs of each),
#: failpoints (append, and rehydrate, whose steps commit often: a crash at a commit shows a blob deleted
#: too early), and the S3 blob with the catalogue of S3 faults (no fixed rules) for three workloads,
#: interleaved so that each kind comes early in a round; a second multi-writer run with pauses alone
#: (fencing bugs need a paused writer to wake after a takeover); last, the concurrency that widens
#: group commit (torn Wal tails). Measured: BENCHMARKS.md, Mutants without hints.
SPREAD: list[dict[str, Any]] = [
    {"workload": "append", "nemesis": "kill,lose-unsynced"},
    {"workload": "rehydrate", "nemesis": "kill,lose-unsynced", "concurrency": 2},
    {"workload": "upsert", "nemesis": "kill,lose-unsynced"},
    {"workload": "multi-writer", "nemesis": "kill,pause"},
    {"workload": "append", "nemesis": "corrupt", "time_limit": 3.0},
    {"workload": "append", "nemesis": "s3,kill", "blob": "s3", "time_limit": 8.0},
    {"workload": "append", "nemesis": "failpoint", "time_limit": 8.0},
    {"workload": "multi-writer", "nemesis": "pause"},
    {"workload": "upsert", "nemesis": "corrupt", "time_limit": 3.0},
    {"workload": "rehydrate", "nemesis": "s3", "blob": "s3", "concurrency": 2},
    {"workload": "rehydrate", "nemesis": "failpoint", "concurrency": 2},
    {"workload": "upsert", "nemesis": "s3,kill", "blob": "s3"},
    {"workload": "rehydrate", "nemesis": "corrupt", "time_limit": 3.0, "concurrency": 2},
    # the tracer's power loss cuts each file at any byte past its durable prefix: a torn record at the Wal's tail
    # every time (the fault filesystem tears whole writes, and only in some of its models)
    {"workload": "append", "nemesis": "lose-unsynced", "concurrency": 16, "fs": "tracer"},
    # the disk faults of the fault filesystem (a host without FUSE cannot run them: exit 3, dropped from the hunt)
    {"workload": "append", "nemesis": "disk-error", "time_limit": 8.0},
    {"workload": "upsert", "nemesis": "slow-disk,lose-unsynced"},
    {"workload": "append", "nemesis": "new-host,kill"},
    {"workload": "kv", "nemesis": "kill,lose-unsynced"},  # per-key linearizability over the upsert operator
]
HINT_KEYS = set(DEFAULTS) | {"seeds"}
#: control runs (on the correct engine) per catch: the catching seed and this many - 1 more
CONTROL_SEEDS = 3
#: runs of the hinted configuration per run of a wider one, after the hint's seeds
HINT_WEIGHT = 2


class MutantError(BadInput):
    """A mutant file that cannot be used; the message says what to fix."""


@dataclass
class Mutant:
    name: str  # the file's stem
    path: str  # absolute
    line: str  # the docstring's first line
    hint: dict[str, Any] = field(default_factory=dict)


def zoo_files(zoo: str = ZOO) -> list[str]:
    """Every mutant file of the zoo, sorted."""
    return sorted(p for p in glob.glob(os.path.join(zoo, "*.py")) if not os.path.basename(p).startswith("_"))


def load(path: str) -> Mutant:
    """Read a mutant file without running it: name, docstring line, hint."""
    path = os.path.abspath(path)
    if not path.endswith(".py"):
        raise MutantError(f"{path}: a mutant is a Python file ending in .py")
    if not os.path.isfile(path):
        raise MutantError(f"{path}: no such file (the zoo is {ZOO})")
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (SyntaxError, UnicodeDecodeError, ValueError) as e:
        raise MutantError(f"{path} does not parse: {e}") from None
    doc = ast.get_docstring(tree) or ""
    hint: dict[str, Any] = {}
    hints = [n for n in tree.body
             if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXPOSED_BY" for t in n.targets)]
    if len(hints) > 1:
        raise MutantError(f"{path}: EXPOSED_BY is assigned {len(hints)} times (lines "
                          f"{', '.join(str(n.lineno) for n in hints)}); keep one")
    if hints:
        try:
            hint = ast.literal_eval(hints[0].value)
        except ValueError:
            raise MutantError(f"{path}: EXPOSED_BY must be a literal dict") from None
        if not isinstance(hint, dict) or set(hint) - HINT_KEYS:
            raise MutantError(f"{path}: EXPOSED_BY must be a dict with keys among {sorted(HINT_KEYS)}, got {hint!r}")
    name = os.path.splitext(os.path.basename(path))[0]
    return Mutant(name, path, doc.strip().splitlines()[0] if doc.strip() else "", hint)


def config_of(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with every key filled in (the run's configuration, sans seed)."""
    out = {**DEFAULTS, **{k: v for k, v in cfg.items() if k != "seeds"}}
    out["time_limit"] = float(out["time_limit"])
    out["s3_faults"] = list(out["s3_faults"])
    return out


def describe(cfg: dict[str, Any]) -> str:
    """A short text of a configuration: ``append kill,lose-unsynced file 6s``."""
    text = f"{cfg['workload']} {cfg['nemesis']} {cfg['blob']} {cfg['time_limit']:g}s"
    text += f" c{cfg['concurrency']}" if cfg["concurrency"] != DEFAULTS["concurrency"] else ""
    return text + (f" fs={cfg['fs']}" if cfg.get("fs", "auto") != "auto" else "")


def spread_seed(name: str, cfg: dict[str, Any], rnd: int) -> int:
    """The seed of round ``rnd`` of configuration ``cfg`` in the hunt of mutant ``name``:
    a hash of all three, fixed for a given mutant. Seeds of one hunt never repeat:
    the hash picks a block of :data:`SEED_BLOCK` seeds per (mutant, configuration)
    among :data:`SEED_BLOCKS`, the configuration's index in :data:`SPREAD` makes the
    blocks of one mutant distinct, and the round indexes into the block."""
    keys = [json.dumps(config_of(c), sort_keys=True) for c in SPREAD]
    key = json.dumps(cfg, sort_keys=True)
    idx = keys.index(key) if key in keys else len(keys)
    base = zlib.crc32(f"{name}|{key}".encode()) % SEED_BLOCKS
    block = (base // (len(keys) + 1)) * (len(keys) + 1) + idx  # same residue class per configuration: distinct blocks
    return 1 + block * SEED_BLOCK + rnd % SEED_BLOCK


#: seeds per (mutant, configuration) block, and how many blocks the hash picks among
SEED_BLOCK, SEED_BLOCKS = 1000, 100_000


def spread(name: str) -> Iterator[tuple[dict[str, Any], int]]:
    """(configuration, seed): round after round over :data:`SPREAD`, each configuration once a round."""
    configs = [config_of(c) for c in SPREAD]
    rnd = 0
    while True:
        for cfg in configs:
            yield cfg, spread_seed(name, cfg, rnd)
        rnd += 1


def trials(hint: dict[str, Any], name: str = "", no_hints: bool = False) -> Iterator[tuple[dict[str, Any], int]]:
    """(configuration, seed) in the order a hunt tries them (see the module docstring)."""
    if no_hints or not hint:
        yield from spread(name)
        return
    first = config_of(hint)
    seeds = list(hint.get("seeds") or (1, 2, 3))
    for s in seeds:
        yield first, s
    widen = [c for c in (config_of(w) for w in WIDEN) if c != first]
    hint_seed = max(seeds) + 1
    r = 0
    while True:
        for i in range(HINT_WEIGHT):
            yield first, hint_seed + HINT_WEIGHT * r + i
        if widen:
            yield widen[r % len(widen)], 1 + r // len(widen)
        r += 1


def attribution(results: dict[str, Any] | None) -> tuple[bool | None, dict[str, int]]:
    """Whether the mutant's patched code ran in a run (None: cannot tell -- no
    coverage, or no patched function seen), and the calls of each."""
    cov = (results or {}).get("coverage") or {}
    ran = dict(cov.get("patched_ran") or {})
    if not cov.get("patched"):
        return None, ran
    return sum(ran.values()) > 0, ran


def _checkers(results: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """Names of the checkers that found the run invalid, and the first anomaly's message."""
    bad = [c for c in (results or {}).get("checkers", []) if c.get("valid") is False]
    if not bad:
        return None, None
    detail = next((a.get("message") for c in bad for a in c.get("anomalies", [])), None) or bad[0].get("reason")
    return ",".join(c["checker"] for c in bad), detail


def run_trial(mutant: Mutant | None, cfg: dict[str, Any], seed: int, store: str) -> dict[str, Any]:
    """One run of ``mutant`` (None: the correct engine) under ``cfg`` and ``seed``;
    returns run_one's dict (``code``, ``verdict``, ``run_dir``, ``command``, ``results``, ``error``)."""
    from nemesis.runner import ConfigError, build_config, run_one

    try:
        rc = build_config(cfg["workload"], cfg["nemesis"], seed, cfg["time_limit"], cfg["concurrency"], 0,
                          mutant.path if mutant else None, False, blob=cfg["blob"], s3_faults=cfg["s3_faults"],
                          fs=cfg.get("fs", "auto"))
    except ConfigError as e:
        return {"code": 3, "verdict": "error", "run_dir": None, "command": None, "results": None,
                "error": str(e)}
    return run_one(rc, store, quiet=True, reports=False)


def _report(run_dir: str | None, store: str) -> None:
    """The timeline of ``run_dir`` (when given) and ``store``'s index; hunts
    run without reports (they cost a catch time), so only the runs someone
    will open get them. Never raises (nemesis.report logs what failed)."""
    if not os.path.isdir(store):
        return
    try:
        from nemesis.report import update_reports, write_index
    except ImportError:
        return
    if run_dir and os.path.isdir(run_dir):
        update_reports(run_dir, store, plots="lazy")
    else:
        try:
            write_index(store)
        except Exception:  # noqa: BLE001 - an index is never worth failing a hunt
            pass


def hunt(mutant: Mutant, budget: float, store: str,
         on_run: Callable[[dict[str, Any]], None] | None = None,
         runner: Callable[..., dict[str, Any]] = run_trial, control: bool = False,
         no_hints: bool = False) -> dict[str, Any]:
    """Run ``mutant`` until caught or ``budget`` seconds are spent; returns its result entry.

    ``no_hints``: ignore the file's hint (spread over :data:`SPREAD`).
    ``control``: after a catch, run the catching configuration on the correct
    engine (no mutant) with :data:`CONTROL_SEEDS` seeds, the catching one
    first; ``control`` is ``"valid"`` when all are (what a sound catch needs;
    timing differs between the runs, so it is evidence, not proof), else the
    worst verdict; ``controls`` lists each. They do not count in ``seconds``.
    Invalid runs in which the patched code never ran go to ``unattributed``
    (see the module docstring) and the hunt goes on."""
    began = time.monotonic()
    res: dict[str, Any] = {"name": mutant.name, "file": mutant.path, "line": mutant.line, "caught": False,
                           "seconds": None, "seed": None, "checker": None, "command": None, "config": None,
                           "run_dir": None, "detail": None, "runs": 0, "error": None, "attributed": None,
                           "patched_ran": None, "unattributed": [],
                           "hints": bool(mutant.hint) and not no_hints}
    dropped: set[str] = set()
    errors: list[str] = []
    pool = ([config_of(c) for c in SPREAD] if no_hints or not mutant.hint
            else [config_of(mutant.hint)] + [config_of(w) for w in WIDEN])
    distinct = len({json.dumps(c, sort_keys=True) for c in pool})
    for cfg, seed in trials(mutant.hint, mutant.name, no_hints):
        if time.monotonic() - began >= budget or len(dropped) >= distinct:
            break
        key = json.dumps(cfg, sort_keys=True)
        if key in dropped:
            continue
        t0 = time.monotonic()
        out = runner(mutant, cfg, seed, store)
        if out.get("code") == 130:  # the run was interrupted: so is the hunt
            raise KeyboardInterrupt
        res["runs"] += 1
        event = {"event": "run", "name": mutant.name, "n": res["runs"], "config": describe(cfg), "seed": seed,
                 "verdict": out.get("verdict"), "code": out.get("code"), "run_seconds": round(time.monotonic() - t0, 2),
                 "elapsed": round(time.monotonic() - began, 2), "run_dir": out.get("run_dir")}
        if out.get("code") == 3:
            dropped.add(key)
            errors.append(f"{describe(cfg)}: {out.get('error') or 'could not run'}")
            event["error"] = errors[-1]
        invalid = out.get("verdict") == "invalid" or (out.get("results") or {}).get("valid") is False
        attributed, ran = attribution(out.get("results"))
        if invalid and attributed is False:
            checker, detail = _checkers(out.get("results"))
            res["unattributed"].append({"config": describe(cfg), "seed": seed, "run_dir": out.get("run_dir"),
                                        "command": out.get("command"), "checker": checker, "detail": detail,
                                        "patched_ran": ran})
            event["unattributed"] = True
        if invalid:  # a run someone will look at: its timeline, and the mutant store's index lists it
            _report(out.get("run_dir"), store)
        if on_run is not None:
            on_run(event)
        if invalid and attributed is not False:
            checker, detail = _checkers(out.get("results"))
            res.update(caught=True, seconds=round(time.monotonic() - began, 2), seed=seed, checker=checker,
                       command=out.get("command"), config=describe(cfg), run_dir=out.get("run_dir"), detail=detail,
                       attributed=attributed, patched_ran=ran)
            if out.get("run_dir"):  # <store>/caught: the catch, whatever ran after it (controls, a shrink)
                from nemesis.store import point_link
                point_link(store, "caught", out["run_dir"])
            if control:
                seeds = [seed] + [spread_seed(mutant.name + "|control", cfg, k) for k in range(CONTROL_SEEDS - 1)]
                res["controls"] = []
                for s in seeds:
                    ctl = runner(None, cfg, s, os.path.join(store, "control"))
                    if ctl.get("code") == 130:
                        raise KeyboardInterrupt
                    res["controls"].append({"seed": s, "verdict": ctl.get("verdict"), "run_dir": ctl.get("run_dir"),
                                            "command": ctl.get("command")})
                verdicts = [c["verdict"] for c in res["controls"]]
                res["control"] = next((v for v in ("invalid", "unknown", "error") if v in verdicts), "valid")
                res["control_run_dir"] = res["controls"][0]["run_dir"]
            return res
    res["seconds"] = round(time.monotonic() - began, 2)
    _report(None, store)  # the index of every run the hunt made
    if errors:
        res["error"] = "; ".join(dict.fromkeys(errors))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nemesis.mutation", description="hunt one mutant (JSON lines out)")
    ap.add_argument("file")
    ap.add_argument("--budget", type=float, required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--control", action="store_true",
                    help=f"after a catch, run its config without the mutant ({CONTROL_SEEDS} seeds)")
    ap.add_argument("--no-hints", action="store_true", help="ignore EXPOSED_BY: spread over every configuration")
    args = ap.parse_args(argv)

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def terminate(signum, frame):  # the mutants command stops its hunts with SIGTERM: end the run cleanly
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        m = load(args.file)
    except MutantError as e:
        emit({"event": "done", "result": {"name": os.path.basename(args.file), "caught": False, "error": str(e)}})
        return 3
    try:
        res = hunt(m, args.budget, args.store, on_run=emit, control=args.control, no_hints=args.no_hints)
    except KeyboardInterrupt:
        return 130
    emit({"event": "done", "result": res})
    return 0 if res["caught"] else 1


if __name__ == "__main__":
    sys.exit(main())
