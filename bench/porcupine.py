"""Build and run Porcupine (Go) beside our checker, from the vendored source
in ``../shared/anchors/porcupine`` (no network: the module is replaced by a
copy of that directory, ``GOPROXY=off``).

The driver is ``bench/porcupine_driver/main.go`` (timing glue) plus
``models.go``, cut at build time from Porcupine's own ``porcupine_test.go``:
the etcd model and its Jepsen-log parser (from ``type etcdInput`` up to
``func checkJepsen``) and the kv model and its parser (from ``type kvInput``
up to ``func checkKv``), unchanged, in package main with Porcupine
dot-imported so their unqualified names resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANCHOR = (HERE.parent / ".." / "shared" / "anchors" / "porcupine").resolve()

_HEADER = '''// Cut from Porcupine's porcupine_test.go (MIT, Copyright (c) Anish Athalye)
// by bench/porcupine.py; do not edit.
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"

	. "github.com/anishathalye/porcupine"
)

var _ = fmt.Sprintf
var _ = fnv.New64a
var _ = io.EOF
var _ = sort.Ints
'''


def _cut(src: str, start: str, end: str) -> str:
    i = src.index(start)
    return src[i:src.index(end, i)]


def build(anchor: Path = ANCHOR, out_dir: Path | None = None) -> Path:
    """Build the driver; returns the binary's path. Raises RuntimeError with
    go's output if the build fails."""
    if shutil.which("go") is None:
        raise RuntimeError("go is not installed (Debian: apt-get install golang-go)")
    work = Path(out_dir or tempfile.mkdtemp(prefix="porcupine-bench-"))
    lib = work / "porcupine"
    if lib.exists():
        shutil.rmtree(lib)
    shutil.copytree(anchor, lib, ignore=shutil.ignore_patterns("*_test.go", "visualization"))
    # visualization.go embeds the visualization directory: keep it
    shutil.copytree(anchor / "visualization", lib / "visualization")
    drv = work / "driver"
    drv.mkdir(exist_ok=True)
    test_src = (anchor / "porcupine_test.go").read_text()
    models = _HEADER + _cut(test_src, "type etcdInput struct", "func checkJepsen(") + _cut(test_src, "type kvInput struct", "func checkKv(")
    (drv / "models.go").write_text(models)
    shutil.copy(HERE / "porcupine_driver" / "main.go", drv / "main.go")
    (drv / "go.mod").write_text(
        "module porcupinedriver\n\ngo 1.16\n\nrequire github.com/anishathalye/porcupine v0.0.0\n\n"
        "replace github.com/anishathalye/porcupine => ../porcupine\n"
    )
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GO111MODULE": "on", "GOPATH": str(work / "gopath"), "GOCACHE": str(work / "gocache")}
    binary = work / "porcupine-driver"
    cp = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=drv, env=env, capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError(f"building the Porcupine driver failed:\n{cp.stdout}{cp.stderr}")
    return binary


def run(binary: Path, files: list[tuple[Path, str]], timeout_s: float = 60) -> list[dict]:
    """Check ``files`` (path, "etcd" or "kv") in one process; one dict per
    file: verdict, parse/check CPU and wall (seconds)."""
    args = [str(binary), f"-timeout={timeout_s}s"] + [f"{p}:{k}" for p, k in files]
    cp = subprocess.run(args, capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError(f"the Porcupine driver failed ({cp.returncode}): {cp.stderr}")
    return [json.loads(line) for line in cp.stdout.splitlines()]
