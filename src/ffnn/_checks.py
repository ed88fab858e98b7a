"""Validation at the boundary: clear errors naming what was received, raised before any math.

Inner math stays clean; these checks run where data enters (``Sequential.forward``/``predict``,
``fit``, the losses, ``Dense.forward``'s shape check).
"""

from __future__ import annotations

import numbers

import numpy as np

RESHAPE_HINT = (
    "Reshape your data either using X.reshape(-1, 1) if it has a single feature "
    "or X.reshape(1, -1) if it contains a single sample."
)


def as_float_array(X, name: str = "X", dtype=None) -> np.ndarray:
    """Convert ``X`` to a floating ndarray or raise TypeError naming the offending dtype."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be numeric (bool, int or float), got an array of dtype {arr.dtype}"
            + (f" such as {arr.flat[0]!r}" if arr.size else "")
        )
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def check_finite(arr: np.ndarray, name: str = "X") -> None:
    """Raise ValueError if ``arr`` holds NaN or infinity, saying how many and where.

    A NaN or an infinity makes the sum non-finite, so one fast pass (a sum, no boolean
    temporary) clears the common case; only a non-finite sum (which large finite values can
    also overflow to) is looked at element by element.
    """
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr)):
            return
    if not np.isfinite(arr).all():
        bad = ~np.isfinite(arr)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(np.isnan(arr).sum())} NaN and {int(np.isinf(arr).sum())} "
            f"infinite values (first at index {first}); clean or impute them first"
        )


def check_X(X, n_features: int | None = None, name: str = "X", dtype=None) -> np.ndarray:
    """A 2-D, non-empty, finite, numeric batch of shape (N, n_features)."""
    arr = as_float_array(X, name, dtype)
    if arr.ndim != 2:
        hint = " " + RESHAPE_HINT if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D of shape (N, D) with one sample per row; "
            f"got {arr.ndim}-D array of shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {arr.shape}); need at least one sample")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features per sample (shape {arr.shape}) "
            f"but the network expects {n_features}"
        )
    check_finite(arr, name)
    return arr


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_nonneg_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def check_probability(value, name: str, *, inclusive_high: bool = False) -> float:
    value = check_nonneg_float(value, name)
    if value > 1 or (value == 1 and not inclusive_high):
        high = "1]" if inclusive_high else "1)"
        raise ValueError(f"{name} must lie in [0, {high}, got {value!r}")
    return value


def check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt
