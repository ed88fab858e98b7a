"""Smoke test of the MNIST race harness (issue 8): ``benchmarks/mnist_race.py --quick``.

It needs MNIST and takes ~30-60 s, so it runs only when ``FFNN_BENCH_SMOKE=1`` is set
(e.g. ``FFNN_BENCH_SMOKE=1 .venv/bin/python -m pytest tests/test_benchmarks_smoke.py``).
PyTorch is left out (``--skip-torch``): it is a benchmark peer, never an ffnn dependency.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "mnist_race.py"

pytestmark = pytest.mark.skipif(
    os.environ.get("FFNN_BENCH_SMOKE") != "1",
    reason="benchmark smoke test: set FFNN_BENCH_SMOKE=1 to run mnist_race.py --quick",
)


def test_mnist_race_quick_prints_the_summary(tmp_path: Path) -> None:
    out_json = tmp_path / "race.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--skip-torch", "--json", str(out_json)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "== issue 8 targets ==" in out
    for section in ("matmul bound", "inference", "moons", "784-64-32-10", "peak memory",
                    "BLAS"):
        assert section in out, f"section {section!r} missing from the output"
    for target in ("1a", "1b", "2", "3", "4", "5"):
        assert any(line.split()[:1] == [target] for line in out.splitlines()), target
    data = json.loads(out_json.read_text())
    assert data["mnist"]["frameworks"]["ffnn"]["median_s_per_epoch"] > 0
    assert data["mnist"]["matmul_bound"]["median_s_per_epoch"] > 0
    assert {row["verdict"] for row in data["targets"]} <= {"PASS", "FAIL", "n/a"}
