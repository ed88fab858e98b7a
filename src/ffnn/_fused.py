"""Optional fused optimiser kernels (numba): one pass over memory instead of twelve.

The NumPy code in ``optimizers.py`` is the reference: read it for the algorithm.  Each kernel
below performs, for every element, the *same* float operations in the same order as that
reference (each scalar first rounded to the array's dtype, as NumPy does with a Python float;
no fast-math, no fused multiply-add), so the results are bit-identical, which a test checks.
What changes is only the memory traffic: NumPy streams the 567k parameters of an MNIST network
through memory twelve times per Adam step, the kernel once.

Used when an optimiser is built with ``fused=True`` (``pip install "ffnn[fast]"``).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _adam(p, g, m, v, decay, c1, b2, c2, eps_hat, step, below):  # pragma: no cover - compiled
    zero = m.dtype.type(0)
    for i in range(p.size):
        pi = p[i]
        if decay != 1:
            pi = pi * decay  # AdamW: W <- W (1 - lr wd)
        gi = g[i]
        s = gi - m[i]
        s = s * c1
        mi = m[i] + s  # m <- m + (1 - b1)(g - m)
        m[i] = zero if abs(mi) < below else mi  # the flush of tiny entries (optimizers.py)
        vi = v[i] * b2
        s = gi * gi
        s = s * c2
        vi = vi + s  # v <- b2 v + (1 - b2) g^2
        v[i] = zero if abs(vi) < below else vi
        s = math.sqrt(vi)
        s = s + eps_hat
        s = mi / s
        s = s * step
        p[i] = pi - s  # W <- W - step m / (sqrt(v) + eps')


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, decay: float,
                beta1: float, beta2: float, eps_hat: float, step: float,
                flush_below: float = 0.0) -> None:
    """In place, for contiguous arrays of one float dtype: Adam(W) with scalars as in NumPy.
    Stored moments smaller than ``flush_below`` in magnitude become 0 (0: no flush)."""
    t = p.dtype.type
    _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), t(decay), t(1.0 - beta1),
          t(beta2), t(1.0 - beta2), t(eps_hat), t(step), t(flush_below))



@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _adam_many(ps, gs, ms, vs, decays, c1, b2, c2, eps_hat, step, below):  # pragma: no cover
    for k in range(len(ps)):
        _adam(ps[k], gs[k], ms[k], vs[k], decays[k], c1, b2, c2, eps_hat, step, below)


def adam_update_many(ps: tuple, gs: tuple, ms: tuple, vs: tuple, decays: np.ndarray, *,
                     beta1: float, beta2: float, eps_hat: float, step: float,
                     flush_below: float = 0.0) -> None:
    """``adam_update`` for several parameters in one call (tuples of flat arrays of one dtype):
    one entry into compiled code per step instead of one per parameter."""
    t = ps[0].dtype.type
    _adam_many(ps, gs, ms, vs, decays, t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps_hat),
               t(step), t(flush_below))

# --------------------------------------------------------------------------- training step
# Kernels of ``ffnn._fastpath.FusedStep``: each one pass over a small (batch, units) array
# instead of the two to four NumPy calls of the layer-by-layer reference.


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def bias_relu(Z, b):  # pragma: no cover - compiled
    """In place: Z <- max(Z + b, 0)   (Dense's bias, then ReLU; as Z += b; np.maximum(Z, 0))."""
    n, k = Z.shape
    zero = Z.dtype.type(0)
    for i in range(n):
        for j in range(k):
            z = Z[i, j] + b[j]
            Z[i, j] = z if z > zero else zero


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def bias_add(Z, b):  # pragma: no cover - compiled
    """In place: Z <- Z + b."""
    n, k = Z.shape
    for i in range(n):
        for j in range(k):
            Z[i, j] = Z[i, j] + b[j]


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def column_sums(dZ, db):  # pragma: no cover - compiled
    """db = sum over the batch (rows) of dZ, row after row as NumPy's sum(axis=0) adds them."""
    db[:] = dZ.dtype.type(0)
    for i in range(dZ.shape[0]):
        db += dZ[i]


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def relu_backward(dA, A, dZ, db):  # pragma: no cover - compiled
    """dZ = dA * 1{A > 0} (ReLU's backward from its output A = max(Z, 0), so A > 0 <=> Z > 0)
    and db = sum over the batch of dZ (the bias gradient of the Dense layer below)."""
    n, k = dA.shape
    zero = dA.dtype.type(0)
    for i in range(n):
        for j in range(k):
            dZ[i, j] = dA[i, j] if A[i, j] > zero else zero
    column_sums(dZ, db)


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def softmax_cross_entropy(Z, y, dZ):  # pragma: no cover - compiled
    """Softmax cross-entropy on logits Z (N, C) with integer labels y (N,), in one pass per row.

    Returns (sum_n [logsumexp(Z[n]) - Z[n, y[n]]] as float64, the caller divides by N;
    the number of rows whose first largest logit is at y[n], i.e. argmax hits) and writes
    dZ = (softmax(Z) - Y) / N.  Each row is shifted by its maximum, as in ``functional``.
    """
    n, c = Z.shape
    one = Z.dtype.type(1)
    inv_n = one / Z.dtype.type(n)
    total = 0.0
    correct = 0
    for i in range(n):
        m = Z[i, 0]
        arg = 0
        for j in range(1, c):
            if Z[i, j] > m:
                m = Z[i, j]
                arg = j
        if arg == y[i]:
            correct += 1
        s = Z.dtype.type(0)
        for j in range(c):
            e = math.exp(Z[i, j] - m)
            dZ[i, j] = e
            s = s + e
        total += float(m) + math.log(float(s)) - float(Z[i, y[i]])
        for j in range(c):
            dZ[i, j] = dZ[i, j] / s
        dZ[i, y[i]] = dZ[i, y[i]] - one
        for j in range(c):
            dZ[i, j] = dZ[i, j] * inv_n
    return total, correct


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def sigmoid_cross_entropy(Z, Y, dZ):  # pragma: no cover - compiled
    """Sigmoid binary cross-entropy on logits Z (N, K) with targets Y (N, K) in [0, 1].

    Returns (sum of softplus(z) - y z as float64, the caller divides by N K; the number of
    entries with (z > 0) == (y >= 0.5)) and writes dZ = (sigma(Z) - Y) / (N K).
    softplus(z) = max(z, 0) + log1p(exp(-|z|)) and sigma via exp(-|z|): nothing overflows.
    """
    n, k = Z.shape
    one = Z.dtype.type(1)
    inv = one / Z.dtype.type(n * k)
    total = 0.0
    correct = 0
    for i in range(n):
        for j in range(k):
            z = Z[i, j]
            y = Y[i, j]
            e = math.exp(-abs(z))
            total += max(float(z), 0.0) + math.log1p(float(e)) - float(y) * float(z)
            s = one / (one + e) if z >= 0 else e / (one + e)
            dZ[i, j] = (s - y) * inv
            if (z > 0) == (y >= 0.5):
                correct += 1
    return total, correct
