"""What a training step is (``ffnn.steps`` explains the steps and how ``fit`` picks one):
the result it returns and the interface every implementation has.  Its own module so that the
fast steps (``ffnn.fast``) implement it without importing the chooser that imports them."""

from __future__ import annotations

import contextlib
from typing import NamedTuple, Protocol

import numpy as np

#: below this many multiply-adds per step (batch size x parameters) the matrix products are
#: too small to share: ``fit`` keeps BLAS on one thread (handing tiny products to a second
#: thread costs more than it saves; measured: seed 001's moons network trains ~20% faster on
#: one thread, MNIST's 567k-parameter network ~1.5x slower), and the step shared between
#: cores (``ffnn.fast``) is not taken
SMALL_WORK = 4_000_000


class StepResult(NamedTuple):
    """What one step gives the epoch's metrics: the batch's mean loss (before the update), the
    network's output (N, D_out) (valid until the next step), and the number of right answers
    when the step counted them (None: ``fit`` counts them from the output)."""

    loss: float
    out: np.ndarray
    correct: int | None = None


class Rows(NamedTuple):
    """A batch not yet copied: the rows ``index`` of ``X`` (C-contiguous), for a step that
    gathers its batches itself (``Step.gathers``): the shared step's workers each copy their
    own rows, in parallel, into the cache that uses them next.  ``np.asarray(rows)`` is the
    batch ``X[index]``."""

    X: np.ndarray
    index: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index),) + self.X.shape[1:]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        batch = np.take(self.X, self.index, axis=0)
        return batch if dtype is None else batch.astype(dtype, copy=False)


class Step(Protocol):
    """The interface every training step implements (module docstring)."""

    #: "reference", "fused" or "parallel"
    name: str
    #: True: the step also takes the batch as ``Rows`` (it gathers the rows itself)
    gathers: bool

    def __call__(self, X: np.ndarray | Rows, y: np.ndarray) -> StepResult:
        """Forward, loss, backward and update on the batch (X (N, D_in), y its targets)."""
        ...

    def running(self) -> contextlib.AbstractContextManager:
        """Entered around each epoch's batches (the parallel step's workers run inside)."""
        ...


__all__ = ["SMALL_WORK", "Rows", "Step", "StepResult"]
