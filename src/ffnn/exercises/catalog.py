"""The exercises, in course order: what each one asks, the inputs it is tried on, its answer.

Inputs are small and fixed (seeded), and always include the edge cases of the lesson: a batch
of one, non-square shapes (so that a transpose cannot hide), extreme logits of ±1000 where
stability matters.  The right answers come from ``reference`` (ffnn's own code) and the typical
mistakes from ``mistakes``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import functional as F
from ..activations import Tanh
from ..losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from . import reference as ref
from .mistakes import MISTAKES
from .spec import Case, Exercise, Fresh, Output, Seed

_BATCH = "Batches are rows: X (N, D_in), W (D_in, D_out), b (D_out,), Z = X·W + b (N, D_out)."
_NEW = "Return new arrays; do not change the inputs in place."


def _rand(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _with_zeros(Z: np.ndarray) -> np.ndarray:
    """Z with a few entries set to exactly 0 (where ReLU's derivative is decided by convention)."""
    Z = Z.copy()
    Z.flat[:: 3] = 0.0
    return Z


# ------------------------------------------------------------------------------- the cases


def _dense_forward_cases():
    def case(label, seed, n, d_in, d_out):
        return Case(label, (_rand(seed, n, d_in), _rand(seed + 1, d_in, d_out),
                            _rand(seed + 2, d_out)))

    return [case("random batch", 10, 4, 3, 5), case("a batch of one", 20, 1, 3, 2),
            case("square W", 30, 3, 4, 4), case("one output", 40, 5, 2, 1)]


def _dense_backward_cases():
    def case(label, seed, n, d_in, d_out):
        return Case(label, (_rand(seed, n, d_out), _rand(seed + 1, n, d_in),
                            _rand(seed + 2, d_in, d_out)))

    return [case("random batch", 11, 4, 3, 5), case("a batch of one", 21, 1, 3, 2),
            case("square W", 31, 3, 4, 4), case("one output", 41, 5, 2, 1)]


_EXTREME = np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0], [1000.0, 5.0, -5.0, -1000.0, 0.5]])


def _activation_forward_cases():
    return [Case("random", (_rand(12, 3, 4, scale=3.0),)),
            Case("a batch of one", (_rand(22, 1, 5, scale=3.0),)),
            Case("extreme inputs ±1000", (_EXTREME.copy(),))]


def _relu_forward_cases():
    return [Case("random, with zeros", (_with_zeros(_rand(13, 3, 4)),)),
            Case("a batch of one", (_rand(23, 1, 5),)),
            Case("extreme inputs ±1000", (_EXTREME.copy(),))]


def _from_output_cases(f: Callable[[np.ndarray], np.ndarray]):
    """(dA, A) with A = f(Z), the cached output sigmoid and tanh differentiate from."""
    return [Case("random", (_rand(14, 3, 4), f(_rand(15, 3, 4, scale=2.0)))),
            Case("a batch of one", (_rand(24, 1, 5), f(_rand(25, 1, 5, scale=2.0)))),
            Case("saturated outputs (Z = ±1000, ±30)", (_rand(34, 2, 5), f(_EXTREME)))]


def _relu_backward_cases():
    return [Case("random, with zeros in Z", (_rand(16, 3, 4), _with_zeros(_rand(17, 3, 4)))),
            Case("a batch of one", (_rand(26, 1, 5), _rand(27, 1, 5))),
            Case("extreme inputs ±1000", (_rand(36, 2, 5), _EXTREME.copy()))]


def _softmax_cases():
    extreme = np.array([[1000.0, 999.0, 0.0], [-1000.0, -999.0, -1001.0]])
    return [Case("random", (_rand(18, 4, 3, scale=2.0),)),
            Case("a batch of one", (_rand(28, 1, 5, scale=2.0),)),
            Case("square", (_rand(38, 3, 3, scale=2.0),)),
            Case("large logits ±1000", (extreme,))]


def _labels(seed: int, n: int, c: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, c, size=n)


def _cross_entropy_cases():
    extreme = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]])
    return [Case("random", (_rand(19, 4, 3, scale=2.0), _labels(19, 4, 3))),
            Case("a batch of one", (_rand(29, 1, 3, scale=2.0), np.array([2]))),
            Case("many classes", (_rand(39, 2, 6, scale=2.0), np.array([5, 0]))),
            Case("large logits ±1000", (extreme, np.array([0, 1])))]


def _bce_cases():
    rng = np.random.default_rng(50)
    extreme = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 3.0]])
    return [Case("random, soft targets", (_rand(51, 4, 3, scale=2.0), rng.random((4, 3)))),
            Case("a batch of one", (_rand(52, 1, 1, scale=2.0), np.array([[1.0]]))),
            Case("one output", (_rand(53, 5, 1, scale=2.0), rng.integers(0, 2, (5, 1)) * 1.0)),
            Case("large logits ±1000", (extreme, np.array([[1.0, 0.0, 0.5], [1.0, 0.0, 1.0]])))]


def _mse_cases():
    return [Case("random", (_rand(60, 4, 3), _rand(61, 4, 3))),
            Case("a batch of one", (_rand(62, 1, 1), _rand(63, 1, 1))),
            Case("two outputs", (_rand(64, 5, 2), _rand(65, 5, 2)))]


def _init_cases():
    return [Case("small", (4, 3, Seed(0))), Case("a single input", (1, 5, Seed(1))),
            Case("a large draw (statistics)", (100, 400, Seed(2)))]


def _sgd_cases():
    return [Case("random", (_rand(70, 3, 4), _rand(71, 3, 4), 0.1)),
            Case("a vector", (_rand(72, 5), _rand(73, 5), 0.5)),
            Case("one weight", (_rand(74, 1, 1), _rand(75, 1, 1), 0.01))]


def _momentum_cases():
    return [Case("random", (_rand(80, 3, 4), _rand(81, 3, 4), _rand(82, 3, 4), 0.1, 0.9)),
            Case("the first step (v = 0)", (_rand(83, 2, 3), _rand(84, 2, 3), np.zeros((2, 3)),
                                            0.05, 0.9)),
            Case("a vector", (_rand(85, 5), _rand(86, 5), _rand(87, 5), 0.5, 0.5))]


def _adam_cases():
    def case(label, seed, shape, t, lr, eps, g_scale=1.0):
        w, g = _rand(seed, *shape), _rand(seed + 1, *shape, scale=g_scale)
        if t == 1:
            m, v = np.zeros(shape), np.zeros(shape)
        else:
            m = _rand(seed + 2, *shape, scale=0.1 * g_scale)
            v = _rand(seed + 3, *shape, scale=0.1 * g_scale) ** 2
        return Case(label, (w, g, m, v, t, lr, 0.9, 0.999, eps))

    return [case("the first step (t = 1, m = v = 0)", 90, (3, 4), 1, 0.01, 1e-8),
            case("a later step (t = 5)", 94, (2, 3), 5, 0.01, 1e-8),
            case("small gradients (eps matters)", 98, (5,), 2, 0.1, 1e-4, g_scale=1e-4)]


def _minibatch_cases():
    return [Case("the last batch smaller", (10, 3, Seed(0))),
            Case("equal batches", (8, 4, Seed(1))),
            Case("batch_size > n", (7, 10, Seed(2))),
            Case("a single sample", (1, 1, Seed(3)))]


class Probe:
    """A test function f for numerical_gradient: a scalar computed by ffnn (a loss or a layer)
    of x, which records every x it is called with and knows its backprop gradient."""

    def __init__(self, shape: tuple, value: Callable, backprop: Callable) -> None:
        self.shape = shape
        self._value, self._backprop = value, backprop
        self.calls: list[np.ndarray] = []

    def __call__(self, x) -> float:
        x = np.array(x, dtype=np.float64)
        self.calls.append(x)
        if x.size != int(np.prod(self.shape)):
            raise ValueError(f"f expects an array of shape {self.shape}, got shape {x.shape}")
        return float(self._value(x.reshape(self.shape)))

    def backprop(self, x) -> np.ndarray:
        """df/dx at x from ffnn's backward pass (the reference answer)."""
        x = np.asarray(x, dtype=np.float64)
        return np.asarray(self._backprop(x.reshape(self.shape)), dtype=np.float64).reshape(
            x.shape)


def _loss_probe(loss_cls, shape, target):
    def value(x):
        return loss_cls().forward(x, target)

    def backprop(x):
        loss = loss_cls()
        loss.forward(x, target)
        return loss.backward()  # ffnn's fused gradient of the loss

    return Probe(shape, value, backprop)


def _tanh_probe():
    R = _rand(101, 5)

    def backprop(x):
        layer = Tanh()
        layer.forward(x)
        return layer.backward(R)  # d/dx sum(tanh(x) R) = R (1 - tanh(x)^2)

    return Probe((5,), lambda x: np.sum(Tanh().forward(x) * R), backprop)


def _dense_probe():
    X, Y, b = _rand(102, 4, 3), _rand(103, 4, 2), _rand(104, 2)

    def backprop(W):
        layer, loss = ref.dense_layer(W, b), MSE()
        loss.forward(layer.forward(X), Y)
        layer.backward(loss.backward())
        return layer.grads["W"]  # ffnn's backprop: dW = X^T dZ

    return Probe((3, 2), lambda W: MSE().forward(ref.dense_forward(X, W, b), Y), backprop)


def _numerical_gradient_cases():
    y = np.array([0, 2, 3])
    return [
        Case("cross-entropy of logits", (
            Fresh(lambda: _loss_probe(SoftmaxCrossEntropy, (3, 4), y),
                  "softmax cross-entropy of the logits x"), _rand(100, 3, 4))),
        Case("a vector", (Fresh(_tanh_probe, "sum(tanh(x) * R)"), _rand(105, 5))),
        Case("a single entry", (
            Fresh(lambda: _loss_probe(BinaryCrossEntropy, (1, 1), np.array([[0.3]])),
                  "binary cross-entropy of the logit x"), np.array([0.7]))),
        Case("the weights of a dense layer", (
            Fresh(_dense_probe, "MSE of X·x + b as a function of the weights x"),
            _rand(106, 3, 2))),
    ]


# ---------------------------------------------------------------------------- the exercises


def _exercise(name: str, args, outputs, summary, equations, notes, cases, **kw) -> Exercise:
    return Exercise(name=name, args=tuple(args), outputs=tuple(outputs), summary=summary,
                    equations=tuple(equations), notes=tuple(notes),
                    reference=getattr(ref, name), cases=cases,
                    mistakes=tuple(MISTAKES[name]), **kw)


_SIGMOID_STABLE = ("compute e = exp(−|Z|), then σ = 1/(1 + e) where Z ≥ 0 and e/(1 + e) where "
                   "Z < 0, so no exponent is ever positive")
_UPDATE = ("{} -= ... writes into the caller's array; `{} = {} - ...` makes a new one")

EXERCISES: dict[str, Exercise] = {e.name: e for e in [
    _exercise(
        "dense_forward", ["X", "W", "b"], [Output("Z", shape="(N, D_out)")],
        "Forward pass of a dense (fully connected) layer: one affine map for the whole batch.",
        ["Z = X·W + b        X (N, D_in), W (D_in, D_out), b (D_out,) -> Z (N, D_out)"],
        [_BATCH, "The textbook's column form z = Wᵀx + b, one sample per column, is the "
                 "transpose of this; here b is broadcast to every row.", _NEW],
        _dense_forward_cases),
    _exercise(
        "dense_backward", ["dZ", "X", "W"],
        [Output("dX", shape="(N, D_in)", like="X"), Output("dW", shape="(D_in, D_out)", like="W"),
         Output("db", shape="(D_out,)", like="b")],
        "Backward pass of the dense layer Z = X·W + b: given dZ = ∂L/∂Z (N, D_out), return "
        "the gradients of the loss with respect to its input and its parameters.",
        ["dX = dZ·Wᵀ          (N, D_in), like X",
         "dW = Xᵀ·dZ          (D_in, D_out), like W",
         "db = Σₙ dZ[n, :]    (D_out,), like b"],
        ["d<name> always has <name>'s shape.", "dZ already contains the 1/N of the mean "
         "loss: do not divide by N again.", "Return the tuple (dX, dW, db).", _NEW],
        _dense_backward_cases),
    _exercise(
        "sigmoid_forward", ["Z"], [Output("A", like="Z")],
        "The logistic sigmoid, elementwise, stable at the extremes.",
        ["A = σ(Z) = 1 / (1 + e^(−Z))       A has Z's shape, values in [0, 1]"],
        ["Must not overflow: no NumPy warning and no NaN at Z = ±1000 (there A is 0 or 1).",
         "Use σ(Z) = 1/(1 + e^(−|Z|)) for Z ≥ 0 and e^(−|Z|)/(1 + e^(−|Z|)) for Z < 0.",
         _NEW],
        _activation_forward_cases, stable_hint=_SIGMOID_STABLE),
    _exercise(
        "sigmoid_backward", ["dA", "A"], [Output("dZ", like="A")],
        "Backward pass of the sigmoid, from its cached OUTPUT A = σ(Z) (not from Z).",
        ["dZ = dA · A · (1 − A)      since σ'(Z) = σ(Z)(1 − σ(Z)) = A(1 − A)"],
        ["dA, A and dZ all have the same shape.", _NEW],
        lambda: _from_output_cases(F.sigmoid)),
    _exercise(
        "relu_forward", ["Z"], [Output("A", like="Z")],
        "The rectified linear unit, elementwise.",
        ["A = max(Z, 0)       A has Z's shape"],
        ["np.maximum is elementwise; np.max reduces along an axis.", _NEW],
        _relu_forward_cases,
        inplace_hints={"Z": "Z[Z < 0] = 0 writes into the caller's Z; np.maximum(Z, 0) makes a "
                            "new array"}),
    _exercise(
        "relu_backward", ["dA", "Z"], [Output("dZ", like="Z")],
        "Backward pass of ReLU, from its cached INPUT Z.",
        ["dZ = dA · 1{Z > 0}     (the derivative at Z = 0 is taken as 0)"],
        ["dA, Z and dZ all have the same shape.", _NEW],
        _relu_backward_cases,
        inplace_hints={"dA": "dA[Z <= 0] = 0 writes into the caller's dA; dA * (Z > 0) makes "
                             "a new array"}),
    _exercise(
        "tanh_forward", ["Z"], [Output("A", like="Z")],
        "The hyperbolic tangent, elementwise, stable at the extremes.",
        ["A = tanh(Z) = (e^Z − e^(−Z)) / (e^Z + e^(−Z)) = 2σ(2Z) − 1    values in [−1, 1]"],
        ["Must not overflow: no warning and no NaN at Z = ±1000 (np.tanh is stable).", _NEW],
        _activation_forward_cases, stable_hint="use np.tanh(Z), which is stable"),
    _exercise(
        "tanh_backward", ["dA", "A"], [Output("dZ", like="A")],
        "Backward pass of tanh, from its cached OUTPUT A = tanh(Z).",
        ["dZ = dA · (1 − A²)      since tanh'(Z) = 1 − tanh(Z)²"],
        ["dA, A and dZ all have the same shape.", _NEW],
        lambda: _from_output_cases(np.tanh)),
    _exercise(
        "softmax", ["Z"], [Output("P", shape="(N, C)", like="Z")],
        "Row-wise softmax: each row of logits becomes a probability distribution over C "
        "classes.",
        ["P[n, j] = exp(Z[n, j] − mₙ) / Σₖ exp(Z[n, k] − mₙ),   mₙ = maxₖ Z[n, k]",
         "Z (N, C) -> P (N, C), every row sums to 1"],
        ["Subtracting the row maximum changes nothing mathematically (it cancels in the "
         "ratio) but keeps every exponent ≤ 0: logits of 1000 must not overflow.", _NEW],
        _softmax_cases,
        stable_hint="subtract each row's maximum before exp: P = exp(Z − m)/Σⱼ exp(Z − m), "
                    "m = Z.max(axis=1, keepdims=True)",
        inplace_hints={"Z": "Z -= Z.max(axis=1, keepdims=True) writes into the caller's Z; "
                            "Z - Z.max(axis=1, keepdims=True) makes a new array"}),
    _exercise(
        "softmax_cross_entropy", ["Z", "y"],
        [Output("loss", kind="scalar"), Output("dZ", shape="(N, C)", like="Z")],
        "Softmax + cross-entropy on logits, fused, averaged over the batch.",
        ["P = softmax(Z) (row-wise),  Y = one-hot(y) (N, C)",
         "loss = −(1/N) Σₙ log P[n, yₙ]          a float",
         "dZ   = (P − Y) / N                      (N, C)"],
        ["y holds integer labels (N,) in [0, C).",
         "Stable at logits of ±1000: take log P = Z − m − log Σⱼ exp(Zⱼ − m) (m the row "
         "maximum), never log of a probability that rounded to 0.",
         "Return the tuple (loss, dZ).", _NEW],
        _cross_entropy_cases,
        stable_hint="use log P = Z − m − log Σⱼ exp(Zⱼ − m) with m = Z.max(axis=1, "
                    "keepdims=True), and P = exp(log P)"),
    _exercise(
        "bce_with_logits", ["Z", "Y"],
        [Output("loss", kind="scalar"), Output("dZ", shape="(N, K)", like="Z")],
        "Sigmoid + binary cross-entropy on logits, averaged over all N·K entries.",
        ["loss = mean(softplus(Z) − Y·Z)          (= −mean[Y log σ(Z) + (1 − Y) log(1 − σ(Z))])",
         "softplus(Z) = log(1 + e^Z) = max(Z, 0) + log1p(e^(−|Z|))",
         "dZ   = (σ(Z) − Y) / (N·K)               (N, K)"],
        ["Y has Z's shape (N, K), values in [0, 1] (soft labels allowed).",
         "Stable at ±1000: no warning, no inf or NaN.", "Return the tuple (loss, dZ).", _NEW],
        _bce_cases,
        stable_hint="L = mean(max(Z, 0) + log1p(exp(−|Z|)) − Y·Z), and σ(Z) computed from "
                    "exp(−|Z|) for dZ"),
    _exercise(
        "mse", ["Z", "Y"], [Output("loss", kind="scalar"), Output("dZ", shape="(N, K)", like="Z")],
        "Mean squared error, averaged over all N·K elements (PyTorch's MSELoss).",
        ["loss = (1/(N·K)) Σₙₖ (Z[n, k] − Y[n, k])²      a float",
         "dZ   = 2 (Z − Y) / (N·K)                        (N, K)"],
        ["No ½ in front: the 2 stays in the gradient.", "Return the tuple (loss, dZ).", _NEW],
        _mse_cases),
    _exercise(
        "he_normal", ["fan_in", "fan_out", "rng"],
        [Output("W", kind="sample", shape="(fan_in, fan_out)")],
        "He (Kaiming) normal initialisation, for layers followed by ReLU.",
        ["W ~ N(0, 2/fan_in)      std = √(2/fan_in),   W (fan_in, fan_out)"],
        ["Draw from the np.random.Generator you are given (rng.normal or "
         "rng.standard_normal): the same seed must give the same W, and NumPy's global "
         "generator (np.random.randn, ...) must not be used.",
         "Checked by shape, floating dtype, use of rng, and the mean, standard deviation and "
         "shape of the distribution over a large draw."],
        _init_cases),
    _exercise(
        "glorot_uniform", ["fan_in", "fan_out", "rng"],
        [Output("W", kind="sample", shape="(fan_in, fan_out)")],
        "Glorot (Xavier) uniform initialisation, for sigmoid and tanh layers.",
        ["W ~ U(−a, a),   a = √(6/(fan_in + fan_out))     so Var(W) = 2/(fan_in + fan_out)",
         "W (fan_in, fan_out)"],
        ["Draw from the np.random.Generator you are given (rng.uniform): the same seed must "
         "give the same W, and NumPy's global generator must not be used.",
         "Checked by shape, floating dtype, use of rng, and the mean, standard deviation and "
         "shape of the distribution over a large draw."],
        _init_cases),
    _exercise(
        "sgd_step", ["w", "dw", "lr"], [Output("w", like="w")],
        "One step of plain gradient descent.",
        ["w ← w − lr·dw        returns the new w (same shape as w)"],
        ["Return a new array (w - lr * dw); `w -= ...` would change the caller's w."],
        _sgd_cases, inplace_hints={"w": _UPDATE.format("w", "w", "w")}),
    _exercise(
        "sgd_momentum_step", ["w", "dw", "v", "lr", "momentum"],
        [Output("w", like="w"), Output("v", like="v")],
        "One step of SGD with momentum, in ffnn's (and PyTorch's) form.",
        ["v ← μ·v + dw          μ = momentum",
         "w ← w − lr·v          (with the new v)"],
        ["Return the tuple (w, v) of new arrays; do not change the inputs in place."],
        _momentum_cases,
        inplace_hints={"w": _UPDATE.format("w", "w", "w"), "v": "v *= momentum writes into "
                       "the caller's v; v = momentum * v + dw makes a new array"}),
    _exercise(
        "adam_step", ["w", "dw", "m", "v", "t", "lr", "beta1", "beta2", "eps"],
        [Output("w", like="w"), Output("m", like="m"), Output("v", like="v")],
        "One step of Adam (Kingma & Ba 2015); t counts the steps from 1.",
        ["m ← β1·m + (1 − β1)·dw           first moment",
         "v ← β2·v + (1 − β2)·dw²          second moment (element-wise square)",
         "m̂ = m/(1 − β1ᵗ),  v̂ = v/(1 − β2ᵗ)   bias corrections",
         "w ← w − lr·m̂/(√v̂ + eps)"],
        ["Return the tuple (w, m, v): the new weights and the raw (uncorrected) moments.",
         _NEW],
        _adam_cases,
        inplace_hints={"w": _UPDATE.format("w", "w", "w"), "m": "m *= beta1 writes into the "
                       "caller's m; m = beta1 * m + (1 - beta1) * dw makes a new array",
                       "v": "v *= beta2 writes into the caller's v; v = beta2 * v + (1 - beta2) "
                       "* dw**2 makes a new array"}),
    _exercise(
        "minibatch_indices", ["n", "batch_size", "rng"],
        [Output("batches", kind="batches")],
        "The mini-batches of one epoch, as index arrays into the n samples.",
        ["order = rng.permutation(n)",
         "batches = [order[0:B], order[B:2B], ...]      B = batch_size; the last may be "
         "smaller"],
        ["Every index 0..n−1 appears exactly once per epoch.",
         "Use the np.random.Generator you are given (the same seed gives the same batches), "
         "never NumPy's global generator.", "Return a list of 1-D integer arrays."],
        _minibatch_cases),
    _exercise(
        "numerical_gradient", ["f", "x"], [Output("grad", like="x")],
        "The centred finite-difference estimate of the gradient of a scalar function.",
        ["grad[i] = (f(x + h·eᵢ) − f(x − h·eᵢ)) / (2h)     for every entry i of x",
         "eᵢ: 1 at entry i, 0 elsewhere;  grad has x's shape;  error ~h²"],
        ["f maps an array of x's shape to a float. Choose the step h yourself: 1e-5 is good "
         "in float64.",
         "Move one entry at a time and put it back exactly afterwards (old = x[i]; ...; "
         "x[i] = old): x must be unchanged when you return.",
         "Checked against backprop through ffnn's own losses and layers."],
        _numerical_gradient_cases, rtol=1e-6, atol=1e-6,
        inplace_hints={"x": "restore each entry after its two evaluations, old = x[i]; ...; "
                            "x[i] = old (x[i] += h followed by x[i] -= h need not give back "
                            "the same float)"}),
]}
