"""ffnn.tracing: every named quantity of a step, checked against the derivation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ffnn
from ffnn.tracing import layer_names, lecture_view, trace


def _data(n=5, d=3, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, c, n)


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_names_follow_the_math():
    net = ffnn.Sequential(ffnn.Dense(4, 8), ffnn.ReLU(), ffnn.Dropout(0.2), ffnn.Dense(8, 3),
                          ffnn.Tanh(), ffnn.Dense(3, 2))
    assert layer_names(net) == [("Z1", 1), ("A1", 1), ("A1_dropout", 1), ("Z2", 2), ("A2", 2),
                                ("Z3", 3)]


def test_traced_step_is_the_derivation_of_a_3_10_4_network():
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    X, y = _data()
    with trace(net) as t:
        loss = net.loss_and_gradients(X, y, "ce")
    assert net.hooks == [] and len(t) == 1
    s = t[0]
    W1, b1, W2, b2 = (net.parameters()[k] for k in ("0.W", "0.b", "2.W", "2.b"))
    Y = np.eye(4)[y]
    N = X.shape[0]
    # forward: Z1 = X W1 + b1, A1 = sigma(Z1), Z2 = A1 W2 + b2
    np.testing.assert_array_equal(s["X"], X)
    np.testing.assert_allclose(s["Z1"], X @ W1 + b1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s["A1"], 1 / (1 + np.exp(-s["Z1"])), rtol=1e-6)
    np.testing.assert_allclose(s["Z2"], s["A1"] @ W2 + b2, rtol=1e-6, atol=1e-6)
    assert s["out"] is s["Z2"]
    P = _softmax(s["Z2"].astype(np.float64))
    assert float(s["loss"]) == pytest.approx(loss)
    assert float(s["loss"]) == pytest.approx(-np.mean(np.log(P[np.arange(N), y])), rel=1e-5)
    # backward: dZ2 = (P - Y)/N, dW2 = A1^T dZ2, dA1 = dZ2 W2^T, dZ1 = dA1 A1 (1 - A1), ...
    np.testing.assert_allclose(s["dZ2"], (P - Y) / N, atol=1e-7)
    np.testing.assert_allclose(s["dW2"], s["A1"].T @ s["dZ2"], atol=1e-7)
    np.testing.assert_allclose(s["db2"], s["dZ2"].sum(axis=0), atol=1e-7)
    np.testing.assert_allclose(s["dA1"], s["dZ2"] @ W2.T, atol=1e-7)
    np.testing.assert_allclose(s["dZ1"], s["dA1"] * s["A1"] * (1 - s["A1"]), atol=1e-7)
    np.testing.assert_allclose(s["dW1"], X.T @ s["dZ1"], atol=1e-7)
    np.testing.assert_allclose(s["db1"], s["dZ1"].sum(axis=0), atol=1e-7)
    assert "dX" not in s  # loss_and_gradients skips the data gradient
    assert not any(k.startswith("update_") for k in s)  # no optimiser step, no update


def test_traced_gradients_equal_loss_and_gradients():
    net = ffnn.mlp([6, 16, 8, 3], activation="relu", seed=1)
    twin = net.copy()
    X, y = _data(n=11, d=6, c=3, seed=1)
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    twin.loss_and_gradients(X, y, "ce")
    grads = twin.gradients()
    for l, i in ((1, 0), (2, 2), (3, 4)):
        np.testing.assert_array_equal(t[0][f"dW{l}"], grads[f"{i}.W"])
        np.testing.assert_array_equal(t[0][f"db{l}"], grads[f"{i}.b"])


def test_traced_update_is_the_parameter_change_inside_fit():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    for opt in (ffnn.SGD(0.1), ffnn.Adam(0.01)):
        net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
        before = net.get_weights()
        with trace(net) as t:  # full batch, one epoch: exactly one step
            ffnn.fit(net, X, y, "ce", opt, epochs=1, seed=0, verbose=0)
        assert len(t) == 1
        after = net.get_weights()
        for l, i in ((1, 0), (2, 2)):
            np.testing.assert_array_equal(t[0][f"W{l}"], before[f"{i}.W"])
            np.testing.assert_array_equal(t[0][f"update_W{l}"], after[f"{i}.W"] - before[f"{i}.W"])
            np.testing.assert_array_equal(t[0][f"update_b{l}"], after[f"{i}.b"] - before[f"{i}.b"])
        if isinstance(opt, ffnn.SGD):  # plain SGD: Delta W = -lr dW
            np.testing.assert_allclose(t[0]["update_W1"], -0.1 * t[0]["dW1"], atol=1e-7)


def test_step_selection_and_detach_after_the_last_selected_step():
    X, y = _data(n=100, seed=3)
    seen = []

    class Watch(ffnn.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(len(self.context.net.hooks))

    for steps, expected in ((None, list(range(9))), (2, [0, 1]), ([1, 5], [1, 5]), ([], [])):
        net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
        seen.clear()
        with trace(net, steps=steps) as t:
            # 80 training rows / 32 = 3 steps per epoch (+ validation passes, which are no steps)
            ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=3, batch_size=32, seed=0, verbose=0,
                     validation_split=0.2, callbacks=[Watch()])
        assert [s.index for s in t] == [e for e in expected if e < 9]
        assert t[0]["X"].shape == (32, 3) if expected else len(t) == 0
        if steps is not None:  # after the last selected step the observer has left net.hooks
            last = max(expected, default=-1)
            assert seen[last + 1:] == [0] * (9 - last - 1)
        assert net.hooks == []


def test_other_observers_still_see_every_event_when_the_trace_detaches():
    class Count:
        def __init__(self):
            self.steps = 0

        def on_step(self):
            self.steps += 1

    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    X, y = _data(n=64, seed=4)
    with trace(net, steps=1):
        counter = Count()
        net.hooks.append(counter)
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, batch_size=16, seed=0, verbose=0)
    assert counter.steps == 4
    assert net.hooks == [counter]


def test_observer_is_removed_when_the_block_raises():
    net = ffnn.mlp([3, 10, 4], seed=0)
    with pytest.raises(RuntimeError), trace(net):
        assert len(net.hooks) == 1
        raise RuntimeError("boom")
    assert net.hooks == []


def test_inference_passes_are_not_steps():
    net = ffnn.mlp([3, 10, 4], seed=0)
    X, y = _data()
    with trace(net) as t:
        net.predict(X)
        net.forward(X)
        net.loss_and_gradients(X, y, "ce")
    assert len(t) == 1 and t[0].index == 0


def test_data_gradient_is_traced_when_asked_for():
    net = ffnn.mlp([3, 10, 4], seed=0)
    X, y = _data()
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce", input_grad=True)
    np.testing.assert_allclose(t[0]["dX"], t[0]["dZ1"] @ t[0]["W1"].T, atol=1e-7)


def test_printed_step_shows_every_name_with_its_shape_truncated():
    net = ffnn.mlp([50, 40, 4], seed=0)
    X, y = _data(n=30, d=50)
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    text = str(t[0])
    for name, a in t[0].items():
        assert f"\n{name}  {tuple(a.shape)}".replace(" ", "") in text.replace(" ", "")
    assert "W1  (50,40)  float32" in text
    assert "b1  (40,)  float32" in text
    assert "..." in text  # a (30, 50) array is truncated
    assert len(text.splitlines()) < 120


def test_lecture_notation_is_the_same_computation():
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    X, y = _data()
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    s = t[0]
    v = lecture_view(s)
    # X~ = [1, X], V = [b1; W1]: X^ = X~ V is Z1, and F^ = F~ W is Z2
    np.testing.assert_array_equal(v["X_tilde"][:, 0], np.ones(5))
    np.testing.assert_array_equal(v["V"][0], s["b1"])
    np.testing.assert_array_equal(v["W"][1:], s["W2"])
    np.testing.assert_allclose(v["X_hat"], s["Z1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v["F"], s["A1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v["F_hat"], s["Z2"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v["E"], v["G"] - np.eye(4)[y])
    np.testing.assert_allclose(v["E"] / 5, s["dZ2"], atol=1e-7)
    np.testing.assert_allclose(v["dW_lecture"], np.vstack([s["db2"], s["dW2"]]), atol=1e-6)
    np.testing.assert_allclose(v["dV_lecture"], np.vstack([s["db1"], s["dW1"]]), atol=1e-6)


def test_lecture_notation_with_trained_biases_prints_every_quantity(capsys):
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    X, y = _data(n=20)
    ffnn.fit(net, X, y, "ce", ffnn.SGD(0.5), epochs=3, seed=0, verbose=0)  # biases != 0
    with trace(net, steps=1) as t:
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.5), epochs=1, seed=0, verbose=0)
    assert np.abs(t[0]["b1"]).min() > 0
    np.testing.assert_allclose(lecture_view(t[0])["F_hat"], t[0]["Z2"], rtol=1e-5, atol=1e-6)
    t[0].show(notation="lecture")
    text = capsys.readouterr().out
    for label in ("X  (20,3)", "X̃ = [1, X]  (20,4)", "V = [b1; W1]  (4,10)", "X̂ = X̃ V  (20,10)",
                  "F = σ(X̂)  (20,10)", "F̃ = [1, F]  (20,11)", "W = [b2; W2]  (11,4)",
                  "F̂ = F̃ W  (20,4)", "G = softmax(F̂)  (20,4)", "E = G − Y  (20,4)"):
        assert label in text, label
    assert "max |F_hat − Z2|" in text


def test_lecture_notation_needs_a_two_layer_network():
    net = ffnn.mlp([3, 8, 8, 4], seed=0)
    X, y = _data()
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    with pytest.raises(ValueError, match="Dense, activation, Dense"):
        t[0].format(notation="lecture")


def test_bad_selection_is_refused():
    net = ffnn.mlp([3, 4], seed=0)
    with pytest.raises(ValueError):
        trace(net, steps=-1)
    with pytest.raises(TypeError):
        trace("not a network")


@pytest.mark.parametrize("loss, n_out", [("ce", 4), ("bce", 1)])
def test_lecture_view_of_huge_pre_activations_is_finite_without_overflow(loss, n_out):
    """|Z| ~ 1000 saturates the sigmoids; the view uses the layers' and functional's stable
    sigmoid, never 1 / (1 + exp(-z)), so nothing overflows."""
    net = ffnn.mlp([3, 10, n_out], activation="sigmoid", seed=0)
    X, y = _data(c=n_out + (n_out == 1))
    net.layers[0].params["W"][...] = np.where(net.layers[0].params["W"] > 0, 1000, -1000)
    net.layers[2].params["W"][...] = np.where(net.layers[2].params["W"] > 0, 1000, -1000)
    with trace(net) as t:
        net.loss_and_gradients(X, y, loss)
    assert np.abs(t[0]["Z1"]).max() > 500 and np.abs(t[0]["Z2"]).max() > 500
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")  # an overflow warning (or any other) fails the test
        v = lecture_view(t[0])
        text = t[0].format(notation="lecture")
    for key in v:
        assert np.all(np.isfinite(v[key])), key
    assert np.all((v["G"] >= 0) & (v["G"] <= 1))
    np.testing.assert_allclose(v["F"], t[0]["A1"], atol=1e-6)
    np.testing.assert_allclose(v["dV_lecture"], np.vstack([t[0]["db1"], t[0]["dW1"]]),
                               atol=1e-6)
    assert "nan" not in text and "inf" not in text


@pytest.mark.parametrize("activation", ["tanh", "relu", "elu", "softplus", "gelu"])
def test_lecture_view_uses_the_networks_own_activation(activation):
    net = ffnn.mlp([3, 10, 4], activation=activation, seed=0)
    X, y = _data()
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    s, v = t[0], lecture_view(t[0])
    np.testing.assert_allclose(v["F"], s["A1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v["dV_lecture"], np.vstack([s["db1"], s["dW1"]]), atol=1e-6)


def test_lecture_view_reads_the_layers_parameters_and_formula():
    net = ffnn.Sequential(ffnn.Dense(3, 10, rng=0), ffnn.LeakyReLU(0.3), ffnn.Dense(10, 4, rng=1))
    X, y = _data()
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    v = lecture_view(t[0])
    np.testing.assert_allclose(v["F"], t[0]["A1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v["dV_lecture"], np.vstack([t[0]["db1"], t[0]["dW1"]]),
                               atol=1e-6)
    assert "where(X̂ > 0, 1, 0.3)" in v.format()  # f' as LeakyReLU.formula states it


def test_lecture_view_refuses_a_layer_between_the_activation_and_dense_2():
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", dropout=0.5, seed=0)
    X, y = _data()
    with trace(net) as t:
        net.loss_and_gradients(X, y, "ce")
    with pytest.raises(ValueError, match="A1_dropout"):
        lecture_view(t[0])
