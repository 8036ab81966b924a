"""Linearizability checker beside Porcupine (Go), measured in the same run.

    python bench/checker_linear.py [--repeat 3] [--data DIR] [--porcupine DIR]
                                   [--timeout S] [--baseline REV] [--starts N]

Porcupine is built here from the vendored source (``../shared/anchors/
porcupine``, see :mod:`bench.porcupine`): its own etcd and kv models and
parsers, driven by ``bench/porcupine_driver/main.go``. Both checkers check
the same files:

- every shared history (``../shared/data/jepsen-histories/expected.tsv``);
- a generated set in the shape of Porcupine's 50-client kv data
  (``tests/checker/kvgen.py``, written in Porcupine's kv format): uniform
  keys, hot keys (many concurrent appends, long reads), with and without
  violations, and hot keys with puts.

Each round runs Porcupine on every file (one process) and our checker on
every file (in process), alternating which goes first; ``--repeat`` rounds;
each figure is the median over the rounds. Times are CPU (user + system,
every thread: Porcupine checks partitions in parallel goroutines) and wall,
of the check alone and of parse + check. Porcupine gets ``--timeout``
seconds per file (then "unknown"), and so do we.

Then start-up: ``persist-nemesis check etcd_000.log`` from a cold process,
``--starts`` times (median wall and CPU), against the Go driver on the same
file, and against the tree at ``--baseline`` (a git revision, extracted with
``git archive``) if given.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import porcupine  # noqa: E402
from checker.formats import read_history  # noqa: E402
from checker.linear import check  # noqa: E402
from checker.models import get_model  # noqa: E402
from tests.checker.kvgen import kv_history  # noqa: E402

#: the generated set: name -> (kv_history arguments, expected verdict or None if unknown)
GENERATED = {
    "kv50-ok": (dict(seed=1), "true"),
    "kv50-bad": (dict(seed=1, bad=("5",)), "false"),
    "kv50-hot-ok": (dict(seed=1, hot=("0", "1", "2")), "true"),
    "kv50-hot-bad": (dict(seed=2, hot=("0", "1", "2"), bad=("7",)), "false"),
    "kv50-hot6bad": (dict(seed=1, hot=("0", "1", "2", "3"), bad=("4", "5", "6", "7", "8", "9")), "false"),
    "kv50-hotputs-bad": (dict(seed=1, hot=("0", "1", "2"), put_share=0.2, bad=("5",)), "false"),
}


def ours(path: Path, fmt: str, model: str, timeout: float) -> dict:
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    h = read_history(path, fmt)
    c1, w1 = time.process_time(), time.perf_counter()
    r = check(h, get_model(model), time_limit=timeout)
    c2, w2 = time.process_time(), time.perf_counter()
    return {"verdict": str(r.valid).lower(), "parse_cpu": c1 - c0, "parse_wall": w1 - w0, "check_cpu": c2 - c1, "check_wall": w2 - w1, "ops": len(h.ops)}


def cold(cmd: list[str], n: int, env: dict | None = None) -> tuple[float, float]:
    """Median wall and CPU of ``n`` runs of ``cmd`` as a fresh process."""
    walls, cpus = [], []
    for _ in range(n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env)
        walls.append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def cores(data: Path) -> None:
    """``check --explain`` on every non-linearizable shared history: ops,
    candidates, core size, oracle searches, time."""
    from checker.explain import explain

    print(f"{'file':22} {'ops':>4} {'cand.':>5} {'core':>4} {'searches':>8} {'ms':>7}")
    sizes = []
    for line in (data / "expected.tsv").read_text().splitlines()[1:]:
        name, fmt, model, lin = line.split("\t")
        if lin != "false":
            continue
        h = read_history(data / name, fmt)
        f = check(h, get_model(model)).failures[0]
        t = time.perf_counter()
        core, st = explain(f)
        sizes.append(len(core))
        print(f"{name:22} {len(h.ops):4} {st['candidates']:5} {len(core):4} {st['searches']:8} {(time.perf_counter() - t) * 1e3:7.1f}")
    print(f"{len(sizes)} files: core sizes {min(sizes)}-{max(sizes)}, median {statistics.median(sizes)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=str(REPO / ".." / "shared" / "data" / "jepsen-histories"))
    ap.add_argument("--porcupine", default=str(porcupine.ANCHOR))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per file for each checker")
    ap.add_argument("--baseline", default=None, help="git revision whose cold start to measure too")
    ap.add_argument("--starts", type=int, default=11, help="cold starts per command")
    ap.add_argument("--no-generated", action="store_true")
    ap.add_argument("--cores", action="store_true", help="only: the smallest failing core of every non-linearizable shared history")
    args = ap.parse_args()
    data = Path(args.data).resolve()
    if args.cores:
        cores(data)
        return
    tmp = Path(tempfile.mkdtemp(prefix="checker-linear-"))
    t_build = time.perf_counter()
    binary = porcupine.build(Path(args.porcupine), tmp / "go")
    print(f"built the Porcupine driver from {args.porcupine} in {time.perf_counter() - t_build:.1f}s")

    files: list[tuple[str, Path, str, str, str, str]] = []  # name, path, fmt, model, go kind, expected
    for line in (data / "expected.tsv").read_text().splitlines()[1:]:
        if not line.strip():
            continue
        name, fmt, model, lin = line.split("\t")
        files.append((name, data / name, fmt, model, "etcd" if name.startswith("etcd/") else "kv", lin))
    if not args.no_generated:
        for name, (kw, lin) in GENERATED.items():
            p = tmp / f"{name}.txt"
            p.write_text(kv_history(**kw))
            files.append((f"gen/{name}", p, "jepsen-edn", "kv", "kv", lin))

    got_ours: dict[str, list[dict]] = {f[0]: [] for f in files}
    got_go: dict[str, list[dict]] = {f[0]: [] for f in files}
    for rnd in range(args.repeat):
        def run_go() -> None:
            for f, row in zip(files, porcupine.run(binary, [(f[1], f[4]) for f in files], args.timeout)):
                got_go[f[0]].append(row)

        def run_ours() -> None:
            for name, path, fmt, model, _k, _l in files:
                got_ours[name].append(ours(path, fmt, model, args.timeout))

        for fn in (run_go, run_ours) if rnd % 2 == 0 else (run_ours, run_go):
            fn()

    print()
    print(f"medians of {args.repeat} alternating rounds; CPU = user + system, all threads; ms")
    hdr = f"{'file':26} {'ops':>5} {'expect':>7} {'ours':>7} {'Porc.':>7}  {'CPU ours':>9} {'CPU Porc':>9} {'ratio':>7}  {'wall ours':>9} {'wall Porc':>9}  {'parse+check CPU ours/Porc':>25}"
    print(hdr)
    tot = {"oc": 0.0, "pc": 0.0, "ow": 0.0, "pw": 0.0, "op": 0.0, "pp": 0.0}
    over: list[str] = []
    mismatch: list[str] = []
    for name, _p, _f, _m, _k, lin in files:
        o, g = got_ours[name], got_go[name]
        ov, gv = o[-1]["verdict"], g[-1]["verdict"]
        oc, pc, ow, pw = med(o, "check_cpu"), med(g, "check_cpu"), med(o, "check_wall"), med(g, "check_wall")
        op_, pp = oc + med(o, "parse_cpu"), pc + med(g, "parse_cpu")
        tot["oc"] += oc
        tot["pc"] += pc
        tot["ow"] += ow
        tot["pw"] += pw
        tot["op"] += op_
        tot["pp"] += pp
        ratio = oc / pc if pc > 0 else float("inf")
        flags = []
        if ov != gv:
            flags.append("VERDICTS DIFFER")
            mismatch.append(f"{name}: ours {ov}, Porcupine {gv}, expected {lin}")
        elif ov != lin:
            flags.append(f"both differ from expected {lin}")
        if ratio > 1:
            over.append(f"{name}: {ratio:.2f}x ({oc * 1e3:.2f} ms vs {pc * 1e3:.2f} ms)")
        print(
            f"{name:26} {o[-1]['ops']:5} {lin:>7} {ov:>7} {gv:>7}  {oc * 1e3:9.2f} {pc * 1e3:9.2f} {ratio:7.2f}  {ow * 1e3:9.2f} {pw * 1e3:9.2f}"
            f"  {op_ * 1e3:10.2f} / {pp * 1e3:10.2f}  {'; '.join(flags)}"
        )
    print(
        f"{'TOTAL':26} {'':5} {'':>7} {'':>7} {'':>7}  {tot['oc'] * 1e3:9.1f} {tot['pc'] * 1e3:9.1f} {tot['oc'] / tot['pc']:7.3f}  "
        f"{tot['ow'] * 1e3:9.1f} {tot['pw'] * 1e3:9.1f}  {tot['op'] * 1e3:10.1f} / {tot['pp'] * 1e3:10.1f}"
    )
    for part in ("etcd/", "kv/", "gen/"):
        sel = [f[0] for f in files if f[0].startswith(part)]
        if not sel:
            continue
        oc = sum(med(got_ours[n], "check_cpu") for n in sel)
        pc = sum(med(got_go[n], "check_cpu") for n in sel)
        print(f"  {part:8} {len(sel):3} files: check CPU ours {oc * 1e3:9.1f} ms, Porcupine {pc * 1e3:9.1f} ms, ratio {oc / pc:.3f}")
    print(f"verdicts equal: {len(files) - len(mismatch)}/{len(files)}" + ("".join(f"\n  {m}" for m in mismatch)))
    print(f"files over 1x check CPU: {len(over)}" + "".join(f"\n  {m}" for m in over))

    # start-up: a verdict on one small file from a cold process
    etcd0 = data / "etcd" / "etcd_000.log"
    print()
    print(f"cold start, a verdict on {etcd0.name} (median of {args.starts}; load average {os.getloadavg()[0]:.1f}):")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "nemesis.cli", "check", str(etcd0)]
    rows = [("persist-nemesis check (this tree)", cli, env)]
    nobc = {**env}
    nobc.pop("PYTHONDONTWRITEBYTECODE", None)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        rows.append(("  the same with bytecode caching", cli, nobc))
    if args.baseline:
        base = tmp / "baseline"
        base.mkdir()
        subprocess.run(f"git archive {args.baseline} | tar -x -C {base}", shell=True, check=True, cwd=REPO)
        rows.append((f"persist-nemesis check ({args.baseline})", cli, {**os.environ, "PYTHONPATH": str(base)}))
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            b2 = {**os.environ, "PYTHONPATH": str(base)}
            b2.pop("PYTHONDONTWRITEBYTECODE", None)
            rows.append(("  the same with bytecode caching", cli, b2))
    rows.append(("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"], env))
    rows.append(("Porcupine driver (Go), same file", [str(binary), f"{etcd0}:etcd"], env))
    for label, cmd, e in rows:
        if "bytecode caching" in label:
            cold(cmd, 2, e)  # write the caches first
        w, c = cold(cmd, args.starts, e)
        print(f"  {label:48} wall {w * 1e3:7.1f} ms   CPU {c * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
