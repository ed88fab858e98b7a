"""MNIST end to end (real data from FFNN_DATA_DIR; skipped when it is not there)."""

import os
import time

import numpy as np
import pytest

import ffnn

datasets = pytest.importorskip("ffnn.datasets")


@pytest.fixture(scope="module")
def mnist():
    try:
        return datasets.load_mnist(download=False)
    except datasets.DataUnavailableError as exc:
        pytest.skip(f"MNIST not available here ({exc}); set FFNN_DATA_DIR")


def test_issue_recipe_reaches_97_percent_after_two_epochs(mnist):
    """784-512-256-128-10 ReLU, softmax CE, Adam 1e-3, batch 128, float32, 2 epochs."""
    Xtr, ytr, Xte, yte = mnist
    net = ffnn.mlp([784, 512, 256, 128, 10], activation="relu", seed=0)
    t0 = time.perf_counter()
    history = ffnn.fit(net, Xtr, ytr, "ce", ffnn.Adam(1e-3), epochs=2, batch_size=128, seed=0,
                       verbose=0)
    elapsed = time.perf_counter() - t0
    accuracy = float(np.mean(net.classify(Xte) == yte))
    print(f"MNIST 2 epochs: test accuracy {accuracy:.4f} in {elapsed:.1f} s")
    assert accuracy >= 0.97
    assert history["accuracy"][-1] > 0.97
    assert net.dtype == np.float32


def test_seed002_per_sample_sgd_runs(mnist):
    """Seed 002: He init, per-sample SGD with lr 0.01 on a 5000-image subset."""
    Xtr, ytr, Xte, yte = mnist
    n = 5000 if not os.environ.get("FFNN_FAST") else 2000
    net = ffnn.mlp([784, 512, 256, 128, 10], activation="relu", init="he_normal", seed=0)
    ffnn.fit(net, Xtr[:n], ytr[:n], "ce", ffnn.SGD(0.01), epochs=1, batch_size=1, seed=0,
             verbose=0)
    accuracy = float(np.mean(net.classify(Xte) == yte))
    print(f"seed 002 setting, {n} images, 1 epoch per-sample SGD: test accuracy {accuracy:.4f}")
    assert accuracy > 0.85
