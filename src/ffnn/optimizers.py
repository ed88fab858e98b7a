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

Speed: an update is elementwise, so it can be cut into slices that are independent of each
other.  With ``threads`` > 1, big parameters are cut into that many flat slices and the slices
are updated at the same time on a small thread pool.  This is plain NumPy: its elementwise
loops release Python's GIL, and during the update the BLAS threads of the matrix products are
idle.  The result is bit for bit the same as the one-slice update (a test checks it).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._checks import check_nonneg_float, check_positive_float, check_probability

#: every FLUSH_EVERY steps, optimiser state entries below FLUSH_BELOW in magnitude become 0
FLUSH_EVERY = 50
FLUSH_BELOW = 1e-30

#: parameters with fewer elements than this are never cut into slices, and networks with fewer
#: than twice as many are updated on one thread (handing work to a thread costs ~20 us)
MIN_SLICE = 1 << 15
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2) - 1,
                                   thread_name_prefix="ffnn-opt")
    return _POOL


def default_threads() -> int:
    """Threads for optimiser updates: ``FFNN_NUM_THREADS`` or the number of cores (max 4)."""
    env = os.environ.get("FFNN_NUM_THREADS")
    if env:
        return max(int(env), 1)
    return max(min(os.cpu_count() or 1, 4), 1)



class Optimizer:
    """Base class: bookkeeping shared by all optimisers."""

    name = ""

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None,
                 threads: int | None = None, l1: float = 0.0):
        self.lr = check_positive_float(lr, "learning rate lr")
        self.weight_decay = check_nonneg_float(weight_decay, "weight_decay")
        self.l1 = check_nonneg_float(l1, "l1")
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.threads = default_threads() if threads is None else int(threads)
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        self.iterations = 0  # number of steps taken (t in the formulas)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}
        self._plan_key: tuple | None = None
        self._plan: list[list[tuple]] = []

    # ---------------------------------------------------------------- the step
    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """One update of every parameter from its gradient (gradients may be modified)."""
        self.iterations += 1
        if self.clip_norm is not None:
            clip_by_global_norm(grads, self.clip_norm)
        lr = float(self.lr)
        for name, p in params.items():
            self._ensure_state(name, p)
        plan = self._slices(params, grads)
        if len(plan) == 1:
            self._run(plan[0], lr)
            return
        pending = [_pool().submit(self._run, part, lr) for part in plan[1:]]
        self._run(plan[0], lr)
        for f in pending:
            f.result()

    def _ensure_state(self, name: str, p: np.ndarray) -> None:
        """Create the state (and scratch buffer) of parameter ``name`` on its first step."""
        if name not in self.state:
            self.state[name] = self._init_state(p)
            self._scratch[name] = np.empty_like(p)

    def _flush_step(self) -> bool:
        """True on the steps that zero state entries below FLUSH_BELOW."""
        return self.iterations % FLUSH_EVERY == 0

    def _flush_below(self) -> float:
        """The flush threshold of this step for the compiled kernels: FLUSH_BELOW or 0 (none)."""
        return FLUSH_BELOW if self._flush_step() else 0.0

    def _add_penalty(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        if not name.endswith("W"):
            return
        if self.weight_decay:
            g += self.weight_decay * p  # L2 penalty: d/dW (wd/2 ||W||^2) = wd W
        if self.l1:
            g += self.l1 * np.sign(p)  # L1 penalty: d/dW (l1 ||W||_1) = l1 sign(W)

    def _run(self, jobs: list[tuple], lr: float) -> None:
        flush = self._flush_step()
        for name, p, g, state, s in jobs:
            self._add_penalty(name, p, g)
            self._update(name, p, g, state, s, lr)
            if flush and not self._flushes_in_update():
                for arr in state.values():
                    np.abs(arr, out=s)
                    np.copyto(arr, 0, where=s < FLUSH_BELOW)

    def _slices(self, params, grads) -> list[list[tuple]]:
        """Work for each thread: (name, p, g, state, scratch) over whole arrays or flat slices."""
        key = tuple((k, id(p), id(grads[k]), p.shape) for k, p in params.items())
        if key == self._plan_key:
            return self._plan
        total = sum(p.size for p in params.values())
        n = self.threads if total >= 2 * MIN_SLICE else 1  # small nets: threads cost more
        jobs = []
        for name, p in params.items():
            arrays = [p, grads[name], *self.state[name].values(), self._scratch[name]]
            if n == 1 or p.size < MIN_SLICE or not all(a.flags.c_contiguous for a in arrays):
                jobs.append((p.size, (name, p, grads[name], self.state[name],
                                      self._scratch[name])))
                continue
            bounds = np.linspace(0, p.size, n + 1).astype(int)
            flat = [a.reshape(-1) for a in arrays]
            slots = list(self.state[name])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                views = [f[a:b] for f in flat]
                state = dict(zip(slots, views[2:-1], strict=True))
                jobs.append((b - a, (name, views[0], views[1], state, views[-1])))
        plan: list[list[tuple]] = [[] for _ in range(n)]
        load = [0] * n
        for size, job in sorted(jobs, key=lambda j: -j[0]):  # largest first, to the lightest
            i = load.index(min(load))
            plan[i].append(job)
            load[i] += size
        self._plan_key, self._plan = key, [part for part in plan if part]
        return self._plan

    def _init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _flushes_in_update(self) -> bool:
        """True when ``_update`` itself zeroes tiny state entries on flush steps."""
        return False

    def _update(self, name, p, g, state, s, lr) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- saving
    def config(self) -> dict:
        """Hyperparameters that rebuild this optimiser (JSON-friendly)."""
        cfg = {"lr": self.lr, "weight_decay": self.weight_decay, "clip_norm": self.clip_norm}
        if self.l1:
            cfg["l1"] = self.l1
        return cfg

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``{"<param>/<slot>": array}`` of the optimiser state (for checkpoints)."""
        return {f"{k}/{slot}": v for k, st in self.state.items() for slot, v in st.items()}

    def load_state_dict(self, arrays: dict[str, np.ndarray], iterations: int) -> None:
        self.state = {}
        self._scratch = {}
        self._plan_key = None
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
                 threads: int | None = None, l1: float = 0.0):
        super().__init__(lr, weight_decay, clip_norm, threads, l1)
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
                 threads: int | None = None, l1: float = 0.0):
        super().__init__(lr, weight_decay, clip_norm, threads, l1)
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
                 clip_norm: float | None = None, threads: int | None = None, l1: float = 0.0):
        super().__init__(lr, weight_decay, clip_norm, threads, l1)
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
    eps' = eps sqrt(1 - beta2^t): the same number (multiply through by sqrt(1 - beta2^t)) with
    fewer passes over memory.

    ``fused=True`` runs the same arithmetic as one compiled loop (``ffnn._fused``, needs numba):
    bit-identical results, one pass over memory instead of twelve, on one thread (two threads
    lose to BLAS's spinning workers on MNIST).  ``fit`` then also uses its fused training
    step by default (``ffnn._fastpath``: the same math up to float rounding), which on two or
    more cores also runs this update inside its workers, each on its own rows of every W
    (``ffnn._parallel``; the same kernel and scalars, so the same numbers).
    """

    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, clip_norm: float | None = None,
                 threads: int | None = None, fused: bool = False, l1: float = 0.0):
        super().__init__(lr, weight_decay, clip_norm, threads, l1)
        self.beta1 = check_probability(beta1, "beta1")
        self.beta2 = check_probability(beta2, "beta2")
        self.eps = check_positive_float(eps, "eps")
        self.fused = bool(fused)
        self._kernel = None
        if self.fused and threads is None:
            # measured on MNIST: the compiled loop on one thread beats two threads, whose
            # hand-off costs more than it saves while BLAS's own workers still hold the cores
            self.threads = 1
        if self.fused:
            try:
                from ._fused import adam_update
            except ImportError as exc:
                raise ImportError("fused=True needs numba: pip install 'ffnn[fast]'") from exc
            self._kernel = adam_update

    def _init_state(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _flushes_in_update(self) -> bool:
        return self._kernel is not None

    def _run(self, jobs: list[tuple], lr: float) -> None:
        """With the compiled kernel, all of a thread's parameters in one call (same math)."""
        flat = self._flat_views(jobs) if self._kernel is not None else None
        if flat is None:
            return super()._run(jobs, lr)
        from ._fused import adam_update_many

        for name, p, g, _, _ in jobs:
            self._add_penalty(name, p, g)
        ps, gs, ms, vs = flat
        step, eps_hat = self._step_sizes(lr)
        decays = np.array([self._decay(name, lr) for name, *_ in self._order(jobs)],
                          dtype=ps[0].dtype)
        adam_update_many(ps, gs, ms, vs, decays, beta1=self.beta1, beta2=self.beta2,
                         eps_hat=eps_hat, step=step,
                         flush_below=self._flush_below())

    @staticmethod
    def _order(jobs: list[tuple]) -> list[tuple]:
        """Last parameter first: the first layer's weights, updated last, are still in cache
        when the next forward pass starts with them (elementwise, so no result changes)."""
        return jobs[::-1]

    def _flat_views(self, jobs: list[tuple]) -> tuple | None:
        """(ps, gs, ms, vs): tuples of flat views of the jobs' arrays, cached per plan; None
        when they do not share one dtype or are not contiguous (then one call per array)."""
        cache = self.__dict__.setdefault("_flat_cache", {})  # id(jobs) -> (jobs, views)
        hit = cache.get(id(jobs))
        if hit is not None and hit[0] is jobs:
            return hit[1]
        for key in [k for k, (j, _) in cache.items() if not any(j is part for part in self._plan)]:
            del cache[key]  # views of an older plan (e.g. before load_state_dict)
        arrays = [(p, g, state["m"], state["v"]) for _, p, g, state, _ in self._order(jobs)]
        ok = len({a.dtype for row in arrays for a in row}) == 1 and all(
            a.flags.c_contiguous for row in arrays for a in row)
        flat = (tuple(tuple(a.reshape(-1) for a in col) for col in zip(*arrays, strict=True))
                if ok else None)
        cache[id(jobs)] = (jobs, flat)
        return flat

    def _decay(self, name: str, lr: float) -> float:
        """Factor applied to W before the step: 1 for Adam (AdamW decays here)."""
        return 1.0

    def _step_sizes(self, lr: float) -> tuple[float, float]:
        """(step, eps') of this step t: lr sqrt(1 - b2^t) / (1 - b1^t) and eps sqrt(1 - b2^t)."""
        t = self.iterations
        sqrt_bc2 = math.sqrt(1.0 - self.beta2**t)
        return lr * sqrt_bc2 / (1.0 - self.beta1**t), self.eps * sqrt_bc2

    def _update(self, name, p, g, state, s, lr):
        b1, b2 = self.beta1, self.beta2
        m, v = state["m"], state["v"]
        decay = self._decay(name, lr)
        step, eps_hat = self._step_sizes(lr)
        if self._kernel is not None:  # the same, one pass; flushes m and v on flush steps
            self._kernel(p, g, m, v, decay=decay, beta1=b1, beta2=b2, eps_hat=eps_hat,
                         step=step, flush_below=self._flush_below())
            return
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
        cfg = {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        if self.fused:  # so a resumed run keeps the fast path (it needs numba then too)
            cfg["fused"] = True
        return cfg

    def __getstate__(self):  # the compiled kernel is looked up again, not copied
        state = dict(self.__dict__)
        state["_kernel"] = None
        state.pop("_flat_cache", None)  # views of the arrays: rebuilt, never copied
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.fused:
            from ._fused import adam_update

            self._kernel = adam_update


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

    def _decay(self, name: str, lr: float) -> float:
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
