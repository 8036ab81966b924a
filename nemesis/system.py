"""``--system``: which engine a run tests (design: ``docs/protocol.md``).

    persist              the reference engine (the default)
    module:Class         a Python class, imported inside each worker
    exec:CMD ARGS...     any executable speaking JSON lines on stdin/stdout

:func:`parse` checks a ``--system`` value in the controller, before any run
starts (never importing the class: that happens inside the worker, after
``--mutant``), and returns a :class:`SystemSpec`; :meth:`SystemSpec.refused`
says which of a run's faults cannot apply to the system (the controller
refuses such a run rather than weaken it silently).

Status: the choice is parsed and checked; the workers still open the
reference engine only (``docs/protocol.md``, "Left to build").
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import string
from dataclasses import dataclass

from nemesis.errors import BadInput

#: the placeholders an ``exec:`` command may hold
PLACEHOLDERS = ("data_dir", "url", "role")
DEFAULT = "persist"
_CLASS = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class SystemSpecError(BadInput):
    """A ``--system`` value that cannot be used; the message says why and what is accepted."""

    param = "--system"

    def __init__(self, message: str) -> None:
        super().__init__(f"--system: {message}")
        self.message = message


@dataclass(frozen=True)
class SystemSpec:
    """A checked ``--system``: ``kind`` is ``persist``, ``class`` or ``exec``;
    ``target`` the ``module:Class`` or the command's text; ``argv`` the
    command split (placeholders kept); ``text`` what was given (for the
    reproduce command)."""

    kind: str
    text: str
    target: str | None = None
    argv: tuple[str, ...] = ()

    def command(self, data_dir: str, url: str, role: str) -> list[str]:
        """The ``exec:`` command with its placeholders filled in."""
        if self.kind != "exec":
            raise ValueError(f"{self.text!r} is not an exec: system")
        values = {"data_dir": data_dir, "url": url, "role": role}
        return [a.format(**values) for a in self.argv]

    def refused(self, nemeses: list[str], fault_model: str | None) -> list[str]:
        """The faults of ``nemeses`` that cannot apply to this system, each
        with the reason (empty: every fault applies)."""
        if self.kind == "persist":
            return []
        out = []
        if "lose-unsynced" in nemeses and fault_model != "faultfs" and self.kind == "exec":
            out.append("lose-unsynced on the tracer: it sees only the worker's own Python os calls, not another "
                       "process; use --fs fuse (the fault filesystem sees every process)")
        if "failpoint" in nemeses:
            out.append("failpoint: the reference engine's failpoints only (a system's own failpoints are not "
                       "wired yet, docs/protocol.md)")
        return out


def parse(text: str | None) -> SystemSpec:
    """Check a ``--system`` value; raises :class:`SystemSpecError` saying what is wrong."""
    text = (text or DEFAULT).strip()
    if text == DEFAULT:
        return SystemSpec("persist", text)
    if text.startswith("exec:"):
        return _exec(text)
    if _CLASS.match(text):
        module, _, cls = text.partition(":")
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise SystemSpecError(f"no module {module!r} on the path (for {text!r}); a module:Class is imported in each "
                              "worker, so its module must be importable there (PYTHONPATH)")
        return SystemSpec("class", text, target=text)
    raise SystemSpecError(f"{text!r} is not a system; accepted: persist (the default), module:Class (a Python class), "
                      "exec:CMD ARGS... (an executable speaking docs/protocol.md)")


def _exec(text: str) -> SystemSpec:
    cmd = text[len("exec:"):].strip()
    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        raise SystemSpecError(f"cannot split the command {cmd!r}: {e}") from None
    if not argv:
        raise SystemSpecError("exec: needs a command, e.g. 'exec:python3 examples/persist_server.py {data_dir}'")
    for a in argv:
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(a) if f is not None]
        except ValueError as e:
            raise SystemSpecError(f"argument {a!r}: {e} (write a literal brace as {{{{ or }}}})") from None
        bad = [n for n in names if n not in PLACEHOLDERS]
        if bad:
            raise SystemSpecError(f"unknown placeholder {{{bad[0]}}} in {a!r}; accepted: "
                              + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
    exe = argv[0]
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK) else None)
    if not found:
        raise SystemSpecError(f"{exe!r} is not an executable found on PATH" if os.sep not in exe
                          else f"{exe} does not exist or is not executable")
    return SystemSpec("exec", text, target=cmd, argv=tuple(argv))
