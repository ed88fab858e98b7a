"""Pure, numerically stable math used by layers and losses.

Every function here preserves the floating dtype of its input (float32 stays float32) and is
safe at the extremes: no overflow warnings for inputs of +-1000, outputs of probability
functions stay inside [0, 1].  The identity each one relies on is named in its docstring.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    r"""sigma(x) = 1 / (1 + exp(-x)).

    $$\sigma(x) = \frac{1}{1 + e^{-x}}$$

    Elementwise, any shape.  Safe at the extremes as written: for x << 0, exp(-x) overflows to
    inf and 1 / (1 + inf) is exactly 0, the correct limit (the true value is below float32's
    smallest number there); for x >> 0, exp(-x) underflows to 0 and the result is 1.  The
    overflow warning of that first case is silenced because it is expected.  Relative error
    stays at float rounding everywhere else (no 1 - e cancellation).  Four passes over memory,
    in place.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    s = np.negative(x, out=np.empty_like(x))  # (an out array keeps a 0-d input an array)
    with np.errstate(over="ignore"):
        np.exp(s, out=s)  # exp(-x), possibly inf
    s += 1.0
    np.reciprocal(s, out=s)
    return s


def softplus(x: np.ndarray) -> np.ndarray:
    r"""softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)).

    $$\operatorname{softplus}(x) = \log(1 + e^{x}) = \max(x, 0) + \log\big(1 + e^{-|x|}\big)$$

    Elementwise, any shape.  The right-hand side never exponentiates a positive number, and
    log1p keeps precision when exp(-|x|) is tiny.
    """
    x = np.asarray(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log sigma(x) = -softplus(-x)."""
    return -softplus(-np.asarray(x))


def logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    r"""log sum_j exp(x_j) = m + log sum_j exp(x_j - m),  m = max_j x_j  (max-shifted).

    $$\log \sum_j e^{x_j} = m + \log \sum_j e^{x_j - m}, \qquad m = \max_j x_j$$

    Reduces ``axis`` (kept with size 1 when ``keepdims``).  After the shift the largest exponent
    is exp(0) = 1, so the sum lies in [1, n] and neither overflows nor underflows to log(0).
    """
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(x)_j = x_j - logsumexp(x)  (max-shifted, never takes log of 0)."""
    x = np.asarray(x)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""softmax(x)_j = exp(x_j - m) / sum_k exp(x_k - m),  m = max_k x_k.

    $$\operatorname{softmax}(x)_j = \frac{e^{x_j - m}}{\sum_k e^{x_k - m}}, \qquad
    m = \max_k x_k$$

    Same shape as x; each slice along ``axis`` (the rows of an (N, C) array for axis=-1)
    sums to 1.  Subtracting the row maximum changes nothing mathematically (it cancels in the ratio)
    but keeps every exponent <= 0, so no overflow and the result stays in [0, 1].
    """
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def one_hot(y: np.ndarray, n_classes: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Y[n, c] = 1 if y[n] == c else 0.   y (N,) integer labels -> Y (N, C)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot expects labels of shape (N,), got shape {y.shape}")
    if n_classes < 1:
        raise ValueError(f"one_hot needs n_classes >= 1, got {n_classes}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}], got values in [{y.min()}, {y.max()}]"
        )
    Y = np.zeros((y.shape[0], n_classes), dtype=dtype)
    Y[np.arange(y.shape[0]), y.astype(np.intp)] = 1
    return Y
