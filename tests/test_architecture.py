"""The dependency direction is the architecture (ARCHITECTURE.md): persist
imports nothing of the harness; checker imports nothing of ours but itself;
workloads use persist's public API only; nemesis may import everything,
except that the command modules (``nemesis/commands/``) are imported by the
CLI entry point ``nemesis/cli.py`` alone: everything else, the commands
themselves and the tests included, goes through the library.
Read from the source with ``ast`` (every import, also those inside
functions), so a violation fails here before it shows anywhere else."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("persist", "checker", "workloads", "nemesis", "mutants", "bench", "tests")
#: what workloads may import of persist: its public API, and the failpoint hooks tests and the harness arm
PERSIST_PUBLIC = ("persist", "persist.errors", "persist.operators", "persist.failpoints")
#: (file, module): imports allowed by name, each with its reason
EXCEPTIONS = {
    ("workloads/worker_main.py", "persist.persister"): "a spare worker pays the engine's imports before it is "
                                                       "needed; no name of it is used",
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, also
    ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
            if name in ("import_module", "__import__"):
                out.append((node.lineno, node.args[0].value))
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # "from persist import failpoints" imports the module persist.failpoints
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                    if (ROOT / node.module.replace(".", "/") / f"{a.name}.py").exists()
                    or (ROOT / node.module.replace(".", "/") / a.name / "__init__.py").exists()]
    return out


def top(module: str) -> str:
    return module.split(".")[0]


def allowed(package: str, module: str) -> bool:
    t = top(module)
    if t not in OURS or t == package:
        return True
    if package == "persist":
        return False
    if package == "checker":
        return False
    if package in ("workloads", "examples"):  # examples: programs outside the harness (docs/protocol.md)
        return t == "persist" and any(module == p or module.startswith(p + ".") and p != "persist"
                                      for p in PERSIST_PUBLIC)
    return True  # nemesis ties them together


def violations(package: str, root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for line, module in imports(path):
            if not allowed(package, module) and (rel, module) not in EXCEPTIONS:
                bad.append(f"{rel}:{line} imports {module}")
    return bad


def test_persist_imports_nothing_of_the_harness():
    assert violations("persist") == []


def test_checker_is_pure():
    assert violations("checker") == []


def test_workloads_use_persist_s_public_api_only():
    assert violations("workloads") == []


def test_examples_are_outside_the_harness():
    assert violations("examples") == []


def test_a_planted_violation_is_found(tmp_path):
    (tmp_path / "checker").mkdir()
    (tmp_path / "checker" / "bad.py").write_text("def f():\n    from persist.storage import FileBlob\n")
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "bad.py").write_text("import persist.metadata\nfrom persist.errors import X\n")
    assert violations("checker", tmp_path) == ["checker/bad.py:2 imports persist.storage"]
    assert violations("workloads", tmp_path) == ["workloads/bad.py:1 imports persist.metadata"]


#: the one module that may import the command modules: the ``persist-nemesis`` entry point
CLI_ENTRY = "nemesis/cli.py"
COMMANDS = "nemesis.commands"


def command_imports(root: Path = ROOT) -> list[str]:
    """Every import of :mod:`nemesis.commands` (or a module under it) outside
    ``nemesis/cli.py``, in every package of ours and the tests; and the
    commands importing the entry point back (``nemesis.cli``)."""
    bad = []
    for package in OURS + ("examples",):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, module in imports(path):
                if rel != CLI_ENTRY and (module == COMMANDS or module.startswith(COMMANDS + ".")):
                    bad.append(f"{rel}:{line} imports {module}")
                elif rel.startswith("nemesis/commands/") and (module == "nemesis.cli"):
                    bad.append(f"{rel}:{line} imports {module} (a command must not import the entry point)")
    return bad


def test_only_the_cli_entry_point_imports_the_commands():
    assert command_imports() == []


def test_a_planted_command_import_is_found(tmp_path):
    for d in ("nemesis/commands", "tests/nemesis"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "nemesis" / "commands" / "__init__.py").write_text("")
    (tmp_path / "nemesis" / "commands" / "run.py").write_text("from nemesis.cli import EXIT_USAGE\n")
    (tmp_path / "nemesis" / "commands" / "repro.py").write_text("def f():\n    from nemesis.commands.run import x\n")
    (tmp_path / "nemesis" / "cli.py").write_text("import importlib\nimportlib.import_module('nemesis.commands.run')\n")
    (tmp_path / "nemesis" / "campaign.py").write_text("from nemesis.commands import run\n")
    (tmp_path / "tests" / "nemesis" / "test_x.py").write_text(
        "import importlib\nm = importlib.import_module('nemesis.commands.shrink')\n")
    assert command_imports(tmp_path) == [
        "nemesis/campaign.py:1 imports nemesis.commands",
        "nemesis/campaign.py:1 imports nemesis.commands.run",
        "nemesis/commands/repro.py:2 imports nemesis.commands.run",
        "nemesis/commands/run.py:1 imports nemesis.cli (a command must not import the entry point)",
        "tests/nemesis/test_x.py:2 imports nemesis.commands.shrink",
    ]
