"""The fused training step (``fit(..., fused=True)``) against the layer-by-layer reference."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import _fastpath

pytest.importorskip("numba")
from ffnn import _fused as K  # noqa: E402


def _data(n=300, d=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (np.argmax(X[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1))
    return X, y


def _train(build, X, y, loss, fused, epochs=3, batch_size=32, opt=None):
    net = build()
    opt = opt() if opt is not None else ffnn.Adam(1e-2)
    h = ffnn.fit(net, X, y, loss, opt, epochs=epochs, batch_size=batch_size, seed=3,
                 verbose=0, fused=fused)
    return net, h


def _assert_same_training(a, b, rtol=2e-4, atol=2e-6):
    (net_a, h_a), (net_b, h_b) = a, b
    for k, w in net_a.parameters().items():
        np.testing.assert_allclose(w, net_b.parameters()[k], rtol=rtol, atol=atol, err_msg=k)
    for key in h_a.keys():
        if key != "time":
            np.testing.assert_allclose(h_a[key], h_b[key], rtol=1e-4, atol=1e-6, err_msg=key)


CASES = {
    "relu + ce labels": (lambda: ffnn.mlp([12, 32, 16, 3], activation="relu", seed=1), "ce"),
    "tanh + ce": (lambda: ffnn.mlp([12, 16, 3], activation="tanh", seed=1), "ce"),
    "sigmoid + bce": (lambda: ffnn.mlp([12, 8, 1], activation="sigmoid", seed=1), "bce"),
    "leaky + mse": (lambda: ffnn.mlp([12, 16, 1], activation="leaky_relu", seed=1), "mse"),
    "relu, dropout": (lambda: ffnn.Sequential(
        ffnn.Dense(12, 32, rng=1), ffnn.ReLU(), ffnn.Dropout(0.3),
        ffnn.Dense(32, 3, rng=2)), "ce"),
    "float64": (lambda: ffnn.mlp([12, 16, 3], activation="relu", seed=1).astype(np.float64),
                "ce"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batch_size", [32, None, 1])
def test_fused_fit_trains_like_the_reference(case, batch_size):
    build, loss = CASES[case]
    X, y = _data()
    if loss in ("bce", "mse"):
        y = (y == 0).astype(np.float32)
    epochs = 1 if batch_size == 1 else 3
    ref = _train(build, X, y, loss, fused=False, epochs=epochs, batch_size=batch_size)
    fast = _train(build, X, y, loss, fused=True, epochs=epochs, batch_size=batch_size)
    _assert_same_training(ref, fast)


def test_one_hot_targets_and_a_partial_last_batch():
    X, y = _data(n=301)
    Y = ffnn.functional.one_hot(y, 3)
    build = CASES["relu + ce labels"][0]
    _assert_same_training(_train(build, X, Y, "ce", False, batch_size=64),
                          _train(build, X, Y, "ce", True, batch_size=64))


def test_the_optimisers_fused_flag_turns_the_fused_step_on(monkeypatch):
    calls = []
    original = _fastpath.FusedStep.forward_loss

    def counting(self, X, y):
        calls.append(X.shape[0])
        return original(self, X, y)

    monkeypatch.setattr(_fastpath.FusedStep, "forward_loss", counting)
    X, y = _data()
    net = ffnn.mlp([12, 8, 3], seed=0)
    ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-2, fused=True), epochs=1, batch_size=100, verbose=0)
    assert calls == [100, 100, 100]
    calls.clear()
    ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-2, fused=True), epochs=1, batch_size=100,
             verbose=0, fused=False)
    ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-2), epochs=1, batch_size=100, verbose=0)
    assert calls == []


def test_observers_see_the_reference_step():
    """With ffnn.trace attached the layers run one by one, so every quantity is recorded."""
    X, y = _data()
    net = ffnn.mlp([12, 8, 3], seed=0)
    with ffnn.trace(net) as t:
        ffnn.fit(net, X[:10], y[:10], "ce", ffnn.Adam(1e-2, fused=True), epochs=1,
                 batch_size=10, verbose=0)
    assert len(t) == 1 and {"Z1", "dZ1", "dW1"} <= set(t[0])  # every quantity recorded


def test_bad_setups_get_the_same_clear_errors_as_the_reference():
    X, y = _data()
    with pytest.raises(ValueError, match="at least 2 outputs"):
        ffnn.fit(ffnn.mlp([12, 4, 1], seed=0), X, np.zeros(len(X), int), "ce",
                 ffnn.Adam(1e-2, fused=True), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels must lie in"):
        ffnn.fit(ffnn.mlp([12, 4, 3], seed=0), X, y + 5, "ce", ffnn.Adam(1e-2, fused=True),
                 epochs=1, verbose=0)


# the huge inputs are the point here: their scale warning is expected
@pytest.mark.filterwarnings("ignore::ffnn.DataScaleWarning")
def test_an_overflowing_input_stops_the_fused_run_as_it_stops_the_reference():
    """inf - inf in a hidden layer is NaN: it must reach the loss (not become a ReLU 0)."""
    X, y = _data()
    X[5] = 3e38
    messages = []
    for fused in (False, True):
        net = ffnn.mlp([12, 32, 16, 3], activation="relu", seed=1)
        with pytest.raises(ffnn.TrainingDiverged, match="epoch 1, batch") as err:
            ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-2, fused=fused), epochs=3, batch_size=16,
                     seed=5, verbose=0)
        messages.append(str(err.value))
    assert messages[0] == messages[1]  # the same batch, the same last finite loss


def test_a_diverging_fused_run_still_stops_with_the_clear_error():
    X, y = _data()
    X = X * 1e4
    net = ffnn.mlp([12, 64, 3], seed=0)
    with pytest.raises(ffnn.TrainingDiverged):
        ffnn.fit(net, X, y, "ce", ffnn.SGD(1e6), epochs=5, batch_size=32, verbose=0,
                 fused=True)


# --------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_relu_kernels_are_bit_identical_to_numpy(dtype):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((37, 21)).astype(dtype)
    Z[3, :4] = [np.nan, np.inf, -np.inf, -0.0]  # NaN stays NaN, as np.maximum keeps it
    b = rng.standard_normal(21).astype(dtype)
    b[:4] = 0
    ref = Z + b
    A_ref = np.maximum(ref, 0)
    A = Z.copy()
    K.bias_relu(A, b)
    np.testing.assert_array_equal(A, A_ref)
    assert np.isnan(A[3, 0]) and A[3, 1] == np.inf and A[3, 2] == 0
    Z[3, :4] = 0.5
    ref = Z + b
    A = np.maximum(ref, 0)
    Zb = Z.copy()
    K.bias_add(Zb, b)
    np.testing.assert_array_equal(Zb, ref)

    dA = rng.standard_normal((37, 21)).astype(dtype)
    dZ, db = np.empty_like(dA), np.empty(21, dtype)
    K.relu_backward(dA, A, dZ, db)
    dZ_ref = dA * (ref > 0)
    np.testing.assert_array_equal(dZ, dZ_ref)
    np.testing.assert_array_equal(db, np.sum(dZ_ref, axis=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_kernel_matches_the_loss_and_stays_finite(dtype):
    rng = np.random.default_rng(1)
    Z = (rng.standard_normal((50, 7)) * 3).astype(dtype)
    Z[0] = [1e4, -1e4, 0, 0, 0, 0, 0]  # extreme logits: no overflow, no log(0)
    Z[1] = [-1e4] * 7
    Z[2, :2] = 5.0  # a tie: argmax takes the first, as np.argmax
    y = rng.integers(0, 7, 50)
    y[0], y[2] = 1, 1
    Z64 = Z.astype(np.float64)  # the truth, in float64 from the same float32 logits
    lse = Z64.max(1) + np.log(np.exp(Z64 - Z64.max(1, keepdims=True)).sum(1))
    P = np.exp(Z64 - lse[:, None])
    dZ_true = (P - ffnn.functional.one_hot(y, 7, np.float64)) / 50
    dZ = np.empty_like(Z)
    total, correct = K.softmax_cross_entropy(Z, y, dZ)
    assert np.isfinite(total) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(total / 50, np.mean(lse - Z64[np.arange(50), y]), rtol=1e-6)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(dZ, dZ_true, rtol=tol * 10, atol=tol / 50)
    assert correct == int(np.sum(np.argmax(Z, axis=1) == y))
    # and the layer-by-layer loss agrees on ordinary logits
    loss = ffnn.losses.SoftmaxCrossEntropy()
    np.testing.assert_allclose(loss.forward(Z[3:], y[3:]), K.softmax_cross_entropy(
        Z[3:], y[3:], np.empty_like(Z[3:]))[0] / 47, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_cross_entropy_kernel_matches_the_loss_and_stays_finite(dtype):
    rng = np.random.default_rng(2)
    Z = (rng.standard_normal((40, 3)) * 4).astype(dtype)
    Z[0] = [1000.0, -1000.0, 0.0]  # extremes: no overflow; z = 0 counts as "predict 0"
    Y = (rng.random((40, 3)) > 0.5).astype(dtype)
    Y[1] = 0.3  # soft labels are allowed
    loss = ffnn.losses.BinaryCrossEntropy()
    value = loss.forward(Z, Y)
    dZ_ref = loss.backward()
    dZ = np.empty_like(Z)
    total, correct = K.sigmoid_cross_entropy(Z, Y, dZ)
    assert np.isfinite(total) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(total / Z.size, value, rtol=1e-5)
    np.testing.assert_allclose(dZ, dZ_ref, rtol=1e-5, atol=1e-8)
    assert correct == int(np.sum((Z > 0) == (Y >= 0.5)))
