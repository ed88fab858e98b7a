"""Numerical stability at the extremes and dtype preservation.

pyproject.toml turns every RuntimeWarning (overflow, divide by zero, invalid) into an error,
so these tests also prove that no warning is emitted.
"""

import math

import numpy as np
import pytest

import ffnn
from ffnn import functional as F
from ffnn.activations import ACTIVATIONS

EXTREME = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softmax_stay_in_unit_interval(dtype):
    x = EXTREME.astype(dtype)
    s = F.sigmoid(x)
    assert s.dtype == dtype
    assert np.all((s >= 0) & (s <= 1))
    assert s[0, 0] == 0.0 and s[0, -1] == 1.0 and s[0, 2] == 0.5
    # the far tail keeps full relative precision (no 1 - e cancellation)
    assert s[0, 1] == pytest.approx(np.exp(-50.0) / (1 + np.exp(-50.0)), rel=1e-6)
    p = F.softmax(x, axis=1)
    assert p.dtype == dtype
    assert np.all((p >= 0) & (p <= 1))
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.isfinite(F.log_softmax(x, axis=1)))
    assert F.softplus(x)[0, -1] == pytest.approx(1000.0)
    assert F.softplus(x)[0, 0] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss,y", [
    ("bce", np.array([[1.0], [0.0], [1.0], [0.0]])),
    ("ce", np.array([0, 1, 2, 0])),
    ("mse", np.zeros((4, 1))),
])
def test_losses_finite_for_logits_of_1000(dtype, loss, y):
    k = 3 if loss == "ce" else 1
    out = np.array([[1000.0], [1000.0], [-1000.0], [-1000.0]], dtype=dtype)
    if k == 3:
        out = np.array([[1000, -1000, 0], [-1000, 1000, 0], [0, 0, 1000], [-1000, 0, 1000]],
                       dtype=dtype)
    L = ffnn.get_loss(loss)
    value = L.forward(out, y)
    grad = L.backward()
    assert math.isfinite(value)
    assert np.all(np.isfinite(grad))
    assert grad.dtype == dtype


def test_confidently_wrong_bce_costs_the_logit():
    """BCE(z=-1000, y=1) = softplus(1000) - 1000 * 1 + ... = 1000 exactly in the limit."""
    L = ffnn.BinaryCrossEntropy()
    assert L.forward(np.array([[-1000.0]]), np.array([1.0])) == pytest.approx(1000.0)
    assert L.forward(np.array([[1000.0]]), np.array([1.0])) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("C", [2, 3, 10, 100])
def test_ce_of_zero_logits_is_log_c(C):
    L = ffnn.SoftmaxCrossEntropy()
    value = L.forward(np.zeros((5, C)), np.arange(5) % C)
    assert value == pytest.approx(math.log(C), rel=1e-12)
    np.testing.assert_allclose(L.backward().sum(axis=1), 0.0, atol=1e-15)


def test_ce_one_hot_equals_integer_labels():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, 6)
    a = ffnn.SoftmaxCrossEntropy()
    b = ffnn.SoftmaxCrossEntropy()
    assert a.forward(Z, y) == pytest.approx(b.forward(Z, F.one_hot(y, 4, np.float64)))
    np.testing.assert_allclose(a.backward(), b.backward())


@pytest.mark.parametrize("name", sorted({c.name for c in ACTIVATIONS.values()}))
def test_activations_finite_at_extremes(name):
    layer = ffnn.get_activation(name)
    out = layer.forward(EXTREME.astype(np.float32), training=True)
    dx = layer.backward(np.ones_like(out))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted({c.name for c in ACTIVATIONS.values()}))
def test_activation_dtype_preserved(dtype, name):
    layer = ffnn.get_activation(name)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(dtype)
    out = layer.forward(x, training=True)
    assert out.dtype == dtype
    assert layer.backward(np.ones_like(out)).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss,k", [("mse", 2), ("bce", 1), ("bce", 3), ("ce", 3)])
def test_network_dtype_preserved_end_to_end(dtype, loss, k):
    rng = np.random.default_rng(1)
    net = ffnn.Sequential(ffnn.Dense(3, 8, dtype=dtype, rng=0), ffnn.GELU(),
                          ffnn.Dropout(0.2, rng=0), ffnn.Dense(8, 5, dtype=dtype, rng=1),
                          ffnn.Tanh(), ffnn.Dense(5, k, dtype=dtype, rng=2))
    X = rng.normal(size=(6, 3))  # float64 in: converted once to the network's dtype
    y = {"mse": rng.normal(size=(6, k)), "bce": rng.integers(0, 2, (6, k)),
         "ce": rng.integers(0, k, 6)}[loss]
    assert net.forward(X).dtype == dtype
    net.loss_and_gradients(X, y, loss)
    assert all(g.dtype == dtype for g in net.gradients().values())
    assert all(p.dtype == dtype for p in net.parameters().values())
    L = ffnn.get_loss(loss)
    L.forward(net.forward(X.astype(dtype)), y)
    assert L.backward().dtype == dtype
    for opt in (ffnn.SGD(0.1, momentum=0.9), ffnn.Adam(), ffnn.AdamW(), ffnn.RMSProp(),
                ffnn.Adagrad()):
        opt.step(net.parameters(), net.gradients())
        assert all(p.dtype == dtype for p in net.parameters().values()), opt
    assert net.predict_proba(X).dtype == dtype


def test_astype_round_trip_is_a_copy():
    net = ffnn.mlp([3, 4, 2], seed=0)
    net64 = net.astype(np.float64)
    assert net64.dtype == np.float64 and net.dtype == np.float32
    net64.parameters()["0.W"][:] = 0
    assert np.any(net.parameters()["0.W"] != 0)


def test_sigmoid_and_softplus_take_a_0d_array_and_a_python_number():
    for x in (np.array(2.0), 2.0, np.float32(2.0)):
        assert float(ffnn.functional.sigmoid(x)) == pytest.approx(1 / (1 + np.exp(-2.0)))
        assert float(ffnn.functional.softplus(x)) == pytest.approx(np.log1p(np.exp(2.0)))
