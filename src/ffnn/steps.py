"""One training step: forward, loss, backward and update on one batch, behind one interface.

A *step* is a callable object: ``step(X, y) -> StepResult``.  It runs

    out   = f(X; theta)                    forward
    value = L(out, y)                      loss (the batch mean)
    g     = dL/dtheta                      backward (into each layer's ``grads``)
    theta <- update(theta, g)              the optimiser's step

and returns the loss and what the epoch's metrics need (the output, and the count of right
answers when the step has counted them already).  A loss that is NaN or infinite is returned
but never applied: the weights stay as they were (``fit`` then stops with a clear message).

Implementations:

* ``ReferenceStep`` (this module): the four lines above through the layers' own ``forward`` and
  ``backward`` and ``Optimizer.step``; read it for the algorithm.  ``train_step`` is this.
* the fast steps of ``ffnn.fast`` (numba): ``FusedStep`` (the same math with reused buffers
  and compiled passes) and ``ParallelStep`` (the fused step shared between cores).  They equal
  the reference up to float rounding (tests compare them layer by layer and loss by loss).

A step whose ``gathers`` is True also takes the batch as ``Rows(X, index)`` (the rows not yet
copied): ``batches(..., rows=True)`` hands them over so that the shared step's workers gather
their own rows in parallel.

``choose_step`` picks one, once per ``fit``: the fastest step that supports the network, the
loss, the optimiser and the batches, and the reasons the faster ones were not taken.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .losses import Loss
from .network import Sequential
from .optimizers import Optimizer
from .step_api import Rows, Step, StepResult


class ReferenceStep:
    """The training step written as the math: the layers' forward and backward, the loss, and
    the optimiser's update.  Observers in ``net.hooks`` (``ffnn.trace``, ``Diagnostics``) see
    the loss and the update as they happen."""

    name = "reference"
    gathers = False

    def __init__(self, net: Sequential, loss: Loss, optimizer: Optimizer) -> None:
        self.net, self.loss, self.optimizer = net, loss, optimizer

    def __call__(self, X: np.ndarray, y: np.ndarray) -> StepResult:
        out = self.net.forward(X, training=True, check=False)  # forward: out = f(X; theta)
        value = self.loss.forward(out, y)  # loss:    L(out, y)
        if math.isfinite(value):  # (a NaN loss is reported, never applied to the weights)
            dout = self.loss.backward()
            self.net.emit("loss", value=value, out=out, y=y, dout=dout)
            self.net.backward(dout, input_grad=False)  # backward: dL/dtheta
            self.optimizer.step(self.net.parameters(), self.net.gradients())  # update
            self.net.emit("step")
        return StepResult(float(value), out)

    def running(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


@dataclass
class StepChoice:
    """Which step ``fit`` runs and why no faster one: ``reasons`` names, for each faster step
    not taken, what stopped it (e.g. "parallel: clip_norm is set")."""

    name: str
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return f"training step: {self.name}{why}"

    def to_dict(self) -> dict:
        return {"name": self.name, "reasons": list(self.reasons)}


def choose_step(net: Sequential, loss: Loss, optimizer: Optimizer, *, fused: bool | str,
                batch: int, n_samples: int, target_ndim: int,
                announce=None) -> tuple[Step, StepChoice]:
    """The step ``fit`` runs, and why.

    ``fused="auto"``: the fastest step of ``ffnn.fast`` that supports the network, loss,
    optimiser and batches when numba is importable (and no observer is attached), otherwise the
    reference.  ``fused=True``: a fast step or an ImportError saying how to get numba.
    ``fused=False``: the reference.  An optimiser built with ``fused=True`` counts as
    ``fused=True``.  ``announce(text)`` is told about a first-time compile.
    """
    if fused == "auto" and optimizer.fused:
        fused = True
    if fused not in (True, False, "auto"):
        raise ValueError(f"fused must be 'auto', True or False, got {fused!r}")
    reference = ReferenceStep(net, loss, optimizer)
    if fused is False:
        return reference, StepChoice("reference", ["fused=False"])
    if net.hooks:
        return reference, StepChoice("reference", [
            "observers (ffnn.trace, Diagnostics) are attached and see the reference step"])
    try:
        from . import fast
    except ImportError as exc:
        if fused is True:
            raise ImportError("the fused step needs numba: pip install 'ffnn[fast]'") from exc
        return reference, StepChoice("reference", [
            "numba is not installed (pip install 'ffnn[fast]' for the fused step)"])
    step, reasons = fast.fastest_step(net, loss, optimizer, batch=batch, n_samples=n_samples,
                                      target_ndim=target_ndim, announce=announce)
    if step is None:
        return reference, StepChoice("reference", reasons)
    return step, StepChoice(step.name, reasons)


def batches(X: np.ndarray, y: np.ndarray, B: int, order: np.ndarray | None,
            first: int = 0, rows: bool = False
            ) -> Iterator[tuple[np.ndarray | Rows, np.ndarray]]:
    """(X_b, y_b) for b = first, first + 1, ...: rows ``order[b B:(b + 1) B]`` (or the b-th
    slice of B rows when ``order`` is None), gathered into two buffers reused by every batch.
    ``rows``: X_b is left to the step to gather (``Rows``) when X is C-contiguous."""
    n = X.shape[0]
    if B >= n:
        yield X, y
        return
    if order is None:
        for start in range(first * B, n, B):
            yield X[start:start + B], y[start:start + B]
        return
    rows = rows and X.flags.c_contiguous
    X_buf = None if rows else np.empty((B,) + X.shape[1:], dtype=X.dtype)
    y_buf = np.empty((B,) + y.shape[1:], dtype=y.dtype)
    for start in range(first * B, n, B):
        idx = order[start:start + B]
        yb = np.take(y, idx, axis=0, out=y_buf[:len(idx)])
        yield (Rows(X, idx) if rows else np.take(X, idx, axis=0, out=X_buf[:len(idx)])), yb


__all__ = ["ReferenceStep", "Rows", "Step", "StepChoice", "StepResult", "batches",
           "choose_step"]
