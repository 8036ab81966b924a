"""``persist-nemesis check``: re-check histories; read-only by default.

    persist-nemesis check [--format jsonl|jepsen-edn|jepsen-log] [--model NAME]
                          [--initial EDN] [--time-limit S] [--max-configs N]
                          [--all-failures] [--explain] [--json] [--html DIR] PATH...

PATH is a history file or a run directory (``history.jsonl`` +
``config.json``; a Jepsen store directory with ``history.edn`` is read as
that file). A run directory is judged as ``run`` judged it (the
workload's domain checkers and the recovery check, via
:func:`nemesis.judge.judge_history`), plus the linearizability model that
``--model`` or the config (``"model"``) names. A file is checked for
linearizability against ``--model``, or the model its operations imply
(read/write/cas: cas-register; get/put/append: kv; acquire/release: mutex;
txn: multi-register).

Output: one verdict line per PATH; with ``--json``, one JSON object per PATH
per line: ``{"file", "valid", "time", "checkers": [...], "anomalies",
"reason", "error"}``; a PATH that could not be read has ``"valid": null``
(not judged) and ``error`` saying why.

Exit code: 1 if any PATH is invalid; else 3 if any PATH could not be read
(malformed, with the line named; a violation is never hidden behind a bad
file); else 2 if any is unknown; else 0. Bad usage exits 3 too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from nemesis.errors import EXIT_USAGE
from nemesis.errors import BadInput as _BadInput

FORMATS = ("jsonl", "jepsen-edn", "jepsen-log")
IMPLIED = (
    ({"read", "write", "cas"}, "cas-register"),
    ({"get", "put", "append"}, "kv"),
    ({"get", "upsert", "delete", "read_all"}, "upsert"),
    ({"acquire", "release"}, "mutex"),
    ({"txn"}, "multi-register"),
)


class BadInput(_BadInput):
    """A PATH that cannot be checked: malformed file, missing pieces."""


def implied_model(fs: set[str]) -> str | None:
    for known, name in IMPLIED:
        if fs and fs <= known:
            return name
    return None


def parse_initial(text: str | None) -> Any:
    from checker.edn import EdnError, loads
    from checker.models.base import DEFAULT

    if text is None:
        return DEFAULT
    try:
        v = loads(text)
    except EdnError as e:
        raise click.BadParameter(f"not EDN: {e}", param_hint="--initial") from None
    return _plain(v)


def _plain(v: Any) -> Any:
    if isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {_plain(k): _plain(x) for k, x in v.items()}
    return v


def check_path(path: str, fmt: str | None, model_name: str | None, initial: Any, time_limit: float | None,
               max_configs: int | None = None, all_failures: bool = False, explain: bool = False,
               want_pictures: bool = False) -> dict[str, Any]:
    """The verdict for one PATH as a JSON-ready dict (plus ``_failures``
    for the HTML picture). Raises BadInput."""
    from checker.history import HistoryError
    from checker.result import UNKNOWN, Result, combine

    t0 = time.monotonic()
    p = Path(path)
    config: dict[str, Any] | None = None
    if p.is_dir() and not (p / "history.jsonl").exists() and (p / "history.edn").exists():
        p = p / "history.edn"  # a Jepsen store directory
    if p.is_dir():
        hist = p / "history.jsonl"
        if not hist.exists():
            raise BadInput(f"{path}: a directory without history.jsonl (or Jepsen's history.edn); expected a run directory or a history file")
        cfg_path = p / "config.json"
        if cfg_path.exists():
            try:
                config = json.loads(cfg_path.read_text())
            except json.JSONDecodeError as e:
                raise BadInput(f"{cfg_path}:{e.lineno}: not JSON ({e.msg}); expected the run's configuration object") from None
            if not isinstance(config, dict):
                raise BadInput(f"{cfg_path}:1: expected a JSON object with \"workload\"")
        file, fmt = hist, "jsonl"
    elif p.exists():
        file = p
    else:
        raise BadInput(f"{path}: no such file or directory")

    from checker.formats import read_history

    try:
        history = read_history(file, fmt)
    except HistoryError as e:
        raise BadInput(str(e)) from None
    except UnicodeDecodeError as e:
        raise BadInput(f"{file}: not UTF-8 text (byte {e.start}); expected a history") from None

    results: list[Result] = []
    if not history.ops:
        results.append(Result("history", UNKNOWN, reason="empty history"))
    else:
        if config is not None and config.get("workload"):
            results.extend(_judge_run(history, str(config["workload"])))
        name = model_name or (config or {}).get("model")
        if name is None and config is None:
            name = implied_model({o.f for o in history.ops})
            if name is None:
                fs = ", ".join(sorted({o.f for o in history.ops}))
                from checker.models import MODELS

                raise BadInput(f"{path}: no model implied by its operations ({fs}); pass --model NAME with NAME one of "
                               f"{', '.join(MODELS)} (or independent-NAME), or check its run directory")
        if name:
            from checker.linear import check_ops
            from checker.models import get_model

            try:
                model = get_model(name, initial)
                left = None if time_limit is None else max(0.0, time_limit - (time.monotonic() - t0))
                kw: dict[str, Any] = {"all_failures": all_failures}
                if max_configs is not None:
                    kw["max_configs"] = max_configs
                results.append(check_ops(history.ops, model, time_limit=left, **kw))
            except HistoryError as e:  # includes ModelError: an op the model has not
                raise BadInput(f"{file}: {e}") from None
            except ValueError as e:
                raise BadInput(f"{path}: {e}") from None
        if not results:
            raise BadInput(f"{path}: nothing to check: the run's config names no workload; pass --model")
    valid = combine([r.valid for r in results])
    out: dict[str, Any] = {"file": path, "valid": valid, "time": round(time.monotonic() - t0, 4)}
    anomalies = [a.to_json() | {"checker": r.checker} for r in results for a in r.anomalies]
    if anomalies:
        out["anomalies"] = anomalies
    reasons = [f"{r.checker}: {r.reason}" if len(results) > 1 else r.reason for r in results if r.valid == UNKNOWN and r.reason]
    if valid == UNKNOWN and reasons:
        out["reason"] = "; ".join(reasons)
    out["checkers"] = [r.to_json() for r in results]
    failures = [f for r in results for f in getattr(r, "failures", [])]
    if (explain or want_pictures) and not failures and config is not None and config.get("workload"):
        failures = _workload_failures(history, str(config["workload"]), results)
    if explain and failures:
        _explain(out, failures[0], history, time_limit)
    out["_failures"] = failures
    out["_results"] = results
    return out


def _workload_failures(history: Any, workload: str, results: list[Any]) -> list[Any]:
    """A run directory's judgement comes back as JSON (no search data): when
    its linearizability checker found the history invalid, run that checker
    again in process for the failures the picture and --explain need."""
    if not any(r.checker == "linearizable" and r.valid is False for r in results):
        return []
    from checker.workloads import checkers_for

    for c in checkers_for(workload):
        if getattr(c, "name", None) == "linearizable":
            return list(getattr(c.check(history), "failures", []))
    return []


def _explain(out: dict[str, Any], failure: Any, history: Any, time_limit: float | None) -> None:
    """Shrink the first linearizability failure to its smallest failing
    core (:mod:`checker.explain`) and put it in ``out``: ``core`` (1-based
    input lines of the core ops' invokes), ``core_ops`` (their op indices),
    ``core_text`` (one line per op) and ``core_stats``."""
    from checker.explain import describe_core, explain

    try:
        core, stats = explain(failure, time_limit=time_limit or 60.0)
    except (TimeoutError, ValueError) as e:
        out["core_error"] = str(e)
        return
    out["core"] = [history.lines.get(o.index) for o in core]
    out["core_ops"] = [o.index for o in core]
    out["core_text"] = describe_core(core, failure.model, history.lines)
    out["core_stats"] = stats


def _judge_run(history: Any, workload: str) -> list[Any]:
    """The run's own judgement (domain checkers + recovery), imported lazily:
    those modules belong to the harness and the workloads."""
    try:
        from nemesis.judge import judge_history
    except ImportError:
        from checker.workloads import check_workload

        return check_workload(workload, history)
    from checker.result import Anomaly, Result

    try:
        judged = judge_history(history, workload)
    except ValueError as e:
        raise BadInput(str(e)) from None
    out = []
    for c in judged["checkers"]:
        r = Result(c.get("checker", workload), c["valid"], reason=c.get("reason"), stats=c.get("stats", {}), category=c.get("category"))
        r.anomalies = [Anomaly(a["kind"], a["message"], a.get("ops", [])) for a in c.get("anomalies", [])]
        out.append(r)
    return out


def _line(v: dict[str, Any]) -> str:
    valid = v["valid"]
    t = f"({v['time']:.3f}s)"
    if valid is True:
        return f"{v['file']}: valid {t}"
    if valid is False:
        a = v.get("anomalies") or [{}]
        more = f" (+{len(a) - 1} more)" if len(a) > 1 else ""
        return f"{v['file']}: INVALID: {a[0].get('message', '')}{more} {t}"
    return f"{v['file']}: unknown: {v.get('reason', 'no reason given')} {t}"


@click.command("check")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="History format; by default from the extension (.jsonl, .edn, .log).")
@click.option("--model", "model", default=None, help="Linearizability model: register, cas-register, multi-register, mutex, kv, kv-cas, upsert; independent-<model> for Jepsen's [key value] ops.")
@click.option("--initial", default=None, metavar="EDN", help="The model's initial value, in EDN (a map for per-key kv values).")
@click.option("--time-limit", type=float, default=None, metavar="S", help="Seconds per PATH for the linearizability search; past it the verdict is unknown. (A run's domain checkers are linear in the history and not bounded.)")
@click.option("--max-configs", type=int, default=None, metavar="N", help="Configurations the search may explore per partition (e.g. per kv key) before that partition is undecided (default 1000000).")
@click.option("--all-failures", is_flag=True, help="Decide every partition, reporting each violation, instead of stopping at the first.")
@click.option("--explain", is_flag=True, help="Shrink a linearizability failure to a smallest failing core: a few operations that are not linearizable together, each needed (with --json: \"core\", their invokes' line numbers).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per PATH per line.")
@click.option("--html", "html_dir", default=None, metavar="DIR", help="Write a picture of each linearizability failure to DIR.")
@click.option("--write-results", is_flag=True, help="For a run directory: rewrite its results.json with this verdict (default: read-only).")
def check(paths: tuple[str, ...], fmt: str | None, model: str | None, initial: str | None, time_limit: float | None,
          max_configs: int | None, all_failures: bool, explain: bool, as_json: bool, html_dir: str | None, write_results: bool) -> int:
    """Check histories or run directories. Exit 0 all valid, 1 any invalid,
    2 any unknown, 3 bad input (a file that cannot be read, named by line)."""
    from checker.models import MODELS, model_names

    if model is not None and model not in model_names():
        raise click.BadParameter(f"unknown model {model!r}; expected one of {', '.join(MODELS)} (or independent-<one of them>)", param_hint="--model")
    if time_limit is not None and not time_limit > 0:
        raise click.BadParameter(f"must be a number of seconds > 0, got {time_limit:g}", param_hint="--time-limit")
    if max_configs is not None and max_configs < 1:
        raise click.BadParameter(f"must be a number of configurations >= 1, got {max_configs}", param_hint="--max-configs")
    init = parse_initial(initial)
    any_invalid = any_unknown = any_bad = False
    for path in paths:
        try:
            v = check_path(path, fmt, model, init, time_limit, max_configs, all_failures, explain, bool(html_dir))
        except BadInput as e:
            any_bad = True
            if as_json:
                click.echo(json.dumps({"file": path, "valid": None, "error": str(e), "reason": f"bad input: {e}"}))
            else:
                click.echo(f"{path}: error: {e}", err=True)
            continue
        failures = v.pop("_failures")
        results = v.pop("_results")
        if html_dir and failures:
            from checker.visual import write_html

            os.makedirs(html_dir, exist_ok=True)
            stem = Path(path.rstrip("/")).name or "history"
            pics = []
            for i, f in enumerate(failures):
                pics.append(str(write_html(Path(html_dir) / f"{stem}-linear{'-' + str(i) if i else ''}.html", f, f"{path}: not linearizable")))
            v["html"] = pics
        elif html_dir:
            v["html"] = []
        if write_results and Path(path).is_dir():
            from checker.result import combine

            rpath = Path(path) / "results.json"
            old = json.loads(rpath.read_text()) if rpath.exists() else {}
            old.update({"valid": combine([r.valid for r in results]), "checkers": v["checkers"]})
            tmp = rpath.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(old, indent=2, default=str))
            os.replace(tmp, rpath)
        if as_json:
            v.pop("core_text", None)
            click.echo(json.dumps(v, default=str))
        else:
            click.echo(_line(v))
            if "core_text" in v:
                n = len(v["core_text"])
                click.echo(f"  smallest failing core: {n} op{'s' if n != 1 else ''} not linearizable together, even if every other "
                           "write may or may not have happened; without any one of them the rest is linearizable:")
                for t in v.pop("core_text"):
                    click.echo(f"    {t}")
            elif "core_error" in v:
                click.echo(f"  no core: {v['core_error']}")
            for pic in v.get("html", []):
                click.echo(f"  picture: {pic}")
            if html_dir and not v.get("html"):
                click.echo("  no picture: no linearizability failure to draw")
        any_invalid |= v["valid"] is False
        any_unknown |= v["valid"] == "unknown"
    sys.stdout.flush()
    if any_invalid:
        return 1
    if any_bad:
        return EXIT_USAGE
    return 2 if any_unknown else 0
