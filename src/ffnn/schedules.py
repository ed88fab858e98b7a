"""Learning-rate schedules: ``schedule(epoch) -> lr`` for epoch = 0, 1, 2, ...

Use one with the ``LearningRateScheduler`` callback (``ffnn.callbacks``), which sets
``optimizer.lr`` at the start of every epoch.  ``ReduceLROnPlateau`` (which reacts to a metric
rather than to the epoch number) is a callback too.

    =================  ==========================================================================
    ConstantLR         lr_e = lr
    StepLR             lr_e = lr * gamma ** floor(e / step_size)
    ExponentialLR      lr_e = lr * gamma ** e
    CosineLR           warm-up: lr_e = lr (e + 1) / warmup            for e < warmup
                       then:    lr_e = min_lr + (lr - min_lr) (1 + cos(pi t)) / 2,
                                t = (e - warmup) / (total - warmup)   (t in [0, 1])
    =================  ==========================================================================
"""

from __future__ import annotations

import math

from ._checks import check_nonneg_float, check_positive_float, check_positive_int


class Schedule:
    """Base class: ``lr_at(epoch)``; calling the schedule is the same."""

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def __call__(self, epoch: int) -> float:
        return self.lr_at(epoch)

    def config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class ConstantLR(Schedule):
    """lr_e = lr."""

    def __init__(self, lr: float) -> None:
        self.lr = check_positive_float(lr, "lr")

    def lr_at(self, epoch: int) -> float:
        return self.lr


class StepLR(Schedule):
    r"""lr_e = lr * gamma ** floor(e / step_size): $\eta_e = \eta\, \gamma^{\lfloor e /
    \text{step\_size} \rfloor}$ (e = epoch, from 0)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = check_positive_float(lr, "lr")
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_positive_float(gamma, "gamma")

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    r"""lr_e = lr * gamma ** e: $\eta_e = \eta\, \gamma^{e}$ (e = epoch, from 0)."""

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = check_positive_float(lr, "lr")
        self.gamma = check_positive_float(gamma, "gamma")

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.gamma**epoch


class CosineLR(Schedule):
    r"""Cosine decay from lr to min_lr over ``total_epochs``, after an optional linear warm-up.

        warm-up: lr_e = lr (e + 1) / warmup                       for e < warmup
        then:    lr_e = min_lr + (lr - min_lr) (1 + cos(pi t)) / 2,
                 t = (e - warmup) / (total - warmup)               (t in [0, 1])

    $$\eta_e = \eta_{\min} + (\eta - \eta_{\min})\, \frac{1 + \cos(\pi t)}{2}, \qquad
    t = \frac{e - \text{warmup}}{\text{total} - \text{warmup}} \in [0, 1]$$

    (e = epoch, from 0; ``warmup_epochs`` = warmup, ``total_epochs`` = total.)
    """

    def __init__(self, lr: float, total_epochs: int, min_lr: float = 0.0,
                 warmup_epochs: int = 0) -> None:
        self.lr = check_positive_float(lr, "lr")
        self.total_epochs = check_positive_int(total_epochs, "total_epochs")
        self.min_lr = check_nonneg_float(min_lr, "min_lr")
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or \
                not 0 <= warmup_epochs < self.total_epochs:
            raise ValueError(f"warmup_epochs must be an integer in [0, total_epochs), "
                             f"got {warmup_epochs!r}")
        self.warmup_epochs = warmup_epochs

    def lr_at(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return self.lr * (epoch + 1) / self.warmup_epochs
        span = max(self.total_epochs - self.warmup_epochs, 1)
        t = min((epoch - self.warmup_epochs) / span, 1.0)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


SCHEDULES = {"constant": ConstantLR, "step": StepLR, "exponential": ExponentialLR,
             "cosine": CosineLR}


def get_schedule(name: str, **kwargs) -> Schedule:
    """Build a schedule by name: "constant", "step", "exponential", "cosine"."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known schedules: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)
