"""Benchmarks run (on tiny sizes) and print ratios against their anchor."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_matmul_benchmark_prints_ratios() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/matmul.py", "--sizes", "8", "16", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [ln.split() for ln in proc.stdout.splitlines()[2:]]
    assert len(rows) == 6
    anchors = [r for r in rows if r[1] == "torch.matmul"]
    assert [float(r[-1]) for r in anchors] == [1.0, 1.0]
    assert all(float(r[-1]) > 0 for r in rows)
