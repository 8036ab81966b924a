"""History readers: one module per format, all producing
:class:`checker.history.History` in the project's conventions (``fail`` did
not happen, ``info`` or no completion is indeterminate, ``ok`` happened with
its result; :attr:`Op.unknown_result` marks an ``ok`` whose result is
unknown). Each format's own conventions are resolved in its reader.

=============  ==========================  ===============================
format         extension                   module
=============  ==========================  ===============================
``jsonl``      ``.jsonl``                  :mod:`checker.history`
``jepsen-edn`` ``.edn`` (and kv ``.txt``)  :mod:`checker.formats.jepsen_edn`
``jepsen-log`` ``.log``                    :mod:`checker.formats.jepsen_log`
=============  ==========================  ===============================
"""

from __future__ import annotations

from pathlib import Path

from checker.history import History, HistoryError, read_jsonl

FORMATS = ("jsonl", "jepsen-edn", "jepsen-log")
_BY_EXT = {".jsonl": "jsonl", ".json": "jsonl", ".edn": "jepsen-edn", ".log": "jepsen-log"}


def infer_format(path: str | Path) -> str:
    """The format named by ``path``'s extension; for an unknown extension,
    a guess from the first non-blank character (``{``-then-``"`` is JSON,
    ``{``/``[`` EDN, anything else the log format)."""
    p = Path(path)
    fmt = _BY_EXT.get(p.suffix.lower())
    if fmt:
        return fmt
    with open(p, encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith('{"') or head.startswith("{ \""):
        return "jsonl"
    if head[:1] in ("{", "[", "(", "#", ";"):
        return "jepsen-edn"
    return "jepsen-log"


def read_history(path: str | Path, fmt: str | None = None) -> History:
    """Read ``path`` as ``fmt`` (inferred when None). Raises HistoryError
    (naming the line) for malformed input."""
    fmt = fmt or infer_format(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "jepsen-edn":
        from checker.formats.jepsen_edn import read_edn_history

        return read_edn_history(path)
    if fmt == "jepsen-log":
        from checker.formats.jepsen_log import read_log_history

        return read_log_history(path)
    raise HistoryError(f"unknown history format {fmt!r}; expected one of {', '.join(FORMATS)}")
