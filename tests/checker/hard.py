"""A history no exact linearizability checker decides quickly: ``n``
writes of distinct values all concurrent, then two sequential reads that
see different values with no write between them (so it is not
linearizable, and every (linearized subset, state) pair must be refuted:
about n·2^n configurations). Cheap refutations do not apply: both values
were written."""

from __future__ import annotations


def hard_register_history(n: int = 24, reads: tuple[int, ...] = (0, 1)) -> str:
    """The history in Jepsen EDN, one map a line (``reads``: the values the
    sequential reads after the writes return)."""
    lines = []
    for p in range(n):
        lines.append(f"{{:process {p}, :type :invoke, :f :write, :value {p}}}")
    for p in range(n):
        lines.append(f"{{:process {p}, :type :ok, :f :write, :value {p}}}")
    for v in reads:
        lines.append(f"{{:process {n}, :type :invoke, :f :read, :value nil}}")
        lines.append(f"{{:process {n}, :type :ok, :f :read, :value {v}}}")
    return "\n".join(lines) + "\n"
