"""The fast path (temporary adapter: the fused step of ``ffnn._fastpath`` behind the step
interface of ``ffnn.steps``; being replaced by the full fast package)."""

from __future__ import annotations

import contextlib
import math

from .._fastpath import FusedStep as _OldFusedStep
from ..step_api import StepResult


class FusedStep:
    name = "fused"

    def __init__(self, net, loss, optimizer, batch: int) -> None:
        self.net, self.optimizer = net, optimizer
        self.inner = _OldFusedStep(net, loss, batch)

    def __call__(self, X, y) -> StepResult:
        value, out, correct = self.inner.forward_loss(X, y)
        if math.isfinite(value):
            self.inner.backward()
            self.optimizer.step(self.net.parameters(), self.net.gradients())
        return StepResult(value, out, correct)

    def running(self):
        return contextlib.nullcontext()


def fastest_step(net, loss, optimizer, *, batch: int, n_samples: int, target_ndim: int,
                 announce=None):
    return FusedStep(net, loss, optimizer, batch), ["parallel: not yet ported"]
