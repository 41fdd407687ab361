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


def _quick(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, script, "--quick", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _sections(stdout: str) -> dict[str, list[list[str]]]:
    """Numbered section ("1", "2", ...) -> its table rows, split on whitespace, header dropped."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in stdout.splitlines():
        head = line.split(". ", 1)[0]
        if head.isdigit():
            current = sections.setdefault(head, [])
        elif current is not None and line.strip() and not line.startswith(("shape ", "   ")):
            current.append(line.split())
    return sections


def test_conv_benchmark_prints_ratios() -> None:
    sections = _sections(_quick("benchmarks/conv.py"))
    against_torch, against_im2col, memory = sections["1"], sections["2"], sections["3"]
    assert [r[1] for r in against_torch] == ["F.conv2d", "im2col"] * 3
    assert [r[1] for r in against_im2col] == ["im2col", "loops"]
    for rows, anchor in [(against_torch, "F.conv2d"), (against_im2col, "im2col")]:
        assert all(float(r[3]) == float(r[5]) == 1.0 for r in rows if r[1] == anchor)
        assert all(float(r[3]) > 0 and float(r[5]) > 0 for r in rows)
    # im2col's cols against x: kh * kw for a same 3x3 conv, 49 * Ho * Wo / (H * W) for the stem
    assert [(r[0], r[3], r[4]) for r in memory] == [
        ("digits", "9.00x", "9.00x"),
        ("c16", "9.00x", "9.00x"),
        ("stem", "12.25x", "12.25x"),
    ]


def test_optimizers_benchmark_prints_ratios() -> None:
    stdout = _quick("benchmarks/optimizers.py")
    names = ["Adam", "SGD", "RMSprop"]
    rows = [ln.split() for ln in stdout.splitlines() if ln.split()[:1] in [[n] for n in names]]
    for name in names:
        variants = {r[1]: float(r[3]) for r in rows if r[0] == name}
        assert variants["foreach=False"] == 1.0
        assert {"ours", "foreach=True"} <= variants.keys()
        assert all(value > 0 for value in variants.values())
    assert "the gap:" in stdout


def test_warm_kernel_benchmark_prints_its_ratio_and_the_same_sandbox() -> None:
    """Both modes start a kernel; the run fails when the warm kernel's view of its sandbox (user,
    root, hostname, files, network, read-only system) differs from the cold one's."""
    proc = subprocess.run(
        [sys.executable, "benchmarks/warm_kernel.py", "--n", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if proc.stdout.startswith("skipped"):
        return  # not root, or no bubblewrap: there is no anchor to compare with
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[2:4]}
    assert rows["cold"][-1] == "1.00x" and float(rows["warm"][-1].rstrip("x")) > 0
    assert "warm view:" in proc.stdout and '"host": "sandbox"' in proc.stdout
