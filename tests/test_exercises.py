"""ffnn.exercises: right answers pass, typical mistakes are named.

Read it like the lessons.  For every exercise, a right answer written here in plain NumPy
(never the reference) passes, and the wrong answers a student typically writes fail with the
sentence that names their mistake (the assertion checks a keyword of that sentence).  Then the
behaviour every exercise shares: answers that are not written yet, that raise, that return the
wrong number of values or None or nonsense, that change their inputs, that come as source text
(never run).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import ffnn.exercises as exercises
from ffnn.exercises.catalog import EXERCISES

# ------------------------------------------------------------------------- right answers


def _sigmoid(Z):
    e = np.exp(-np.abs(Z))  # never exp of a positive number
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(Z):
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def dense_forward(X, W, b):
    return X @ W + b


def dense_backward(dZ, X, W):
    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)


def sigmoid_forward(Z):
    return _sigmoid(Z)


def sigmoid_backward(dA, A):
    return dA * A * (1 - A)


def relu_forward(Z):
    return np.maximum(Z, 0)


def relu_backward(dA, Z):
    return dA * (Z > 0)


def tanh_forward(Z):
    return np.tanh(Z)


def tanh_backward(dA, A):
    return dA * (1 - A**2)


def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def softmax_cross_entropy(Z, y):
    N = Z.shape[0]
    logP = _log_softmax(Z)
    Y = np.eye(Z.shape[1])[y]
    return -logP[np.arange(N), y].mean(), (np.exp(logP) - Y) / N


def bce_with_logits(Z, Y):
    softplus = np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))
    return np.mean(softplus - Y * Z), (_sigmoid(Z) - Y) / Z.size


def mse(Z, Y):
    return np.mean((Z - Y) ** 2), 2 * (Z - Y) / Z.size


def he_normal(fan_in, fan_out, rng):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)


def glorot_uniform(fan_in, fan_out, rng):
    a = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def sgd_step(w, dw, lr):
    return w - lr * dw


def sgd_momentum_step(w, dw, v, lr, momentum):
    v = momentum * v + dw
    return w - lr * v, v


def adam_step(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def minibatch_indices(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _centred(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient(f, x):
    return _centred(f, x)


RIGHT = {f.__name__: f for f in [
    dense_forward, dense_backward, sigmoid_forward, sigmoid_backward, relu_forward,
    relu_backward, tanh_forward, tanh_backward, softmax, softmax_cross_entropy,
    bce_with_logits, mse, he_normal, glorot_uniform, sgd_step, sgd_momentum_step, adam_step,
    minibatch_indices, numerical_gradient]}

COURSE_ORDER = [
    "dense_forward", "dense_backward", "sigmoid_forward", "sigmoid_backward", "relu_forward",
    "relu_backward", "tanh_forward", "tanh_backward", "softmax", "softmax_cross_entropy",
    "bce_with_logits", "mse", "he_normal", "glorot_uniform", "sgd_step", "sgd_momentum_step",
    "adam_step", "minibatch_indices", "numerical_gradient"]


@pytest.mark.parametrize("name", COURSE_ORDER)
def test_a_right_answer_passes(name):
    result = exercises.check(name, RIGHT[name])
    assert result.passed, result.report
    assert result.diagnosis is None
    assert result.report.startswith(f"{name}: PASSED")


def test_other_right_answers_pass():
    """Other correct ways of writing the same thing are not penalised."""
    def relu_where(Z):
        return np.where(Z > 0, Z, 0.0)

    def he_transposed_draw(fan_in, fan_out, rng):
        return rng.normal(0.0, np.sqrt(2 / fan_in), size=(fan_out, fan_in)).T.astype(np.float32)

    def batches_by_shuffle(n, batch_size, rng):
        order = np.arange(n)
        rng.shuffle(order)
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    def gradient_on_copies(f, x):
        grad = np.zeros_like(x)
        for i in range(x.size):
            e = np.zeros(x.size)
            e[i] = 1e-6
            e = e.reshape(x.shape)
            grad.flat[i] = (f(x + e) - f(x - e)) / 2e-6
        return grad

    for name, fn in [("relu_forward", relu_where), ("he_normal", he_transposed_draw),
                     ("minibatch_indices", batches_by_shuffle),
                     ("numerical_gradient", gradient_on_copies)]:
        assert exercises.check(name, fn).passed, exercises.check(name, fn).report


# ------------------------------------------------------------- typical mistakes, by exercise
# (exercise, a wrong answer as a student writes it, a keyword of the expected diagnosis)

def _naive_sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def _no_shift_softmax(Z):
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _softmax_in_place(Z):
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _relu_in_place(Z):
    Z[Z < 0] = 0
    return Z


def _relu_backward_in_place(dA, Z):
    dA[Z <= 0] = 0
    return dA


def _sgd_in_place(w, dw, lr):
    w -= lr * dw
    return w


def _momentum_in_place(w, dw, v, lr, momentum):
    v *= momentum
    v += dw
    return w - lr * v, v


def _adam_without_bias_correction(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    return w - lr * m / (np.sqrt(v) + eps), m, v


def _adam_returning_hats(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    m, v = m / (1 - beta1**t), v / (1 - beta2**t)
    return w - lr * m / (np.sqrt(v) + eps), m, v


def _adam_eps_inside(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    return w - lr * (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps), m, v


def _adam_without_square(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw
    return w - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


def _batches_without_shuffle(n, batch_size, rng):
    order = np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _batches_dropping_the_last(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[k * batch_size:(k + 1) * batch_size] for k in range(n // batch_size)]


def _batches_with_replacement(n, batch_size, rng):
    return [rng.choice(n, size=min(batch_size, n - i)) for i in range(0, n, batch_size)]


def _batches_by_array_split(n, batch_size, rng):
    return np.array_split(rng.permutation(n), int(np.ceil(n / batch_size)))


def _batches_from_global_rng(n, batch_size, rng):
    order = np.random.permutation(n)  # noqa: NPY002  (the mistake under test)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _one_sided(f, x, h=1e-5):
    grad = np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f(x) - fx) / h
        x[i] = old
    return grad


def _divided_by_h(f, x, h=1e-5):
    return 2 * _centred(f, x, h)


def _all_entries_at_once(f, x, h=1e-5):
    return np.full_like(x, (f(x + h) - f(x - h)) / (2 * h))


def _never_restored(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += h
        f_plus = f(x)
        x[i] -= 2 * h
        grad[i] = (f_plus - f(x)) / (2 * h)
    return grad


def _he_from_global_rng(fan_in, fan_out, rng):
    return np.random.randn(fan_in, fan_out) * np.sqrt(2 / fan_in)  # noqa: NPY002  (the mistake)


def _he_from_new_generator(fan_in, fan_out, rng):
    return np.random.default_rng().normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))


def _he_from_fixed_seed(fan_in, fan_out, rng):
    return np.random.default_rng(0).normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))


def _sig_where(Z):
    return np.where(Z >= 0, 1 / (1 + np.exp(-Z)), np.exp(Z) / (1 + np.exp(Z)))


def _stable_softmax_loss_naive_log(Z, y):
    P = softmax(Z)
    N = Z.shape[0]
    return -np.mean(np.log(P[np.arange(N), y])), (P - np.eye(Z.shape[1])[y]) / N


def _bce_naive_log(Z, Y):
    s = _sigmoid(Z)
    return -np.mean(Y * np.log(s) + (1 - Y) * np.log(1 - s)), (s - Y) / Z.size


def _cross_entropy_with_epsilon(Z, y):
    P = softmax(Z)
    N = Z.shape[0]
    return -np.mean(np.log(P[np.arange(N), y] + 1e-12)), (P - np.eye(Z.shape[1])[y]) / N


def _bce_with_clipping(Z, Y):
    s = np.clip(_sigmoid(Z), 1e-7, 1 - 1e-7)
    return -np.mean(Y * np.log(s) + (1 - Y) * np.log(1 - s)), (s - Y) / Z.size


def _bce_naive_softplus(Z, Y):
    return np.mean(np.log(1 + np.exp(Z)) - Y * Z), (_sigmoid(Z) - Y) / Z.size


WRONG = [
    # 1. Z = X W + b
    ("dense_forward", lambda X, W, b: X @ W, "forgot the bias"),
    ("dense_forward", lambda X, W, b: X @ W - b, "Sign error on the bias"),
    ("dense_forward", lambda X, W, b: W.T @ X.T + b[:, None], "Zᵀ"),
    ("dense_forward", lambda X, W, b: X @ W.T + b, "needs no transpose"),
    ("dense_forward", lambda X, W, b: np.maximum(X @ W + b, 0), "activation"),
    # 2. dX = dZ Wᵀ, dW = Xᵀ dZ, db = Σₙ dZ
    ("dense_backward", lambda dZ, X, W: (dZ @ W.T, dZ.T @ X, dZ.sum(axis=0)),
     "dW is transposed"),
    ("dense_backward", lambda dZ, X, W: (dZ @ W.T, X.T @ dZ, dZ.sum(axis=0, keepdims=True)),
     "db is 2-D"),
    ("dense_backward", lambda dZ, X, W: (dZ @ W.T, X.T @ dZ, dZ.sum(axis=1)), "wrong axis"),
    ("dense_backward", lambda dZ, X, W: (dZ @ W.T, X.T @ dZ, dZ.mean(axis=0)),
     "db is N times too small"),
    ("dense_backward", lambda dZ, X, W: (dZ @ W.T, X.T @ dZ / len(X), dZ.sum(axis=0)),
     "dW is N times too small"),
    ("dense_backward", lambda dZ, X, W: (dZ @ W.T, -X.T @ dZ, dZ.sum(axis=0)), "Sign error"),
    ("dense_backward", lambda dZ, X, W: (dZ @ W, X.T @ dZ, dZ.sum(axis=0)), "multiplies by Wᵀ"),
    # 3. A = σ(Z), stable
    ("sigmoid_forward", _naive_sigmoid, "overflows at Z = −1000"),
    ("sigmoid_forward", _sig_where, "both branches"),
    ("sigmoid_forward", lambda Z: 1 / (1 + np.exp(Z)), "Sign error in the exponent"),
    ("sigmoid_forward", np.tanh, "That is tanh"),
    # 4. dZ = dA A (1 − A)
    ("sigmoid_backward", lambda dA, A: dA * _sigmoid(A) * (1 - _sigmoid(A)),
     "as if A were the input Z"),
    ("sigmoid_backward", lambda dA, A: A * (1 - A), "forgot dA"),
    ("sigmoid_backward", lambda dA, A: dA * (1 - A**2), "tanh's derivative"),
    ("sigmoid_backward", lambda dA, A: -dA * A * (1 - A), "Sign error"),
    # 5. A = max(Z, 0)
    ("relu_forward", lambda Z: np.max(Z, 0), "np.max(Z, 0)"),
    ("relu_forward", _relu_in_place, "changed Z in place"),
    ("relu_forward", lambda Z: (Z > 0) * 1.0, "mask"),
    ("relu_forward", lambda Z: np.where(Z > 0, Z, 0.01 * Z), "leaky"),
    # 6. dZ = dA 1{Z > 0}
    ("relu_backward", lambda dA, Z: dA, "leaks through negative inputs"),
    ("relu_backward", lambda dA, Z: dA * np.sign(Z), "np.sign(Z) is −1"),
    ("relu_backward", lambda dA, Z: dA * (Z >= 0), "not Z >= 0"),
    ("relu_backward", _relu_backward_in_place, "changed dA in place"),
    # 7. A = tanh(Z)
    ("tanh_forward", lambda Z: (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z)), "overflows"),
    ("tanh_forward", lambda Z: 2 * _sigmoid(Z) - 1, "tanh(Z/2)"),
    ("tanh_forward", _sigmoid, "That is the sigmoid"),
    # 8. dZ = dA (1 − A²)
    ("tanh_backward", lambda dA, A: dA * (1 - np.tanh(A) ** 2), "as if A were the input Z"),
    ("tanh_backward", lambda dA, A: dA * (1 - A), "square is missing"),
    ("tanh_backward", lambda dA, A: 1 - A**2, "forgot dA"),
    # 9. P = softmax(Z), row-wise, max-shifted
    ("softmax", _no_shift_softmax, "overflows at large logits"),
    ("softmax", lambda Z: (lambda E: E / E.sum(axis=1, keepdims=True))(np.exp(Z - Z.max())),
     "maximum of the whole batch"),
    ("softmax", lambda Z: (lambda E: E / E.sum(axis=0, keepdims=True))(
        np.exp(Z - Z.max(axis=0, keepdims=True))), "down the columns"),
    ("softmax", lambda Z: (lambda E: E / E.sum(axis=1))(np.exp(Z - Z.max(axis=1, keepdims=True))),
     "keepdims=True"),
    ("softmax", _softmax_in_place, "changed Z in place"),
    # 10. loss = −mean log P[n, yₙ], dZ = (P − Y)/N
    ("softmax_cross_entropy", lambda Z, y: (softmax_cross_entropy(Z, y)[0],
                                            softmax(Z) - np.eye(Z.shape[1])[y]),
     "N times too large"),
    ("softmax_cross_entropy", lambda Z, y: (-_log_softmax(Z)[np.arange(len(y)), y].sum(),
                                            softmax_cross_entropy(Z, y)[1]),
     "sum over the batch"),
    ("softmax_cross_entropy", lambda Z, y: (softmax_cross_entropy(Z, y)[0],
                                            -softmax_cross_entropy(Z, y)[1]), "Sign error"),
    ("softmax_cross_entropy", _stable_softmax_loss_naive_log, "log 0 = −inf"),
    ("softmax_cross_entropy", _cross_entropy_with_epsilon, "caps the loss at −log ε"),
    ("softmax_cross_entropy", lambda Z, y: (-_log_softmax(Z)[np.arange(len(y)), y],
                                            softmax_cross_entropy(Z, y)[1]), "per-sample"),
    # 11. loss = mean(softplus(Z) − Y Z), dZ = (σ(Z) − Y)/(N K)
    ("bce_with_logits", lambda Z, Y: (bce_with_logits(Z, Y)[0], (_sigmoid(Z) - Y) / len(Z)),
     "K times too large"),
    ("bce_with_logits", _bce_naive_log, "log σ(Z) = log 0"),
    ("bce_with_logits", _bce_naive_softplus, "log(1 + e^Z) overflows"),
    ("bce_with_logits", _bce_with_clipping, "caps the loss at −log ε"),
    ("bce_with_logits", lambda Z, Y: (bce_with_logits(Z, Y)[0], (Z - Y) / Z.size),
     "σ(Z) belongs"),
    # 12. loss = mean((Z − Y)²), dZ = 2 (Z − Y)/(N K)
    ("mse", lambda Z, Y: (np.mean((Z - Y) ** 2), (Z - Y) / Z.size), "half the gradient"),
    ("mse", lambda Z, Y: (np.mean((Z - Y) ** 2), 2 * (Z - Y) / len(Z)), "K times too large"),
    ("mse", lambda Z, Y: (0.5 * np.mean((Z - Y) ** 2), 2 * (Z - Y) / Z.size), "no ½"),
    ("mse", lambda Z, Y: (np.mean((Z - Y) ** 2), 2 * (Y - Z) / Z.size), "Sign error"),
    # 13. W ~ N(0, 2/fan_in)
    ("he_normal", lambda fan_in, fan_out, rng: rng.normal(0, 2 / fan_in, (fan_in, fan_out)),
     "variance, not the standard deviation"),
    ("he_normal", lambda fan_in, fan_out, rng: rng.normal(0, np.sqrt(2 / fan_out),
                                                          (fan_in, fan_out)), "not √(2/fan_out)"),
    ("he_normal", lambda fan_in, fan_out, rng: rng.uniform(-1, 1, (fan_in, fan_out))
     * np.sqrt(6 / fan_in), "uniform distribution"),
    ("he_normal", lambda fan_in, fan_out, rng: he_normal(fan_in, fan_out, rng).T,
     "shape (fan_in, fan_out)"),
    ("he_normal", _he_from_global_rng, "global generator"),
    ("he_normal", _he_from_new_generator, "gave different W"),
    ("he_normal", _he_from_fixed_seed, "came out for differently seeded"),
    # 14. W ~ U(−a, a), a = √(6/(fan_in + fan_out))
    ("glorot_uniform", lambda fan_in, fan_out, rng: rng.uniform(
        -np.sqrt(6 / fan_in), np.sqrt(6 / fan_in), (fan_in, fan_out)), "both fans"),
    ("glorot_uniform", lambda fan_in, fan_out, rng: rng.normal(
        0, np.sqrt(2 / (fan_in + fan_out)), (fan_in, fan_out)), "normal distribution"),
    ("glorot_uniform", lambda fan_in, fan_out, rng: rng.uniform(
        0, np.sqrt(6 / (fan_in + fan_out)), (fan_in, fan_out)), "centred on 0"),
    ("glorot_uniform", lambda fan_in, fan_out, rng: rng.uniform(
        -1, 1, (fan_in, fan_out)) * np.sqrt(2 / (fan_in + fan_out)), "standard deviation"),
    ("glorot_uniform", lambda fan_in, fan_out, rng: np.random.uniform(  # noqa: NPY002
        -1, 1, (fan_in, fan_out)) * np.sqrt(6 / (fan_in + fan_out)), "global generator"),
    # 15. w ← w − lr dw
    ("sgd_step", lambda w, dw, lr: w + lr * dw, "downhill"),
    ("sgd_step", lambda w, dw, lr: w - dw, "learning rate is missing"),
    ("sgd_step", lambda w, dw, lr: lr * dw, "returned the step"),
    ("sgd_step", _sgd_in_place, "changed w in place"),
    # 16. v ← μ v + dw; w ← w − lr v
    ("sgd_momentum_step", lambda w, dw, v, lr, mu: (w + (mu * v - lr * dw), mu * v - lr * dw),
     "classic form"),
    ("sgd_momentum_step", lambda w, dw, v, lr, mu: (w - lr * v, mu * v + dw), "old v"),
    ("sgd_momentum_step", lambda w, dw, v, lr, mu: (w - lr * (mu * v + (1 - mu) * dw),
                                                    mu * v + (1 - mu) * dw),
     "exponential average"),
    ("sgd_momentum_step", lambda w, dw, v, lr, mu: (mu * v + dw, w - lr * (mu * v + dw)),
     "swapped"),
    ("sgd_momentum_step", _momentum_in_place, "changed v in place"),
    # 17. Adam
    ("adam_step", _adam_without_bias_correction, "bias correction is missing"),
    ("adam_step", _adam_returning_hats, "raw moments"),
    ("adam_step", _adam_eps_inside, "outside the square root"),
    ("adam_step", _adam_without_square, "squared gradient"),
    # 18. one epoch of shuffled mini-batches
    ("minibatch_indices", _batches_without_shuffle, "not shuffled"),
    ("minibatch_indices", _batches_dropping_the_last, "last, smaller batch is missing"),
    ("minibatch_indices", _batches_with_replacement, "Some indices repeat"),
    ("minibatch_indices", _batches_by_array_split, "array_split"),
    ("minibatch_indices", _batches_from_global_rng, "global generator"),
    ("minibatch_indices", lambda n, batch_size, rng: rng.permutation(n), "one flat array"),
    # 19. centred differences
    ("numerical_gradient", _one_sided, "one-sided"),
    ("numerical_gradient", lambda f, x: _centred(f, x, h=1e-2), "h = 0.01 is too large"),
    ("numerical_gradient", lambda f, x: _centred(f, x, h=0.1), "h = 0.1 is too large"),
    ("numerical_gradient", _divided_by_h, "twice too large"),
    ("numerical_gradient", _all_entries_at_once, "several entries of x at once"),
    ("numerical_gradient", _never_restored, "changed x in place"),
]


@pytest.mark.parametrize(("name", "student", "keyword"), WRONG,
                         ids=[f"{n}-{k}" for n, _, k in WRONG])
def test_a_typical_mistake_is_named(name, student, keyword):
    result = exercises.check(name, student)
    assert not result.passed
    assert result.diagnosis is not None, result.report
    assert keyword in result.diagnosis, result.report
    assert result.report.startswith(f"{name}: FAILED")
    assert f"Diagnosis: {result.diagnosis}" in result.report


@pytest.mark.parametrize("name", COURSE_ORDER)
def test_every_exercise_has_three_named_mistakes_in_the_table_and_in_these_tests(name):
    assert len(EXERCISES[name].mistakes) >= 3
    assert len({k for n, _, k in WRONG if n == name}) >= 3


@pytest.mark.parametrize("name", COURSE_ORDER)
def test_every_row_of_the_table_is_recognised(name):
    """Each wrong variant of the table, handed in as an answer, gets its own sentence."""
    ex = EXERCISES[name]
    for row in ex.mistakes:
        if row.detect is None:
            result = exercises.check(name, ex.variant_of(row))
            assert result.diagnosis == row.sentence, (row.sentence, result.report)


def test_a_mistake_in_one_output_leaves_the_others_judged():
    """Two mistakes in two outputs: both are named, the first one as the diagnosis."""
    result = exercises.check(
        "dense_backward", lambda dZ, X, W: (dZ @ W.T, dZ.T @ X, dZ.sum(axis=0, keepdims=True)))
    assert "dW is transposed" in result.diagnosis
    assert "Also: db is 2-D" in result.report


def test_an_unknown_mistake_shows_the_first_wrong_entry():
    result = exercises.check("dense_forward", lambda X, W, b: X @ W + b + 0.001 * (X[:, :1] > 0))
    assert not result.passed and result.diagnosis is None
    assert "Z[" in result.report and "but the right value is" in result.report
    assert "Z has shape (4, 5)" in result.report  # the output's shape
    assert "X (4, 3), W (3, 5), b (5,)" in result.report  # the inputs' shapes


def test_wrong_statistics_are_reported_as_statistics():
    result = exercises.check("he_normal", lambda fi, fo, rng: rng.normal(0, 0.3, (fi, fo)))
    assert not result.passed
    assert "std" in result.report and "draws" in result.report


def test_nan_where_the_answer_is_finite_names_the_stable_identity():
    def sigmoid_with_clip_gone_wrong(Z):
        return np.exp(Z) / (np.exp(Z) + 1)  # e^Z/(1 + e^Z): inf/inf at Z = 1000

    result = exercises.check("sigmoid_forward", sigmoid_with_clip_gone_wrong)
    assert "exp(−|Z|)" in result.diagnosis


# ----------------------------------------------------------- what every exercise shares


def test_names_in_course_order():
    assert exercises.names() == COURSE_ORDER


@pytest.mark.parametrize(("name", "equation"), [
    ("dense_forward", "Z = X·W + b"), ("dense_backward", "dW = Xᵀ·dZ"),
    ("sigmoid_backward", "dA · A · (1 − A)"), ("relu_backward", "1{Z > 0}"),
    ("softmax", "mₙ = maxₖ Z[n, k]"), ("softmax_cross_entropy", "(P − Y) / N"),
    ("bce_with_logits", "(σ(Z) − Y) / (N·K)"), ("mse", "2 (Z − Y) / (N·K)"),
    ("he_normal", "N(0, 2/fan_in)"), ("glorot_uniform", "√(6/(fan_in + fan_out))"),
    ("sgd_momentum_step", "v ← μ·v + dw"), ("adam_step", "m̂ = m/(1 − β1ᵗ)"),
    ("minibatch_indices", "rng.permutation(n)"), ("numerical_gradient", "(2h)"),
])
def test_describe_states_the_equation(name, equation):
    text = exercises.describe(name)
    assert equation in text


@pytest.mark.parametrize("name", COURSE_ORDER)
def test_describe_starts_with_the_signature_and_lists_the_cases(name):
    text = exercises.describe(name)
    ex = EXERCISES[name]
    assert text.startswith(f"{name}({', '.join(ex.args)}) -> ")
    assert "Checked on:" in text


def test_unknown_names_list_the_exercises():
    with pytest.raises(ValueError, match="dense_forward, dense_backward"):
        exercises.check("dense_forwards", dense_forward)
    with pytest.raises(ValueError, match="numerical_gradient"):
        exercises.describe("nope")


def test_not_written_yet():
    def dense_forward(X, W, b):
        raise NotImplementedError

    result = exercises.check("dense_forward", dense_forward)
    assert not result.passed
    assert "not written yet (it raises NotImplementedError)" in result.report
    assert "Traceback" not in result.report and "line" not in result.report


def test_an_exception_shows_its_type_message_and_line():
    def softmax(Z):
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1)[:, 1]  # a slip

    result = exercises.check("softmax", softmax)
    assert not result.passed
    assert "IndexError" in result.report
    assert "return E / E.sum(axis=1)[:, 1]" in result.report
    assert "Traceback" not in result.report


def test_wrong_number_of_outputs():
    result = exercises.check("dense_backward", lambda dZ, X, W: (dZ @ W.T, X.T @ dZ))
    assert result.diagnosis == ("dense_backward must return three arrays (dX, dW, db); it "
                                "returned 2.")
    result = exercises.check("softmax_cross_entropy", lambda Z, y: 1.0)
    assert "must return two values (loss, dZ) as a tuple; it returned a float" in result.diagnosis


def test_forward_returning_a_cache_is_explained():
    result = exercises.check("relu_forward", lambda Z: (np.maximum(Z, 0), Z))
    assert "must return one array, A; it returned a tuple of two items" in result.diagnosis


def test_none_returned():
    def dense_forward(X, W, b):
        Z = X @ W + b  # noqa: F841  (forgot the return)

    result = exercises.check("dense_forward", dense_forward)
    assert "dense_forward returned None" in result.diagnosis


def test_wrong_number_of_arguments():
    result = exercises.check("dense_forward", lambda X, W: X @ W)
    assert "must take 3 arguments, dense_forward(X, W, b)" in result.diagnosis


WEIRD = [None, "Z", 3.0, np.nan, [1, [2, 3]], {"A": 1}, object(), np.array(["a"]),
         (None, None, None), [np.nan] * 3, np.full((4, 5), np.inf), 1 + 2j]


@pytest.mark.parametrize("name", COURSE_ORDER)
def test_weird_outputs_never_crash_the_checker(name):
    for value in WEIRD:
        result = exercises.check(name, lambda *args, value=value: value)
        assert not result.passed
        assert result.report.startswith(f"{name}: FAILED")
        assert "checker could not judge" not in result.report, result.report
        json.dumps(result.to_dict())


def test_a_student_that_exits_or_prints_is_judged(capsys):
    def exits(Z):
        raise SystemExit(1)

    assert "SystemExit" in exercises.check("relu_forward", exits).report

    def prints(Z):
        print("debugging")
        return np.maximum(Z, 0)

    assert exercises.check("relu_forward", prints).passed


def test_odd_things_handed_in_instead_of_a_function():
    result = exercises.check("relu_forward", None)
    assert not result.passed and "check expects your function relu_forward" in result.report


def test_source_text_is_never_run():
    source = "import os\ndef relu_forward(Z):\n    return np.maximum(Z, 0)\n"
    result = exercises.check("relu_forward", source)
    assert not result.passed and "takes your function itself, not its source" in result.report


def test_in_place_changes_name_the_argument_and_the_entry():
    result = exercises.check("sgd_step", _sgd_in_place)
    assert result.diagnosis.startswith("You changed w in place (")
    assert "w[0, 0]" in result.diagnosis and "w = w - ..." in result.diagnosis


def test_result_displays_and_serialises():
    result = exercises.check("dense_backward", lambda dZ, X, W: (dZ @ W.T, dZ.T @ X, dZ.sum(0)))
    assert str(result) == result.report
    data = json.loads(json.dumps(result.to_dict()))
    assert data == {"name": "dense_backward", "passed": False, "diagnosis": result.diagnosis,
                    "report": result.report}
    html = result._repr_html_()
    assert "dense_backward: FAILED" in html and "D_in, D_out" in html

    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, s):
            self.out += s

    p = Printer()
    result._repr_pretty_(p, cycle=False)
    assert p.out == result.report
    assert "passed=False" in repr(result)


def test_the_global_generator_is_left_as_it_was():
    """An answer that draws from np.random is caught, and the caller's state is put back."""
    before = np.random.get_state()  # noqa: NPY002
    exercises.check("he_normal", _he_from_global_rng)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]


def test_numpy_error_settings_of_the_caller_do_not_matter():
    with np.errstate(all="raise"):
        assert "overflows" in exercises.check("sigmoid_forward", _naive_sigmoid).diagnosis
        assert exercises.check("sigmoid_forward", sigmoid_forward).passed
    with np.errstate(all="ignore"):
        assert "overflows" in exercises.check("sigmoid_forward", _naive_sigmoid).diagnosis


def test_import_needs_only_numpy():
    import subprocess
    import sys

    code = ("import sys, ffnn.exercises as e; e.check('relu_forward', lambda Z: Z);"
            "bad = {'matplotlib', 'sklearn', 'scipy', 'numba', 'pandas'} & set(sys.modules);"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
