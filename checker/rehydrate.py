"""The ``rehydrate`` checker: the persisted-stream operator's downstream
output is exactly once across restarts (history values in
``workloads/rehydrate.py``). Pure: a history in, a :class:`Result` out.

The source is known: at time ``t`` stream ``s`` emits
``[f"{s}.{t}.{i}", "v", t, 1] for i in range(1 + t % 3)``. Per stream, with
the ``ok`` ``step`` operations in history order, grouped by operator
``incarnation`` (each begins with an operation that reports ``rehydrated``):

* **duplicate-output** — an update emitted twice to one incarnation's
  downstream (rehydrated plus emitted);
* **phantom-output** — an emitted update the source never produced;
* **lost-output** — an update an earlier incarnation emitted downstream
  (so it was durable) missing from a later incarnation's rehydration that
  started after it was emitted;
* **progress-regressed** — a later incarnation rehydrating with an upper
  below a progress an earlier ``ok`` step had reached;
* **incomplete-output** — the final step (``"final": true``, ok) of a stream
  whose last incarnation's downstream is not exactly the source's updates
  below that step's ``to``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from checker.history import History, Op
from checker.result import Anomaly, Result


def source_updates(stream: str, t: int) -> list[tuple[str, str, int, int]]:
    return [(f"{stream}.{t}.{i}", "v", t, 1) for i in range(1 + t % 3)]


def _key(u: Any) -> tuple[str, str, int, int]:
    k, v, ts, d = u
    return (str(k), str(v), int(ts), int(d))


class Rehydrate:
    name = "rehydrate"

    def check(self, history: History) -> Result:
        steps = [op for op in history.ops if op.f == "step"]
        if not steps:
            return Result(self.name, "unknown", reason="no step operations in the history")
        anomalies: list[Anomaly] = []
        by_stream: dict[str, list[Op]] = {}
        for op in steps:
            if isinstance(op.value, dict):
                by_stream.setdefault(op.value.get("stream"), []).append(op)
        finals_ok = 0
        for stream, ops in sorted(by_stream.items(), key=lambda x: str(x[0])):
            finals_ok += self._stream(stream, ops, anomalies)
        valid = not anomalies
        return Result(self.name, valid, anomalies[:50],
                      stats={"streams": len(by_stream), "steps": len(steps), "final_steps_ok": finals_ok})

    def _stream(self, stream: str, ops: list[Op], anomalies: list[Anomaly]) -> int:
        # durable: update -> (ret time, op index) of the ok step that emitted it
        durable: dict[tuple, tuple[int, int]] = {}
        progress: list[tuple[int, int, int]] = []  # (ret time, upper, op index)
        inc: str | None = None
        seen: Counter = Counter()
        where: dict[tuple, int] = {}
        finals = 0
        for op in ops:
            if op.type != "ok" or not isinstance(op.result, dict):
                continue
            r = op.result
            if "rehydrated" in r or r.get("incarnation") != inc:
                inc = r.get("incarnation")
                seen = Counter()
                where = {}
                rehydrated = [_key(u) for u in r.get("rehydrated", [])]
                have = set(rehydrated)
                missing = [u for u, (ret, _) in durable.items() if ret <= op.call and u not in have]
                if missing:
                    missing.sort(key=lambda u: u[2])
                    ex = missing[0]
                    anomalies.append(Anomaly(
                        "lost-output",
                        f"stream {stream}: {len(missing)} update(s) emitted downstream by an earlier incarnation are "
                        f"missing from the rehydration of op {op.index}, e.g. {list(ex)} (emitted by op {durable[ex][1]})",
                        [op.index, durable[ex][1]]))
                up = r.get("rehydrated_upper", 0)
                behind = [(u, i) for (ret, u, i) in progress if ret <= op.call and u > up]
                if behind:
                    u, i = max(behind)
                    anomalies.append(Anomaly(
                        "progress-regressed",
                        f"stream {stream}: op {op.index} rehydrated at upper {up}, but op {i} had already sealed to {u}",
                        [op.index, i]))
                for u in rehydrated:
                    self._emit(stream, u, op, seen, where, anomalies)
            emitted = [_key(u) for u in r.get("emitted", [])]
            for u in emitted:
                self._emit(stream, u, op, seen, where, anomalies)
                durable.setdefault(u, (op.ret if op.ret is not None else op.call, op.index))
            for u in r.get("rehydrated", []):
                durable.setdefault(_key(u), (op.ret if op.ret is not None else op.call, op.index))
            if op.ret is not None and "upper" in r:
                progress.append((op.ret, int(r["upper"]), op.index))
            if isinstance(op.value, dict) and op.value.get("final"):
                finals += 1
                to = int(op.value["to"])
                expected = {u for t in range(to) for u in source_updates(stream, t)}
                got = set(seen)
                lost = sorted(expected - got, key=lambda u: u[2])
                if lost:
                    anomalies.append(Anomaly(
                        "incomplete-output",
                        f"stream {stream}: the last incarnation's downstream (final op {op.index}) lacks "
                        f"{len(lost)} of the source's {len(expected)} updates below {to}, e.g. {list(lost[0])}",
                        [op.index]))
        return finals

    def _emit(self, stream: str, u: tuple, op: Op, seen: Counter, where: dict, anomalies: list[Anomaly]) -> None:
        k, v, ts, d = u
        if (k, v, ts, d) not in set(source_updates(stream, ts)):
            anomalies.append(Anomaly("phantom-output",
                                     f"stream {stream}: op {op.index} emitted {list(u)}, which the source never produced",
                                     [op.index]))
            return
        seen[u] += 1
        if seen[u] == 2:
            anomalies.append(Anomaly(
                "duplicate-output",
                f"stream {stream}: {list(u)} reached one incarnation's downstream twice (ops {where[u]} and {op.index})",
                [where[u], op.index]))
        where.setdefault(u, op.index)


def rehydrate_checkers() -> list:
    from checker.fencing import NoFencing

    return [Rehydrate(), NoFencing()]


try:  # make check_workload("rehydrate", ...) know it
    from checker.workloads import register

    register("rehydrate", rehydrate_checkers)
except ImportError:  # pragma: no cover
    pass
