"""Seed 001 reproduced: moons (1000 points, noise 0.2, seed 42), 2-16-32-1 sigmoid, BCE,
full-batch gradient descent with lr 1.0 for 2000 epochs reaches >= 0.97 training accuracy.

The write-up warns that unlucky initialisations stall; measured over init seeds 0..19 with
ffnn, 17 of 20 reach 0.97 (docs/seed-001.md).  This test uses init seed 5.
"""

import numpy as np
import pytest

import ffnn

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def test_seed001_moons_reaches_097():
    X, y = sklearn_datasets.make_moons(n_samples=1000, noise=0.2, random_state=42)
    net = ffnn.mlp([2, 16, 32, 1], activation="sigmoid", seed=5)
    history = ffnn.fit(net, X, y, "bce", ffnn.SGD(1.0), epochs=2000, verbose=0)
    accuracy = float(np.mean(net.classify(X) == y))
    assert accuracy >= 0.97
    assert history["loss"][-1] < 0.10  # the write-up's "cost below ~0.10"
    assert len(history) == 2000
    assert history["loss"][0] > history["loss"][-1]


def test_fit_once_per_epoch_equals_one_call():
    """The optimiser keeps its state across calls: 5 x fit(epochs=1) == fit(epochs=5)."""
    X, y = sklearn_datasets.make_moons(n_samples=200, noise=0.2, random_state=0)
    a = ffnn.mlp([2, 8, 1], activation="tanh", seed=0, dtype=np.float64)
    b = a.copy()
    opt_a, opt_b = ffnn.SGD(0.5, momentum=0.9), ffnn.SGD(0.5, momentum=0.9)
    ffnn.fit(a, X, y, "bce", opt_a, epochs=5, batch_size=None, seed=1, verbose=0)
    for _ in range(5):
        ffnn.fit(b, X, y, "bce", opt_b, epochs=1, batch_size=None, seed=1, verbose=0)
    for k, w in a.parameters().items():
        np.testing.assert_array_equal(w, b.parameters()[k])
