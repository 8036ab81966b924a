"""``persist-nemesis run``: run one test and judge it.

    persist-nemesis run --workload append --nemesis kill,lose-unsynced --seed 1 --time-limit 15

Parses the flags and prints; the run itself is :mod:`nemesis.runner`
(``nemesis.run(...)`` from Python, :mod:`nemesis.api`).

Exit codes: 0 valid, 1 invalid, 2 unknown (or the run stopped half-way),
3 bad input (unknown name, bad value, unwritable store, a mutant that does
not load, a worker that dies at start).
"""

from __future__ import annotations

import click

from nemesis.runner import DEFAULT_STORE


@click.command("run")
@click.option("--workload", required=True, help="append | rehydrate | upsert | multi-writer")
@click.option("--nemesis", "nemesis", required=True,
              help="comma-separated: none, kill, pause, lose-unsynced, corrupt, failpoint, new-host (root), "
                   "s3 (with --blob s3), disk-error, slow-disk (these two on the fault filesystem only)")
@click.option("--seed", type=int, required=True)
@click.option("--time-limit", type=float, required=True, help="seconds of faults and operations (> 0)")
@click.option("--concurrency", type=int, default=8, show_default=True, help="client processes")
@click.option("--op-limit", type=int, default=0, help="stop after this many operations (0: none)")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="where runs are stored")
@click.option("--keep-data", is_flag=True, help="keep the persist data directory in the run")
@click.option("--mutant", type=str, default=None, help="a FILE.py imported in every worker before persist starts")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--no-report", is_flag=True, help="skip timeline.html, the plots and the store index")
@click.option("--blob", type=str, default="file", show_default=True,
              help="file: the Blob in the run directory; s3: on a moto server the run starts (127.0.0.1, any port)")
@click.option("--s3-fault", "s3_faults", multiple=True, metavar="RULE",
              help="with --nemesis s3: a rule it draws from instead of its catalogue (repeatable), e.g. "
                   "'error-after method=PUT key=*meta p=0.5'; see nemesis/s3/rules.py")
@click.option("--s3-port", type=int, default=0, help="with --blob s3: the moto server's port (0: any free one)")
@click.option("--replay", type=str, default=None, metavar="JSON|FILE",
              help="replay a given schedule instead of the seed's: faults, the operation count each is injected "
                   "at, the client processes that run (what shrink writes; its printed commands carry it)")
@click.option("--fs", "fs", type=str, default="auto", show_default=True,
              help="the disk fault model: fuse (the fault filesystem mounted over the data directory: power loss "
                   "undoes unsynced writes and directory operations of any process; disk-error, slow-disk), tracer "
                   "(the in-process tracer of Python's os calls: a prefix of unsynced bytes is lost), auto (fuse where "
                   "it works, else tracer, saying why)")
@click.option("--system", "system", type=str, default="persist", show_default=True,
              help="the system under test (docs/protocol.md): persist (the reference engine), module:Class (loaded in "
                   "the workers), or 'exec:CMD {data_dir}' (any executable speaking JSON lines, e.g. "
                   "'exec:python examples/persist_server.py {data_dir}')")
def run(workload, nemesis, seed, time_limit, concurrency, op_limit, store, keep_data, mutant, quiet, no_report,
        blob, s3_faults, s3_port, replay, fs, system) -> int:
    """Run one test: workers under a seeded nemesis, then judge the history."""
    from nemesis.runner import ConfigError, build_config, execute, load_replay

    cfg = build_config(workload, nemesis, seed, time_limit, concurrency, op_limit, mutant, keep_data,
                       blob=blob, s3_faults=s3_faults, s3_port=s3_port, fs=fs, system=system)
    if replay is not None:
        from nemesis.regressions import RegressionError, apply_overrides

        try:
            apply_overrides(cfg, load_replay(replay))
        except RegressionError as e:
            raise ConfigError(str(e), "--replay") from None
    return execute(cfg, store, quiet, reports=not no_report)
