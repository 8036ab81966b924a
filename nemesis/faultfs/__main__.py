"""``python -m nemesis.faultfs mount BACKING MOUNT``: serve a fault filesystem in the foreground
for a person to try (Ctrl-C unmounts). ``--control SOCK`` also opens the control socket."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nemesis.faultfs")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mount", help="mount BACKING at MOUNT in the foreground (Ctrl-C unmounts)")
    m.add_argument("backing")
    m.add_argument("mountpoint")
    m.add_argument("--control", help="also serve the control protocol on this Unix socket")
    m.add_argument("--debug", action="store_true")
    a = ap.parse_args(argv)
    from nemesis.faultfs.fs import available

    ok, why = available()
    if not ok:
        print(f"cannot mount the fault filesystem: {why}", file=sys.stderr)
        return 3
    from nemesis.faultfs.server import serve

    print(f"faultfs: serving {a.backing} at {a.mountpoint}; Ctrl-C unmounts", file=sys.stderr)
    return serve(a.backing, a.mountpoint, a.control, debug=a.debug)


if __name__ == "__main__":
    sys.exit(main())
