"""Optimisers: ``step(params, grads)`` updates parameter arrays in place.

They know nothing about layers: ``params`` and ``grads`` are the flat dicts of
``Sequential.parameters()`` / ``gradients()``.  Per-parameter state lives here, keyed by the
parameter's name (``opt.state["0.W"]["m"]``), so it can be inspected and saved.  Hyperparameters
are Python floats: a float32 array times a NumPy float64 scalar would silently become float64.

Shared options (all optimisers):

* ``weight_decay`` (L2 penalty, "coupled"): g <- g + weight_decay * W for weight matrices
  (names ending in ".W"); biases are not decayed.  (AdamW instead decays decoupled, below.)
  It is the gradient of the penalty (weight_decay / 2) ||W||^2 added to the loss.
* ``l1`` (L1 penalty): g <- g + l1 * sign(W) for weight matrices, the gradient of
  l1 ||W||_1 (sign(0) = 0, the subgradient that leaves an exact zero at zero).  It pushes
  every weight towards 0 by the same amount, so small weights end at exactly 0 (sparse nets).
* ``clip_norm``: if the global norm ||g|| = sqrt(sum over all parameters of sum g^2) exceeds
  it, every gradient is scaled by clip_norm / ||g|| before the update.

Updates are written in place with a scratch buffer per parameter, so a step allocates nothing.

Subnormal numbers: a weight whose gradient is always exactly 0 (a pixel that is black in every
image, a dead ReLU unit) sees its moments decay geometrically (m <- 0.9 m) until they fall
below float32's smallest normal number, 1.2e-38.  Arithmetic on such subnormal numbers is
many times slower on common CPUs, and on MNIST it doubled the cost of Adam within a few epochs.
So every ``FLUSH_EVERY`` steps, state entries smaller than ``FLUSH_BELOW`` in magnitude are set
to exactly 0.  The update this removes is below lr * 1e-30 / eps: invisible in float32.

This module is the reference: plain NumPy, one equation per line.  The compiled update of the
fast path (``ffnn.fast``) performs the same operations through the small public interface of
``Optimizer`` (``begin_step``, ``state_for``, ``flush_due``, ``decay_factor``) and
``Adam.scaled_step``.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_nonneg_float, check_positive_float, check_probability

#: every FLUSH_EVERY steps, optimiser state entries below FLUSH_BELOW in magnitude become 0
FLUSH_EVERY = 50
FLUSH_BELOW = 1e-30


class Optimizer:
    """Base class: the shared options (penalties, clipping), the state and saving.

    ``threads`` and ``fused`` are read by the fast path (``ffnn.fast``): the threads its
    compiled update may use, and ``fused=True`` to require the fast step in ``fit`` (it is
    taken by default whenever it applies and numba is installed).  The NumPy step below runs
    on one thread.
    """

    name = ""

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None,
                 threads: int | None = None, l1: float = 0.0, fused: bool = False):
        self.lr = check_positive_float(lr, "learning rate lr")
        self.weight_decay = check_nonneg_float(weight_decay, "weight_decay")
        self.l1 = check_nonneg_float(l1, "l1")
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.threads = None if threads is None else int(threads)
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        self.fused = bool(fused)
        self.iterations = 0  # number of steps taken (t in the formulas)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- the step
    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """One update of every parameter from its gradient (gradients may be modified)."""
        self.begin_step(params, grads)
        lr = float(self.lr)
        for name, p in params.items():
            state = self.state_for(name, p)
            self._update(name, p, grads[name], state, self._scratch[name], lr)
        if self.flush_due():
            self.flush_tiny_state()

    def begin_step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """t <- t + 1, then clip the gradients and add the penalties' gradients (module doc)."""
        self.iterations += 1
        if self.clip_norm is not None:
            clip_by_global_norm(grads, self.clip_norm)
        for name, p in params.items():
            if name.endswith("W"):
                self.add_penalty(p, grads[name])

    def add_penalty(self, W: np.ndarray, g: np.ndarray) -> None:
        """g <- g + weight_decay W + l1 sign(W), for a weight matrix W (biases are not
        penalised)."""
        if self.weight_decay:
            g += self.weight_decay * W  # L2 penalty: d/dW (wd/2 ||W||^2) = wd W
        if self.l1:
            g += self.l1 * np.sign(W)  # L1 penalty: d/dW (l1 ||W||_1) = l1 sign(W)

    def state_for(self, name: str, p: np.ndarray) -> dict[str, np.ndarray]:
        """The state of parameter ``name``, created (zeros) on its first step."""
        if name not in self.state:
            self.state[name] = self._init_state(p)
        if name not in self._scratch:
            self._scratch[name] = np.empty_like(p)
        return self.state[name]

    def flush_due(self) -> bool:
        """True on the steps that zero state entries below FLUSH_BELOW (every FLUSH_EVERY)."""
        return self.iterations % FLUSH_EVERY == 0

    def flush_tiny_state(self) -> None:
        """Set every state entry smaller than FLUSH_BELOW in magnitude to exactly 0."""
        for name, state in self.state.items():
            s = self._scratch[name]
            for arr in state.values():
                np.abs(arr, out=s)
                np.copyto(arr, 0, where=s < FLUSH_BELOW)

    def decay_factor(self, name: str, lr: float) -> float:
        """Factor W is multiplied by before the step: 1 (AdamW's decoupled decay overrides)."""
        return 1.0

    def state_slots(self) -> tuple[str, ...]:
        """The names of the per-parameter state ("v" for momentum, "m" and "v" for Adam)."""
        return tuple(self._init_state(np.zeros(1)))

    def _init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _update(self, name, p, g, state, s, lr) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- saving
    def config(self) -> dict:
        """Hyperparameters that rebuild this optimiser (JSON-friendly)."""
        cfg = {"lr": self.lr, "weight_decay": self.weight_decay, "clip_norm": self.clip_norm}
        if self.l1:
            cfg["l1"] = self.l1
        if self.fused:  # so a resumed run keeps asking for the fast step
            cfg["fused"] = True
        return cfg

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``{"<param>/<slot>": array}`` of the optimiser state (for checkpoints)."""
        return {f"{k}/{slot}": v for k, st in self.state.items() for slot, v in st.items()}

    def load_state_dict(self, arrays: dict[str, np.ndarray], iterations: int) -> None:
        self.state = {}
        self._scratch = {}
        for key, arr in arrays.items():
            name, slot = key.rsplit("/", 1)
            self.state.setdefault(name, {})[slot] = np.array(arr)
        for name, st in self.state.items():
            self._scratch[name] = np.empty_like(next(iter(st.values())))
        self.iterations = int(iterations)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def global_norm(grads: dict[str, np.ndarray]) -> float:
    r"""||g|| = sqrt(sum_k sum g_k^2) over every gradient array: $\lVert g \rVert =
    \sqrt{\sum_k \sum g_k^2}$."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_by_global_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place by max_norm / ||g|| when ||g|| > max_norm; returns ||g||."""
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for g in grads.values():
            g *= scale
    return norm


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum (PyTorch's form).

        plain:     W <- W - lr g
        momentum:  v <- mu v + g;          W <- W - lr v
        Nesterov:  v <- mu v + g;          W <- W - lr (g + mu v)

    $$\begin{aligned}
    &\text{plain:} && W \leftarrow W - \eta\, g \\
    &\text{momentum:} && v \leftarrow \mu v + g, \quad W \leftarrow W - \eta\, v \\
    &\text{Nesterov:} && v \leftarrow \mu v + g, \quad W \leftarrow W - \eta\, (g + \mu v)
    \end{aligned}$$

    g is the parameter's gradient (after weight decay, L1 and clipping, see the module), lr =
    eta the learning rate, ``momentum`` = mu; g and v have W's shape.
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clip_norm: float | None = None,
                 threads: int | None = None, l1: float = 0.0, fused: bool = False):
        super().__init__(lr, weight_decay, clip_norm, threads, l1, fused)
        self.momentum = check_probability(momentum, "momentum")
        if nesterov and self.momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _init_state(self, p):
        return {"v": np.zeros_like(p)} if self.momentum else {}

    def _update(self, name, p, g, state, s, lr):
        if not self.momentum:
            np.multiply(g, lr, out=s)
            p -= s
            return
        v = state["v"]
        v *= self.momentum
        v += g
        if self.nesterov:
            np.multiply(v, self.momentum, out=s)
            s += g
            s *= lr
        else:
            np.multiply(v, lr, out=s)
        p -= s

    def config(self):
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSProp(Optimizer):
    r"""RMSProp (Hinton 2012):  s <- rho s + (1 - rho) g^2;   W <- W - lr g / (sqrt(s) + eps).

    $$s \leftarrow \rho s + (1 - \rho)\, g^2, \qquad
    W \leftarrow W - \eta\, \frac{g}{\sqrt{s} + \epsilon}$$

    Elementwise: g and s have W's shape.
    """

    name = "rmsprop"

    def __init__(self, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None,
                 threads: int | None = None, l1: float = 0.0, fused: bool = False):
        super().__init__(lr, weight_decay, clip_norm, threads, l1, fused)
        self.rho = check_probability(rho, "rho")
        self.eps = check_positive_float(eps, "eps")

    def _init_state(self, p):
        return {"s": np.zeros_like(p)}

    def _update(self, name, p, g, state, s, lr):
        sq = state["s"]
        sq *= self.rho
        np.multiply(g, g, out=s)
        s *= 1.0 - self.rho
        sq += s  # s <- rho s + (1 - rho) g^2
        np.sqrt(sq, out=s)
        s += self.eps
        np.divide(g, s, out=s)
        s *= lr
        p -= s

    def config(self):
        return {**super().config(), "rho": self.rho, "eps": self.eps}


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al. 2011):  s <- s + g^2;   W <- W - lr g / (sqrt(s) + eps).

    $$s \leftarrow s + g^2, \qquad W \leftarrow W - \eta\, \frac{g}{\sqrt{s} + \epsilon}$$

    Elementwise: g and s have W's shape.
    """

    name = "adagrad"

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0,
                 clip_norm: float | None = None, threads: int | None = None, l1: float = 0.0,
                 fused: bool = False):
        super().__init__(lr, weight_decay, clip_norm, threads, l1, fused)
        self.eps = check_positive_float(eps, "eps")

    def _init_state(self, p):
        return {"s": np.zeros_like(p)}

    def _update(self, name, p, g, state, s, lr):
        sq = state["s"]
        np.multiply(g, g, out=s)
        sq += s
        np.sqrt(sq, out=s)
        s += self.eps
        np.divide(g, s, out=s)
        s *= lr
        p -= s

    def config(self):
        return {**super().config(), "eps": self.eps}


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015), with step t = 1, 2, ...:

        m <- beta1 m + (1 - beta1) g                 first moment (mean of g)
        v <- beta2 v + (1 - beta2) g^2               second moment (uncentred variance)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)      bias corrections
        W <- W - lr m_hat / (sqrt(v_hat) + eps)

    $$\begin{aligned}
    m &\leftarrow \beta_1 m + (1 - \beta_1)\, g, & \hat m &= m / (1 - \beta_1^t), \\
    v &\leftarrow \beta_2 v + (1 - \beta_2)\, g^2, & \hat v &= v / (1 - \beta_2^t), \\
    W &\leftarrow W - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}
    \end{aligned}$$

    Elementwise: g, m and v have W's shape.  ``weight_decay`` here is the coupled L2 penalty
    (added to g before the moments).
    The last line is computed as W -= [lr sqrt(1 - beta2^t) / (1 - beta1^t)] m / (sqrt(v) + eps'),
    eps' = eps sqrt(1 - beta2^t) (``scaled_step``): the same number (multiply through by
    sqrt(1 - beta2^t)) with fewer passes over memory.
    """

    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, clip_norm: float | None = None,
                 threads: int | None = None, fused: bool = False, l1: float = 0.0):
        super().__init__(lr, weight_decay, clip_norm, threads, l1, fused)
        self.beta1 = check_probability(beta1, "beta1")
        self.beta2 = check_probability(beta2, "beta2")
        self.eps = check_positive_float(eps, "eps")

    def _init_state(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def scaled_step(self, lr: float) -> tuple[float, float]:
        """(step, eps') of step t: lr sqrt(1 - b2^t) / (1 - b1^t) and eps sqrt(1 - b2^t)."""
        t = self.iterations
        sqrt_bc2 = math.sqrt(1.0 - self.beta2**t)
        return lr * sqrt_bc2 / (1.0 - self.beta1**t), self.eps * sqrt_bc2

    def _update(self, name, p, g, state, s, lr):
        b1, b2 = self.beta1, self.beta2
        m, v = state["m"], state["v"]
        decay = self.decay_factor(name, lr)
        step, eps_hat = self.scaled_step(lr)
        if decay != 1.0:
            p *= decay
        np.subtract(g, m, out=s)
        s *= 1.0 - b1
        m += s  # m <- m + (1 - b1)(g - m) = b1 m + (1 - b1) g
        v *= b2
        np.multiply(g, g, out=s)
        s *= 1.0 - b2
        v += s  # v <- b2 v + (1 - b2) g^2
        np.sqrt(v, out=s)
        s += eps_hat  # sqrt(v_hat) + eps, times sqrt(1 - b2^t)
        np.divide(m, s, out=s)
        s *= step
        p -= s

    def config(self):
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019): Adam with *decoupled* weight decay.

        W <- W - lr * weight_decay * W        (shrink the weights directly, before the Adam step)
        W <- W - lr m_hat / (sqrt(v_hat) + eps)

    $$W \leftarrow (1 - \eta \lambda)\, W, \qquad
    W \leftarrow W - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}$$

    (lambda = ``weight_decay``; m_hat, v_hat as in ``Adam``.)

    With Adam + L2 the penalty wd W is added to g and so gets divided by sqrt(v_hat): weights
    with large gradients are barely decayed.  Here every weight matrix shrinks by the same
    factor (1 - lr wd) per step, independent of its gradient history.  Biases are not decayed.
    """

    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, clip_norm: float | None = None,
                 threads: int | None = None, fused: bool = False, l1: float = 0.0):
        super().__init__(lr, beta1, beta2, eps, 0.0, clip_norm, threads, fused, l1)
        self.decoupled_weight_decay = check_nonneg_float(weight_decay, "weight_decay")

    def decay_factor(self, name: str, lr: float) -> float:
        """1 - lr weight_decay for weight matrices (names ending in W), 1 for biases."""
        if self.decoupled_weight_decay and name.endswith("W"):
            return 1.0 - lr * self.decoupled_weight_decay
        return 1.0

    def config(self):
        cfg = super().config()
        cfg["weight_decay"] = self.decoupled_weight_decay
        return cfg


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, RMSProp, Adagrad, Adam, AdamW)
}


def get_optimizer(optimizer: str | Optimizer, **kwargs) -> Optimizer:
    """Resolve an optimiser name (with keyword hyperparameters) or pass an instance through."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()](**kwargs)
    raise ValueError(
        f"unknown optimiser {optimizer!r}; known optimisers: {', '.join(sorted(OPTIMIZERS))}"
    )
