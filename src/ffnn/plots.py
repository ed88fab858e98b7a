"""Pictures of data, decision boundaries, training curves and learned weights (matplotlib).

Every function builds a fresh ``matplotlib.figure.Figure`` (not pyplot's global state, so it
works headless and never opens a window), returns it, and accepts ``title=`` and ``save=`` (a
path ending in .png, .svg or .pdf).  In a notebook the returned figure displays itself; in a
script, save it or call ``fig.savefig(...)``.

Conventions: classes are coloured with matplotlib's "tab10" palette in label order; binary
probability fields use a fixed 0..1 colour scale (blue = class 0, red = class 1) so pictures
of different models can be compared.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from . import metrics as _metrics

_SAVE_FORMATS = (".png", ".svg", ".pdf")


# --------------------------------------------------------------------------- helpers
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig, title: str | None, save: str | os.PathLike | None):
    if title:
        fig.suptitle(title, fontsize="large", fontweight="bold")
    if save is not None:
        path = Path(save)
        if path.suffix.lower() not in _SAVE_FORMATS:
            raise ValueError(f"save must end in one of {', '.join(_SAVE_FORMATS)}, got {path}")
        fig.savefig(path, dpi=120)
    return fig


def _class_colors(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _points(X, name: str = "X", n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (N, D), got {np.shape(X)}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (shape (N, {n_features})), "
                         f"got shape {X.shape}")
    return X


def _class_labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = np.argmax(y, axis=1)
    y = y.reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries but X has {n} samples")
    return y


def _is_labels(y: np.ndarray) -> bool:
    return y.dtype.kind in "biuUS" or (y.dtype.kind == "f" and np.all(y == np.round(y))
                                       and np.unique(y).size <= 20)


def _name_of(c, class_names) -> str:
    if class_names is not None:
        return str(class_names[int(c)])
    return f"class {c.item() if hasattr(c, 'item') else c}"


def _scatter_classes(ax, X, y, class_names=None, **kwargs) -> None:
    classes = np.unique(y)
    colors = _class_colors(max(len(classes), int(classes.max()) + 1)
                           if classes.dtype.kind in "iu" else len(classes))
    for i, c in enumerate(classes):
        color = colors[int(c)] if classes.dtype.kind in "iu" else colors[i]
        m = y == c
        ax.scatter(*X[m].T, s=kwargs.get("s", 18), color=color, edgecolors="black",
                   linewidths=0.4, label=_name_of(c, class_names), alpha=kwargs.get("alpha", 0.9))


# --------------------------------------------------------------------------- data
def plot_dataset(X, y=None, *, class_names=None, feature_names=None, title: str | None = None,
                 save=None):
    """Scatter plot of a data set.

    X (N, 1): y against x (regression); X (N, 2): points coloured by class (integer y) or by
    value (float y, with a colour bar); X (N, 3): a 3-D scatter.  y (N,) or None.
    """
    X = _points(X)
    D = X.shape[1]
    if D > 3:
        raise ValueError(f"plot_dataset draws 1-, 2- or 3-D inputs; X has shape {X.shape}")
    names = feature_names or [f"$x_{i + 1}$" for i in range(D)]
    y = None if y is None else _class_labels(y, X.shape[0])
    fig = _figure(6.0, 5.0)
    if D == 1:
        if y is None:
            raise ValueError("plot_dataset needs y to draw 1-D inputs (y against x)")
        ax = fig.add_subplot()
        ax.scatter(X[:, 0], y, s=16, color="C0", edgecolors="black", linewidths=0.3)
        ax.set_xlabel(names[0])
        ax.set_ylabel("target $y$")
    else:
        ax = fig.add_subplot(projection="3d" if D == 3 else None)
        if y is None:
            ax.scatter(*X.T, s=16, color="C0", edgecolors="black", linewidths=0.3)
        elif _is_labels(y):
            _scatter_classes(ax, X, y, class_names)
            ax.legend(loc="best", fontsize="small")
        else:
            sc = ax.scatter(*X.T, c=y, cmap="viridis", s=16, edgecolors="black", linewidths=0.3)
            fig.colorbar(sc, ax=ax, label="target $y$", shrink=0.8)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        if D == 3:
            ax.set_zlabel(names[2])
        else:
            ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"{X.shape[0]} samples" + ("" if y is None or not _is_labels(y)
                                             else f", {np.unique(y).size} classes"))
    return _finish(fig, title, save)


def plot_decision_boundary(model, X, y, *, resolution: int = 200, margin: float = 0.15,
                           class_names=None, feature_names=None, title: str | None = None,
                           save=None):
    """Where a classifier puts each class, over a grid covering the 2-D data.

    ``model.predict_proba(grid)`` must return probabilities: (M, 1) or (M,) = P(class 1) or
    (M, 2) for a binary model, (M, C) softmax rows for C classes (an ffnn ``Sequential``
    does this).  X (N, 2), y (N,) labels (or one-hot rows).

    Binary: the probability of class 1 as a colour field on a fixed 0..1 scale with a colour
    bar, the decision boundary p = 0.5 as a black line, and the data on top.
    Multi-class: each grid point coloured by its predicted class, paler where the model is
    less sure (max probability lower), with the data on top.
    """
    X = _points(X, n_features=2)
    y = _class_labels(y, X.shape[0])
    if not hasattr(model, "predict_proba"):
        raise TypeError(f"model must have a predict_proba method, got {type(model).__name__}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.where(hi > lo, hi - lo, 1.0)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    P = np.asarray(model.predict_proba(np.column_stack([xx.ravel(), yy.ravel()])),
                   dtype=np.float64)
    if P.ndim == 1:
        P = P.reshape(-1, 1)
    if P.ndim != 2 or P.shape[0] != xx.size:
        raise ValueError(f"model.predict_proba returned shape {P.shape} for {xx.size} grid points;"
                         f" expected ({xx.size}, C)")
    if np.nanmin(P) < -1e-6 or np.nanmax(P) > 1 + 1e-6:
        raise ValueError("model.predict_proba returned values outside [0, 1]; it must return "
                         "probabilities (sigmoid / softmax outputs), not logits")
    names = feature_names or ["$x_1$", "$x_2$"]
    fig = _figure(7.0, 5.6)
    ax = fig.add_subplot()
    if P.shape[1] <= 2:
        from matplotlib.lines import Line2D

        p = (P[:, -1]).reshape(xx.shape)
        import matplotlib
        from matplotlib.colors import ListedColormap

        # The lighter middle of RdBu_r, so the saturated data points stand out on the field.
        light = ListedColormap(matplotlib.colormaps["RdBu_r"](np.linspace(0.25, 0.75, 256)))
        field = ax.contourf(xx, yy, p, levels=np.linspace(0.0, 1.0, 21), cmap=light,
                            vmin=0.0, vmax=1.0)
        cbar = fig.colorbar(field, ax=ax, ticks=np.linspace(0.0, 1.0, 6))
        positive = _name_of(np.int64(1), class_names)
        cbar.set_label(f"predicted probability of {positive}, P(y = 1 | x)")
        if p.min() < 0.5 < p.max():
            ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=2.0)
        colors = ("#2166ac", "#b2182b")  # the two ends of RdBu_r: class 0, class 1
        for i, c in enumerate(np.unique(y)):
            m = y == c
            ax.scatter(*X[m].T, s=22, color=colors[i] if i < 2 else "grey", edgecolors="black",
                       linewidths=0.5, label=_name_of(c, class_names))
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="black", lw=2, label="decision boundary (p = 0.5)"))
        ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9)
        ax.set_title("probability of class 1 and decision boundary")
    else:
        C = P.shape[1]
        colors = np.array([c[:3] for c in _class_colors(C)])
        pred = np.argmax(P, axis=1)
        conf = P[np.arange(P.shape[0]), pred]
        strength = 0.1 + 0.35 * np.clip((conf - 1.0 / C) / (1.0 - 1.0 / C), 0.0, 1.0)
        rgb = 1.0 - strength[:, None] * (1.0 - colors[pred])  # blend the class colour with white
        ax.imshow(rgb.reshape(*xx.shape, 3), origin="lower", aspect="auto",
                  extent=(gx[0], gx[-1], gy[0], gy[-1]), interpolation="nearest")
        ax.contour(xx, yy, pred.reshape(xx.shape), levels=np.arange(C) + 0.5, colors="black",
                   linewidths=0.8)
        _scatter_classes(ax, X, y, class_names, s=20)
        ax.legend(loc="best", fontsize="small", framealpha=0.9, title="true class")
        ax.set_title("predicted class regions (paler = less confident)")
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    return _finish(fig, title, save)


# --------------------------------------------------------------------------- training
def plot_history(history, *, log_scale: bool = False, title: str | None = None, save=None):
    """Training curves: loss, and accuracy or R^2, per epoch, for training and validation.

    ``history`` is an ``ffnn.History`` (or a dict of lists) with keys such as "loss",
    "val_loss", "accuracy", "val_accuracy", "r2", "val_r2" and "epoch".  The epoch with the
    lowest validation loss is marked.  ``log_scale`` puts the loss axis on a log scale.
    """
    cols = history.columns() if hasattr(history, "columns") else dict(history)
    if "loss" not in cols and "val_loss" not in cols:
        raise ValueError(f"history has no 'loss' or 'val_loss'; keys: {sorted(cols)}")
    n = max(len(v) for v in cols.values())
    epochs = np.asarray(cols.get("epoch", np.arange(1, n + 1)), dtype=np.float64)
    metric = next((m for m in ("accuracy", "r2") if m in cols or f"val_{m}" in cols), None)
    panels = ["loss"] + ([metric] if metric else [])
    fig = _figure(5.5 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    pretty = {"loss": "loss", "accuracy": "accuracy", "r2": "$R^2$"}
    best = None
    if "val_loss" in cols:
        vl = np.asarray(cols["val_loss"], dtype=np.float64)
        if np.isfinite(vl).any():
            best = int(np.nanargmin(vl))
    for ax, key in zip(axes, panels, strict=True):
        for prefix, label, style in (("", "training", "-"), ("val_", "validation", "--")):
            if prefix + key in cols:
                values = np.asarray(cols[prefix + key], dtype=np.float64)
                ax.plot(epochs[: len(values)], values, style, lw=1.8, label=label,
                        color="C0" if not prefix else "C1")
        if best is not None:
            ax.axvline(epochs[best], color="grey", lw=0.8, ls=":",
                       label=f"lowest validation loss (epoch {epochs[best]:g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(pretty[key])
        ax.set_title(f"{pretty[key]} per epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        if key == "loss" and log_scale:
            ax.set_yscale("log")
        if key == "accuracy":
            ax.set_ylim(top=1.0 + 0.02 * (1.0 - ax.get_ylim()[0]))
    return _finish(fig, title, save)


def plot_confusion_matrix(y_true, y_pred, labels=None, *, display_labels=None,
                          normalize: bool = False, title: str | None = None, save=None):
    """Heatmap of the confusion matrix with the count in every cell.

    Rows are true classes, columns predicted classes; the diagonal holds the correct
    predictions.  ``labels`` chooses the classes and their order (default: all that occur);
    ``display_labels`` names them.  ``normalize=True`` colours each row by the fraction of that
    true class (recall on the diagonal) and adds the percentage under the count.
    """
    M = _metrics.confusion_matrix(y_true, y_pred, labels=labels)
    shown = (np.union1d(np.asarray(y_true), np.asarray(y_pred)) if labels is None
             else np.asarray(labels))
    names = [str(s) for s in (display_labels if display_labels is not None else shown)]
    if len(names) != M.shape[0]:
        raise ValueError(f"display_labels has {len(names)} names for {M.shape[0]} classes")
    rows = M.sum(axis=1, keepdims=True)
    frac = np.divide(M, rows, out=np.zeros(M.shape), where=rows > 0)
    values = frac if normalize else M
    C = M.shape[0]
    size = max(4.5, 0.55 * C + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(M.max(), 1))
    fig.colorbar(im, ax=ax, shrink=0.8,
                 label="fraction of the true class" if normalize else "number of samples")
    threshold = (1.0 if normalize else M.max()) / 2
    fontsize = "medium" if C <= 10 else "x-small"
    for i in range(C):
        for j in range(C):
            text = f"{M[i, j]}" + (f"\n{100 * frac[i, j]:.0f}%" if normalize else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if values[i, j] > threshold else "black")
    ax.set_xticks(range(C), names, rotation=45 if max(map(len, names)) > 3 else 0,
                  ha="right" if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(C), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(M) / max(M.sum(), 1)
    ax.set_title(f"confusion matrix ({M.sum()} samples, accuracy {100 * acc:.1f}%)")
    return _finish(fig, title, save)


# --------------------------------------------------------------------------- regression
def plot_regression(model, X, y, X_test=None, y_test=None, *, resolution: int = 400,
                    feature_name: str = "$x$", title: str | None = None, save=None):
    """How well a regression model fits: predictions against targets, and the learned curve.

    Left: predicted value against true target for training (and test) points, with the line
    of perfect prediction and R^2 in the legend.  Right, for 1-D inputs only: the data and the
    model's curve over the whole x range; the part outside the training range (where the
    model extrapolates) is shaded.  ``model.predict(X)`` must return (N,) or (N, 1).
    X (N, D), y (N,); X_test, y_test likewise (optional).
    """
    X = _points(X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    parts = [("training", X, y, "C0")]
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    if X_test is not None:
        Xt = _points(X_test, "X_test", X.shape[1])
        parts.append(("test", Xt, np.asarray(y_test, dtype=np.float64).reshape(-1), "C1"))

    def predict(A):
        out = np.asarray(model.predict(A), dtype=np.float64)
        if out.ndim == 2 and out.shape[1] != 1:
            raise ValueError(f"plot_regression draws one output; model.predict gave shape "
                             f"{out.shape}")
        return out.reshape(-1)

    one_d = X.shape[1] == 1
    fig = _figure(11.0 if one_d else 5.5, 4.6)
    axes = fig.subplots(1, 2 if one_d else 1, squeeze=False)[0]
    ax = axes[0]
    everything = []
    for name, A, t, color in parts:
        if len(t) != A.shape[0]:
            raise ValueError(f"{name} X has {A.shape[0]} samples but y has {len(t)}")
        p = predict(A)
        r2 = _metrics.r2_score(t, p) if len(t) > 1 else float("nan")
        ax.scatter(t, p, s=18, color=color, edgecolors="black", linewidths=0.3,
                   label=f"{name} ($R^2$ = {r2:.3f})")
        everything += [t, p]
    allv = np.concatenate(everything)
    lo, hi = allv.min(), allv.max()
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, ls="--", label="perfect prediction")
    ax.set_xlabel("true target $y$")
    ax.set_ylabel(r"prediction $\hat{y}$")
    ax.set_title("prediction against target")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")

    if one_d:
        ax = axes[1]
        xs_all = np.concatenate([A[:, 0] for _, A, _, _ in parts])
        x_lo, x_hi = xs_all.min(), xs_all.max()
        pad = 0.05 * (x_hi - x_lo if x_hi > x_lo else 1.0)
        grid = np.linspace(x_lo - pad, x_hi + pad, resolution)
        tr_lo, tr_hi = X[:, 0].min(), X[:, 0].max()
        shade = dict(color="0.85", zorder=0)
        if grid[0] < tr_lo:
            ax.axvspan(grid[0], tr_lo, **shade)
        if grid[-1] > tr_hi:
            ax.axvspan(tr_hi, grid[-1], label="outside the training range", **shade)
        for name, A, t, color in parts:
            ax.scatter(A[:, 0], t, s=16, color=color, edgecolors="black", linewidths=0.3,
                       label=f"{name} data", zorder=2)
        ax.plot(grid, predict(grid.reshape(-1, 1)), color="black", lw=2, label="model",
                zorder=3)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel(feature_name)
        ax.set_ylabel("$y$")
        ax.set_title("learned function")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig, title, save)


# --------------------------------------------------------------------------- images
def _first_layer_W(net) -> np.ndarray:
    if isinstance(net, np.ndarray):
        W = net
    else:
        layers = getattr(net, "layers", None)
        if not layers or "W" not in getattr(layers[0], "params", {}):
            raise TypeError("plot_first_layer_weights needs a network whose first layer is "
                            "Dense (net.layers[0].params['W']) or a weight array (D_in, H)")
        W = layers[0].params["W"]
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"first-layer weights must be 2-D (D_in, H), got shape {W.shape}")
    return W


def plot_first_layer_weights(net, *, max_units: int = 64, image_shape: tuple[int, int] = (28, 28),
                             title: str | None = None, save=None):
    """Each first-layer unit's incoming weights W[:, j] shown as an image (what it looks for).

    W has shape (D_in, H) with D_in = prod(image_shape) (784 for MNIST).  Up to ``max_units``
    units are drawn on one shared, symmetric colour scale: red pixels push the unit's input
    up, blue pixels push it down, white pixels do not matter.
    """
    W = _first_layer_W(net)
    if W.shape[0] != int(np.prod(image_shape)):
        raise ValueError(f"first-layer weights have {W.shape[0]} inputs, which is not an image "
                         f"of shape {image_shape}; pass image_shape=")
    n = min(W.shape[1], int(max_units))
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    vmax = float(np.percentile(np.abs(W[:, :n]), 99.5)) or 1.0
    fig = _figure(1.25 * cols + 1.4, 1.3 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.set_axis_off()
            continue
        im = ax.imshow(W[:, k].reshape(image_shape), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(f"unit {k}", fontsize="x-small", pad=2)
    fig.colorbar(im, ax=axes, shrink=0.6, extend="both", label="weight")
    if title is None:
        title = (f"first-layer weights: {n} of {W.shape[1]} hidden units\n"
                 f"(each image: one unit's weights on the {image_shape[0]}x{image_shape[1]} "
                 f"input pixels)")
    return _finish(fig, title, save)


def plot_misclassified(X, y_true, y_pred, *, max_images: int = 25,
                       image_shape: tuple[int, int] = (28, 28), class_names=None, proba=None,
                       title: str | None = None, save=None):
    """A grid of the misclassified images, each captioned with its true and predicted label.

    X (N, prod(image_shape)) or (N, H, W); y_true, y_pred (N,) labels; ``proba`` (N, C)
    optional probabilities, to show how confident each wrong prediction was.
    """
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(X.shape[0], -1) if X.ndim == 3 else X
    if X.ndim != 2 or X.shape[1] != int(np.prod(image_shape)):
        raise ValueError(f"X must hold images of shape {image_shape} (flattened: "
                         f"{int(np.prod(image_shape))} values per row), got shape {X.shape}")
    y_true = _class_labels(y_true, X.shape[0], "y_true")
    y_pred = _class_labels(y_pred, X.shape[0], "y_pred")
    wrong = np.flatnonzero(y_true != y_pred)
    shown = wrong[: int(max_images)]
    n = len(shown)
    cols = min(math.ceil(math.sqrt(n)), 10) if n else 1
    rows = max(math.ceil(n / cols), 1)
    fig = _figure(1.45 * cols + 0.4, 1.65 * rows + 0.5)
    if n == 0:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    else:
        axes = fig.subplots(rows, cols, squeeze=False)
        vmin, vmax = float(X.min()), float(X.max())

        def name(c):
            return str(class_names[int(c)]) if class_names is not None else str(c)

        for k, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if k >= n:
                continue
            i = shown[k]
            ax.imshow(X[i].reshape(image_shape), cmap="gray_r", vmin=vmin, vmax=vmax)
            caption = f"true {name(y_true[i])}\npred {name(y_pred[i])}"
            if proba is not None:
                caption += f" ({100 * float(np.max(np.asarray(proba)[i])):.0f}%)"
            ax.set_title(caption, fontsize="small", color="#b2182b", pad=2)
    if title is None:
        title = f"misclassified: showing {n} of {len(wrong)} (out of {X.shape[0]} samples)"
        if proba is not None and n:
            title += "\n(%) = the model's probability for its wrong prediction"
    return _finish(fig, title, save)


__all__ = ["plot_confusion_matrix", "plot_dataset", "plot_decision_boundary",
           "plot_first_layer_weights", "plot_history", "plot_misclassified", "plot_regression"]
