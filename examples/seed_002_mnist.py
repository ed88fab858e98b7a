"""Seed 002: MNIST with a 784-512-256-128-10 ReLU network, two ways of training it.

The write-up's recipe: He initialisation (W ~ N(0, 2 / n_in)), ReLU hidden layers, softmax +
cross-entropy, and *per-sample* stochastic gradient descent (one weight update per image,
learning rate 0.01) on a 5000-image subset for 10 epochs.  It reports no accuracy or time.

Next to it, the same network trained the way ffnn would by default: mini-batches of 128 and
Adam (learning rate 1e-3) on all 60,000 training images.  Both are scored on the official
10,000 test images; the side-by-side table shows time and test accuracy.

MNIST is read from $FFNN_DATA_DIR (or the cache, or downloaded: see ffnn.datasets.load_mnist).

Run:  python examples/seed_002_mnist.py   (FFNN_FAST=1 for a quick run)
"""

from __future__ import annotations

import time

import numpy as np
from _common import headline, parse_args, saved

import ffnn
from ffnn.datasets import load_mnist
from ffnn.metrics import accuracy

SIZES = [784, 512, 256, 128, 10]


def train(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
          optimizer: ffnn.Optimizer, epochs: int, batch_size: int) -> tuple[ffnn.Sequential,
                                                                           float, float]:
    """He-initialised 784-512-256-128-10 ReLU net; returns (net, seconds, test accuracy)."""
    net = ffnn.mlp(SIZES, activation="relu", init="he_normal", seed=0)
    t0 = time.perf_counter()
    ffnn.fit(net, X, y, "ce", optimizer, epochs=epochs, batch_size=batch_size, seed=0,
             verbose=0)
    seconds = time.perf_counter() - t0
    return net, seconds, accuracy(y_test, net.classify(X_test))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    X_train, y_train, X_test, y_test = load_mnist()
    if args.fast:
        n_subset, sgd_epochs, n_full, adam_epochs = 500, 1, 3000, 1
        X_test, y_test = X_test[:2000], y_test[:2000]
    else:
        n_subset, sgd_epochs, n_full, adam_epochs = 5000, 10, len(X_train), 5
    print(ffnn.mlp(SIZES, activation="relu", seed=0).summary())

    net_sgd, t_sgd, acc_sgd = train(X_train[:n_subset], y_train[:n_subset], X_test, y_test,
                                    ffnn.SGD(0.01), sgd_epochs, batch_size=1)
    net_adam, t_adam, acc_adam = train(X_train[:n_full], y_train[:n_full], X_test, y_test,
                                       ffnn.Adam(1e-3), adam_epochs, batch_size=128)
    steps_sgd = n_subset * sgd_epochs
    steps_adam = int(np.ceil(n_full / 128)) * adam_epochs
    print(f"\n{'training':<40} {'images':>7} {'epochs':>6} {'updates':>8} {'time':>8} "
          f"{'test accuracy':>13}")
    print(f"{'per-sample SGD, lr 0.01 (write-up)':<40} {n_subset:>7} {sgd_epochs:>6} "
          f"{steps_sgd:>8} {t_sgd:>7.1f}s {acc_sgd:>13.4f}")
    print(f"{'mini-batch 128, Adam 1e-3':<40} {n_full:>7} {adam_epochs:>6} {steps_adam:>8} "
          f"{t_adam:>7.1f}s {acc_adam:>13.4f}")
    print(f"(test accuracy on {len(X_test)} test images; "
          f"{t_sgd / steps_sgd * 1e3:.2f} ms per per-sample update, "
          f"{t_adam / steps_adam * 1e3:.2f} ms per 128-image update)")
    headline(f"per-sample SGD on {n_subset} images, {sgd_epochs} epochs: test accuracy "
             f"{acc_sgd:.4f} in {t_sgd:.0f} s (write-up: no number reported)")
    headline(f"mini-batch Adam on {n_full} images, {adam_epochs} epochs: test accuracy "
             f"{acc_adam:.4f} in {t_adam:.0f} s")

    out = args.output_dir
    path = out / "seed002_first_layer_weights.png"
    saved(ffnn.plots.plot_first_layer_weights(
        net_adam, max_units=36,
        title="seed 002: what 36 of the 512 first-layer units look for (Adam network)",
        save=path), path)
    pred = net_adam.classify(X_test)
    path = out / "seed002_misclassified.png"
    saved(ffnn.plots.plot_misclassified(
        X_test, y_test, pred, max_images=25, proba=net_adam.predict_proba(X_test),
        title="seed 002: test images the Adam network gets wrong", save=path), path)


if __name__ == "__main__":
    main()
