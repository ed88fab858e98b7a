"""Every example script runs in fast mode, exits 0, prints its headline numbers and writes its
plots; the numbers that do not depend on training length are held to the write-ups' targets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NEEDS_MNIST = {"seed_002_mnist.py", "seed_003_mnist_curves.py"}

# script -> (number of headline lines, plots it writes)
EXPECTED = {
    "seed_000_lecture.py": (4, ["seed000_classes_3d.png", "seed000_classification_history.png",
                                "seed000_regression.png"]),
    "seed_001_moons.py": (3, ["seed001_moons_boundary.png", "seed001_circles_boundary.png",
                              "seed001_blobs_boundary.png", "seed001_costs.png"]),
    "seed_002_mnist.py": (2, ["seed002_first_layer_weights.png", "seed002_misclassified.png"]),
    "seed_003_mnist_curves.py": (2, ["seed003_relu_curves.png", "seed003_sigmoid_curves.png",
                                     "seed003_confusion_matrix.png",
                                     "seed003_gradient_flow.png"]),
    "seed_004_housing.py": (2, ["seed004_predictions.png", "seed004_loss.png"]),
    "seed_001_sweep.py": (3, ["seed001_sweep_share.png"]),
}


def run_example(name: str, tmp_path: Path, mnist_available: bool) -> list[str]:
    """Run one script as a user would (fast mode, no display); return its headline lines."""
    if name in NEEDS_MNIST and not mnist_available:
        pytest.skip("MNIST not available here; set FFNN_DATA_DIR")
    env = {**os.environ, "FFNN_FAST": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    headlines = [line for line in proc.stdout.splitlines() if line.startswith("headline: ")]
    n_headlines, plots = EXPECTED[name]
    assert len(headlines) == n_headlines, proc.stdout
    for plot in plots:
        path = tmp_path / plot
        assert path.is_file() and path.stat().st_size > 10_000, f"{plot} missing or empty"
    return headlines


def number(pattern: str, lines: list[str]) -> float:
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return float(m.group(1))
    raise AssertionError(f"no line matches {pattern!r} in:\n" + "\n".join(lines))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_its_headline(name, tmp_path, mnist_available):
    lines = run_example(name, tmp_path, mnist_available)
    if name == "seed_000_lecture.py":
        assert number(r"classification training accuracy ([\d.]+) \(write-up: 100%\)",
                      lines) == 1.0
        assert number(r"regression training R\^2 ([\d.]+) \(write-up: 0.98\)", lines) >= 0.98
        # the extrapolated part is far worse than the interpolated part: the write-up's point
        assert number(r"regression test R\^2 (-?[\d.]+)", lines) < 0.5
        assert number(r"largest difference ([\d.e+-]+)", lines) < 1e-5
    elif name == "seed_001_moons.py":
        for line in lines:
            m = re.search(r"gradient checks (\d+)/(\d+) passed", line)
            assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 3, line
        assert number(r"blobs: .* training accuracy ([\d.]+)", lines) >= 0.97
    elif name == "seed_002_mnist.py":
        assert number(r"per-sample SGD .* test accuracy ([\d.]+)", lines) > 0.5
        assert number(r"mini-batch Adam .* test accuracy ([\d.]+)", lines) > 0.7
    elif name == "seed_003_mnist_curves.py":
        assert number(r"ReLU validation accuracy ([\d.]+)", lines) > 0.85
    elif name == "seed_004_housing.py":
        assert number(r"loss at epoch 140 ([\d.]+)", lines) < 0.02
        assert number(r"max \|X w \+ c - network\| = ([\d.e+-]+)", lines) < 1e-6
    elif name == "seed_001_sweep.py":  # 4 seeds x 3 optimisers (the shares need 2000 epochs)
        for line in lines:
            assert re.search(r": \d of 4 seeds reach training accuracy >= 0.97", line), line
