"""The worker process: ``python -m workloads.worker_main --workload NAME --role ROLE --url URL --out-fd N``.

It runs one workload client against persist and serves operations from the
controller. The controller starts it in its own session (so a SIGKILL of the
process group takes nothing else down) and talks to it over two pipes:

* **stdin**: one JSON object a line, ``{"id": 7, "f": "write", "value": {...}}``;
* **fd N** (``--out-fd``): one JSON object a line back. First
  ``{"ready": true, "pid": P}`` once persist is open (or
  ``{"ready": true, "open_error": "CorruptionError: ..."}`` when opening
  raised a persist error: the worker then stays up and fails every operation
  with that error), then one ``{"id": 7, "type": "ok"|"fail"|"info",
  "value": ..., "error": "Class: message"}`` per operation.

A line ``{"failpoint": {...}}`` instead of an operation arms (or disarms) an
engine failpoint in this process (the ``failpoint`` nemesis).

stdout and stderr go to the worker's log file. Operations run on a thread
pool (one thread per concurrent client process), so several writes share the
Wal's group commit. EOF on stdin closes persist and exits 0.

Before persist is imported, the worker runs each ``--preload MODULE:FUNC``
(with the JSON keyword arguments of ``--preload-kwargs``; the harness uses it
to watch fsyncs and count coverage) and then ``--mutant FILE.py`` (a file that
monkeypatches a bug into the engine), then the ``after_mutant(path)`` function
of each preloaded module that has one. ``--system SPEC`` chooses the system
under test the client opens (``workloads/system.py``, ``docs/protocol.md``;
default ``persist``): with ``exec:CMD`` the engine runs in a child process of
this worker, in its process group. This module imports nothing of the harness itself.

With ``--standby`` the worker is a spare: it does all of the above up to
importing persist, then waits for one ``go`` line on stdin before it opens
persist (the controller keeps one spare per slot so that a restart costs
only the open, not the interpreter and its imports).

Exit codes: 0 on EOF (also a spare's); 64 bad arguments; 65 a preload or mutant failed; 70
persist could not be opened for a reason that is not a persist error (a bug).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import runpy
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="workloads.worker_main")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--role", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--out-fd", type=int, required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--options", default="{}", help="JSON options for the client")
    ap.add_argument("--preload", action="append", default=[])
    ap.add_argument("--preload-kwargs", action="append", default=[])
    ap.add_argument("--mutant")
    ap.add_argument("--system", default="persist",
                    help="the system under test: persist | module:Class | 'exec:CMD {data_dir}' (docs/protocol.md)")
    ap.add_argument("--standby", action="store_true",
                    help="import everything, then wait for a 'go' line on stdin before opening persist")
    return ap.parse_args(argv)


class Out:
    """The completion pipe: whole lines, one writer at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, obj: dict) -> None:
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _failpoint_control(spec: dict) -> None:
    """``{"name", "mode", "at"[, "arg"]}`` arms an engine failpoint in this
    process (hits counted from now); ``{"disarm": name}`` disarms it."""
    from persist import failpoints

    try:
        if "disarm" in spec:
            failpoints.disarm(spec["disarm"])
        else:
            failpoints.arm(spec["name"], spec["mode"], at=int(spec.get("at", 0)), arg=spec.get("arg"))
        print(f"worker: failpoint {spec}", file=sys.stderr, flush=True)
    except Exception as e:  # a bad request must not take the worker down
        print(f"worker: failpoint request {spec!r} refused: {_error_text(e)}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    out = Out(args.out_fd)
    try:
        preloaded = []
        for i, spec in enumerate(args.preload):
            mod, _, func = spec.partition(":")
            kwargs = json.loads(args.preload_kwargs[i]) if i < len(args.preload_kwargs) else {}
            preloaded.append(importlib.import_module(mod))
            getattr(preloaded[-1], func)(**kwargs)
        if args.mutant:
            runpy.run_path(args.mutant, run_name="__mutant__")
            for m in preloaded:  # a preload that watches the mutant's patches (the harness's coverage)
                hook = getattr(m, "after_mutant", None)
                if hook is not None:
                    hook(args.mutant)
    except BaseException:
        traceback.print_exc()
        print(f"worker: a preload or the mutant {args.mutant!r} failed (traceback above)", file=sys.stderr, flush=True)
        return 65

    from workloads.base import load
    from workloads.system import SystemSpecError, select

    module = load(args.workload)
    try:
        select(args.system)
    except SystemSpecError as e:
        print(f"worker: {e}", file=sys.stderr, flush=True)
        return 64
    if args.standby:  # a spare: pay the imports now, open persist when told
        import persist  # noqa: F401
        import persist.persister  # noqa: F401

        from workloads.system import current

        prepare = getattr(current(), "prepare", None)  # an exec: system starts its child now
        if prepare is not None:
            prepare(args.url, **json.loads(args.options).get("persist", {}))

        line = sys.stdin.readline()
        if line.strip() != "go":
            return 0
    client = module.CLIENTS[args.role]()
    options = json.loads(args.options)
    open_error: str | None = None
    try:
        client.open(args.url, options)
    except Exception as e:
        from persist.errors import PersistError

        if not isinstance(e, PersistError):
            traceback.print_exc()
            print(f"worker: opening persist at {args.url} failed with a non-persist error (traceback above)",
                  file=sys.stderr, flush=True)
            return 70
        open_error = _error_text(e)
        print(f"worker: persist refused to open: {open_error}", file=sys.stderr, flush=True)
    from persist.errors import PersistError

    out.send({"ready": True, "pid": os.getpid(), **({"open_error": open_error} if open_error else {})})

    def run(msg: dict) -> None:
        op_id = msg["id"]
        if open_error is not None:
            out.send({"id": op_id, "type": "fail", "error": f"open failed: {open_error}"})
            return
        try:
            value = client.invoke(msg["f"], msg.get("value"))
        except PersistError as e:
            out.send({"id": op_id, "type": "fail" if e.determinate else "info", "error": _error_text(e)})
        except Exception as e:  # a bug surfaces as itself: logged, recorded as indeterminate
            traceback.print_exc()
            sys.stderr.flush()
            out.send({"id": op_id, "type": "info", "error": "unexpected " + _error_text(e)})
        else:
            out.send({"id": op_id, "type": "ok", "value": value})

    pool = ThreadPoolExecutor(max_workers=max(1, args.threads), thread_name_prefix="client")
    for line in sys.stdin:
        if line.strip():
            msg = json.loads(line)
            if "failpoint" in msg:  # from the failpoint nemesis: armed before any later operation runs
                _failpoint_control(msg["failpoint"])
                continue
            pool.submit(run, msg)
    pool.shutdown(wait=True)
    if open_error is None:
        try:
            client.close()
        except Exception:
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
