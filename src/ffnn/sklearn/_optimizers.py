r"""scikit-learn's stochastic optimisers for its MLP (``_stochastic_optimizers.py``), over lists.

``params`` is ``[W_1, ..., W_L, b_1, ..., b_L]`` (live arrays, updated in place) and ``grads``
the matching gradients.  The update rules are scikit-learn's, so that the same weights and
gradients give the same step:

SGD with momentum μ, learning rate η (its velocity form):

    v ← μ v − η g
    θ ← θ + v                      (classical momentum)
    θ ← θ + μ v − η g              (Nesterov: the velocity is applied again, looking ahead)

Adam, with the bias correction folded into the learning rate:

    t ← t + 1,   m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
    η_t = η · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
    θ ← θ − η_t · m / (√v + ε)

(ε is added to √v, not to √v̂ as in ffnn's own Adam: the two differ when √v is near ε.)

Learning-rate schedules for SGD (``learning_rate``):  "constant"; "invscaling"
η = η₀ / (t + 1)^power_t after every epoch, t the number of samples seen; "adaptive": when the
stopping rule fires, η ← η / 5 instead of stopping, until η ≤ 1e-6.
"""

from __future__ import annotations

import numpy as np

from ..optimizers import Optimizer


class _Rules:
    """What scikit-learn's solver loop asks every optimiser after an epoch and when the stopping
    rule fires (scikit-learn's ``BaseOptimizer``): by default nothing, and stop."""

    def iteration_ends(self, time_step: int) -> None:
        pass

    def trigger_stopping(self, msg: str, verbose) -> bool:
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDOptimizer(_Rules):
    """scikit-learn's SGD with (Nesterov) momentum and learning-rate schedules (above)."""

    def __init__(self, params: list[np.ndarray], learning_rate_init: float,
                 lr_schedule: str = "constant", momentum: float = 0.9, nesterov: bool = True,
                 power_t: float = 0.5) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.velocities = [np.zeros_like(p) for p in params]

    def update_params(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        mu, eta = self.momentum, self.learning_rate
        self.velocities = [mu * v - eta * g for v, g in zip(self.velocities, grads, strict=True)]
        updates = self.velocities
        if self.nesterov:
            updates = [mu * v - eta * g for v, g in zip(self.velocities, grads, strict=True)]
        for p, u in zip(params, updates, strict=True):
            p += u

    def iteration_ends(self, time_step: int) -> None:
        """η = η₀ / (t + 1)^power_t for "invscaling" (t: samples seen so far)."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose) -> bool:
        """Stop, unless "adaptive" can still divide η by 5 (it stops once η ≤ 1e-6)."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + f" Setting learning rate to {self.learning_rate:f}")
        return False


class AdamOptimizer(_Rules):
    """scikit-learn's Adam: bias correction in the learning rate, ε added to √v (above)."""

    def __init__(self, params: list[np.ndarray], learning_rate_init: float = 1e-3,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = [np.zeros_like(p) for p in params]
        self.vs = [np.zeros_like(p) for p in params]

    def update_params(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        b1, b2 = self.beta_1, self.beta_2
        self.t += 1
        self.ms = [b1 * m + (1 - b1) * g for m, g in zip(self.ms, grads, strict=True)]
        self.vs = [b2 * v + (1 - b2) * (g * g) for v, g in zip(self.vs, grads, strict=True)]
        self.learning_rate = float(self.learning_rate_init * np.sqrt(1 - b2 ** self.t)
                                   / (1 - b1 ** self.t))
        for p, m, v in zip(params, self.ms, self.vs, strict=True):
            p -= self.learning_rate * m / (np.sqrt(v) + self.epsilon)


def ffnn_names(n_layers: int) -> list[str]:
    """ffnn-style names for ``[W_1, ..., W_L, b_1, ..., b_L]``: "0.W", ..., "0.b", ...; ffnn's
    optimisers decay only the parameters whose name ends in "W" (the weight matrices)."""
    return [f"{i}.W" for i in range(n_layers)] + [f"{i}.b" for i in range(n_layers)]


class FfnnOptimizer(_Rules):
    """An ffnn optimiser (``ffnn.get_optimizer``) behind the same interface: the ffnn extras
    ``solver="adamw" | "rmsprop" | "adagrad"`` and the fused path.  Its state is keyed by
    ``ffnn_names``."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.lr)

    def update_params(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        names = ffnn_names(len(params) // 2)
        self.optimizer.step(dict(zip(names, params, strict=True)),
                            dict(zip(names, grads, strict=True)))
