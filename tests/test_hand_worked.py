"""A 2-2-1 sigmoid network with hand-chosen weights, every number written out from the formulas.

Network:  Z1 = X W1 + b1,  A1 = sigma(Z1),  Z2 = A1 W2 + b2  (logit),  BCE on sigma(Z2).
One sample x = [1, 2], target y = 1.
"""

import math

import numpy as np
import pytest

import ffnn


def sig(z):
    return 1.0 / (1.0 + math.exp(-z))


@pytest.fixture
def net():
    net = ffnn.mlp([2, 2, 1], activation="sigmoid", dtype=np.float64)
    W1, b1, W2, b2 = (net.parameters()[k] for k in ("0.W", "0.b", "2.W", "2.b"))
    W1[:] = [[0.1, 0.3], [0.2, 0.4]]  # rows: inputs x1, x2; columns: hidden units h1, h2
    b1[:] = [0.0, -0.5]
    W2[:] = [[0.5], [-1.0]]
    b2[:] = [0.25]
    return net


def test_forward_values(net):
    x1, x2 = 1.0, 2.0
    z1 = [0.1 * x1 + 0.2 * x2 + 0.0, 0.3 * x1 + 0.4 * x2 - 0.5]  # [0.5, 0.6]
    a1 = [sig(z) for z in z1]
    z2 = 0.5 * a1[0] - 1.0 * a1[1] + 0.25
    out = net.forward(np.array([[x1, x2]]))
    assert z1 == pytest.approx([0.5, 0.6])
    assert out.shape == (1, 1)
    assert out[0, 0] == pytest.approx(z2, rel=1e-12)
    assert net.predict_proba(np.array([[x1, x2]]))[0, 0] == pytest.approx(sig(z2), rel=1e-12)
    assert net.layers[1].A[0] == pytest.approx(a1, rel=1e-12)


def test_loss_and_gradients(net):
    X, y = np.array([[1.0, 2.0]]), np.array([1.0])
    a1 = [sig(0.5), sig(0.6)]
    z2 = 0.5 * a1[0] - 1.0 * a1[1] + 0.25
    p = sig(z2)
    loss = -math.log(p)  # BCE with y = 1
    dz2 = p - 1.0  # (sigma(z2) - y) / N, N = 1
    dW2 = [a1[0] * dz2, a1[1] * dz2]  # A1^T dZ2
    db2 = dz2
    da1 = [dz2 * 0.5, dz2 * -1.0]  # dZ2 W2^T
    dz1 = [da1[j] * a1[j] * (1 - a1[j]) for j in range(2)]  # sigma' = a (1 - a)
    dW1 = [[1.0 * dz1[0], 1.0 * dz1[1]], [2.0 * dz1[0], 2.0 * dz1[1]]]  # X^T dZ1
    db1 = dz1

    value = net.loss_and_gradients(X, y, "bce")
    g = net.gradients()
    assert value == pytest.approx(loss, rel=1e-12)
    assert g["2.W"][:, 0] == pytest.approx(dW2, rel=1e-12)
    assert g["2.b"][0] == pytest.approx(db2, rel=1e-12)
    assert g["0.W"] == pytest.approx(np.array(dW1), rel=1e-12)
    assert g["0.b"] == pytest.approx(db1, rel=1e-12)


def test_one_sgd_step_is_w_minus_lr_grad(net):
    X, y = np.array([[1.0, 2.0]]), np.array([1.0])
    before = net.get_weights()
    net.loss_and_gradients(X, y, "bce")
    grads = {k: v.copy() for k, v in net.gradients().items()}
    ffnn.SGD(0.5).step(net.parameters(), net.gradients())
    for k, w in net.parameters().items():
        np.testing.assert_allclose(w, before[k] - 0.5 * grads[k], rtol=1e-14)


def test_two_samples_average_the_gradient(net):
    """With N samples the loss and gradient are means: dZ2 = (P - Y) / N."""
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    y = np.array([1.0, 0.0])
    net.loss_and_gradients(X, y, "bce")
    avg = net.gradients()["2.b"].copy()
    parts = []
    for i in range(2):
        net.loss_and_gradients(X[i:i + 1], y[i:i + 1], "bce")
        parts.append(net.gradients()["2.b"].copy())
    assert avg == pytest.approx((parts[0] + parts[1]) / 2, rel=1e-12)
