"""Seed 000: the lecture's two-layer networks, classification and regression.

1. 3-D, four classes: 3-10-4, sigmoid hidden layer, softmax + cross-entropy, full-batch
   gradient descent.  The write-up reaches 100% training accuracy on 99 points.
2. 1-D regression: 1-10-1, sigmoid hidden layer, linear output, MSE, trained on the left 70%
   of the x range and tested on the right 30%.  The write-up reaches training R^2 = 0.98;
   its test R^2 is poor on purpose: the model has to extrapolate.
3. One training step traced and printed in the lecture's notation (X~ = [1, X], V with the
   bias as first row, X^ = X~ V, F, F~, W, F^, G, E) next to ffnn's Z = X W + b.

Run:  python examples/seed_000_lecture.py   (FFNN_FAST=1 for a quick run)
"""

from __future__ import annotations

import numpy as np
from _common import headline, parse_args, saved

import ffnn
from ffnn.datasets import extrapolation_split, four_class_3d, regression_1d
from ffnn.metrics import accuracy, r2_score


def classification(out) -> float:
    """3-10-4 sigmoid + softmax CE on the 99-point tetrahedron set; returns training accuracy."""
    X, y = four_class_3d(n_samples=99, seed=0)
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    history = ffnn.fit(net, X, y, "ce", ffnn.SGD(1.0), epochs=500, seed=0, verbose=0)
    acc = accuracy(y, net.classify(X))
    print(f"3-D four-class: {len(X)} points, 3-10-4 sigmoid + softmax, 500 epochs of "
          f"full-batch GD (lr 1.0): final cost {history['loss'][-1]:.4f}")
    headline(f"3-D classification training accuracy {acc:.3f} (write-up: 100%)")
    saved(ffnn.plots.plot_dataset(X, y, title="seed 000: four classes in 3-D (99 points)",
                                  save=out / "seed000_classes_3d.png"),
          out / "seed000_classes_3d.png")
    saved(ffnn.plots.plot_history(history, log_scale=True,
                                  title="seed 000: 3-10-4 classifier, training curves",
                                  save=out / "seed000_classification_history.png"),
          out / "seed000_classification_history.png")
    return acc


def regression(out, epochs: int) -> tuple[float, float]:
    """1-10-1 sigmoid + linear, MSE, 70/30 extrapolation split; returns (train R^2, test R^2)."""
    X, y = regression_1d(n_samples=100, noise=0.1, seed=0)
    X_train, y_train, X_test, y_test = extrapolation_split(X, y, train_fraction=0.7)
    net = ffnn.mlp([1, 10, 1], activation="sigmoid", seed=0)
    ffnn.fit(net, X_train, y_train, "mse", ffnn.SGD(0.1), epochs=epochs, seed=0, verbose=0)
    r2_train = r2_score(y_train, net.predict(X_train)[:, 0])
    r2_test = r2_score(y_test, net.predict(X_test)[:, 0])
    print(f"\n1-D regression: y = sin(1.5 x) + 0.3 x + noise; trained on x in "
          f"[{X_train.min():.2f}, {X_train.max():.2f}], tested on x in "
          f"[{X_test.min():.2f}, {X_test.max():.2f}]; {epochs} epochs of full-batch GD (lr 0.1)")
    headline(f"1-D regression training R^2 {r2_train:.3f} (write-up: 0.98)")
    headline(f"1-D regression test R^2 {r2_test:.3f} (write-up: 'intentionally weak', "
             f"the test x lie right of every training x)")
    print("  Why: a sum of 10 sigmoids can only continue smoothly past the last training "
          "point\n  (each unit flattens out towards 0 or 1), while the true curve turns down; "
          "nothing\n  in the training data tells the network about that turn.")
    saved(ffnn.plots.plot_regression(
        net, X_train, y_train, X_test, y_test,
        title="seed 000: 1-10-1 regression; shaded = extrapolation (never seen in training)",
        save=out / "seed000_regression.png"), out / "seed000_regression.png")
    return r2_train, r2_test


def traced_step() -> float:
    """Trace one training step and print it in the lecture's notation; returns the largest
    difference between the lecture quantities and ffnn's."""
    X, y = four_class_3d(n_samples=99, seed=0)
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    with ffnn.tracing.trace(net, steps=1) as t:
        ffnn.fit(net, X, y, "ce", ffnn.SGD(1.0), epochs=1, seed=0, verbose=0)
    step = t[0]
    print("\nOne step of training, every lecture quantity (the first rows of each):")
    step.show(notation="lecture", edgeitems=2, precision=4)
    lec = ffnn.tracing.lecture_view(step)
    pairs = [(lec["X_hat"], step["Z1"]), (lec["F"], step["A1"]), (lec["F_hat"], step["Z2"]),
             (lec["dW_lecture"], np.vstack([step["db2"][None, :], step["dW2"]])),
             (lec["dV_lecture"], np.vstack([step["db1"][None, :], step["dW1"]]))]
    diff = max(float(np.max(np.abs(a - np.asarray(b, dtype=np.float64)))) for a, b in pairs)
    headline(f"lecture notation vs ffnn: largest difference {diff:.1e} over X^, F, F^, dW, dV "
             f"(float32 network, float64 recomputation)")
    return diff


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    out = args.output_dir
    classification(out)
    regression(out, epochs=2000 if args.fast else 5000)
    traced_step()


if __name__ == "__main__":
    main()
