"""Seed 004: house prices with three stacked linear layers, MSE and plain gradient descent.

The write-up's network has Dense layers and *no activations*: 5 -> 8 -> 4 -> 1 here, trained
by full-batch gradient descent on a synthetic, normalised housing data set.  It prints the
loss every 20 epochs (0, 20, ..., 140) and predictions next to targets before and after.

It also says, correctly, that without activations the layers collapse into one linear map.
Measured here: multiplying out

    y^ = ((X W1 + b1) W2 + b2) W3 + b3 = X (W1 W2 W3) + (b1 W2 W3 + b2 W3 + b3) = X w + c

gives a single 5 x 1 matrix w and a scalar c whose predictions equal the network's, and the
loss it converges to is the least-squares optimum of that one linear map: more layers bought
no expressiveness, only a different path for the gradients.

Run:  python examples/seed_004_housing.py   (FFNN_FAST=1 changes nothing: it takes a second)
"""

from __future__ import annotations

import numpy as np
from _common import headline, parse_args, saved

import ffnn
from ffnn.datasets import HOUSING_FEATURES, housing
from ffnn.metrics import r2_score


def show_predictions(label: str, net: ffnn.Sequential, X: np.ndarray, y: np.ndarray) -> None:
    """The first 10 predictions above their targets, as the write-up prints them."""
    def row(a: np.ndarray) -> str:
        return np.array2string(a, precision=6, floatmode="fixed", suppress_small=True,
                               max_line_width=200)

    print(f"{label}\n  Prediction: {row(net.predict(X[:10])[:, 0])}\n"
          f"  Target    : {row(y[:10])}")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    X, y = housing(n_samples=500, n_features=5, noise=0.1, seed=0)
    print(f"{len(X)} houses, features: "
          + ", ".join(name for name, *_ in HOUSING_FEATURES[:5]) + " (normalised)\n")
    rng = np.random.default_rng(0)
    net = ffnn.Sequential(ffnn.Dense(5, 8, rng=rng), ffnn.Dense(8, 4, rng=rng),
                          ffnn.Dense(4, 1, rng=rng))
    print(net.explain(loss="mse"), "\n")
    show_predictions("before training:", net, X, y)
    history = ffnn.fit(net, X, y, "mse", ffnn.SGD(0.05), epochs=150, seed=0, verbose=0)
    show_predictions("after 150 epochs of full-batch gradient descent (lr 0.05):", net, X, y)

    # the loss of epoch e is measured in that epoch's forward pass, before its update
    print("\n+-------+------------+\n| epoch | loss       |\n+-------+------------+")
    for e in range(0, 150, 20):
        print(f"| {e:>5} | {history['loss'][e]:<10.6g} |")
    print("+-------+------------+")

    # one linear map: multiply the layers out (in float64, so rounding does not blur it)
    net64 = net.astype(np.float64)
    (W1, b1), (W2, b2), (W3, b3) = [(d.params["W"], d.params["b"]) for d in net64.layers]
    w = W1 @ W2 @ W3
    c = b1 @ W2 @ W3 + b2 @ W3 + b3
    diff = float(np.max(np.abs(X @ w + c - net64.predict(X))))
    A = np.hstack([X, np.ones((len(X), 1))])  # least squares with an intercept column
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    ols_mse = float(np.mean((A @ coef - y) ** 2))
    final = ffnn.evaluate(net, X, y, "mse")["loss"]
    print(f"\nmultiplied out: w = W1 W2 W3 = {w[:, 0]},  c = {c[0]:.6f}")
    print(f"least squares:  w = {coef[:5]},  c = {coef[5]:.6f}")
    print(f"final loss {final:.6f}; least-squares optimum of one linear map {ols_mse:.6f}; "
          f"R^2 {r2_score(y, net.predict(X)[:, 0]):.4f}")
    headline(f"loss at epoch 140 {history['loss'][140]:.6f} (write-up: 0.00353450 on its own "
             f"synthetic data; the best any linear map can do here: {ols_mse:.6f})")
    headline(f"three linear layers = one linear map: max |X w + c - network| = {diff:.1e} "
             f"(target < 1e-6)")

    path = args.output_dir / "seed004_predictions.png"
    saved(ffnn.plots.plot_regression(net, X, y, title="seed 004: 5-8-4-1 linear network",
                                     save=path), path)
    path = args.output_dir / "seed004_loss.png"
    saved(ffnn.plots.plot_history(history, log_scale=True,
                                  title="seed 004: MSE per epoch, full-batch gradient descent",
                                  save=path), path)


if __name__ == "__main__":
    main()
