"""Seed 003: an MNIST MLP with training/validation curves, a confusion matrix, and the
sigmoid-versus-ReLU comparison the write-up argues for, measured.

The write-up shows loss and accuracy curves for training and validation data rising to ~98%
validation accuracy and a confusion matrix with little confusion (mostly 4 vs 9).  It argues
for ReLU over sigmoid because sigmoid's derivative (at most 1/4) shrinks the gradient at every
layer.  Here both are trained with the same architecture (784-256-128-10), the same data,
optimiser (Adam 1e-3, batches of 128), seed and number of epochs, and both are printed:
validation accuracy per epoch, and the gradient per weight of every layer at initialisation.

The validation set is the last 10,000 training images (never trained on); the official
10,000 test images are scored once at the end.

Run:  python examples/seed_003_mnist_curves.py   (FFNN_FAST=1 for a quick run)
"""

from __future__ import annotations

import time

import numpy as np
from _common import headline, parse_args, saved

import ffnn
from ffnn.datasets import load_mnist
from ffnn.metrics import accuracy

SIZES = [784, 256, 128, 10]


def train(activation: str, data: tuple, epochs: int) -> tuple[ffnn.Sequential, ffnn.History,
                                                               float]:
    """Train the 784-256-128-10 network with one activation; returns (net, history, seconds)."""
    X_train, y_train, X_val, y_val = data
    net = ffnn.mlp(SIZES, activation=activation, seed=0)
    t0 = time.perf_counter()
    history = ffnn.fit(net, X_train, y_train, "ce", ffnn.Adam(1e-3), epochs=epochs,
                       batch_size=128, seed=0, verbose=0, validation_data=(X_val, y_val))
    return net, history, time.perf_counter() - t0


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    X, y, X_test, y_test = load_mnist()
    if args.fast:
        n_train, n_val, epochs = 3000, 1000, 2
        X_test, y_test = X_test[:2000], y_test[:2000]
    else:
        n_train, n_val, epochs = 50000, 10000, 10
    data = (X[:n_train], y[:n_train], X[-n_val:], y[-n_val:])
    print(f"{n_train} training images, {n_val} validation images (the last {n_val} of the "
          f"training set), {len(X_test)} test images; {epochs} epochs each\n")

    # the vanishing-gradient argument, measured at initialisation on one batch of 256 images
    batch = (X[:256], y[:256])
    norms = {act: ffnn.diagnostics.gradient_norms(ffnn.mlp(SIZES, activation=act, seed=0),
                                                  *batch, "ce")
             for act in ("relu", "sigmoid")}
    print("gradient per weight ||dW_l|| / sqrt(n_l) at initialisation (one batch of 256):")
    for act, g in norms.items():
        print(f"  {act:<8}" + "".join(f"  layer {l + 1}: {v:.2e}" for l, v in enumerate(g))
              + f"   (layer 1 / layer {len(g)}: {g[0] / g[-1]:.2f})")

    results = {}
    for act in ("relu", "sigmoid"):
        results[act] = train(act, data, epochs)
    print(f"\n{'epoch':>5}  {'ReLU val acc':>12}  {'sigmoid val acc':>15}  "
          f"{'ReLU val loss':>13}  {'sigmoid val loss':>16}")
    hr, hs = results["relu"][1], results["sigmoid"][1]
    for e in range(epochs):
        print(f"{e + 1:>5}  {hr['val_accuracy'][e]:>12.4f}  {hs['val_accuracy'][e]:>15.4f}  "
              f"{hr['val_loss'][e]:>13.4f}  {hs['val_loss'][e]:>16.4f}")
    for act, (net, _, seconds) in results.items():
        acc = accuracy(y_test, net.classify(X_test))
        print(f"{act}: trained in {seconds:.0f} s, test accuracy {acc:.4f}")

    net = results["relu"][0]
    best = int(np.argmax(hr["val_accuracy"]))
    headline(f"ReLU validation accuracy {hr['val_accuracy'][-1]:.4f} after {epochs} epochs "
             f"(best {hr['val_accuracy'][best]:.4f} at epoch {best + 1}; write-up: ~98%)")
    headline(f"sigmoid vs ReLU, same {epochs} epochs: validation accuracy "
             f"{hs['val_accuracy'][-1]:.4f} vs {hr['val_accuracy'][-1]:.4f}; after epoch 1 "
             f"{hs['val_accuracy'][0]:.4f} vs {hr['val_accuracy'][0]:.4f}")

    out = args.output_dir
    path = out / "seed003_relu_curves.png"
    saved(ffnn.plots.plot_history(hr, title="seed 003: 784-256-128-10 ReLU, Adam, batch 128",
                                  save=path), path)
    path = out / "seed003_sigmoid_curves.png"
    saved(ffnn.plots.plot_history(hs, title="seed 003: the same network with sigmoid",
                                  save=path), path)
    pred = net.classify(X_test)
    path = out / "seed003_confusion_matrix.png"
    saved(ffnn.plots.plot_confusion_matrix(
        y_test, pred, title=f"seed 003: ReLU network on {len(X_test)} test images "
                            f"(accuracy {accuracy(y_test, pred):.4f})", save=path), path)
    path = out / "seed003_gradient_flow.png"
    saved(ffnn.diagnostics.plot_gradient_flow(
        norms, labels=["ReLU (He init)", "sigmoid (Glorot init)"],
        title="seed 003: gradient per weight at initialisation", save=path), path)


if __name__ == "__main__":
    main()
