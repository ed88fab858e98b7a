"""Every layer, activation and loss against finite differences (float64, rel. error < 1e-6)."""

import numpy as np
import pytest

import ffnn
from ffnn import gradcheck
from ffnn.activations import ACTIVATIONS

ACTIVATION_NAMES = sorted({cls.name for cls in ACTIVATIONS.values()})
TOL = 1e-6


def _targets(loss: str, n: int, k: int, rng):
    if loss == "bce":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "ce":
        return rng.integers(0, k, n)
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_alone(name):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=2.0, size=(7, 5))
    report = ffnn.check_layer(ffnn.get_activation(name), x)
    assert report.passed, str(report)
    assert report.max_rel_error < TOL
    assert report["input"].n_checked > 0


def test_dense_alone():
    rng = np.random.default_rng(1)
    layer = ffnn.Dense(4, 3, rng=0)
    layer.params["b"][:] = rng.normal(size=3)
    report = ffnn.check_layer(layer, rng.normal(size=(6, 4)))
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"W", "b", "input"}
    assert report["W"].n_checked == 12


def test_dropout_with_fixed_mask():
    rng = np.random.default_rng(2)
    layer = ffnn.Dropout(0.5, rng=0)
    x = rng.normal(size=(6, 4))
    layer.fixed_mask = (rng.random((6, 4)) >= 0.5) / 0.5
    report = ffnn.check_layer(layer, x)
    assert report.passed, str(report)


@pytest.mark.parametrize("loss,k", [("mse", 3), ("bce", 3), ("bce", 1), ("ce", 4)])
def test_loss_alone(loss, k):
    """A parameter-free network checks dL/d(output) of the loss itself."""
    rng = np.random.default_rng(3)
    net = ffnn.Sequential(ffnn.Identity(), output="identity")
    X = rng.normal(scale=3.0, size=(9, k))
    report = ffnn.check_network(net, X, _targets(loss, 9, k, rng), loss, check_input=True)
    assert report.passed, str(report)
    assert report["input"].n_checked == 9 * k


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@pytest.mark.parametrize("loss,k", [("mse", 2), ("bce", 1), ("ce", 3)])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_network(name, loss, k, depth):
    rng = np.random.default_rng(depth * 100 + k)
    sizes = [3] + [5, 4, 6][:depth] + [k]
    net = ffnn.mlp(sizes, activation=name, seed=depth)
    for key, p in net.parameters().items():  # non-zero biases: no unit sits exactly at a kink
        if key.endswith("b"):
            p[:] = rng.normal(scale=0.3, size=p.shape)
    X = rng.normal(size=(8, 3))
    report = ffnn.check_network(net, X, _targets(loss, 8, k, rng), loss, check_input=True)
    assert report.passed, str(report)
    assert report.max_rel_error < TOL
    checked = sum(c.n_checked for c in report.checks)
    total = sum(p.size for p in net.parameters().values()) + X.size
    assert checked >= 0.9 * total  # kinks skipped must stay rare


def test_network_with_dropout_and_softmax_layer():
    rng = np.random.default_rng(4)
    net = ffnn.Sequential(ffnn.Dense(3, 6, rng=0), ffnn.Tanh(), ffnn.Dropout(0.3, rng=1),
                          ffnn.Dense(6, 4, rng=2), ffnn.Softmax(), output="identity")
    report = ffnn.check_network(net, rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), "mse")
    assert report.passed, str(report)


def test_gradcheck_catches_a_wrong_gradient():
    """A learner's layer with a deliberate bug must FAIL, with the worst entry located."""

    class BadSquare(ffnn.Layer):
        def forward(self, x, *, training=False):
            self.x = x
            return x * x

        def backward(self, dout):
            return dout * self.x  # should be 2 x

    report = ffnn.check_layer(BadSquare(), np.random.default_rng(0).normal(size=(4, 3)))
    assert not report.passed
    assert report["input"].max_rel_error > 0.1
    assert "FAIL" in str(report)
    with pytest.raises(AssertionError):
        report.raise_if_failed()


def test_gradcheck_accepts_a_learners_correct_layer():
    class Scale(ffnn.Layer):
        """out = x * s (one learnable scale per feature); ds = sum_n dout * x, dx = dout * s."""

        def __init__(self, d):
            super().__init__()
            self.params = {"s": np.linspace(0.5, 2.0, d)}
            self.grads = {"s": np.zeros(d)}

        def forward(self, x, *, training=False):
            self.x = x
            return x * self.params["s"]

        def backward(self, dout):
            self.grads["s"][...] = np.sum(dout * self.x, axis=0)
            return dout * self.params["s"]

    report = ffnn.check_layer(Scale(3), np.random.default_rng(0).normal(size=(5, 3)))
    assert report.passed, str(report)


def test_sampled_mode_checks_at_most_max_checks_entries():
    net = ffnn.mlp([20, 50, 3], activation="tanh", seed=0)
    rng = np.random.default_rng(0)
    report = ffnn.check_network(net, rng.normal(size=(4, 20)), rng.integers(0, 3, 4), "ce",
                                max_checks=10)
    assert report["0.W"].n_checked == 10
    assert report["0.b"].n_checked == 10
    assert report["2.b"].n_checked == 3
    assert report.passed


def test_gradcheck_leaves_the_network_untouched():
    net = ffnn.mlp([2, 4, 1], activation="sigmoid", seed=0)
    before = net.get_weights()
    ffnn.check_network(net, np.ones((3, 2)), np.array([0, 1, 1]), "bce")
    after = net.parameters()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert net.dtype == np.float32


def test_report_prints_a_readable_table():
    net = ffnn.mlp([2, 3, 1], activation="tanh", seed=0)
    report = ffnn.check_network(net, np.ones((2, 2)), np.array([0, 1]), "bce")
    text = str(report)
    assert "PASSED" in text and "0.W" in text and "max rel" in text
    assert len(text.splitlines()) == 2 + len(net.parameters())


def test_kink_crossing_is_skipped_not_failed_and_nothing_checked_is_not_a_pass():
    """A ReLU unit exactly at 0 (zero bias, zero input) is reported as at a kink; a parameter
    whose every sampled entry sits at a kink has nothing checked, which is not a pass."""
    net = ffnn.Sequential(ffnn.Dense(1, 1, rng=0), ffnn.ReLU(), ffnn.Dense(1, 1, rng=1))
    net.layers[0].params["W"][:] = 1.0
    report = gradcheck.check_network(net, np.array([[0.0]]), np.array([[1.0]]), "mse")
    assert report["0.b"].n_kinks == 1 and report["0.b"].n_checked == 0
    assert not report["0.b"].passed and not report.passed
    assert "no entry checked" in str(report) and "FAILED" in str(report)
    # the same network on an input away from the kink: the entry is checked and passes
    away = gradcheck.check_network(net, np.array([[1.0]]), np.array([[0.5]]), "mse")
    assert away["0.b"].n_kinks == 0 and away["0.b"].n_checked == 1 and away.passed
