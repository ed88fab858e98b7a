"""Sequential and mlp: structure, parameter dicts, prediction helpers, summary."""

import numpy as np
import pytest

import ffnn


def test_mlp_builds_dense_activation_pairs_without_output_activation():
    net = ffnn.mlp([2, 16, 32, 1], activation="sigmoid", seed=0)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Dense", "Sigmoid", "Dense", "Sigmoid", "Dense"]
    assert list(net.parameters()) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    assert net.parameters()["2.W"].shape == (16, 32)
    assert net.n_params() == 2 * 16 + 16 + 16 * 32 + 32 + 32 + 1


@pytest.mark.parametrize("activation,init", [("relu", "he_normal"), ("leaky_relu", "he_normal"),
                                             ("sigmoid", "glorot_uniform"),
                                             ("tanh", "glorot_uniform")])
def test_default_init_follows_activation(activation, init):
    net = ffnn.mlp([400, 300, 2], activation=activation, seed=0)
    assert net.layers[0].init == init
    W = net.parameters()["0.W"]
    if init == "he_normal":
        assert W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    else:
        limit = np.sqrt(6 / 700)
        assert np.abs(W).max() <= limit
        assert W.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)


def test_initialisers_have_their_documented_variance():
    rng = np.random.default_rng(0)
    fan_in, fan_out = 500, 300
    expect = {"glorot_uniform": 2 / (fan_in + fan_out), "glorot_normal": 2 / (fan_in + fan_out),
              "he_uniform": 2 / fan_in, "he_normal": 2 / fan_in, "lecun_normal": 1 / fan_in}
    for name, var in expect.items():
        W = ffnn.init.get_initializer(name)(fan_in, fan_out, rng, np.float64)
        assert W.shape == (fan_in, fan_out)
        assert W.var() == pytest.approx(var, rel=0.03), name
    assert not ffnn.init.zeros(3, 2).any()


def test_seeded_construction_is_reproducible():
    a = ffnn.mlp([5, 7, 3], seed=42)
    b = ffnn.mlp([5, 7, 3], seed=42)
    c = ffnn.mlp([5, 7, 3], seed=43)
    assert np.array_equal(a.parameters()["0.W"], b.parameters()["0.W"])
    assert not np.array_equal(a.parameters()["0.W"], c.parameters()["0.W"])


def test_parameters_and_gradients_are_live_arrays():
    net = ffnn.mlp([3, 4, 2], seed=0)
    net.parameters()["0.W"][0, 0] = 123.0
    assert net.layers[0].params["W"][0, 0] == 123.0
    g = net.gradients()["2.W"]
    net.loss_and_gradients(np.ones((2, 3)), np.array([0, 1]), "ce")
    assert g is net.layers[2].grads["W"] and np.any(g != 0)


def test_backward_overwrites_never_accumulates():
    net = ffnn.mlp([3, 4, 2], seed=0)
    X, y = np.ones((2, 3)), np.array([0, 1])
    net.loss_and_gradients(X, y, "ce")
    first = {k: v.copy() for k, v in net.gradients().items()}
    net.loss_and_gradients(X, y, "ce")
    for k, g in net.gradients().items():
        np.testing.assert_array_equal(g, first[k])


def test_backward_returns_input_gradient():
    net = ffnn.mlp([3, 4, 2], activation="tanh", seed=0, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(5, 3))
    loss = ffnn.get_loss("ce")
    loss.forward(net.forward(X), np.array([0, 1, 0, 1, 1]))
    dX = net.backward(loss.backward())
    assert dX.shape == X.shape
    assert net.backward(loss.backward(), input_grad=False) is None


def test_predict_proba_sigmoid_softmax_and_classify():
    X = np.random.default_rng(0).normal(size=(6, 3))
    binary = ffnn.mlp([3, 4, 1], seed=0)
    p = binary.predict_proba(X)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-binary.predict(X).astype(np.float64))),
                               rtol=1e-6)
    assert set(binary.classify(X)) <= {0, 1}
    multi = ffnn.mlp([3, 4, 5], seed=0)
    P = multi.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(multi.classify(X), np.argmax(multi.predict(X), axis=1))
    multilabel = ffnn.mlp([3, 4, 5], seed=0, output="sigmoid")
    assert multilabel.classify(X).shape == (6, 5)


def test_fit_records_the_output_kind_for_regression():
    net = ffnn.mlp([1, 8, 1], activation="tanh", seed=0)
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    ffnn.fit(net, X, X[:, 0] ** 2, "mse", ffnn.Adam(0.01), epochs=2, verbose=0)
    assert net.output == "identity"
    np.testing.assert_array_equal(net.predict_proba(X), net.predict(X))


def test_predict_in_chunks_equals_one_pass():
    net = ffnn.mlp([3, 8, 2], seed=0, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(1000, 3))
    np.testing.assert_allclose(net.predict(X, batch_size=64), net.predict(X, batch_size=None))


def test_summary_lists_layers_shapes_and_counts():
    net = ffnn.mlp([784, 512, 256, 128, 10], seed=0)
    text = net.summary()
    assert "(N, 512)" in text and "(N, 10)" in text
    assert f"{net.n_params():,}" in text and "567,434" in text
    assert "W (784, 512)" in text


def test_set_weights_checks_names_and_shapes():
    net = ffnn.mlp([3, 4, 2], seed=0)
    w = net.get_weights()
    w["0.W"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"0.W.*\(4, 3\).*\(3, 4\)"):
        net.set_weights(w)
    with pytest.raises(ValueError, match="missing"):
        net.set_weights({})


def test_copy_is_independent():
    net = ffnn.mlp([3, 4, 2], seed=0)
    twin = net.copy()
    twin.parameters()["0.W"][:] = 0
    assert np.any(net.parameters()["0.W"] != 0)


def test_mlp_dropout_puts_dropout_after_each_hidden_activation_and_keeps_the_weights():
    import ffnn

    plain = ffnn.mlp([3, 5, 4, 2], seed=7)
    dropped = ffnn.mlp([3, 5, 4, 2], seed=7, dropout=0.25)
    names = [type(layer).__name__ for layer in dropped.layers]
    assert names == ["Dense", "ReLU", "Dropout", "Dense", "ReLU", "Dropout", "Dense"]
    assert all(layer.p == 0.25 for layer in dropped.layers if isinstance(layer, ffnn.Dropout))
    for key, W in plain.parameters().items():
        layer_index, name = key.split(".")
        shifted = f"{int(layer_index) + int(layer_index) // 2}.{name}"
        np.testing.assert_array_equal(dropped.parameters()[shifted], W)
    again = ffnn.mlp([3, 5, 4, 2], seed=7, dropout=0.25)
    X = np.ones((6, 3), np.float32)
    np.testing.assert_array_equal(dropped.forward(X, training=True),
                                  again.forward(X, training=True))
    with pytest.raises(ValueError, match="dropout"):
        ffnn.mlp([3, 2], dropout=1.5)
