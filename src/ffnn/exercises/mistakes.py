"""The table of typical mistakes: for each exercise, wrong variants and the sentence for each.

Read a row as "a student who wrote this gets this explanation".  The checker tries the rows in
order and names the first one whose variant gives the student's answer on every test case
(``spec`` explains the three kinds of rows).  Adding a diagnosis is adding a row.

Each sentence names the mistake and gives the right equation with shapes.  Variants are
written the way a student would write them, so that they overflow, warn and fail the same way.
"""

from __future__ import annotations

import numpy as np

from ..functional import log_softmax, sigmoid, softmax
from . import detect
from . import reference as ref
from .spec import Mistake, changed, seen, wrong

# ---------------------------------------------------------------------------------- helpers


def _rows(x):
    return np.arange(x.shape[0])


def _naive_sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def _adam(w, dw, m, v, t, lr, b1, b2, eps, *, correct=True, square=True, root=True,
          eps_inside=False, swap_b1=False, return_hat=False, sign=-1.0):
    """Adam, with switches for the typical mistakes (all off: the right update)."""
    m = (1 - b1) * m + b1 * dw if swap_b1 else b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * (dw * dw if square else dw)
    m_hat = m / (1 - b1**t) if correct else m
    v_hat = v / (1 - b2**t) if correct else v
    denom = np.sqrt(v_hat + eps) if eps_inside else (np.sqrt(v_hat) if root else v_hat) + eps
    w = w + sign * lr * m_hat / denom
    return (w, m_hat, v_hat) if return_hat else (w, m, v)


def _chunks(order, batch_size):
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _differences(f, x, h=1e-5, divide_by=2.0, sign=1.0):
    """Centred differences as a student writes them, with a wrong denominator or sign."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = sign * (f_plus - f_minus) / (divide_by * h)
    return grad


#: the small numbers students add inside a log "to avoid log 0"
_EPSILONS = (1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15)


def _rng_rows(thing: str, call: str) -> list[Mistake]:
    """The three ways of not drawing from the rng argument (for every random exercise)."""
    return [
        seen(detect.global_rng,
             f"You used NumPy's global generator (np.random.…): draw from the rng you were "
             f"given, e.g. {call}, so that the same seed gives the same {thing}."),
        seen(detect.not_reproducible,
             f"Two calls with equally seeded rngs gave different {thing}: draw from the rng "
             f"argument ({call}), not from a generator you create inside the function."),
        seen(detect.ignores_rng,
             f"The same {thing} came out for differently seeded rngs: draw from the rng "
             f"argument ({call}), not from a fixed seed."),
    ]


# ------------------------------------------------------------------------------- the table

MISTAKES: dict[str, list[Mistake]] = {
    "dense_forward": [
        wrong(lambda X, W, b: X @ W,
              "You forgot the bias: Z = X·W + b, with b (D_out,) added to every row of X·W "
              "(N, D_out); broadcasting does it."),
        wrong(lambda X, W, b: X @ W - b,
              "Sign error on the bias: Z = X·W + b."),
        changed("Z", lambda Z: Z.T,
                "You returned Zᵀ, shape (D_out, N): in ffnn a batch is rows, so Z = X·W + b "
                "has shape (N, D_out), one row per sample."),
        wrong(lambda X, W, b: X @ W.T + b,
              "W has shape (D_in, D_out), so Z = X·W + b needs no transpose: (N, D_in)·"
              "(D_in, D_out) = (N, D_out); the textbook's column form z = Wᵀx + b becomes "
              "X·W for rows."),
        wrong(lambda X, W, b: np.maximum(X @ W + b, 0),
              "You applied an activation: dense_forward is only the affine part Z = X·W + b; "
              "ReLU, sigmoid and tanh are layers of their own."),
        wrong(lambda X, W, b: sigmoid(X @ W + b),
              "You applied an activation: dense_forward is only the affine part Z = X·W + b; "
              "ReLU, sigmoid and tanh are layers of their own."),
    ],
    "dense_backward": [
        changed("dW", lambda dW: dW.T,
                "dW is transposed: dW = Xᵀ·dZ has shape (D_in, D_out) like W; you returned "
                "(D_out, D_in)."),
        changed("dX", lambda dX: dX.T,
                "dX is transposed: dX = dZ·Wᵀ has shape (N, D_in) like X; you returned "
                "(D_in, N)."),
        changed("dX", lambda dX, dZ, X, W: dZ @ W,
                "dX = dZ·Wᵀ: going back through Z = X·W multiplies by Wᵀ, "
                "(N, D_out)·(D_out, D_in) = (N, D_in)."),
        changed("db", lambda db: db.reshape(1, -1),
                "db is 2-D: db = Σₙ dZ[n, :] has shape (D_out,) like b; use "
                "dZ.sum(axis=0) without keepdims=True."),
        changed("db", lambda db, dZ, X, W: dZ.sum(axis=1),
                "db is summed over the wrong axis: db = Σₙ dZ[n, :] adds up the batch "
                "(axis=0) and has shape (D_out,); axis=1 adds up the outputs of each sample."),
        changed("db", lambda db, dZ, X, W: np.sum(dZ),
                "db is one number: db = Σₙ dZ[n, :] sums over the batch only, "
                "dZ.sum(axis=0), one entry per output, shape (D_out,)."),
        changed("db", lambda db, dZ, X, W: db / dZ.shape[0],
                "db is N times too small: dZ already carries the 1/N of the mean loss, so "
                "db = Σₙ dZ[n, :] is a sum, not a mean."),
        changed("dW", lambda dW, dZ, X, W: dW / dZ.shape[0],
                "dW is N times too small: dZ already carries the 1/N of the mean loss, so "
                "dW = Xᵀ·dZ with no further division."),
        changed("dW", lambda dW: -dW,
                "Sign error: dW = +Xᵀ·dZ; the minus sign belongs to the update "
                "W ← W − lr·dW, not to the gradient."),
        changed("dX", lambda dX: -dX,
                "Sign error: dX = +dZ·Wᵀ."),
    ],
    "sigmoid_forward": [
        wrong(lambda Z: 1 / (1 + np.exp(Z)),
              "Sign error in the exponent: σ(Z) = 1/(1 + e^(−Z)); 1/(1 + e^Z) is "
              "σ(−Z) = 1 − σ(Z)."),
        wrong(lambda Z: np.exp(-Z) / (1 + np.exp(-Z)),
              "e^(−Z)/(1 + e^(−Z)) is 1 − σ(Z) = σ(−Z): the sigmoid is σ(Z) = 1/(1 + e^(−Z))."),
        wrong(_naive_sigmoid,
              "1/(1 + e^(−Z)) overflows at Z = −1000 (e^1000 = inf, and NumPy warns): compute "
              "e = exp(−|Z|) and use 1/(1 + e) where Z ≥ 0 and e/(1 + e) where Z < 0."),
        wrong(lambda Z: np.where(Z >= 0, 1 / (1 + np.exp(-Z)), np.exp(Z) / (1 + np.exp(Z))),
              "np.where computes both branches for every entry, so exp(−Z) and exp(Z) still "
              "overflow at ±1000: compute e = exp(−|Z|) once, then "
              "np.where(Z >= 0, 1/(1 + e), e/(1 + e))."),
        wrong(lambda Z: np.tanh(Z),
              "That is tanh, with values in (−1, 1); the sigmoid σ(Z) = 1/(1 + e^(−Z)) lies "
              "in (0, 1)."),
    ],
    "sigmoid_backward": [
        wrong(lambda dA, A: dA * sigmoid(A) * (1 - sigmoid(A)),
              "You took the derivative at A as if A were the input Z: A is already the "
              "output σ(Z), so σ'(Z) = A·(1 − A) and dZ = dA·A·(1 − A)."),
        wrong(lambda dA, A: A * (1 - A),
              "You forgot dA: by the chain rule dZ = dA·σ'(Z) = dA·A·(1 − A)."),
        wrong(lambda dA, A: dA * A * (A - 1),
              "Sign error: σ'(Z) = A·(1 − A) ≥ 0, so dZ = dA·A·(1 − A)."),
        wrong(lambda dA, A: dA * (1 - A**2),
              "dA·(1 − A²) is tanh's derivative; the sigmoid's is dZ = dA·A·(1 − A)."),
        wrong(lambda dA, A: dA * (1 - A),
              "A factor A is missing: σ'(Z) = A·(1 − A), so dZ = dA·A·(1 − A)."),
    ],
    "relu_forward": [
        wrong(lambda Z: np.max(Z, 0),
              "np.max(Z, 0) is the largest entry of each column (axis=0), shape (D,); ReLU is "
              "elementwise: A = np.maximum(Z, 0), shape (N, D) like Z."),
        wrong(lambda Z: (Z > 0).astype(float),
              "You returned the mask 1{Z > 0}, which is ReLU's derivative; the forward pass is "
              "A = max(Z, 0) = Z·1{Z > 0}."),
        wrong(lambda Z: np.minimum(Z, 0),
              "np.minimum keeps the negative part; ReLU keeps the positive part: "
              "A = max(Z, 0) (np.maximum)."),
        wrong(lambda Z: np.where(Z > 0, Z, 0.01 * Z),
              "That is a leaky ReLU (0.01·Z for Z < 0); ReLU sets negative inputs to 0: "
              "A = max(Z, 0)."),
        wrong(lambda Z: np.abs(Z),
              "|Z| keeps the negative inputs (flipped); ReLU sets them to 0: A = max(Z, 0)."),
    ],
    "relu_backward": [
        wrong(lambda dA, Z: dA,
              "The gradient leaks through negative inputs: ReLU is flat there, so "
              "dZ = dA·1{Z > 0} is 0 wherever Z ≤ 0."),
        wrong(lambda dA, Z: dA * np.sign(Z),
              "np.sign(Z) is −1 at negative inputs, but ReLU's slope there is 0: "
              "dZ = dA·1{Z > 0}."),
        wrong(lambda dA, Z: dA * (Z >= 0),
              "At Z = 0 the derivative is taken as 0 (as in ffnn and PyTorch): use Z > 0, not "
              "Z >= 0: dZ = dA·1{Z > 0}."),
        wrong(lambda dA, Z: dA * (dA > 0),
              "The mask comes from the layer's input Z, not from dA: dZ = dA·1{Z > 0}."),
        wrong(lambda dA, Z: (Z > 0).astype(float),
              "You forgot dA: by the chain rule dZ = dA·1{Z > 0}."),
        wrong(lambda dA, Z: dA * np.maximum(Z, 0),
              "You multiplied by max(Z, 0), the forward output; the derivative is the 0/1 "
              "mask: dZ = dA·1{Z > 0}."),
    ],
    "tanh_forward": [
        wrong(lambda Z: (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z)),
              "(e^Z − e^(−Z))/(e^Z + e^(−Z)) overflows at |Z| = 1000 (inf/inf = NaN): use "
              "np.tanh(Z), which is stable."),
        wrong(lambda Z: sigmoid(Z),
              "That is the sigmoid, with values in (0, 1); tanh lies in (−1, 1): "
              "tanh(Z) = 2σ(2Z) − 1, or simply np.tanh(Z)."),
        wrong(lambda Z: 2 * sigmoid(Z) - 1,
              "2σ(Z) − 1 is tanh(Z/2): the identity is tanh(Z) = 2σ(2Z) − 1 (or use "
              "np.tanh(Z))."),
        wrong(lambda Z: -np.tanh(Z),
              "Sign error: tanh(Z) = (e^Z − e^(−Z))/(e^Z + e^(−Z)) is positive for Z > 0."),
    ],
    "tanh_backward": [
        wrong(lambda dA, A: dA * (1 - np.tanh(A) ** 2),
              "You took the derivative at A as if A were the input Z: A is already the "
              "output tanh(Z), so tanh'(Z) = 1 − A² and dZ = dA·(1 − A²)."),
        wrong(lambda dA, A: 1 - A**2,
              "You forgot dA: by the chain rule dZ = dA·(1 − A²)."),
        wrong(lambda dA, A: dA * (1 - A),
              "The square is missing: tanh'(Z) = 1 − A², so dZ = dA·(1 − A²)."),
        wrong(lambda dA, A: dA * A * (1 - A),
              "dA·A·(1 − A) is the sigmoid's derivative; tanh's is dZ = dA·(1 − A²)."),
        wrong(lambda dA, A: dA * (A**2 - 1),
              "Sign error: tanh'(Z) = 1 − A² ≥ 0, so dZ = dA·(1 − A²)."),
    ],
    "softmax": [
        wrong(lambda Z: np.exp(Z) / np.sum(np.exp(Z), axis=1, keepdims=True),
              "softmax overflows at large logits: exp(1000) = inf and inf/inf = NaN. Subtract "
              "each row's maximum first, P = exp(Z − m)/Σⱼ exp(Z − m) with "
              "m = Z.max(axis=1, keepdims=True); the shift cancels in the ratio."),
        wrong(lambda Z: (lambda E: E / E.sum(axis=1, keepdims=True))(np.exp(Z - np.max(Z))),
              "You subtracted the maximum of the whole batch: a row far below it underflows "
              "to 0/0 = NaN. Shift each row by its own maximum, "
              "Z − Z.max(axis=1, keepdims=True)."),
        wrong(lambda Z: (lambda E: E / E.sum(axis=0, keepdims=True))(
                  np.exp(Z - Z.max(axis=0, keepdims=True))),
              "You normalised down the columns (axis=0, across samples): each row is a "
              "sample, so P[n, :] = exp(Z[n, :])/Σⱼ exp(Z[n, j]) sums over the classes, "
              "axis=1."),
        wrong(lambda Z: (lambda E: E / E.sum())(np.exp(Z - Z.max(axis=1, keepdims=True))),
              "You normalised over the whole batch: each row must sum to 1, so sum over the "
              "classes only, np.sum(E, axis=1, keepdims=True)."),
        wrong(lambda Z: (lambda E: E / E.sum(axis=1))(np.exp(Z - Z.max(axis=1, keepdims=True))),
              "E.sum(axis=1) has shape (N,), which broadcasts along the wrong axis (or not at "
              "all): keep it a column, (N, 1), with keepdims=True."),
    ],
    "softmax_cross_entropy": [
        changed("dZ", lambda dZ, Z, y: dZ * Z.shape[0],
                "The gradient is N times too large: the loss is a mean over the batch, so "
                "dZ = (P − Y)/N."),
        changed("dZ", lambda dZ, Z, y: dZ / Z.shape[0],
                "The gradient is N times too small: divide P − Y by N once, dZ = (P − Y)/N."),
        changed("dZ", lambda dZ: -dZ,
                "Sign error: dZ = (P − Y)/N, not (Y − P)/N: raising the right class's logit "
                "must lower the loss."),
        changed("dZ", lambda dZ, Z, y: softmax(Z, axis=1) / Z.shape[0],
                "You forgot to subtract Y: dZ = (P − Y)/N, where Y is the one-hot of y "
                "(subtract 1 at [n, yₙ])."),
        changed("loss", lambda L, Z, y: L * Z.shape[0],
                "The loss is a sum over the batch; it is the mean, "
                "L = −(1/N) Σₙ log P[n, yₙ]."),
        changed("loss", lambda L, Z, y: L / Z.shape[1],
                "You averaged over all N·C entries; cross-entropy averages over the N samples "
                "only: L = −(1/N) Σₙ log P[n, yₙ]."),
        changed("loss", lambda L, Z, y: -log_softmax(Z, axis=1)[_rows(Z), y],
                "You returned the per-sample losses, shape (N,); the loss is their mean, one "
                "number: L = −(1/N) Σₙ log P[n, yₙ]."),
        wrong(lambda Z, y: (-np.mean(np.log(softmax(Z, axis=1)[_rows(Z), y])),
                            ref.softmax_cross_entropy(Z, y)[1]),
              "log P underflows: at logits of ±1000 a probability rounds to 0 and "
              "log 0 = −inf. Compute log P = Z − m − log Σⱼ exp(Zⱼ − m) (m the row maximum) "
              "and take L = −(1/N) Σₙ log P[n, yₙ]."),
        *[wrong(lambda Z, y, eps=eps: (-np.mean(np.log(softmax(Z, axis=1)[_rows(Z), y] + eps)),
                                         ref.softmax_cross_entropy(Z, y)[1]),
                "log(P + ε) (or clipping P) hides the underflow instead of removing it: at "
                "logits of ±1000 it caps the loss at −log ε. Compute "
                "log P = Z − m − log Σⱼ exp(Zⱼ − m) (m the row maximum), which is exact.")
          for eps in _EPSILONS],
        wrong(lambda Z, y: (lambda P: (-np.mean(np.log(P[_rows(Z), y])),
                                       (P - np.eye(Z.shape[1])[y]) / Z.shape[0]))(
                  np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)),
              "softmax overflows at large logits: exp(1000) = inf and inf/inf = NaN. Subtract "
              "each row's maximum before exp, and get the loss from "
              "log P = Z − m − log Σⱼ exp(Zⱼ − m)."),
    ],
    "bce_with_logits": [
        changed("dZ", lambda dZ, Z, Y: dZ * Z.shape[1],
                "dZ is K times too large: BCE is averaged over all N·K entries, so "
                "dZ = (σ(Z) − Y)/(N·K); you divided by N only."),
        changed("dZ", lambda dZ, Z, Y: dZ * Z.size,
                "The gradient is N·K times too large: the loss is a mean over all N·K entries, "
                "so dZ = (σ(Z) − Y)/(N·K)."),
        changed("dZ", lambda dZ: -dZ,
                "Sign error: dZ = (σ(Z) − Y)/(N·K), not (Y − σ(Z))/(N·K)."),
        changed("dZ", lambda dZ, Z, Y: (Z - Y) / Z.size,
                "You used Z where σ(Z) belongs: the logits go through the sigmoid, "
                "dZ = (σ(Z) − Y)/(N·K)."),
        changed("loss", lambda L, Z, Y: L * Z.size,
                "The loss is a sum; it is the mean over all N·K entries: "
                "L = mean(softplus(Z) − Y·Z)."),
        changed("loss", lambda L, Z, Y: L * Z.shape[1],
                "You averaged over N only; BCE averages over all N·K entries: "
                "L = (1/(N·K)) Σ (softplus(Z) − Y·Z)."),
        wrong(lambda Z, Y: (lambda s: (-np.mean(Y * np.log(s) + (1 - Y) * np.log(1 - s)),
                                       ref.bce_with_logits(Z, Y)[1]))(sigmoid(Z)),
              "log σ(Z) = log 0 = −inf at Z = −1000 (and log(1 − σ) at +1000): write the loss "
              "on the logits, L = mean(softplus(Z) − Y·Z) with "
              "softplus(Z) = max(Z, 0) + log1p(exp(−|Z|))."),
        wrong(lambda Z, Y: (lambda s: (-np.mean(Y * np.log(s) + (1 - Y) * np.log(1 - s)),
                                       (s - Y) / Z.size))(_naive_sigmoid(Z)),
              "log σ(Z) = log 0 = −inf at Z = −1000 (and log(1 − σ) at +1000): write the loss "
              "on the logits, L = mean(softplus(Z) − Y·Z) with "
              "softplus(Z) = max(Z, 0) + log1p(exp(−|Z|))."),
        *[wrong(lambda Z, Y, eps=eps: (lambda s: (
                    -np.mean(Y * np.log(s + eps) + (1 - Y) * np.log(1 - s + eps)),
                    ref.bce_with_logits(Z, Y)[1]))(sigmoid(Z)),
                "log(σ + ε) (or clipping σ) hides the underflow instead of removing it: at "
                "logits of ±1000 it caps the loss at −log ε. Write the loss on the logits, "
                "L = mean(softplus(Z) − Y·Z), softplus(Z) = max(Z, 0) + log1p(exp(−|Z|)).")
          for eps in _EPSILONS],
        wrong(lambda Z, Y: (np.mean(np.log(1 + np.exp(Z)) - Y * Z),
                            ref.bce_with_logits(Z, Y)[1]),
              "log(1 + e^Z) overflows at Z = 1000: use softplus(Z) = max(Z, 0) + "
              "log1p(exp(−|Z|)), which never exponentiates a positive number."),
    ],
    "mse": [
        changed("dZ", lambda dZ: dZ / 2,
                "dZ is half the gradient: d/dZ (Z − Y)² = 2(Z − Y), so "
                "dZ = 2(Z − Y)/(N·K)."),
        changed("dZ", lambda dZ, Z, Y: dZ * Z.shape[1],
                "dZ is K times too large: MSE averages over all N·K elements, so "
                "dZ = 2(Z − Y)/(N·K); you divided by N only."),
        changed("dZ", lambda dZ, Z, Y: dZ * Z.size,
                "The gradient is N·K times too large: the loss is a mean, so "
                "dZ = 2(Z − Y)/(N·K)."),
        changed("dZ", lambda dZ: -dZ,
                "Sign error: dZ = 2(Z − Y)/(N·K), not 2(Y − Z)/(N·K)."),
        changed("loss", lambda L: L / 2,
                "ffnn's MSE has no ½: L = mean((Z − Y)²) over all N·K elements."),
        changed("loss", lambda L, Z, Y: L * Z.size,
                "The loss is a sum; MSE is the mean over all N·K elements: "
                "L = (1/(N·K)) Σ (Z − Y)²."),
        changed("loss", lambda L, Z, Y: L * Z.shape[1],
                "You averaged over N only; MSE averages over all N·K elements: "
                "L = (1/(N·K)) Σ (Z − Y)²."),
    ],
    "he_normal": [
        wrong(lambda fan_in, fan_out, rng: rng.normal(0, 2 / fan_in, (fan_in, fan_out)),
              "2/fan_in is the variance, not the standard deviation: "
              "W = rng.normal(0, np.sqrt(2 / fan_in), size=(fan_in, fan_out))."),
        wrong(lambda fan_in, fan_out, rng: rng.normal(0, np.sqrt(2 / fan_out),
                                                      (fan_in, fan_out)),
              "He's rule scales by fan_in, the number of inputs each unit adds up: "
              "std = √(2/fan_in), not √(2/fan_out)."),
        wrong(lambda fan_in, fan_out, rng: rng.normal(0, np.sqrt(1 / fan_in),
                                                      (fan_in, fan_out)),
              "std = √(1/fan_in) is LeCun's rule; He's has a factor 2 for the half of the "
              "inputs that ReLU zeroes: std = √(2/fan_in)."),
        wrong(lambda fan_in, fan_out, rng: rng.normal(0, np.sqrt(2 / (fan_in + fan_out)),
                                                      (fan_in, fan_out)),
              "√(2/(fan_in + fan_out)) is Glorot's normal rule; He's uses fan_in only: "
              "std = √(2/fan_in)."),
        wrong(lambda fan_in, fan_out, rng: rng.uniform(-np.sqrt(6 / fan_in),
                                                       np.sqrt(6 / fan_in), (fan_in, fan_out)),
              "You drew from a uniform distribution; he_normal is normal: "
              "W = rng.normal(0, np.sqrt(2 / fan_in), size=(fan_in, fan_out))."),
        changed("W", lambda W: W.T,
                "W has shape (fan_in, fan_out): one row per input, as in Z = X·W; you returned "
                "(fan_out, fan_in)."),
        *_rng_rows("W", "rng.normal(0, np.sqrt(2 / fan_in), size=(fan_in, fan_out))"),
    ],
    "glorot_uniform": [
        wrong(lambda fan_in, fan_out, rng: rng.uniform(-np.sqrt(6 / fan_in),
                                                       np.sqrt(6 / fan_in), (fan_in, fan_out)),
              "Glorot's bound uses both fans: a = √(6/(fan_in + fan_out)); √(6/fan_in) is He's "
              "uniform rule."),
        wrong(lambda fan_in, fan_out, rng: (lambda s: rng.uniform(-s, s, (fan_in, fan_out)))(
                  np.sqrt(2 / (fan_in + fan_out))),
              "√(2/(fan_in + fan_out)) is the standard deviation Glorot aims for; the bound "
              "is a = √(6/(fan_in + fan_out)), since U(−a, a) has std a/√3."),
        wrong(lambda fan_in, fan_out, rng: (lambda a: rng.uniform(-a, a, (fan_in, fan_out)))(
                  6 / (fan_in + fan_out)),
              "The square root is missing: a = √(6/(fan_in + fan_out))."),
        wrong(lambda fan_in, fan_out, rng: rng.uniform(0, np.sqrt(6 / (fan_in + fan_out)),
                                                       (fan_in, fan_out)),
              "U(−a, a) is centred on 0: rng.uniform(-a, a, size=(fan_in, fan_out)); "
              "rng.uniform(0, a) gives only positive weights."),
        wrong(lambda fan_in, fan_out, rng: rng.normal(0, np.sqrt(6 / (fan_in + fan_out)),
                                                      (fan_in, fan_out)),
              "You drew from a normal distribution; glorot_uniform is uniform: "
              "W = rng.uniform(-a, a, size=(fan_in, fan_out)), a = √(6/(fan_in + fan_out))."),
        wrong(lambda fan_in, fan_out, rng: rng.normal(0, np.sqrt(2 / (fan_in + fan_out)),
                                                      (fan_in, fan_out)),
              "You drew from a normal distribution; glorot_uniform is uniform: "
              "W = rng.uniform(-a, a, size=(fan_in, fan_out)), a = √(6/(fan_in + fan_out))."),
        changed("W", lambda W: W.T,
                "W has shape (fan_in, fan_out): one row per input, as in Z = X·W; you returned "
                "(fan_out, fan_in)."),
        *_rng_rows("W", "rng.uniform(-a, a, size=(fan_in, fan_out))"),
    ],
    "sgd_step": [
        wrong(lambda w, dw, lr: w + lr * dw,
              "Gradient descent steps downhill: w ← w − lr·dw, not w + lr·dw."),
        wrong(lambda w, dw, lr: w - dw,
              "The learning rate is missing: w ← w − lr·dw."),
        wrong(lambda w, dw, lr: lr * dw,
              "You returned the step lr·dw; return the updated weights w − lr·dw."),
        wrong(lambda w, dw, lr: -lr * dw,
              "You returned the change −lr·dw; return the updated weights w − lr·dw."),
        wrong(lambda w, dw, lr: w - dw / lr,
              "Multiply by the learning rate, don't divide: w ← w − lr·dw."),
    ],
    "sgd_momentum_step": [
        wrong(lambda w, dw, v, lr, mu: (lambda v2: (w + v2, v2))(mu * v - lr * dw),
              "That is the classic form v ← μ·v − lr·dw, w ← w + v; ffnn (like PyTorch) keeps "
              "the learning rate out of v: v ← μ·v + dw, then w ← w − lr·v."),
        wrong(lambda w, dw, v, lr, mu: (w - lr * v, mu * v + dw),
              "You stepped with the old v: first v ← μ·v + dw, then w ← w − lr·v with the "
              "new v."),
        wrong(lambda w, dw, v, lr, mu: (lambda v2: (w - lr * v2, v2))(mu * v + (1 - mu) * dw),
              "v ← μ·v + (1 − μ)·dw is an exponential average (dampening); ffnn's momentum "
              "adds the whole gradient: v ← μ·v + dw."),
        wrong(lambda w, dw, v, lr, mu: (w - lr * dw, dw),
              "The old velocity is missing: v ← μ·v + dw carries the past gradients along "
              "(you used v = dw)."),
        wrong(lambda w, dw, v, lr, mu: (lambda v2: (v2, w - lr * v2))(mu * v + dw),
              "The outputs are swapped: return (w, v), the new weights first."),
        wrong(lambda w, dw, v, lr, mu: (lambda v2: (w + lr * v2, v2))(mu * v + dw),
              "Sign error: w ← w − lr·v, with v ← μ·v + dw."),
    ],
    "adam_step": [
        wrong(lambda *a: _adam(*a, correct=False),
              "Adam's bias correction is missing: m and v start at 0, so divide them by "
              "(1 − β1ᵗ) and (1 − β2ᵗ): m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), "
              "w ← w − lr·m̂/(√v̂ + eps)."),
        wrong(lambda *a: _adam(*a, return_hat=True),
              "Return the raw moments m and v (the state for the next step); the "
              "bias-corrected m̂ and v̂ are used only in this step's update."),
        wrong(lambda *a: _adam(*a, square=False),
              "v averages the squared gradient: v ← β2·v + (1 − β2)·dw² (element-wise "
              "square)."),
        wrong(lambda *a: _adam(*a, eps_inside=True),
              "eps goes outside the square root: w ← w − lr·m̂/(√v̂ + eps)."),
        wrong(lambda *a: _adam(*a, root=False),
              "Divide by √v̂, the root of the second moment: w ← w − lr·m̂/(√v̂ + eps)."),
        wrong(lambda *a: _adam(*a, swap_b1=True),
              "The weights of the average are swapped: m ← β1·m + (1 − β1)·dw (β1 = 0.9 "
              "keeps 90 % of the old m)."),
        wrong(lambda *a: _adam(*a, sign=+1.0),
              "Sign error: w ← w − lr·m̂/(√v̂ + eps)."),
    ],
    "minibatch_indices": [
        wrong(lambda n, batch_size, rng: _chunks(np.arange(n), batch_size),
              "The batches are not shuffled: draw order = rng.permutation(n) and cut that, so "
              "every epoch sees the samples in a new order."),
        wrong(lambda n, batch_size, rng: _chunks(rng.permutation(n), batch_size)[
                  : n // batch_size],
              "The last, smaller batch is missing: cut at range(0, n, batch_size), so every "
              "index is used once per epoch."),
        wrong(lambda n, batch_size, rng: [rng.integers(0, n, size=min(batch_size, n - i))
                                          for i in range(0, n, batch_size)],
              "Some indices repeat and others are missing: drawing each batch on its own "
              "(rng.integers, rng.choice) samples with replacement; cut one permutation, "
              "order = rng.permutation(n), into consecutive batches."),
        wrong(lambda n, batch_size, rng: np.array_split(rng.permutation(n),
                                                        -(-n // batch_size)),
              "np.array_split makes nearly equal batches; cut consecutive batches of exactly "
              "batch_size, [order[i:i + batch_size] for i in range(0, n, batch_size)], where "
              "only the last one may be smaller."),
        wrong(lambda n, batch_size, rng: np.array_split(rng.permutation(n), n // batch_size),
              "np.array_split makes nearly equal batches; cut consecutive batches of exactly "
              "batch_size, [order[i:i + batch_size] for i in range(0, n, batch_size)], where "
              "only the last one may be smaller."),
        *_rng_rows("batches", "order = rng.permutation(n)"),
    ],
    "numerical_gradient": [
        seen(detect.several_at_once,
             "You moved several entries of x at once: move one entry at a time, x[i] ± h "
             "with the others fixed, so that each difference measures ∂f/∂x[i] alone."),
        seen(detect.one_sided,
             "That is a one-sided difference (f(x + h·eᵢ) − f(x))/h, whose error shrinks only "
             "like h; use the centred difference (f(x + h·eᵢ) − f(x − h·eᵢ))/(2h), error "
             "~h²."),
        seen(detect.step_too_large,
             "The step h = {h:g} is too large: the centred difference is off by about "
             "h²·f'''/6; use h = 1e-5 in float64."),
        seen(detect.step_too_small,
             "The step h = {h:g} is so small that rounding in f swamps the difference "
             "f(x + h) − f(x − h); use h = 1e-5 in float64.", always=False),
        seen(detect.missed_entries,
             "Some entries of x were never moved: loop over every entry, e.g. "
             "for i in np.ndindex(x.shape), and fill grad[i] for each.", always=False),
        wrong(lambda f, x: _differences(f, x, divide_by=1.0),
              "The estimate is twice too large: the points x ± h are 2h apart, so divide "
              "by 2h: (f(x + h·eᵢ) − f(x − h·eᵢ))/(2h)."),
        wrong(lambda f, x: _differences(f, x, sign=-1.0),
              "Sign error: (f(x + h·eᵢ) − f(x − h·eᵢ))/(2h), the value at x + h first."),
    ],
}
