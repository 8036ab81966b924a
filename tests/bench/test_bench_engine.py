"""Smoke test: bench/engine.py --quick runs every section and prints its table.

No timing assertions: the figures belong in BENCHMARKS.md, not in CI."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROWS = [
    "durable writes, batch 1 (file://)",
    "durable writes, batch 100 (file://)",
    "durable writes, batch 1,000 (file://)",
    "durable writes, batch 10,000 (file://)",
    "8 threads, single-update writes",
    "snapshot of 20,000 updates",
    "open",
    "peak memory of a 20,000-update snapshot",
    "durable writes, batch 1 (s3 (moto))",
    "restart: open",
]


@pytest.mark.slow
@pytest.mark.s3
def test_bench_engine_quick_prints_every_row(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "engine.py"), "--quick", "--markdown", "--dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for row in ROWS:
        assert row in out.stdout, f"row {row!r} missing from:\n{out.stdout}"
    for section in ("| write |", "| concurrent |", "| snapshot |", "| restart |", "| memory |", "| s3 |"):
        assert section in out.stdout
    assert "repeat" in out.stderr  # progress is shown while it runs
