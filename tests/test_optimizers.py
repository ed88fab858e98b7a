"""Each optimiser's first two steps recomputed by hand; convergence on a convex quadratic."""

import math

import numpy as np
import pytest

import ffnn
from ffnn.optimizers import clip_by_global_norm, global_norm

W0 = np.array([[1.0, -2.0], [0.5, 3.0]])
G1 = np.array([[0.2, -0.4], [1.0, 0.0]])
G2 = np.array([[-0.1, 0.3], [0.5, -2.0]])


def two_steps(opt):
    params = {"0.W": W0.copy()}
    seen = []
    for g in (G1, G2):
        opt.step(params, {"0.W": g.copy()})
        seen.append(params["0.W"].copy())
    return seen


def test_sgd_plain():
    lr = 0.1
    w1, w2 = two_steps(ffnn.SGD(lr))
    np.testing.assert_allclose(w1, W0 - lr * G1)
    np.testing.assert_allclose(w2, W0 - lr * G1 - lr * G2)


def test_sgd_momentum_and_nesterov():
    lr, mu = 0.1, 0.9
    v1 = G1
    v2 = mu * v1 + G2
    w1, w2 = two_steps(ffnn.SGD(lr, momentum=mu))
    np.testing.assert_allclose(w1, W0 - lr * v1)
    np.testing.assert_allclose(w2, W0 - lr * v1 - lr * v2)
    n1, n2 = two_steps(ffnn.SGD(lr, momentum=mu, nesterov=True))
    np.testing.assert_allclose(n1, W0 - lr * (G1 + mu * v1))
    np.testing.assert_allclose(n2, n1 - lr * (G2 + mu * v2))


def test_rmsprop():
    lr, rho, eps = 0.01, 0.9, 1e-8
    s1 = (1 - rho) * G1**2
    s2 = rho * s1 + (1 - rho) * G2**2
    w1, w2 = two_steps(ffnn.RMSProp(lr, rho=rho, eps=eps))
    np.testing.assert_allclose(w1, W0 - lr * G1 / (np.sqrt(s1) + eps))
    np.testing.assert_allclose(w2, w1 - lr * G2 / (np.sqrt(s2) + eps))


def test_adagrad():
    lr, eps = 0.1, 1e-10
    s1 = G1**2
    s2 = s1 + G2**2
    w1, w2 = two_steps(ffnn.Adagrad(lr, eps=eps))
    np.testing.assert_allclose(w1, W0 - lr * G1 / (np.sqrt(s1) + eps))
    np.testing.assert_allclose(w2, w1 - lr * G2 / (np.sqrt(s2) + eps))


def adam_reference(lr, b1, b2, eps, grads, w, wd_l2=0.0, wd_decoupled=0.0):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    out = []
    for t, g in enumerate(grads, start=1):
        w = w * (1 - lr * wd_decoupled)
        g = g + wd_l2 * w if wd_l2 else g
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


def test_adam_first_two_steps():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    w1, w2 = two_steps(ffnn.Adam(lr, beta1=b1, beta2=b2, eps=eps))
    r1, r2 = adam_reference(lr, b1, b2, eps, [G1, G2], W0)
    np.testing.assert_allclose(w1, r1, rtol=1e-12)
    np.testing.assert_allclose(w2, r2, rtol=1e-12)
    # first step of Adam moves each weight by ~lr in the sign of its gradient
    moved = np.abs(w1 - W0)[G1 != 0]
    np.testing.assert_allclose(moved, 0.01, rtol=1e-5)


def test_adamw_differs_from_adam_l2_as_the_paper_says():
    lr, wd = 0.01, 0.1
    w_adamw = two_steps(ffnn.AdamW(lr, weight_decay=wd))
    w_l2 = two_steps(ffnn.Adam(lr, weight_decay=wd))
    r_adamw = adam_reference(lr, 0.9, 0.999, 1e-8, [G1, G2], W0, wd_decoupled=wd)
    r_l2 = adam_reference(lr, 0.9, 0.999, 1e-8, [G1, G2], W0, wd_l2=wd)
    np.testing.assert_allclose(w_adamw[1], r_adamw[1], rtol=1e-12)
    np.testing.assert_allclose(w_l2[1], r_l2[1], rtol=1e-12)
    assert not np.allclose(w_adamw[1], w_l2[1])
    # decoupled decay with a zero gradient: the weight shrinks by exactly (1 - lr wd) per step,
    # whereas Adam + L2 normalises the decay by sqrt(v_hat) and moves it by ~lr instead
    p = {"0.W": np.array([[2.0]])}
    opt = ffnn.AdamW(lr, weight_decay=wd)
    opt.step(p, {"0.W": np.zeros((1, 1))})
    assert p["0.W"][0, 0] == pytest.approx(2.0 * (1 - lr * wd))
    q = {"0.W": np.array([[2.0]])}
    ffnn.Adam(lr, weight_decay=wd).step(q, {"0.W": np.zeros((1, 1))})
    assert q["0.W"][0, 0] == pytest.approx(2.0 - lr, rel=1e-6)


def test_weight_decay_skips_biases():
    opt = ffnn.SGD(0.1, weight_decay=0.5)
    p = {"0.W": np.ones(2), "0.b": np.ones(2)}
    opt.step(p, {"0.W": np.zeros(2), "0.b": np.zeros(2)})
    np.testing.assert_allclose(p["0.W"], 1 - 0.1 * 0.5)
    np.testing.assert_allclose(p["0.b"], 1)


def test_gradient_clipping_by_global_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert global_norm(grads) == pytest.approx(5.0)
    clip_by_global_norm(grads, 1.0)
    assert global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], 0.6)
    p = {"a": np.zeros(1), "b": np.zeros(1)}
    ffnn.SGD(1.0, clip_norm=1.0).step(p, {"a": np.array([30.0]), "b": np.array([40.0])})
    np.testing.assert_allclose([p["a"][0], p["b"][0]], [-0.6, -0.8])


@pytest.mark.parametrize("opt", [
    ffnn.SGD(0.1), ffnn.SGD(0.05, momentum=0.9), ffnn.SGD(0.05, momentum=0.9, nesterov=True),
    ffnn.RMSProp(0.01), ffnn.Adagrad(0.5), ffnn.Adam(0.05), ffnn.AdamW(0.05, weight_decay=0.0),
], ids=lambda o: repr(o)[:40])
def test_drives_a_convex_quadratic_to_its_minimum(opt):
    """f(w) = 1/2 (w - c)^T A (w - c) with A positive definite: gradient A (w - c)."""
    A = np.array([[3.0, 0.5], [0.5, 1.0]])
    c = np.array([1.0, -2.0])
    p = {"0.W": np.zeros(2)}
    f0 = 0.5 * c @ A @ c
    for _ in range(3000):
        opt.step(p, {"0.W": A @ (p["0.W"] - c)})
    d = p["0.W"] - c
    assert 0.5 * d @ A @ d < 1e-4 * f0  # Adam with a constant lr hovers within ~lr/10
    np.testing.assert_allclose(p["0.W"], c, atol=1e-2)


def test_state_is_kept_per_parameter_name_and_round_trips():
    opt = ffnn.Adam(0.01)
    net = ffnn.mlp([3, 4, 2], seed=0)
    net.loss_and_gradients(np.ones((2, 3)), np.array([0, 1]), "ce")
    opt.step(net.parameters(), net.gradients())
    assert set(opt.state) == set(net.parameters())
    assert opt.state["0.W"]["m"].shape == (3, 4)
    clone = ffnn.Adam(0.01)
    clone.load_state_dict(opt.state_dict(), opt.iterations)
    assert clone.iterations == 1
    np.testing.assert_array_equal(clone.state["2.b"]["v"], opt.state["2.b"]["v"])


def test_hyperparameters_stay_python_floats():
    opt = ffnn.Adam(np.float64(0.001))
    assert type(opt.lr) is float and not math.isnan(opt.lr)


def test_subnormal_state_is_flushed_to_zero():
    """Moments of always-zero gradients decay geometrically; below 1e-30 they become 0.
    (The compiled update of the fast path flushes on the same steps: test_fast_kernels.py.)"""
    opt = ffnn.Adam(1e-3)
    p = {"0.W": np.ones(4, dtype=np.float32)}
    opt.step(p, {"0.W": np.array([1.0, 0, 0, 0], dtype=np.float32)})
    for _ in range(1000):
        opt.step(p, {"0.W": np.zeros(4, dtype=np.float32)})
    m = opt.state["0.W"]["m"]
    tiny = np.finfo(np.float32).tiny
    assert not np.any((m != 0) & (np.abs(m) < tiny))  # no subnormal survives
    assert m[0] == 0.0


def test_l1_penalty_is_lambda_sign_w_on_weights_only_and_survives_config():
    """g <- g + l1 sign(W) for weight matrices (biases untouched), for every optimiser."""
    from ffnn.optimizers import OPTIMIZERS

    W = np.array([[0.5, -2.0], [0.0, 1.0]])
    for name, cls in OPTIMIZERS.items():
        opt = cls(lr=0.1, l1=0.3)
        rebuilt = cls(**opt.config())
        assert rebuilt.l1 == 0.3, name
        g, gb = np.zeros_like(W), np.zeros(2)
        opt.begin_step({"0.W": W, "0.b": np.ones(2)}, {"0.W": g, "0.b": gb})
        np.testing.assert_array_equal(g, 0.3 * np.sign(W))
        np.testing.assert_array_equal(gb, 0)  # biases are not penalised
    with pytest.raises(ValueError, match="l1"):
        ffnn.SGD(0.1, l1=-1)
