"""ffnn.sklearn vs scikit-learn's own MLP: same settings, same data, several seeds.

    python benchmarks/sklearn_compare.py              # 5 seeds, 1 BLAS thread
    python benchmarks/sklearn_compare.py --seeds 3 --threads 2

For each data set and seed both estimators get the same train/test split and the same
hyperparameters (scikit-learn's defaults: one hidden layer of 100 ReLU units, Adam, lr 1e-3,
alpha 1e-4, batch_size "auto", max_iter 200, stopping when the training loss has not improved
by tol=1e-4 for 10 epochs).  Printed: test accuracy / R^2 (mean +- std over seeds), fit time,
epochs run, time per epoch, and the time ratio scikit-learn / ffnn (> 1: ffnn is faster).
"Within noise" means the two mean scores differ by less than twice the standard error of the
difference.  Runs are interleaved (ffnn, sklearn, ffnn, ...) so background load hits both.

Data: scikit-learn's digits (8x8 images, 10 classes, 1797 samples), Friedman #1 (a smooth
non-linear regression with 10 features, 5 of them noise; 5000 samples) and a 3-target linear
regression (make_regression, 4000 samples).  Features are standardised; regression targets
are standardised with training-set statistics (both models see identical numbers).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from ffnn.sklearn import MLPClassifier, MLPRegressor

SETTINGS = {"hidden_layer_sizes": (100,), "activation": "relu", "solver": "adam",
            "learning_rate_init": 1e-3, "alpha": 1e-4, "batch_size": "auto", "max_iter": 200,
            "tol": 1e-4, "n_iter_no_change": 10}


def _digits(seed: int):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def _friedman(seed: int):
    X, y = make_friedman1(n_samples=5000, n_features=10, noise=1.0, random_state=seed)
    return train_test_split(X, y, test_size=0.25, random_state=seed)


def _multi_target(seed: int):
    X, y = make_regression(n_samples=4000, n_features=20, n_informative=10, n_targets=3,
                           noise=5.0, random_state=seed)
    return train_test_split(X, y, test_size=0.25, random_state=seed)


DATASETS = {
    "digits (accuracy)": (_digits, MLPClassifier, SkMLPClassifier, False),
    "friedman1 (R^2)": (_friedman, MLPRegressor, SkMLPRegressor, True),
    "make_regression 3 targets (R^2)": (_multi_target, MLPRegressor, SkMLPRegressor, True),
}


def _prepare(split, scale_y: bool):
    X_train, X_test, y_train, y_test = split
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if scale_y:
        mean, std = y_train.mean(axis=0), y_train.std(axis=0)
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    return X_train, X_test, y_train, y_test


def _run(cls, seed: int, data) -> tuple[float, float, int]:
    X_train, X_test, y_train, y_test = data
    est = cls(random_state=seed, **SETTINGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X_train, y_train)
        elapsed = time.perf_counter() - t0
    return float(est.score(X_test, y_test)), elapsed, int(est.n_iter_)


def _fmt(values, digits: int = 4) -> str:
    return f"{np.mean(values):.{digits}f} +- {np.std(values):.{digits}f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads for both libraries (default 1)")
    parser.add_argument("--datasets", nargs="*", choices=list(DATASETS), default=list(DATASETS))
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    print(f"settings: {SETTINGS}")
    print(f"seeds 0..{args.seeds - 1}, BLAS threads: {args.threads}; both train in the input's "
          "dtype (float64 here), scikit-learn's rule\n")
    header = (f"{'data set':34s} {'estimator':8s} {'test score':>18s} {'fit time [s]':>16s} "
              f"{'epochs':>7s} {'ms/epoch':>9s}")
    with threadpool_limits(args.threads):
        for name in args.datasets:
            make, ours_cls, theirs_cls, scale_y = DATASETS[name]
            results = {"ffnn": [], "sklearn": []}
            for seed in range(args.seeds):
                data = _prepare(make(seed), scale_y)
                results["ffnn"].append(_run(ours_cls, seed, data))
                results["sklearn"].append(_run(theirs_cls, seed, data))
            print(header)
            stats = {}
            for who, rows in results.items():
                score, secs, epochs = (np.array(c) for c in zip(*rows, strict=True))
                per_epoch = secs / epochs * 1e3
                stats[who] = (score, secs, per_epoch)
                print(f"{name:34s} {who:8s} {_fmt(score):>18s} {_fmt(secs, 2):>16s} "
                      f"{epochs.mean():7.1f} {_fmt(per_epoch, 2):>9s}")
            (s_ours, t_ours, e_ours), (s_sk, t_sk, e_sk) = stats["ffnn"], stats["sklearn"]
            diff = s_ours.mean() - s_sk.mean()
            se = np.sqrt(s_ours.var(ddof=1) / len(s_ours) + s_sk.var(ddof=1) / len(s_sk)) \
                if args.seeds > 1 else float("nan")
            verdict = "yes" if abs(diff) <= 2 * se else "no"
            print(f"  score difference ffnn - sklearn: {diff:+.4f} (2 x s.e. {2 * se:.4f}; "
                  f"within noise: {verdict})")
            print(f"  time ratio sklearn/ffnn: fit {t_sk.mean() / t_ours.mean():.2f}x, "
                  f"per epoch {e_sk.mean() / e_ours.mean():.2f}x\n")


if __name__ == "__main__":
    main()
