"""Data sets by name, split and ready to train on (used by the command line)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import mnist as _mnist
from . import toy
from .split import extrapolation_split, train_test_split


@dataclass
class Dataset:
    """A named data set, already split.

    X_* float arrays (N, D); y_* int64 labels (N,) for classification, float64 targets (N,)
    for regression.  ``task`` is "binary", "multiclass" or "regression"; ``n_classes`` is
    None for regression.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int | None
    name: str
    description: str
    #: column names of a table's features (None for generated and image sets)
    feature_names: list[str] | None = None
    #: the original class labels, in the order of the integer codes (None for regression)
    classes: list | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        classes = "" if self.n_classes is None else f", {self.n_classes} classes"
        return (f"Dataset({self.name!r}: {self.task}{classes}, {self.n_features} features, "
                f"{len(self.X_train)} train / {len(self.X_test)} test)")


@dataclass(frozen=True)
class _Entry:
    task: str
    description: str
    make: Callable  # (seed, n_samples or None) -> (X, y)
    split: str = "stratified"  # "stratified", "random", "extrapolation" or "official"


def _gen(fn, **fixed):
    def make(seed, n_samples):
        kwargs = dict(fixed)
        if n_samples is not None:
            kwargs["n_samples"] = n_samples
        return fn(seed=seed, **kwargs)
    return make


_REGISTRY: dict[str, _Entry] = {
    "moons": _Entry("binary", "two interleaving half circles in 2-D (1000 points, noise 0.2)",
                    _gen(toy.moons)),
    "circles": _Entry("binary", "a circle inside a circle in 2-D (1000 points, noise 0.1)",
                      _gen(toy.circles, noise=0.1)),
    "blobs": _Entry("multiclass", "three Gaussian clusters in 2-D (1000 points)",
                    _gen(toy.blobs, centers=3)),
    "spiral": _Entry("multiclass", "three interleaved spiral arms in 2-D (300 points)",
                     _gen(toy.spiral)),
    "xor": _Entry("binary", "XOR of the signs of two coordinates (400 points)", _gen(toy.xor)),
    "gaussian_quantiles": _Entry(
        "multiclass", "three concentric shells of a 2-D standard normal (500 points)",
        _gen(toy.gaussian_quantiles, n_classes=3)),
    "four_class_3d": _Entry("multiclass", "four Gaussian clusters in 3-D, 99 points (seed 000)",
                            _gen(toy.four_class_3d)),
    "regression_1d": _Entry(
        "regression", "y = sin(1.5x) + 0.3x + noise; the test part lies to the right of the "
        "training range (extrapolation, seed 000)", _gen(toy.regression_1d), "extrapolation"),
    "housing": _Entry("regression", "synthetic house prices, 5 normalised features, normalised "
                      "price (seed 004)", _gen(toy.housing), "random"),
    "digits": _Entry("multiclass", "scikit-learn's 8x8 handwritten digits, 1797 images, 64 "
                     "features in [0, 1] (offline)", lambda seed, n: toy.digits()),
    "mnist": _Entry("multiclass", "MNIST handwritten digits, 28x28 = 784 features in [0, 1], "
                    "official 60000/10000 split", lambda seed, n: _mnist.load_mnist(),
                    "official"),
    "fashion_mnist": _Entry("multiclass", "Zalando Fashion-MNIST clothing images, 784 features "
                            "in [0, 1], official 60000/10000 split",
                            lambda seed, n: _mnist.load_fashion_mnist(), "official"),
}


def list_datasets() -> list[dict]:
    """One dict per known data set: ``name``, ``task`` and ``description``."""
    return [{"name": name, "task": e.task, "description": e.description}
            for name, e in _REGISTRY.items()]


def load(name: str, *, seed: int = 0, test_size: float = 0.2,
         n_samples: int | None = None) -> Dataset:
    """Generate or read the data set ``name`` and split it.

    Generated classification sets get a stratified split, ``housing`` a random one,
    ``regression_1d`` the extrapolation split (test = the right ``test_size`` of the x range);
    ``mnist`` / ``fashion_mnist`` keep their official split.  ``seed`` drives generation and
    splitting.  ``n_samples`` sets the size of a generated set; for ``digits`` it subsamples
    the whole set and for ``mnist`` / ``fashion_mnist`` the training part (stratified, test
    part unchanged).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(_REGISTRY)}")
    entry = _REGISTRY[name]
    if entry.split == "official":
        X_train, y_train, X_test, y_test = entry.make(seed, n_samples)
        if n_samples is not None and n_samples < len(X_train):
            X_train, y_train, _, _ = train_test_split(
                X_train, y_train, test_size=len(X_train) - n_samples, stratify=True, seed=seed)
    else:
        X, y = entry.make(seed, n_samples)
        if name == "digits" and n_samples is not None and n_samples < len(X):
            X, y, _, _ = train_test_split(X, y, test_size=len(X) - n_samples, stratify=True,
                                          seed=seed)
        if entry.split == "extrapolation":
            X_train, y_train, X_test, y_test = extrapolation_split(X, y, 1.0 - test_size)
        else:
            X_train, y_train, X_test, y_test = train_test_split(
                X, y, test_size=test_size, stratify=entry.split == "stratified", seed=seed)
    n_classes = None
    if entry.task != "regression":
        n_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(X_train, y_train, X_test, y_test, entry.task, n_classes, name,
                   entry.description, None, None if n_classes is None else list(range(n_classes)))


__all__ = ["Dataset", "list_datasets", "load"]
