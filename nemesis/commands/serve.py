"""``persist-nemesis serve [--store DIR] [--port N]``: browse a run store.

Serves the store read-only on 127.0.0.1 (never another interface: runs hold
logs and data). ``--port 0`` picks a free port. Prints the URL, then serves
until Ctrl-C (or SIGTERM), which stops it cleanly (exit 0). A store that does not exist
or is not a store, or a port already in use, exits 3 with a message saying
what is expected.
"""

from __future__ import annotations

import signal
from pathlib import Path

import click

EXIT_BAD_INPUT = 3


@click.command("serve")
@click.option("--store", type=click.Path(path_type=Path), default=Path("runs"), show_default=True, help="The run store to serve.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port on 127.0.0.1; 0 picks a free one.")
@click.option("--quiet", is_flag=True, help="Don't log each request.")
def serve(store: Path, port: int, quiet: bool) -> int:
    """Serve the run store (index, timelines, plots, histories) on 127.0.0.1."""
    from nemesis.report import ReportError
    from nemesis.report.server import make_server, url_of

    try:
        server = make_server(store, port, quiet=quiet)
    except ReportError as e:  # bad input: click's usage format, exit 3 (as every subcommand)
        raise click.BadParameter(str(e), param_hint="--store") from None
    except OSError as e:
        raise click.BadParameter(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}; choose another --port "
                                 "(0 picks a free one)", param_hint="--port") from None
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)  # `kill` stops it as cleanly as Ctrl-C
    click.echo(f"serving {store.resolve()} at {url_of(server)}  (read-only; Ctrl-C stops)", err=False)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
        signal.signal(signal.SIGTERM, previous)
    return 0
