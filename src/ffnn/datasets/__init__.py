"""Data sets: toy generators, MNIST / Fashion-MNIST, splits, scaling and a registry by name.

Generators return ``(X, y)`` with X float64 (N, D) and y int64 labels (classification) or
float64 targets (regression), and take ``seed=`` (never touching the global RNG).
Loaders and splits return ``(X_train, y_train, X_test, y_test)``.

Importing this package needs only NumPy; ``digits`` imports scikit-learn when called and the
MNIST download shows a tqdm progress bar when tqdm is installed.
"""

from __future__ import annotations

from .idx import ChecksumError, IDXFormatError, read_idx, write_idx
from .mnist import (
    FASHION_MNIST_CLASSES,
    DataUnavailableError,
    DownloadError,
    default_cache_dir,
    load_fashion_mnist,
    load_mnist,
)
from .registry import Dataset, list_datasets, load
from .split import (
    Standardizer,
    extrapolation_split,
    one_hot,
    train_test_split,
    train_val_test_split,
)
from .tabular import load_table
from .toy import (
    HOUSING_FEATURES,
    blobs,
    circles,
    digits,
    four_class_3d,
    gaussian_quantiles,
    housing,
    moons,
    regression_1d,
    spiral,
    xor,
)

__all__ = [
    "FASHION_MNIST_CLASSES", "HOUSING_FEATURES", "ChecksumError", "DataUnavailableError",
    "Dataset", "DownloadError", "IDXFormatError", "Standardizer", "blobs", "circles",
    "default_cache_dir", "digits", "extrapolation_split", "four_class_3d", "gaussian_quantiles",
    "housing", "list_datasets", "load", "load_fashion_mnist", "load_mnist", "load_table", "moons",
    "one_hot", "read_idx", "regression_1d", "spiral", "train_test_split", "train_val_test_split",
    "write_idx", "xor",
]
