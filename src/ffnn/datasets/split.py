"""Splitting and scaling: train/validation/test splits and a train-fitted standardiser.

All splits return ``(X_train, y_train, X_test, y_test)`` (features next to their targets),
the order ``load_mnist`` and ``ffnn.datasets.load`` use too.  Note that scikit-learn's
``train_test_split`` returns ``X_train, X_test, y_train, y_test`` instead.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import as_float_array, check_finite
from ..functional import one_hot


def _check_pair(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"X and y must be arrays with one sample per row, got shapes "
                         f"{X.shape} and {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples (shape {X.shape}) but y has "
                         f"{y.shape[0]} (shape {y.shape})")
    return X, y


def _n_test(test_size, n: int, name: str = "test_size") -> int:
    """A fraction in (0, 1) of n, or an absolute count in [1, n - 1]."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"{name} must be a fraction in (0, 1) or a count, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        count = int(test_size)
    elif 0 < test_size < 1:
        count = int(round(test_size * n))
    else:
        raise ValueError(f"{name} must be a fraction in (0, 1) or a count, got {test_size!r}")
    if not 0 < count < n:
        raise ValueError(f"{name}={test_size!r} leaves no data on one side of a split of {n} "
                         f"samples")
    return count


def _labels(y: np.ndarray) -> np.ndarray | None:
    """Class labels if y looks like classification targets (ints, bools or one-hot rows)."""
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    flat = y.reshape(-1) if y.ndim == 2 else y
    if flat.ndim != 1:
        return None
    if flat.dtype.kind in "biuUSO":
        return flat
    return None


def _test_indices(y: np.ndarray, n_test: int, stratify: bool | None,
                  rng: np.random.Generator) -> np.ndarray:
    n = y.shape[0]
    labels = _labels(y)
    if stratify and labels is None:
        raise ValueError(f"stratify=True needs class labels (integer y of shape (N,) or one-hot "
                         f"(N, C)); got y of dtype {y.dtype} and shape {y.shape}. Pass "
                         f"stratify=False for regression targets.")
    if stratify is False or labels is None:
        return np.sort(rng.permutation(n)[:n_test])
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    # Largest-remainder apportionment: each class gets its share of n_test, and the shares add
    # up to exactly n_test.
    exact = counts * (n_test / n)
    take = np.floor(exact).astype(np.int64)
    remainder_order = np.argsort(-(exact - take), kind="stable")
    take[remainder_order[: n_test - int(take.sum())]] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[: take[c]]
              for c in range(len(classes))]
    return np.sort(np.concatenate(chosen))


def train_test_split(X, y, test_size: float | int = 0.2, stratify: bool | None = None,
                     seed: int | None = None):
    """Split (X, y) into a training and a test part.

    X (N, ...) and y (N,) or (N, K).  ``test_size`` is a fraction in (0, 1) of the N samples or
    a count.  ``stratify``: True keeps each class's share equal in both parts (y must hold class
    labels or one-hot rows), False draws the test part uniformly, None (default) stratifies
    exactly when y holds integer/bool/string labels or one-hot rows.  Samples keep their
    original order within each part.

    Returns ``(X_train, y_train, X_test, y_test)``.
    """
    X, y = _check_pair(X, y)
    n_test = _n_test(test_size, X.shape[0])
    test = _test_indices(y, n_test, stratify, np.random.default_rng(seed))
    train = np.setdiff1d(np.arange(X.shape[0]), test, assume_unique=True)
    return X[train], y[train], X[test], y[test]


def train_val_test_split(X, y, val_size: float | int = 0.1, test_size: float | int = 0.2,
                         stratify: bool | None = None, seed: int | None = None):
    """Split (X, y) three ways; ``val_size`` and ``test_size`` are fractions of *all* N samples
    (or counts).

    Returns ``(X_train, y_train, X_val, y_val, X_test, y_test)``.
    """
    X, y = _check_pair(X, y)
    n = X.shape[0]
    n_test = _n_test(test_size, n)
    n_val = _n_test(val_size, n, "val_size")
    if n_test + n_val >= n:
        raise ValueError(f"val_size={val_size!r} and test_size={test_size!r} leave no training "
                         f"data out of {n} samples")
    rng = np.random.default_rng(seed)
    X_rest, y_rest, X_test, y_test = _split_by(X, y, _test_indices(y, n_test, stratify, rng))
    X_train, y_train, X_val, y_val = _split_by(
        X_rest, y_rest, _test_indices(y_rest, n_val, stratify, rng))
    return X_train, y_train, X_val, y_val, X_test, y_test


def _split_by(X, y, held_out: np.ndarray):
    keep = np.setdiff1d(np.arange(X.shape[0]), held_out, assume_unique=True)
    return X[keep], y[keep], X[held_out], y[held_out]


def extrapolation_split(X, y, train_fraction: float = 0.7, feature: int = 0):
    """Train on the left part of the x range, test on the right part (the extrapolation lesson).

    Samples are ordered by ``X[:, feature]``; the smallest ``round(train_fraction * N)`` form
    the training part and the rest the test part, so every test x lies at or to the right of
    every training x.  X (N, D), y (N,) or (N, K).

    Returns ``(X_train, y_train, X_test, y_test)``, each part sorted by that feature.
    """
    X, y = _check_pair(X, y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D of shape (N, D), got shape {X.shape}")
    if not 0 <= feature < X.shape[1]:
        raise ValueError(f"feature={feature} is out of range for X of shape {X.shape}")
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real) \
            or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    n_train = _n_test(float(train_fraction), X.shape[0], "train_fraction")
    order = np.argsort(X[:, feature], kind="stable")
    train, test = order[:n_train], order[n_train:]
    return X[train], y[train], X[test], y[test]


class Standardizer:
    """z = (x - mean) / scale per column, with mean and scale fitted on training data only.

    ``scale`` is the population standard deviation (ddof = 0); a constant column gets scale 1
    so it maps to 0 instead of dividing by zero.  Works on X (N, D) and on targets y (N,).
    The dtype of the input is kept (float32 stays float32).

        >>> s = Standardizer().fit(X_train)
        >>> X_train, X_test = s.transform(X_train), s.transform(X_test)
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X) -> Standardizer:
        """Compute mean_ and scale_ (shape (D,), or () for 1-D input) from X (N, D) or (N,)."""
        X = self._check(X, fitting=True)
        if X.shape[0] == 0:
            raise ValueError(f"cannot fit a Standardizer on an empty array of shape {X.shape}")
        X64 = X.astype(np.float64, copy=False)
        self.mean_ = X64.mean(axis=0)
        std = X64.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X) -> np.ndarray:
        """(X - mean_) / scale_, same shape and floating dtype as X."""
        X = self._check(X)
        return ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Z * scale_ + mean_: back to the original units (e.g. predicted prices)."""
        Z = self._check(Z)
        return (Z * self.scale_ + self.mean_).astype(Z.dtype, copy=False)

    def _check(self, X, fitting: bool = False) -> np.ndarray:
        X = as_float_array(X, "X")
        check_finite(X, "X")
        if X.ndim not in (1, 2):
            raise ValueError(f"Standardizer expects X of shape (N, D) or (N,), got {X.shape}")
        if not fitting:
            if self.mean_ is None:
                raise RuntimeError("this Standardizer is not fitted yet; call fit(X_train)")
            if X.shape[1:] != np.shape(self.mean_):
                raise ValueError(f"X has shape {X.shape} but the Standardizer was fitted on "
                                 f"samples of shape {np.shape(self.mean_)}")
        return X

    def __repr__(self) -> str:
        if self.mean_ is None:
            return "Standardizer(unfitted)"
        return f"Standardizer(fitted on {np.size(self.mean_)} column(s))"


__all__ = ["Standardizer", "extrapolation_split", "one_hot", "train_test_split",
           "train_val_test_split"]
