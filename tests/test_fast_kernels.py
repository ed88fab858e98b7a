"""The compiled kernels of ``ffnn.fast`` against the NumPy reference, entry by entry.

The optimiser updates are bit-identical to ``Optimizer.step`` (the same float operations in
the same order); the layer kernels are bit-identical to the layers' NumPy code; the losses
agree with ``ffnn.losses`` to float rounding and stay finite at extreme logits.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import ffnn

pytest.importorskip("numba")
from ffnn.fast import CompiledUpdate  # noqa: E402
from ffnn.fast import kernels as K  # noqa: E402

SHAPES = {"0.W": (300, 200), "0.b": (200,), "2.W": (200, 10), "2.b": (10,)}
UPDATES = {
    "sgd": lambda: ffnn.SGD(0.1),
    "momentum": lambda: ffnn.SGD(0.1, momentum=0.9),
    "nesterov, l2": lambda: ffnn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: ffnn.Adam(1e-3),
    "adamw": lambda: ffnn.AdamW(1e-3),
    "adam, l1, clipped": lambda: ffnn.Adam(1e-3, l1=1e-4, clip_norm=5.0),
}


def _params(rng, dtype):
    return {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}


def _grads(rng, dtype):  # 40% exact zeros: moments that decay to the flush
    return {k: (rng.normal(size=s) * (rng.random(s) > 0.4)).astype(dtype)
            for k, s in SHAPES.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(UPDATES))
def test_compiled_update_is_bit_identical_to_the_numpy_reference(name, dtype):
    rng = np.random.default_rng(0)
    ref, opt = UPDATES[name](), UPDATES[name]()
    p_ref = _params(rng, dtype)
    p = {k: v.copy() for k, v in p_ref.items()}
    g = {k: np.empty_like(v) for k, v in p.items()}
    update = CompiledUpdate(opt, p, g)
    for _ in range(60):  # past a flush (every 50 steps)
        grads = _grads(rng, dtype)
        ref.step(p_ref, {k: v.copy() for k, v in grads.items()})
        for k, v in grads.items():
            g[k][...] = v
        update()
    assert opt.iterations == ref.iterations == 60
    for k in SHAPES:
        np.testing.assert_array_equal(p[k], p_ref[k], err_msg=k)
        for slot, arr in ref.state[k].items():
            np.testing.assert_array_equal(opt.state[k][slot], arr, err_msg=f"{k}/{slot}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_flush_is_bit_identical_to_the_numpy_reference(dtype):
    """The compiled update zeroes tiny moments on the same steps as the NumPy flush."""
    rng = np.random.default_rng(1)
    ref, opt = ffnn.Adam(1e-3), ffnn.Adam(1e-3)
    p_ref = {"0.W": rng.normal(size=(50, 40)).astype(dtype)}
    p = {k: v.copy() for k, v in p_ref.items()}
    g = {"0.W": np.empty_like(p["0.W"])}
    update = CompiledUpdate(opt, p, g)
    for step in range(700):  # moments of the zero-gradient half cross 1e-30 near step 650
        grad = rng.normal(size=(50, 40)).astype(dtype) if step < 5 else \
            np.where(np.arange(40) < 20, rng.normal(size=(50, 40)), 0).astype(dtype)
        ref.step(p_ref, {"0.W": grad.copy()})
        g["0.W"][...] = grad
        update()
    m_ref = ref.state["0.W"]["m"]
    assert np.all(m_ref[:, 20:] == 0)  # the flush did happen (first moments decay by 0.9)
    np.testing.assert_array_equal(p["0.W"], p_ref["0.W"])
    np.testing.assert_array_equal(opt.state["0.W"]["m"], m_ref)
    np.testing.assert_array_equal(opt.state["0.W"]["v"], ref.state["0.W"]["v"])


def test_subnormal_state_is_flushed_to_zero():
    """Moments of always-zero gradients decay geometrically; below 1e-30 they become 0."""
    opt = ffnn.Adam(1e-3)
    p = {"0.W": np.ones(4, dtype=np.float32)}
    g = {"0.W": np.array([1.0, 0, 0, 0], dtype=np.float32)}
    update = CompiledUpdate(opt, p, g)
    update()
    for _ in range(1000):
        g["0.W"][:] = 0
        update()
    m = opt.state["0.W"]["m"]
    assert not np.any((m != 0) & (np.abs(m) < np.finfo(np.float32).tiny))
    assert m[0] == 0.0


def test_a_copied_optimizer_updates_its_own_state():
    rng = np.random.default_rng(3)
    p = {"0.W": rng.normal(size=(6, 4)).astype(np.float32),
         "0.b": rng.normal(size=4).astype(np.float32)}
    g = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in p.items()}
    opt = ffnn.Adam(1e-2)
    CompiledUpdate(opt, p, {k: v.copy() for k, v in g.items()})()
    twin, p2 = copy.deepcopy(opt), copy.deepcopy(p)
    one = CompiledUpdate(opt, p, {k: v.copy() for k, v in g.items()})
    two = CompiledUpdate(twin, p2, {k: v.copy() for k, v in g.items()})
    for _ in range(3):
        one()
        two()
    for k in p:
        np.testing.assert_array_equal(p[k], p2[k])
        np.testing.assert_array_equal(opt.state[k]["m"], twin.state[k]["m"])
        assert not np.shares_memory(opt.state[k]["m"], twin.state[k]["m"])


def test_after_load_state_dict_the_update_writes_the_loaded_arrays():
    rng = np.random.default_rng(4)
    p_ref = {"0.W": rng.normal(size=(5, 3)).astype(np.float32)}
    p = {k: v.copy() for k, v in p_ref.items()}
    g = {"0.W": rng.normal(size=(5, 3)).astype(np.float32)}
    ref, opt = ffnn.Adam(1e-2), ffnn.Adam(1e-2)
    update = CompiledUpdate(opt, p, g)
    ref.step(p_ref, {k: v.copy() for k, v in g.items()})
    update()
    opt.load_state_dict({k: v.copy() for k, v in opt.state_dict().items()}, opt.iterations)
    for _ in range(3):
        ref.step(p_ref, {k: v.copy() for k, v in g.items()})
        update()
    np.testing.assert_array_equal(p["0.W"], p_ref["0.W"])
    np.testing.assert_array_equal(opt.state["0.W"]["m"], ref.state["0.W"]["m"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_penalties_are_the_optimisers_own(dtype):
    rng = np.random.default_rng(5)
    W = rng.normal(size=40).astype(dtype)
    W[:3] = 0
    g = rng.normal(size=40).astype(dtype)
    opt = ffnn.SGD(0.1, weight_decay=0.01, l1=0.003)
    expect = g.copy()
    opt.add_penalty(W, expect)
    t = W.dtype.type
    K.penalise(W, g, t(0.01), t(0.003))
    np.testing.assert_array_equal(g, expect)


# --------------------------------------------------------------------------- layers
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_and_activation_kernels_are_bit_identical_to_numpy(dtype):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((37, 21)).astype(dtype)
    Z[3, :4] = [np.nan, np.inf, -np.inf, -0.0]  # NaN stays NaN, as np.maximum keeps it
    b = rng.standard_normal(21).astype(dtype)
    b[:4] = 0
    t = Z.dtype.type
    cases = {K.RELU: lambda x: np.maximum(x, 0), K.IDENTITY: lambda x: x,
             K.LEAKY_RELU: ffnn.LeakyReLU(0.1).forward}
    for kind, f in cases.items():
        A = Z.copy()
        K.bias_act(A, b, kind, t(0.1))
        np.testing.assert_array_equal(A, f(Z + b), err_msg=str(kind))
    A = Z.copy()
    K.bias_act(A, b, K.RELU, t(0))
    assert np.isnan(A[3, 0]) and A[3, 1] == np.inf and A[3, 2] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
def test_activation_backward_kernels_are_bit_identical_to_the_layers(masked, dtype):
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((37, 21)).astype(dtype)
    dout = rng.standard_normal((37, 21)).astype(dtype)
    drop = ffnn.Dropout(0.3, rng=4)
    U = np.random.default_rng(4).random(Z.shape, dtype=dtype)
    t = Z.dtype.type
    layers = {K.RELU: ffnn.ReLU(), K.SIGMOID: ffnn.Sigmoid(), K.TANH: ffnn.Tanh(),
              K.LEAKY_RELU: ffnn.LeakyReLU(0.1), K.IDENTITY: ffnn.Identity()}
    for kind, layer in layers.items():
        A = layer.forward(Z)
        if masked:
            drop.rng = np.random.default_rng(4)
            drop.forward(A, training=True)
            dA = drop.backward(dout)
        else:
            dA = dout
        expect = layer.backward(dA)
        dZ, db = np.empty_like(Z), np.empty(21, dtype)
        K.act_backward(dout, np.ascontiguousarray(A), U, t(0.3), t(1 / 0.7), masked, kind,
                       t(0.1), dZ, db)
        np.testing.assert_array_equal(dZ, expect, err_msg=str(kind))
        np.testing.assert_array_equal(db, np.sum(expect, axis=0), err_msg=str(kind))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_kernel_applies_the_mask_dropout_draws(dtype):
    x = np.random.default_rng(2).standard_normal((40, 30)).astype(dtype)
    layer = ffnn.Dropout(0.25, rng=9)
    expect = layer.forward(x, training=True)
    U = np.random.default_rng(9).random(x.shape, dtype=dtype)
    D = np.empty_like(x)
    t = x.dtype.type
    K.dropout_forward(x, U, t(0.25), t(1 / 0.75), D)
    np.testing.assert_array_equal(D, expect)


# --------------------------------------------------------------------------- losses
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_kernel_matches_the_loss_and_stays_finite(dtype):
    rng = np.random.default_rng(1)
    Z = (rng.standard_normal((50, 7)) * 3).astype(dtype)
    Z[0] = [1e4, -1e4, 0, 0, 0, 0, 0]  # extreme logits: no overflow, no log(0)
    Z[1] = [-1e4] * 7
    Z[2, :2] = 5.0  # a tie: argmax takes the first, as np.argmax
    y = rng.integers(0, 7, 50)
    y[0], y[2] = 1, 1
    Z64 = Z.astype(np.float64)  # the truth, in float64 from the same logits
    lse = Z64.max(1) + np.log(np.exp(Z64 - Z64.max(1, keepdims=True)).sum(1))
    P = np.exp(Z64 - lse[:, None])
    dZ_true = (P - ffnn.functional.one_hot(y, 7, np.float64)) / 50
    dZ = np.empty_like(Z)
    total, correct = K.softmax_cross_entropy_rows(Z, y, dZ, Z.dtype.type(1 / 50))
    assert np.isfinite(total) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(total / 50, np.mean(lse - Z64[np.arange(50), y]), rtol=1e-6)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(dZ, dZ_true, rtol=tol * 10, atol=tol / 50)
    assert correct == int(np.sum(np.argmax(Z, axis=1) == y))
    # one-hot rows give the same loss and gradient
    dZ1 = np.empty_like(Z)
    T = ffnn.functional.one_hot(y, 7, dtype)
    np.testing.assert_allclose(K.softmax_cross_entropy_onehot(Z, T, dZ1, Z.dtype.type(1 / 50)),
                               total, rtol=1e-12)
    np.testing.assert_allclose(dZ1, dZ, rtol=tol, atol=tol / 50)
    loss = ffnn.losses.SoftmaxCrossEntropy()  # and the layer-by-layer loss agrees
    np.testing.assert_allclose(loss.forward(Z[3:], y[3:]), K.softmax_cross_entropy_rows(
        Z[3:], y[3:], np.empty_like(Z[3:]), Z.dtype.type(1 / 47))[0] / 47, rtol=1e-5)


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
    total, correct = K.sigmoid_cross_entropy_rows(Z, Y, dZ, Z.dtype.type(1 / Z.size))
    assert np.isfinite(total) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(total / Z.size, value, rtol=1e-5)
    np.testing.assert_allclose(dZ, dZ_ref, rtol=1e-5, atol=1e-8)
    assert correct == int(np.sum((Z > 0) == (Y >= 0.5)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_error_kernel_matches_mse(dtype):
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((30, 2)).astype(dtype)
    Y = rng.standard_normal((30, 2)).astype(dtype)
    loss = ffnn.losses.MSE()
    value = loss.forward(Z, Y)
    dZ = np.empty_like(Z)
    total = K.squared_error_rows(Z, Y, dZ, Z.dtype.type(2 / Z.size))
    np.testing.assert_allclose(total / Z.size, value, rtol=1e-6)
    np.testing.assert_array_equal(dZ, loss.backward())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_sigmoid_is_the_references_to_the_bit(dtype):
    """-(Z + b), NumPy's exp, 1 / (1 + e): the operations of functional.sigmoid in its order."""
    rng = np.random.default_rng(6)
    Z = (rng.standard_normal((33, 17)) * 30).astype(dtype)  # exp(-z) overflows for some
    b = rng.standard_normal(17).astype(dtype)
    expect = ffnn.Sigmoid().forward(Z + b)
    A = Z.copy()
    K.neg_bias(A, b)
    with np.errstate(over="ignore"):
        np.exp(A, out=A)
    K.one_over_one_plus(A)
    np.testing.assert_array_equal(A, expect)
