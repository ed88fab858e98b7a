"""ffnn.diagnostics: per-layer health measured during fit, and the vanishing gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ffnn
from ffnn.diagnostics import Diagnostics, gradient_norms
from ffnn.tracing import trace


def _rms(a):
    return float(np.sqrt(np.mean(np.asarray(a, np.float64) ** 2)))


def _deep(activation, seed, depth=10, width=32, n=128, d=20, c=4):
    rng = np.random.default_rng(100 + seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, c, n)
    net = ffnn.mlp([d] + [width] * (depth - 1) + [c], activation=activation, seed=seed)
    return net, X, y


def test_gradient_norms_are_the_rms_gradient_per_weight():
    net, X, y = _deep("relu", 0, depth=3)
    g = gradient_norms(net, X, y, "ce")
    grads = net.gradients()
    assert g.shape == (3,)
    for l, i in enumerate((0, 2, 4)):
        dW = grads[f"{i}.W"]
        assert g[l] == pytest.approx(np.linalg.norm(dW) / math.sqrt(dW.size), rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ten_layer_sigmoid_gradient_vanishes_and_relu_does_not(seed):
    sig = gradient_norms(*_deep("sigmoid", seed), "ce")
    relu = gradient_norms(*_deep("relu", seed), "ce")
    assert len(sig) == len(relu) == 10
    assert sig[0] * 100 <= sig[-1]  # measured: ~1e6 times smaller
    assert relu[0] * 100 > relu[-1]  # measured: 10-30 times smaller, from the 32 -> 4 output
    assert np.all(np.diff(np.log(sig)) > 0)  # it shrinks at every sigmoid layer on the way back


def test_diagnostics_match_the_traced_measured_step():
    """The logged numbers are those of the last full-size batch, recomputed from a trace."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    net = ffnn.Sequential(ffnn.Dense(6, 16, rng=0), ffnn.ReLU(), ffnn.Dense(16, 8, rng=1),
                          ffnn.Sigmoid(), ffnn.Dense(8, 3, rng=2))
    diag = Diagnostics()
    # 200 / 64: batches of 64, 64, 64, 8 -> the measured one is batch 2 of each epoch
    with trace(net, steps=[2, 6]) as t:
        h = ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=2, batch_size=64, seed=0,
                     verbose=0, callbacks=[diag])
    assert diag.measured_batch == 2
    assert net.hooks == []
    for epoch, s in enumerate(t):
        r = h.records[epoch]
        for l in (1, 2, 3):
            W_after = s[f"W{l}"] + s[f"update_W{l}"]
            assert r[f"grad_norm_{l}"] == pytest.approx(_rms(s[f"dW{l}"]), rel=1e-5)
            assert r[f"weight_norm_{l}"] == pytest.approx(np.linalg.norm(W_after), rel=1e-5)
            assert r[f"update_ratio_{l}"] == pytest.approx(
                np.linalg.norm(s[f"update_W{l}"]) / np.linalg.norm(s[f"W{l}"]), rel=1e-4)
        assert r["dead_frac_1"] == pytest.approx(np.mean(np.all(s["Z1"] <= 0, axis=0)))
        assert r["saturated_frac_2"] == pytest.approx(np.mean(np.abs(s["A2"] - 0.5) > 0.49))
        for l in (1, 2):
            assert r[f"act_mean_{l}"] == pytest.approx(float(np.mean(s[f"A{l}"])), rel=1e-5)
            assert r[f"act_std_{l}"] == pytest.approx(float(np.std(s[f"A{l}"])), rel=1e-5)
        assert "dead_frac_2" not in r and "saturated_frac_1" not in r and "act_mean_3" not in r


def test_every_n_epochs_and_the_history_reads_gaps_as_nan():
    net, X, y = _deep("relu", 0, depth=3)
    h = ffnn.fit(net, X, y, "ce", ffnn.SGD(0.05), epochs=4, batch_size=32, seed=0, verbose=0,
                 callbacks=[Diagnostics(every=2)])
    g = h["grad_norm_1"]
    assert math.isnan(g[0]) and math.isnan(g[2]) and g[1] > 0 and g[3] > 0


def test_dead_and_saturated_units_on_hand_chosen_weights():
    X = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [3.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    # ReLU layer: units 0 and 1 see positive inputs, unit 2 always -100 + ..., unit 3 always < 0
    relu = ffnn.Sequential(ffnn.Dense(2, 4), ffnn.ReLU(), ffnn.Dense(4, 2))
    relu[0].params["W"][...] = [[1, 0, 1, -1], [0, 1, 1, -1]]
    relu[0].params["b"][...] = [0, 0, -100, 0]
    # sigmoid layer: unit 0 has Z = 20 x1 (saturated on every sample), unit 1 Z = 0 (never)
    sig = ffnn.Sequential(ffnn.Dense(2, 2), ffnn.Sigmoid(), ffnn.Dense(2, 2))
    sig[0].params["W"][...] = [[20, 0], [0, 0]]
    sig[0].params["b"][...] = 0
    h1 = ffnn.fit(relu, X, y, "ce", ffnn.SGD(1e-6), epochs=1, seed=0, verbose=0,
                  callbacks=[Diagnostics()])
    h2 = ffnn.fit(sig, X, y, "ce", ffnn.SGD(1e-6), epochs=1, seed=0, verbose=0,
                  callbacks=[Diagnostics()])
    assert h1["dead_frac_1"] == [0.5]
    assert h2["saturated_frac_1"] == [0.5]


def test_diagnostics_cost_nothing_outside_fit_and_refuse_bad_every():
    net, X, y = _deep("relu", 0, depth=2)
    ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, seed=0, verbose=0,
             callbacks=[Diagnostics()])
    assert net.hooks == []
    with pytest.raises(ValueError):
        Diagnostics(every=0)


def test_plots_render(tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from ffnn.diagnostics import plot_diagnostics, plot_gradient_flow, plot_vanishing_gradient

    net, X, y = _deep("sigmoid", 0, depth=3)
    h = ffnn.fit(net, X, y, "ce", ffnn.SGD(0.5), epochs=3, batch_size=32, seed=0, verbose=0,
                 callbacks=[Diagnostics()])
    fig = plot_diagnostics(h)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 6 and any("update" in t for t in titles)
    fig = plot_diagnostics(h, families=("grad_norm", "saturated_frac"), save=tmp_path / "d.png")
    assert [len(ax.lines) for ax in fig.axes] == [3, 2]  # 3 Dense layers, 2 hidden
    fig = plot_vanishing_gradient(depth=6, width=16, n_samples=64, save=tmp_path / "v.png")
    assert [len(ax.patches) for ax in fig.axes] == [6, 6]
    fig = plot_gradient_flow({"a": np.array([1e-3, 1e-2]), "b": np.array([1.0, 1.0])})
    assert len(fig.axes[0].lines) == 2
    for name in ("d.png", "v.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    with pytest.raises(ValueError, match="no diagnostics"):
        plot_diagnostics(ffnn.History([{"epoch": 1, "loss": 1.0}]))
    plt.close("all")
