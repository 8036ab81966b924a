"""Child process for test_blob_race: races on conditional writes.

argv: kind ("file" or "s3"), a JSON spec. Prints "ready", waits for one line
on stdin ("go"), then for each round r: create-only put of ``round-r``; then
CAS-increments the ``counter`` key ``incs`` times (retrying lost races).
Prints one JSON line: {"wins": [r...], "incs": [n...]} (n = the counter value
this process installed)."""

import json
import os
import sys


def main() -> None:
    kind, spec = sys.argv[1], json.loads(sys.argv[2])
    if kind == "file":
        from persist.storage import FileBlob

        blob = FileBlob(spec["root"])
    else:
        from persist.storage import S3Blob

        blob = S3Blob(spec["bucket"], **spec["options"])
    from persist.errors import ConflictError

    me = f"{os.getpid()}"
    print("ready", flush=True)
    sys.stdin.readline()
    wins = []
    for r in range(spec["rounds"]):
        try:
            blob.compare_and_set(f"round-{r}", None, me.encode())
            wins.append(r)
        except ConflictError:
            pass
    incs = []
    while len(incs) < spec["incs"]:
        got = blob.get_versioned("counter")
        n, token = (0, None) if got is None else (int(got[0].split(b":")[0]), got[1])
        try:
            # the value carries the winner's pid: a nonce against ABA on S3's MD5 ETags
            blob.compare_and_set("counter", token, f"{n + 1}:{me}".encode())
            incs.append(n + 1)
        except ConflictError:
            pass
    print(json.dumps({"pid": me, "wins": wins, "incs": incs}), flush=True)


if __name__ == "__main__":
    main()
