"""What every local worker needs, loaded once: the local backend's fork server imports this
module before it forks any worker (``multiprocessing``'s ``forkserver`` start method with this
module as its preload).

A worker forked from a server that has already imported NumPy, ffnn's command-line code and
numba, and has run the compiled kernels once, starts in milliseconds; a spawned worker spent
about a second on that before its first trial (importing, and numba setting up its compiler).
The server lives as long as the Python process that started it, so later sweeps in the same
session (a notebook, a benchmark) start their workers at once.

Importing this module does exactly that and nothing else.  Without numba, it only imports.
"""

from __future__ import annotations

import numpy as np

from .. import cli  # noqa: F401  (the trial's code: ffnn train's)
from . import trial  # noqa: F401


def _run_kernels_once() -> None:
    """One epoch of a tiny network through ``fit``: numba loads its compiled kernels (or
    compiles them, on a cold cache) and sets up its compiler here, once."""
    from ..network import mlp
    from ..optimizers import Adam
    from ..training import fit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = mlp([2, 4, 2], "relu", seed=0)
    fit(net, X, y, "ce", Adam(1e-3), epochs=1, batch_size=4, verbose=0)


try:
    import numba  # noqa: F401
except ImportError:  # the reference step runs: nothing to warm
    pass
else:
    _run_kernels_once()
