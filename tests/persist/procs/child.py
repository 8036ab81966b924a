"""Child processes for the multi-process engine tests. Each prints one line
per event on stdout (flushed) and never reads a shared queue, so the parent
can SIGKILL or SIGSTOP it at any moment.

    python -m tests.persist.procs.child writer URL [WAL_DIR]   # writes until killed
    python -m tests.persist.procs.child reader URL             # snapshots until killed
    python -m tests.persist.procs.child fenced URL WAL_DIR     # write+seal loop, reports outcomes
    python -m tests.persist.procs.child operator URL           # persisted-stream operator over a source

Writers print ``ack KEY`` only after ``write`` returned (durable), and ``start
I`` before they begin operation I. S3 endpoint and credentials come from the
environment (PERSIST_TEST_ENDPOINT, AWS_ACCESS_KEY_ID, ...).
"""

import os
import sys
import time


def say(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def main():
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the parent asks for the stacks of a hung child
    import persist
    from persist import errors

    mode, url = sys.argv[1], sys.argv[2]
    wal_dir = sys.argv[3] if len(sys.argv) > 3 else None
    endpoint = os.environ.get("PERSIST_TEST_ENDPOINT")
    tag = f"{os.getpid()}"
    if mode == "writer":
        p = persist.open(url, wal_dir=wal_dir, endpoint_url=endpoint, drain_bytes=int(os.environ.get("DRAIN_BYTES", "4000")))
        s = p.stream("s")
        base = s.upper
        say("open", p.epoch, base)
        i = 0
        while True:
            key = f"{tag}-{i}"
            s.write([(key.encode(), b"", base + i, 1)])
            say("ack", key)
            if i % 3 == 2:
                s.seal(base + i + 1)
                say("sealed", base + i + 1)
                if i % 9 == 8:
                    s.allow_compaction(base + i)
            i += 1
    elif mode == "reader":
        r = persist.open_reader(url, endpoint_url=endpoint)
        seen: set = set()
        n = 0
        while True:
            try:
                s = r.stream("s")
                upper = s.upper
                if upper == 0:
                    time.sleep(0.01)
                    continue
                snap = s.snapshot(upper - 1).to_list()
            except (errors.UnknownStreamError, errors.AsOfError):
                time.sleep(0.01)  # not registered yet / since moved between reads
                continue
            keys = {k for k, _, _ in snap}
            bad = [row for row in snap if row[1] != b"" or row[2] != 1]
            if bad or not seen <= keys:
                say("BAD", f"diffs {bad[:3]} lost {sorted(seen - keys)[:3]}")
                sys.exit(1)
            seen = keys
            n += 1
            say("snap", n, upper, len(keys))
    elif mode == "fenced":
        p = persist.open(url, wal_dir=wal_dir, endpoint_url=endpoint, background=False)
        s = p.stream("s")
        say("open", p.epoch, s.upper)
        i = 0
        while True:
            say("start", i)
            try:
                s.write([(f"A-{i}".encode(), b"", 1000 + i, 1)])
                s.seal(1000 + i + 1)
                say("ok", i)
            except errors.FencedError as e:
                say("fenced", i, str(e).replace("\n", " "))
                try:
                    s.write([(b"A-after", b"", 10**6, 1)])
                    say("after-fence-write", "accepted")
                except errors.FencedError:
                    say("after-fence-write", "fenced")
                sys.exit(0)
            i += 1
            time.sleep(0.002)
    elif mode == "operator":
        from persist.operators import persisted_stream

        ticks = int(os.environ.get("TICKS", "120"))

        def source(resume_from):
            for t in range(resume_from, ticks):
                yield ("data", [(f"u{t}-{i}".encode(), b"", t, 1) for i in range(2)])
                if t % 2 == 1 or t + 1 == ticks:
                    yield ("progress", t + 1)

        p = persist.open(url, drain_bytes=int(os.environ.get("DRAIN_BYTES", "2000")))
        for kind, arg in persisted_stream(p.stream("s"), source):
            if kind == "data":
                say("data", ",".join(k.decode() for k, _, _, _ in arg))
            else:
                say("progress", arg)
        say("done")
        p.close()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
