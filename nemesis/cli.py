"""The ``persist-nemesis`` console command.

Each subcommand lives in its own module under :mod:`nemesis.commands` and is
imported only when invoked, so ``persist-nemesis --help`` stays fast and one
broken subcommand cannot take the others down.

This module is the only one that imports :mod:`nemesis.commands`
(``tests/test_architecture.py``): the commands parse arguments and print,
the library (:mod:`nemesis.api`, :mod:`nemesis.runner`, ...) does the work.

Usage errors have one format for every subcommand, click's: the usage line,
the hint to ``-h``, and ``Error: Invalid value for '--flag': what was
wrong``. A command raises ``click.BadParameter`` itself, or lets the
library's :class:`~nemesis.errors.BadInput` through (its ``param`` names the
flag); :func:`usage_errors` turns the latter into the former.

Exit codes follow Jepsen: 0 valid, 1 invalid, 2 unknown; bad usage exits 3
(click's usage errors are remapped from 2 so they never read as "unknown");
stopped by a signal, 128 + its number (130 Ctrl-C, 143 SIGTERM:
:mod:`nemesis.lifecycle`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys

import click

from nemesis.errors import EXIT_USAGE, BadInput

#: subcommand name -> (module, attribute). Listed only when the module exists.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("nemesis.commands.run", "run"),
    "check": ("nemesis.commands.check", "check"),
    "repro": ("nemesis.commands.repro", "repro"),
    "campaign": ("nemesis.commands.campaign", "campaign"),
    "report": ("nemesis.commands.report", "report"),
    "serve": ("nemesis.commands.serve", "serve"),
    "mutants": ("nemesis.commands.mutants", "mutants"),
    "shrink": ("nemesis.commands.shrink", "shrink"),
    "prune": ("nemesis.commands.prune", "prune"),
    "demo": ("nemesis.commands.demo", "demo"),
}



def usage_errors(callback):
    """``callback`` with the library's bad-input errors shown as click's
    usage errors: ``BadInput`` with a ``param`` (a flag or an argument name)
    becomes ``click.BadParameter``, one without becomes ``click.UsageError``.
    Raised inside the command, so click adds the usage block; exit 3."""
    if getattr(callback, "_usage_errors", False):
        return callback

    @functools.wraps(callback)
    def wrapped(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except BadInput as e:
            param = getattr(e, "param", None)
            message = getattr(e, "message", None) or str(e)
            if param:
                raise click.BadParameter(message, param_hint=param) from None
            raise click.UsageError(message) from None

    wrapped._usage_errors = True
    return wrapped


def command_module(name: str):
    """The module of subcommand ``name`` (``"shrink"`` -> :mod:`nemesis.commands.shrink`):
    for tests of the command line's own printing, which reach the commands
    through this entry point like everything else."""
    if name not in SUBCOMMANDS:
        raise KeyError(f"no subcommand {name!r}; there are: {', '.join(sorted(SUBCOMMANDS))}")
    return importlib.import_module(SUBCOMMANDS[name][0])


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, (mod, _) in SUBCOMMANDS.items() if importlib.util.find_spec(mod) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        mod, attr = SUBCOMMANDS[cmd_name]
        if importlib.util.find_spec(mod) is None:
            return None
        cmd = getattr(importlib.import_module(mod), attr)
        if cmd.callback is not None:
            cmd.callback = usage_errors(cmd.callback)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="persist-nemesis")
def cli() -> None:
    """Crash-safety toolkit: the persist engine and the nemesis harness.

    Exit codes: 0 valid, 1 invalid, 2 unknown, 3 bad usage or input."""


def main(argv: list[str] | None = None) -> None:
    from nemesis import lifecycle

    old = lifecycle.install()  # SIGTERM and SIGHUP stop us as Ctrl-C does (exit 128 + signal)
    try:
        rv = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort as e:
        click.echo("aborted", err=True)
        sys.exit(lifecycle.exit_code(e.__context__))
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    finally:
        lifecycle.restore(old)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
