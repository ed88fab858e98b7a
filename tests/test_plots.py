"""Every plot function renders headless to a real PNG (and SVG), and rejects bad input clearly."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ffnn
from ffnn import datasets

pytest.importorskip("matplotlib")
from ffnn import plots  # noqa: E402  (after the importorskip)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > 5000, f"{path} is suspiciously small ({len(data)} bytes): empty figure?"


@pytest.fixture(scope="module")
def moons_net():
    X, y = datasets.moons(200, noise=0.2, seed=0)
    net = ffnn.mlp([2, 16, 1], activation="relu", seed=0)
    history = ffnn.fit(net, X, y, "bce", ffnn.Adam(0.01), epochs=30, verbose=0,
                       validation_split=0.2, seed=0)
    return net, X, y, history


def test_plots_module_does_not_use_pyplot_or_load_at_ffnn_import():
    code = ("import sys, ffnn, ffnn.datasets; assert 'matplotlib' not in sys.modules; "
            "import ffnn.plots as p, numpy as np; "
            "fig = p.plot_dataset(np.zeros((3, 2)), [0, 1, 0]); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_dataset_2d_3d_and_1d(tmp_path):
    for name, (X, y) in {"2d": datasets.moons(100, seed=0), "3d": datasets.four_class_3d(),
                         "1d": datasets.regression_1d()}.items():
        fig = plots.plot_dataset(X, y, title=name, save=tmp_path / f"{name}.png")
        assert_png(tmp_path / f"{name}.png")
        assert fig._suptitle.get_text() == name


def test_binary_decision_boundary_has_probability_colourbar(tmp_path, moons_net):
    net, X, y, _ = moons_net
    fig = plots.plot_decision_boundary(net, X, y, resolution=60, save=tmp_path / "b.png")
    assert_png(tmp_path / "b.png")
    colorbar_axes = [ax for ax in fig.axes if "probability" in ax.get_ylabel()]
    assert len(colorbar_axes) == 1
    assert colorbar_axes[0].get_ylim() == pytest.approx((0.0, 1.0))


def test_multiclass_decision_boundary(tmp_path):
    X, y = datasets.blobs(150, centers=3, seed=1)
    net = ffnn.mlp([2, 8, 3], activation="tanh", seed=0)
    ffnn.fit(net, X, y, "ce", ffnn.Adam(0.05), epochs=30, verbose=0, seed=0)
    fig = plots.plot_decision_boundary(net, X, y, resolution=50, class_names=["a", "b", "c"],
                                       save=tmp_path / "m.png")
    assert_png(tmp_path / "m.png")
    legend_texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend_texts == ["a", "b", "c"]


def test_decision_boundary_rejects_logits_and_wrong_dimension(moons_net):
    net, X, y, _ = moons_net

    class LogitModel:
        def predict_proba(self, A):
            return np.column_stack([A[:, 0] * 10.0])

    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        plots.plot_decision_boundary(LogitModel(), X, y, resolution=20)
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*\(5, 3\)"):
        plots.plot_decision_boundary(net, np.zeros((5, 3)), np.zeros(5), resolution=20)


def test_plot_history_classification_and_regression(tmp_path, moons_net):
    _, _, _, history = moons_net
    fig = plots.plot_history(history, title="moons", save=tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    lines = {line.get_label() for line in fig.axes[0].get_lines()}
    assert {"training", "validation"} <= lines
    fig = plots.plot_history({"loss": [1.0, 0.5, 0.2], "r2": [0.1, 0.5, 0.8]},
                             save=tmp_path / "h.svg")
    assert (tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")
    assert fig.axes[1].get_ylabel() == "$R^2$"


def test_plot_confusion_matrix_writes_counts(tmp_path):
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    fig = plots.plot_confusion_matrix(y_true, y_pred, save=tmp_path / "c.png")
    assert_png(tmp_path / "c.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "1", "0", "0", "2", "1", "0", "0", "1"]
    fig = plots.plot_confusion_matrix(y_true, y_pred, normalize=True,
                                      display_labels=["x", "y", "z"], save=tmp_path / "n.png")
    assert fig.axes[0].texts[4].get_text() == "2\n67%"


def test_plot_regression_1d_and_multi_d(tmp_path):
    X, y = datasets.regression_1d(60)
    Xtr, ytr, Xte, yte = datasets.extrapolation_split(X, y)
    net = ffnn.mlp([1, 10, 1], activation="sigmoid", seed=0)
    ffnn.fit(net, Xtr, ytr, "mse", ffnn.Adam(0.02), epochs=50, verbose=0, seed=0)
    fig = plots.plot_regression(net, Xtr, ytr, Xte, yte, save=tmp_path / "r.png")
    assert_png(tmp_path / "r.png")
    assert len(fig.axes) == 2
    assert any("outside the training range" in t.get_text()
               for t in fig.axes[1].get_legend().get_texts())
    Xh, yh = datasets.housing(80, n_features=3)
    neth = ffnn.mlp([3, 1], seed=0)
    fig = plots.plot_regression(neth, Xh, yh, save=tmp_path / "rh.png")
    assert_png(tmp_path / "rh.png")
    assert len(fig.axes) == 1


def test_plot_first_layer_weights(tmp_path):
    net = ffnn.mlp([784, 12, 10], seed=0)
    fig = plots.plot_first_layer_weights(net, save=tmp_path / "w.png")
    assert_png(tmp_path / "w.png")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 12
    assert images[0].images[0].get_array().shape == (28, 28)
    with pytest.raises(ValueError, match="not an image of shape"):
        plots.plot_first_layer_weights(ffnn.mlp([10, 4, 1], seed=0))


def test_plot_misclassified(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (30, 784))
    y_true = rng.integers(0, 10, 30)
    y_pred = y_true.copy()
    y_pred[[2, 5, 7]] = (y_true[[2, 5, 7]] + 1) % 10
    fig = plots.plot_misclassified(X, y_true, y_pred, save=tmp_path / "mis.png")
    assert_png(tmp_path / "mis.png")
    captions = [ax.get_title() for ax in fig.axes if ax.images]
    assert captions == [f"true {y_true[i]}\npred {y_pred[i]}" for i in (2, 5, 7)]
    fig = plots.plot_misclassified(X, y_true, y_true, save=tmp_path / "none.png")
    assert "0 of 0" in fig._suptitle.get_text()


def test_save_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="save must end in"):
        plots.plot_dataset(np.zeros((3, 2)), [0, 1, 0], save=tmp_path / "x.jpeg")
