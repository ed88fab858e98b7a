"""Bad input gets a clear ValueError/TypeError from ffnn's own validation, naming the problem."""

import numpy as np
import pytest

import ffnn


@pytest.fixture
def net():
    return ffnn.mlp([3, 4, 2], seed=0)


def test_wrong_feature_count(net):
    with pytest.raises(ValueError, match=r"5 features.*\(2, 5\).*expects 3"):
        net.predict(np.zeros((2, 5)))


def test_one_d_input_says_reshape(net):
    with pytest.raises(ValueError, match=r"1-D.*reshape\(-1, 1\)"):
        net.predict(np.zeros(3))
    with pytest.raises(ValueError, match="reshape"):
        ffnn.Dense(3, 2).forward(np.zeros(3))


def test_dense_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3\), got \(4, 2\)"):
        ffnn.Dense(3, 2).forward(np.zeros((4, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs(net, bad):
    X = np.zeros((4, 3))
    X[2, 1] = bad
    with pytest.raises(ValueError, match=r"NaN.*infinite.*\(2, 1\)"):
        net.predict(X)
    with pytest.raises(ValueError, match="NaN"):
        ffnn.fit(net, X, np.zeros(4, dtype=int), "ce", ffnn.SGD(0.1), verbose=0)


def test_empty_batch(net):
    with pytest.raises(ValueError, match="empty batch"):
        net.predict(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty batch"):
        ffnn.get_loss("ce").forward(np.zeros((0, 2)), np.zeros(0, dtype=int))


def test_non_numeric_arrays(net):
    with pytest.raises(TypeError, match="numeric"):
        net.predict(np.array([["a", "b", "c"]]))
    with pytest.raises(TypeError, match="numeric"):
        net.predict([[1, 2, None]])


def test_ce_labels_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 2\].*got values in \[0, 3\]"):
        ffnn.get_loss("ce").forward(np.zeros((3, 3)), np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array([-1, 1]))


def test_ce_non_integer_labels():
    with pytest.raises(ValueError, match="integers.*0.5"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match="encode string labels"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array(["cat", "dog"]))


def test_bce_targets_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\].*\[0, 2\]"):
        ffnn.get_loss("bce").forward(np.zeros((2, 1)), np.array([0.0, 2.0]))


def test_targets_of_wrong_length_or_shape():
    with pytest.raises(ValueError, match="3 labels for 2 samples"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*got \(2, 3\)"):
        ffnn.get_loss("mse").forward(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(2,\) or \(2, 1\)"):
        ffnn.get_loss("bce").forward(np.zeros((2, 1)), np.zeros(3))
    net = ffnn.mlp([3, 2], seed=0)
    with pytest.raises(ValueError, match="3 samples"):
        ffnn.fit(net, np.zeros((3, 3)), np.zeros(4, dtype=int), "ce", ffnn.SGD(0.1), verbose=0)


def test_softmax_ce_needs_two_outputs():
    with pytest.raises(ValueError, match="BinaryCrossEntropy"):
        ffnn.get_loss("ce").forward(np.zeros((2, 1)), np.array([0, 1]))


@pytest.mark.parametrize("factory,match", [
    (lambda: ffnn.mlp([2, 3, 1], activation="relux"), "known activations: .*relu"),
    (lambda: ffnn.get_loss("hinge"), "known losses: .*bce"),
    (lambda: ffnn.mlp([2, 3, 1], init="glorot"), "known initialisers: .*glorot_uniform"),
    (lambda: ffnn.get_optimizer("adamax"), "known optimisers: .*adam"),
    (lambda: ffnn.mlp([2, 0, 1]), "positive integers"),
    (lambda: ffnn.mlp([2, -3, 1]), "positive integers"),
    (lambda: ffnn.mlp([2]), "at least an input and an output"),
    (lambda: ffnn.Dense(0, 3), "in_features must be a positive integer"),
    (lambda: ffnn.Dense(2, 2.5), "out_features must be a positive integer"),
    (lambda: ffnn.SGD(0.0), "learning rate"),
    (lambda: ffnn.SGD(-1.0), "learning rate"),
    (lambda: ffnn.Adam(lr=float("nan")), "learning rate"),
    (lambda: ffnn.Adam(beta1=1.0), "beta1"),
    (lambda: ffnn.Dropout(1.0), "dropout probability"),
    (lambda: ffnn.Dense(2, 2, dtype=np.int32), "float32 or float64"),
])
def test_hyperparameters_validated_at_construction(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_sequential_checks_the_chain():
    with pytest.raises(ValueError, match="expects 5 inputs but the previous layer gives 4"):
        ffnn.Sequential(ffnn.Dense(3, 4), ffnn.ReLU(), ffnn.Dense(5, 1))
    with pytest.raises(TypeError, match="not an ffnn Layer"):
        ffnn.Sequential(ffnn.Dense(3, 4), "relu")


def test_fit_validates_its_arguments(net):
    X, y = np.zeros((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(TypeError, match="Optimizer"):
        ffnn.fit(net, X, y, "ce", "adam", verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=-1, verbose=0)
