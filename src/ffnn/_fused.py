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
def _adam(p, g, m, v, decay, c1, b2, c2, eps_hat, step):  # pragma: no cover - compiled
    for i in range(p.size):
        pi = p[i]
        if decay != 1:
            pi = pi * decay  # AdamW: W <- W (1 - lr wd)
        gi = g[i]
        s = gi - m[i]
        s = s * c1
        mi = m[i] + s  # m <- m + (1 - b1)(g - m)
        m[i] = mi
        vi = v[i] * b2
        s = gi * gi
        s = s * c2
        vi = vi + s  # v <- b2 v + (1 - b2) g^2
        v[i] = vi
        s = math.sqrt(vi)
        s = s + eps_hat
        s = mi / s
        s = s * step
        p[i] = pi - s  # W <- W - step m / (sqrt(v) + eps')


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, decay: float,
                beta1: float, beta2: float, eps_hat: float, step: float) -> None:
    """In place, for contiguous arrays of one float dtype: Adam(W) with scalars as in NumPy."""
    t = p.dtype.type
    _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), t(decay), t(1.0 - beta1),
          t(beta2), t(1.0 - beta2), t(eps_hat), t(step))
