"""Diagnostics: is the network healthy while it trains?

    >>> history = ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-3), epochs=20,
    ...                    callbacks=[Diagnostics()])
    >>> history["grad_norm_1"], history["update_ratio_3"], history["dead_frac_2"]
    >>> plot_diagnostics(history, save="diagnostics.png")

Per Dense layer l (numbered from 1, as in the math), measured on the last batch of each
recorded epoch, and added to that epoch's record in the history:

``grad_norm_l``
:   ||dW_l|| / sqrt(n_l), n_l = number of weights: the root-mean-square gradient per weight, so
    a big layer does not look stronger just for being big (the bias is left out)

``weight_norm_l``
:   ||W_l|| (Frobenius), after the step

``update_ratio_l``
:   ||Delta W_l|| / ||W_l||: how much one step changes the layer relative to its size (a common
    rule of thumb is ~1e-3; far below: the layer barely learns, far above: unstable)

``dead_frac_l``
:   ReLU only: the fraction of units whose input Z_l is <= 0 for every sample of the batch
    (their gradient is 0 for the whole batch)

``saturated_frac_l``
:   sigmoid / tanh only: the fraction of activation values in the flat tails, |A - 0.5| > 0.49
    for sigmoid (sigma' < 0.0099, under 4 % of its maximum 0.25) and |A| > 0.98 for tanh (tanh'
    < 0.04, under 4 % of its maximum 1); counted over all N x D values of the batch

``act_mean_l``, ``act_std_l``
:   mean and standard deviation of the activation A_l = f(Z_l) over the batch (hidden layers
    only: the last Dense layer has no activation)

The callback is an observer in ``net.hooks`` during ``fit``; on every batch but the measured
one it only counts (one comparison per event), and the measurement itself is a few norms and
one copy of the weights per epoch.
"""

from __future__ import annotations

import math

import numpy as np

from .activations import Activation
from .layers import Dense, Layer
from .losses import Loss
from .network import Sequential
from .tracing import layer_names
from .training import Callback

__all__ = ["Diagnostics", "gradient_norms", "plot_diagnostics", "plot_gradient_flow",
           "plot_vanishing_gradient"]

#: (kind, predicate on A) for the saturation count: the tails where f'(Z) is tiny
SATURATION = {
    "sigmoid": lambda A: np.abs(A - 0.5) > 0.49,  # sigma' = A (1 - A) < 0.0099
    "tanh": lambda A: np.abs(A) > 0.98,  # tanh' = 1 - A^2 < 0.0396
}

FAMILIES = ("grad_norm", "weight_norm", "update_ratio", "dead_frac", "saturated_frac",
            "act_mean", "act_std")


def _rms(a: np.ndarray) -> float:
    """||a|| / sqrt(a.size): the root mean square of the entries."""
    return float(np.linalg.norm(a.ravel())) / math.sqrt(a.size)


def _dense_numbers(net: Sequential) -> tuple[dict[int, int], dict[int, tuple[int, str]]]:
    """{layer index: l} for the Dense layers, {layer index: (l, kind)} for their activations."""
    dense, acts = {}, {}
    for i, (name, l) in enumerate(layer_names(net)):
        layer = net.layers[i]
        if isinstance(layer, Dense):
            dense[i] = l
        elif name == f"A{l}" and isinstance(layer, Activation):
            acts[i] = (l, layer.name)
    return dense, acts


class Diagnostics(Callback):
    """Per-epoch health of every Dense layer, written into the history (see module doc).

    ``every``: measure every n-th epoch (epochs n, 2n, ... counted from 1); other epochs
    have no diagnostic keys (History reads them as NaN).

    The measured batch is the last *full-size* batch of the epoch: the last batch when the
    batches divide the data evenly, else the one before it (a last batch of 4 samples would
    make "dead on the whole batch" meaningless).  Its position is learned during the first
    measured epoch, in which every full-size batch is measured and the last one kept, so only
    that epoch costs a little more; ``fit`` can spare even that by putting ``n_samples`` (the
    training-set size) next to ``batch_size`` in ``context.extra["fit"]``.
    """

    def __init__(self, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every = every
        #: index (from 0) of the batch measured in each epoch; None until known
        self.measured_batch: int | None = None
        self._net: Sequential | None = None
        self._epoch_on = False
        self._measure = False
        self._batch = 0  # index of the batch under way
        self._full = 0  # size of the epoch's first (full-size) batch
        self._last_size = 0
        self._stats: dict[str, float] = {}
        self._step_stats: dict[str, float] = {}
        self._before: dict[int, np.ndarray] = {}

    # ---------------------------------------------------------------- Callback
    def on_train_begin(self, logs: dict | None = None) -> None:
        net = self.context.net
        self._net = net
        self._dense, self._acts = _dense_numbers(net)
        fit = self.context.extra.get("fit", {})
        n = fit.get("n_samples")  # the training-set size, if fit says it
        self.measured_batch = None
        if n:
            B = n if fit.get("batch_size") is None else min(int(fit["batch_size"]), n)
            self.measured_batch = _last_full_batch(math.ceil(n / B), n % B != 0)
        if not any(h is self for h in net.hooks):
            net.hooks.append(self)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_on = (epoch + 1) % self.every == 0
        self._batch = 0
        self._full = 0
        self._stats = {}

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batch = batch + 1  # also right after resuming in the middle of an epoch

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.measured_batch is None and self._batch:
            self.measured_batch = _last_full_batch(self._batch, self._last_size < self._full)
        if not self._stats:
            return
        logs.update(self._stats)
        records = self.context.history.records
        if records and records[-1] is not logs:  # a History that copied the dict
            records[-1].update(self._stats)
        self._stats = {}

    def on_train_end(self, logs: dict | None = None) -> None:
        net = self._net
        if net is not None:
            net.hooks = [h for h in net.hooks if h is not self]
        self._before = {}

    # ---------------------------------------------------------------- observer
    def on_forward(self, i: int, layer: Layer, x, out, training: bool) -> None:
        if i == 0 and training:
            size = x.shape[0]
            self._full = self._full or size
            self._last_size = size
            if self.measured_batch is None:  # still learning: every full-size batch
                self._measure = self._epoch_on and size == self._full
            else:
                self._measure = self._epoch_on and self._batch == self.measured_batch
            self._step_stats = {}
        if not (self._measure and training):
            return
        if i in self._dense:
            self._before[i] = layer.params["W"].copy()
        elif i in self._acts:
            l, kind = self._acts[i]
            s = self._step_stats
            s[f"act_mean_{l}"] = float(np.mean(out))
            s[f"act_std_{l}"] = float(np.std(out))
            if kind == "relu":
                s[f"dead_frac_{l}"] = float(np.mean(~np.any(x > 0, axis=0)))
            elif kind in SATURATION:
                s[f"saturated_frac_{l}"] = float(np.mean(SATURATION[kind](out)))

    def on_backward(self, i: int, layer: Layer, dout, dx) -> None:
        if self._measure and i in self._dense:
            self._step_stats[f"grad_norm_{self._dense[i]}"] = _rms(layer.grads["W"])

    def on_step(self) -> None:
        if not self._measure:
            return
        s = self._step_stats
        for i, l in self._dense.items():
            before = self._before.get(i)
            if before is None:
                continue
            W = self._net.layers[i].params["W"]
            w_norm = float(np.linalg.norm(W.ravel()))
            b_norm = float(np.linalg.norm(before.ravel()))
            s[f"weight_norm_{l}"] = w_norm
            s[f"update_ratio_{l}"] = (float(np.linalg.norm((W - before).ravel())) / b_norm
                                      if b_norm > 0 else math.inf)
        self._stats = s
        self._before = {}
        self._measure = False


def _last_full_batch(steps: int, last_is_partial: bool) -> int:
    """Index of the last full-size batch among ``steps`` batches."""
    return steps - 2 if last_is_partial and steps >= 2 else steps - 1


# --------------------------------------------------------------------------- one-off
def gradient_norms(net: Sequential, X, y, loss: str | Loss) -> np.ndarray:
    """||dW_l|| / sqrt(n_l) for every Dense layer l = 1..L on the batch (X, y), shape (L,).

    Runs ``net.loss_and_gradients`` (a training-mode forward and a backward; it overwrites
    the network's gradients, not its weights).
    """
    net.loss_and_gradients(X, y, loss)
    return np.array([_rms(layer.grads["W"]) for layer in net.layers
                     if isinstance(layer, Dense)])


# --------------------------------------------------------------------------- plots
def _columns(history) -> dict[str, list]:
    if hasattr(history, "columns"):
        return history.columns()
    if isinstance(history, dict):
        return {k: list(v) for k, v in history.items()}
    rows = list(history)  # a list of per-epoch dicts
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return {k: [r.get(k, math.nan) for r in rows] for k in keys}


def _save(fig, save) -> None:
    if save is not None:
        fig.savefig(save, dpi=120, bbox_inches="tight")


_TITLES = {
    "grad_norm": (r"gradient per weight  $\|dW_l\| / \sqrt{n_l}$", True),
    "weight_norm": (r"weight norm  $\|W_l\|$", False),
    "update_ratio": (r"update / weight  $\|\Delta W_l\| / \|W_l\|$", True),
    "dead_frac": ("dead ReLU units (fraction)", False),
    "saturated_frac": ("saturated sigmoid/tanh values (fraction)", False),
    "act_mean": ("activation mean", False),
    "act_std": ("activation std", False),
}


def plot_diagnostics(history, families: tuple[str, ...] | None = None, save=None):
    """One panel per recorded quantity, one line per Dense layer, against the epoch.

    ``history``: a History (or its ``columns()`` dict, or a list of per-epoch dicts) from a
    ``fit`` with the ``Diagnostics`` callback.  Returns the matplotlib Figure; ``save`` writes
    it to that path.
    """
    import matplotlib.pyplot as plt

    cols = _columns(history)
    families = families or tuple(f for f in FAMILIES if any(k.startswith(f + "_") for k in cols))
    if not families:
        raise ValueError("the history has no diagnostics; train with "
                         "callbacks=[ffnn.diagnostics.Diagnostics()]")
    n_epochs = max(len(v) for v in cols.values())
    epochs = np.asarray(cols.get("epoch", range(1, n_epochs + 1)), dtype=float)
    per_family = {f: {int(k[len(f) + 1:]): np.asarray(v, dtype=float) for k, v in cols.items()
                      if k.startswith(f + "_") and k[len(f) + 1:].isdigit()} for f in families}
    L = max((l for d in per_family.values() for l in d), default=1)
    colors = {l: plt.cm.viridis(0.9 * (l - 1) / max(L - 1, 1)) for l in range(1, L + 1)}
    ncols = min(3, len(families))
    nrows = math.ceil(len(families) / ncols)
    # constrained layout is computed when the figure is drawn, not here
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.2 * nrows), squeeze=False,
                             layout="constrained")
    for ax, fam in zip(axes.flat, families, strict=False):
        title, log = _TITLES.get(fam, (fam, False))
        values = []
        for l, v in sorted(per_family[fam].items()):
            ok = np.isfinite(v)  # epochs without a measurement (every > 1) are skipped
            ax.plot(epochs[: len(v)][ok], v[ok], marker="o", ms=3, color=colors[l],
                    label=f"layer {l}")
            values.append(v[ok])
        finite = np.concatenate(values) if values else np.array([])
        if log and finite.size and finite.min() > 0:
            ax.set_yscale("log")
        if fam.endswith("_frac"):
            ax.set_ylim(0, max(0.05, 1.1 * float(finite.max(initial=0))))
        if fam == "update_ratio":
            ax.axhline(1e-3, color="grey", ls="--", lw=1)
            ax.annotate("1e-3 (rule of thumb)", (0.98, 1e-3), xycoords=("axes fraction", "data"),
                        fontsize=7, color="grey", va="bottom", ha="right")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(families):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colors[l], marker="o", ms=3, label=f"Dense {l}")
               for l in range(1, L + 1)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               title="layer", frameon=False)
    _save(fig, save)
    return fig


def plot_gradient_flow(norms, labels: list[str] | None = None, ax=None, title: str | None = None,
                       save=None):
    """Normalised gradient norm per Dense layer (log scale), one line per network.

    ``norms``: an array (L,) from ``gradient_norms``, a list of such arrays, or a dict
    {label: array}.  Returns the Figure.
    """
    import matplotlib.pyplot as plt

    if isinstance(norms, dict):
        labels, series = list(norms), list(norms.values())
    elif isinstance(norms, np.ndarray) and norms.ndim == 1:
        series = [norms]
    else:
        series = list(norms)
    labels = labels or [f"network {k + 1}" for k in range(len(series))]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    else:
        fig = ax.figure
    for g, label in zip(series, labels, strict=True):
        g = np.asarray(g, dtype=float)
        ax.plot(np.arange(1, len(g) + 1), g, marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, max(len(np.asarray(g)) for g in series) + 1))
    ax.set_xlabel("Dense layer l  (1 = next to the input)")
    ax.set_ylabel(r"$\|dW_l\| / \sqrt{n_l}$")
    ax.set_title(title or "gradient flow: gradient per weight, layer by layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _save(fig, save)
    return fig


def plot_vanishing_gradient(depth: int = 10, width: int = 64, n_samples: int = 256,
                            n_features: int = 20, n_classes: int = 4, seed: int = 0, save=None):
    """The vanishing gradient: a deep sigmoid network next to a ReLU network of the same shape.

    Both get ``depth`` Dense layers of ``width`` units, their default initialisation (Glorot
    for sigmoid, He for ReLU) and the same random batch.  Left and right panels show
    ||dW_l|| / sqrt(n_l) per layer on one log scale.  sigma' <= 1/4, so every sigmoid layer
    shrinks the backward signal; ReLU passes it through its active units unchanged.
    """
    import matplotlib.pyplot as plt

    from .network import mlp

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, n_samples)
    sizes = [n_features] + [width] * (depth - 1) + [n_classes]
    nets = {"sigmoid (Glorot init)": mlp(sizes, activation="sigmoid", seed=seed),
            "ReLU (He init)": mlp(sizes, activation="relu", seed=seed)}
    norms = {k: gradient_norms(net, X, y, "ce") for k, net in nets.items()}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
    layers = np.arange(1, depth + 1)
    for ax, (label, g), color in zip(axes, norms.items(), ("tab:red", "tab:blue"), strict=True):
        ax.bar(layers, g, color=color, alpha=0.8)
        ax.set_yscale("log")
        ax.set_xticks(layers)
        ax.set_xlabel(f"Dense layer l  (1 = next to the input, {depth} = output)")
        ratio = g[-1] / g[0]
        ax.set_title(f"{depth}-layer {label}\nlayer {depth} / layer 1 = {ratio:,.0f}x"
                     if ratio >= 10 else
                     f"{depth}-layer {label}\nlayer {depth} / layer 1 = {ratio:.2g}x", fontsize=10)
        ax.grid(alpha=0.3, axis="y", which="both")
    axes[0].set_ylabel(r"gradient per weight  $\|dW_l\| / \sqrt{n_l}$  (log)")
    fig.suptitle("Vanishing gradient at initialisation (same data, same widths, cross-entropy)",
                 fontsize=11)
    _save(fig, save)
    return fig
