"""Child process for test_wal_crash: appends from 4 threads until killed.

argv: wal dir, seed, [lie]. Prints ``A <seqno> <tag>`` after each
acknowledged append and ``F <path> <length>`` after each fsync, each as one
write of one whole line. The ``F`` lines come from a tracer that wraps
``os.fsync``/``os.fdatasync`` (tests/persist/durable.py), not from the
engine: what is durable is observed, never taken on the engine's word.
With ``lie`` the engine is patched to acknowledge appends without their
fsync (a planted bug the power-loss test must catch)."""

import os
import random
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)

from persist.storage import FileWal  # noqa: E402
from tests.persist.durable import Tracer  # noqa: E402

out_lock = threading.Lock()


def say(line: str) -> None:
    with out_lock:
        os.write(1, (line + "\n").encode())


def main() -> None:
    d, seed = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "lie":
        FileWal._fsync = lambda self, fd, path, size: None
    os.makedirs(d, exist_ok=True)
    Tracer(d, on_sync=lambda p, n: say(f"F {p} {n}")).__enter__()
    wal = FileWal(d, segment_bytes=64 * 1024)
    say("R")

    def run(t: int) -> None:
        rng = random.Random(seed * 100 + t)
        i = 0
        while True:
            tag = f"{seed}.{t}.{i}"
            seqno = wal.append(tag.encode() + b":" + bytes(rng.randrange(3000)))
            say(f"A {seqno} {tag}")
            i += 1

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(4)]
    for th in threads:
        th.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
