"""The right answers, computed by ffnn's own code: one source of truth for the math.

Each function has the exercise's signature and calls the layer, loss, initialiser or optimiser
that ffnn itself trains with (the comment on each line names it).  They never change their
inputs: the optimisers update in place, so they get copies.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import init
from ..activations import ReLU, Sigmoid, Tanh
from ..layers import Dense
from ..losses import MSE, BinaryCrossEntropy, Loss, SoftmaxCrossEntropy
from ..optimizers import SGD, Adam

Array = np.ndarray


def dense_layer(W: Array, b: Array | None = None) -> Dense:
    """An ffnn ``Dense`` layer (float64) holding copies of the given W and b."""
    layer = Dense(W.shape[0], W.shape[1], init="zeros", dtype=np.float64)
    layer.params["W"][...] = W
    if b is not None:
        layer.params["b"][...] = b
    return layer


def dense_forward(X: Array, W: Array, b: Array) -> Array:
    """Z = X W + b."""
    return dense_layer(W, b).forward(X)  # ffnn.layers.Dense.forward


def dense_backward(dZ: Array, X: Array, W: Array) -> tuple[Array, Array, Array]:
    """dX = dZ W^T, dW = X^T dZ, db = sum_n dZ[n, :]."""
    layer = dense_layer(W)
    layer.forward(X)
    dX = layer.backward(dZ)  # ffnn.layers.Dense.backward, which fills grads["W"], grads["b"]
    return dX, layer.grads["W"].copy(), layer.grads["b"].copy()


def sigmoid_forward(Z: Array) -> Array:
    """A = 1 / (1 + exp(-Z)), stable at +-1000."""
    return Sigmoid().forward(Z)  # ffnn.activations.Sigmoid -> ffnn.functional.sigmoid


def sigmoid_backward(dA: Array, A: Array) -> Array:
    """dZ = dA A (1 - A)."""
    layer = Sigmoid()
    layer.A = A  # what Sigmoid.forward caches: its output A = sigma(Z)
    return layer.backward(dA)  # ffnn.activations.Sigmoid.backward


def relu_forward(Z: Array) -> Array:
    """A = max(Z, 0)."""
    return ReLU().forward(Z)  # ffnn.activations.ReLU.forward


def relu_backward(dA: Array, Z: Array) -> Array:
    """dZ = dA 1{Z > 0}."""
    layer = ReLU()
    layer.forward(Z)
    return layer.backward(dA)  # ffnn.activations.ReLU.backward


def tanh_forward(Z: Array) -> Array:
    """A = tanh(Z)."""
    return Tanh().forward(Z)  # ffnn.activations.Tanh.forward


def tanh_backward(dA: Array, A: Array) -> Array:
    """dZ = dA (1 - A^2)."""
    layer = Tanh()
    layer.A = A  # what Tanh.forward caches: its output A = tanh(Z)
    return layer.backward(dA)  # ffnn.activations.Tanh.backward


def softmax(Z: Array) -> Array:
    """P = exp(Z - m) / sum_j exp(Z - m), row-wise, m the row maximum."""
    return F.softmax(Z, axis=1)  # ffnn.functional.softmax


def _loss_and_grad(loss: Loss, Z: Array, y: Array) -> tuple[float, Array]:
    value = loss.forward(Z, y)
    return value, loss.backward()


def softmax_cross_entropy(Z: Array, y: Array) -> tuple[float, Array]:
    """loss = -(1/N) sum_n log P[n, y_n];  dZ = (P - Y) / N."""
    return _loss_and_grad(SoftmaxCrossEntropy(), Z, y)  # ffnn.losses.SoftmaxCrossEntropy


def bce_with_logits(Z: Array, Y: Array) -> tuple[float, Array]:
    """loss = mean(softplus(Z) - Y Z);  dZ = (sigma(Z) - Y) / (N K)."""
    return _loss_and_grad(BinaryCrossEntropy(), Z, Y)  # ffnn.losses.BinaryCrossEntropy


def mse(Z: Array, Y: Array) -> tuple[float, Array]:
    """loss = mean((Z - Y)^2);  dZ = 2 (Z - Y) / (N K)."""
    return _loss_and_grad(MSE(), Z, Y)  # ffnn.losses.MSE


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> Array:
    """W ~ N(0, 2 / fan_in), shape (fan_in, fan_out)."""
    return init.he_normal(fan_in, fan_out, rng, dtype=np.float64)  # ffnn.init.he_normal


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> Array:
    """W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    return init.glorot_uniform(fan_in, fan_out, rng, dtype=np.float64)  # ffnn.init


def sgd_step(w: Array, dw: Array, lr: float) -> Array:
    """w <- w - lr dw."""
    opt = SGD(lr=lr, threads=1)
    params = {"w": np.array(w, dtype=np.float64)}
    opt.step(params, {"w": np.array(dw, dtype=np.float64)})  # ffnn.optimizers.SGD
    return params["w"]


def sgd_momentum_step(w: Array, dw: Array, v: Array, lr: float,
                      momentum: float) -> tuple[Array, Array]:
    """v <- mu v + dw;  w <- w - lr v."""
    opt = SGD(lr=lr, momentum=momentum, threads=1)
    opt.load_state_dict({"w/v": v}, iterations=0)
    params = {"w": np.array(w, dtype=np.float64)}
    opt.step(params, {"w": np.array(dw, dtype=np.float64)})  # ffnn.optimizers.SGD
    return params["w"], opt.state["w"]["v"]


def adam_step(w: Array, dw: Array, m: Array, v: Array, t: int, lr: float, beta1: float,
              beta2: float, eps: float) -> tuple[Array, Array, Array]:
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    w <- w - lr m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)."""
    opt = Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps, threads=1)
    opt.load_state_dict({"w/m": m, "w/v": v}, iterations=t - 1)  # so that step() is step t
    params = {"w": np.array(w, dtype=np.float64)}
    opt.step(params, {"w": np.array(dw, dtype=np.float64)})  # ffnn.optimizers.Adam
    return params["w"], opt.state["w"]["m"], opt.state["w"]["v"]


def minibatch_indices(n: int, batch_size: int, rng: np.random.Generator) -> list[Array]:
    """order = rng.permutation(n), cut into consecutive batches of batch_size."""
    # ffnn.fit batches exactly so: order[b * B:(b + 1) * B] (it has no separate function)
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def numerical_gradient(f, x: Array) -> Array:
    """df/dx, exactly."""
    # The test functions f are ffnn losses and layers (catalog.Probe); the right answer is
    # their backprop gradient, which a good centred difference matches to ~1e-9.
    return f.backprop(x)
