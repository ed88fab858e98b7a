r"""Weight initialisers, each named after its rule.

Every initialiser is a function ``(fan_in, fan_out, rng, dtype) -> W`` returning an array of
shape ``(fan_in, fan_out)`` (rows are inputs, as in ``Z = X @ W + b``).

    =================  ===========================================  ==========================
    name               distribution                                 suited to
    =================  ===========================================  ==========================
    glorot_uniform     U(-a, a),  a = sqrt(6 / (fan_in + fan_out))  sigmoid, tanh (Glorot 2010)
    glorot_normal      N(0, s^2), s = sqrt(2 / (fan_in + fan_out))  sigmoid, tanh
    he_uniform         U(-a, a),  a = sqrt(6 / fan_in)              ReLU family (He 2015)
    he_normal          N(0, s^2), s = sqrt(2 / fan_in)              ReLU family
    lecun_normal       N(0, s^2), s = sqrt(1 / fan_in)              SELU, linear
    zeros              0                                            biases only (no symmetry break)
    =================  ===========================================  ==========================

The rules keep the variance of Z = X W roughly constant from layer to layer:

$$\operatorname{Var} W = \frac{2}{\text{fan}_\text{in} + \text{fan}_\text{out}}
\;\text{(Glorot)}, \qquad \operatorname{Var} W = \frac{2}{\text{fan}_\text{in}}
\;\text{(He, for ReLU)}, \qquad \operatorname{Var} W = \frac{1}{\text{fan}_\text{in}}
\;\text{(LeCun)}$$
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[int, int, np.random.Generator, np.dtype], np.ndarray]


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``np.random.Generator`` from a Generator, an integer seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32):
    """W ~ U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), so Var(W) = 2 / (fan_in + fan_out).

    Returns W of shape (fan_in, fan_out) in ``dtype``.
    """
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def glorot_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32):
    """W ~ N(0, s^2) with s = sqrt(2 / (fan_in + fan_out)).

    Returns W of shape (fan_in, fan_out) in ``dtype``.
    """
    s = np.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal((fan_in, fan_out)) * s).astype(dtype)


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32):
    """W ~ U(-a, a) with a = sqrt(6 / fan_in), so Var(W) = 2 / fan_in.

    Returns W of shape (fan_in, fan_out) in ``dtype``.
    """
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32):
    """W ~ N(0, s^2) with s = sqrt(2 / fan_in): keeps Var(Z) constant through ReLU layers.

    Returns W of shape (fan_in, fan_out) in ``dtype``.
    """
    s = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal((fan_in, fan_out)) * s).astype(dtype)


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32):
    """W ~ N(0, s^2) with s = sqrt(1 / fan_in).

    Returns W of shape (fan_in, fan_out) in ``dtype``.
    """
    s = np.sqrt(1.0 / fan_in)
    return (rng.standard_normal((fan_in, fan_out)) * s).astype(dtype)


def zeros(fan_in: int, fan_out: int, rng: np.random.Generator | None = None, dtype=np.float32):
    """W = 0.  Fine for biases; for weights every unit would learn the same thing.

    Returns W of shape (fan_in, fan_out) in ``dtype``.
    """
    return np.zeros((fan_in, fan_out), dtype=dtype)


INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "lecun_normal": lecun_normal,
    "zeros": zeros,
}


def get_initializer(init: str | Initializer) -> Initializer:
    """Resolve an initialiser name (or pass a callable through)."""
    if callable(init):
        return init
    if isinstance(init, str) and init.lower() in INITIALIZERS:
        return INITIALIZERS[init.lower()]
    raise ValueError(
        f"unknown initialiser {init!r}; known initialisers: {', '.join(sorted(INITIALIZERS))}"
    )


def initializer_name(init: str | Initializer) -> str:
    """The registry name of an initialiser (for summaries and model files)."""
    if isinstance(init, str):
        return get_initializer(init).__name__
    return getattr(init, "__name__", repr(init))
