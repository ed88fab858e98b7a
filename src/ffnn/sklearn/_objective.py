r"""scikit-learn's MLP objective, evaluated with an ffnn network.

The network (``ffnn.mlp``: Dense, activation, ..., Dense) gives the raw output Z (N, K).
scikit-learn then applies an output activation P = g(Z) and minimises, per batch,

    J(θ) = loss(Y, P; s) + α / (2 Σₙ sₙ) · Σ_l ‖W_l‖²

with sample weights s (all ones without ``sample_weight``, so Σₙ sₙ = N).  The losses are
scikit-learn's own (``sklearn/neural_network/_base.py``), with s-weighted means over samples:

    squared_error     ½ · mean_k  avg_n (y_nk − p_nk)²
    poisson           Σ_k avg_n (y_nk log(y_nk / p_nk) − y_nk + p_nk)        (g = exp)
    log_loss          −Σ_k avg_n y_nk log p_nk                                (g = softmax)
    binary_log_loss   −Σ_k avg_n [y_nk log p_nk + (1 − y_nk) log(1 − p_nk)]   (g = logistic)

Every pair above is a canonical link, so scikit-learn's output gradient is the same for all:

    dZ = s ⊙ (P − Y) / Σₙ sₙ                     (N, K)

and, after ``Sequential.backward(dZ)`` has given dW = Aᵀ dZ and db = Σₙ dZ, the L2 term adds

    dW_l += α W_l / Σₙ sₙ.

(For squared_error with K > 1 targets that gradient belongs to ½ Σ_k avg_n (y − p)², K times
the loss scikit-learn reports; the reported value and the gradient are kept exactly as
scikit-learn has them, so L-BFGS sees what it sees in scikit-learn.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import xlogy

from .. import functional as F
from ..layers import Dense
from ..network import Sequential


def _identity(Z: np.ndarray) -> np.ndarray:
    return Z


def _softmax(Z: np.ndarray) -> np.ndarray:
    return F.softmax(Z, axis=1)


#: output activation g by scikit-learn's name (``out_activation_``): P = g(Z)
OUTPUT_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "logistic": F.sigmoid,
    "softmax": _softmax,
    "exp": np.exp,
}

#: how ffnn's ``Sequential.output`` names the same output (exp: the raw output is log(mean))
NETWORK_OUTPUT = {"identity": "identity", "logistic": "sigmoid", "softmax": "softmax",
                  "exp": "identity"}


def squared_error(Y: np.ndarray, P: np.ndarray, s: np.ndarray | None) -> float:
    """½ · mean_k avg_n (y_nk − p_nk)², avg_n weighted by s."""
    return float(0.5 * np.average((Y - P) ** 2, weights=s, axis=0).mean())


def poisson(Y: np.ndarray, P: np.ndarray, s: np.ndarray | None) -> float:
    """Half the Poisson deviance: Σ_k avg_n (y log(y / p) − y + p)."""
    return float(np.average(xlogy(Y, Y / P) - Y + P, weights=s, axis=0).sum())


def log_loss(Y: np.ndarray, P: np.ndarray, s: np.ndarray | None) -> float:
    """−Σ_k avg_n y_nk log p_nk, with p clipped to [eps, 1 − eps] as scikit-learn does."""
    eps = np.finfo(P.dtype).eps
    P = np.clip(P, eps, 1 - eps)
    if P.shape[1] == 1:
        P = np.append(1 - P, P, axis=1)
    if Y.shape[1] == 1:
        Y = np.append(1 - Y, Y, axis=1)
    return float(-np.average(xlogy(Y, P), weights=s, axis=0).sum())


def binary_log_loss(Y: np.ndarray, P: np.ndarray, s: np.ndarray | None) -> float:
    """−Σ_k avg_n [y log p + (1 − y) log(1 − p)], p clipped to [eps, 1 − eps]."""
    eps = np.finfo(P.dtype).eps
    P = np.clip(P, eps, 1 - eps)
    return float(-np.average(xlogy(Y, P) + xlogy(1 - Y, 1 - P), weights=s, axis=0).sum())


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]] = {
    "squared_error": squared_error,
    "poisson": poisson,
    "log_loss": log_loss,
    "binary_log_loss": binary_log_loss,
}


def dense_layers(net: Sequential) -> list[Dense]:
    return [layer for layer in net.layers if isinstance(layer, Dense)]


def loss_and_gradients(net: Sequential, X: np.ndarray, Y: np.ndarray,
                       sample_weight: np.ndarray | None, alpha: float, out_activation: str,
                       loss: str, training: bool = True) -> float:
    """J(θ) for the batch (X (N, D_in), Y (N, K)); leaves ∂J/∂θ in ``net.gradients()``.

    The forward and backward passes are the network's; what is added here is scikit-learn's
    output gradient dZ = s ⊙ (P − Y) / Σₙ sₙ and its L2 term (module docstring).
    """
    Z = net.forward(X, training=training)
    P = OUTPUT_ACTIVATIONS[out_activation](Z)
    if loss == "log_loss" and out_activation == "logistic":
        loss = "binary_log_loss"  # one sigmoid per output: binary or multi-label
    value = LOSSES[loss](Y, P, sample_weight)
    total_weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    layers = dense_layers(net)
    if alpha:
        value += 0.5 * alpha * sum(float(np.vdot(d.params["W"], d.params["W"]))
                                   for d in layers) / total_weight
    dZ = P - Y
    if sample_weight is not None:
        dZ *= sample_weight.reshape(-1, 1)
    dZ /= total_weight
    net.backward(dZ, input_grad=False)
    if alpha:
        for d in layers:
            d.grads["W"] += (alpha / total_weight) * d.params["W"]  # d/dW of α/(2Σs)‖W‖²
    return value
