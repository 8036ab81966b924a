"""Child process for test_wal_crash: appends from 4 threads until killed.

argv: wal dir, seed. Prints ``A <seqno> <tag>`` after each acknowledged
append and ``F <path> <length>`` after each fsync (before the acks it
covers), each as one write of one whole line."""

import os
import random
import sys
import threading

from persist.storage import FileWal

out_lock = threading.Lock()


def say(line: str) -> None:
    with out_lock:
        os.write(1, (line + "\n").encode())


def main() -> None:
    d, seed = sys.argv[1], int(sys.argv[2])
    wal = FileWal(d, segment_bytes=64 * 1024, on_fsync=lambda p, n: say(f"F {p} {n}"))
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
