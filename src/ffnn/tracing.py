"""Trace: record every named quantity of chosen training steps.

    >>> with ffnn.tracing.trace(net, steps=2) as t:
    ...     ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), batch_size=32, verbose=0)
    >>> t[0]["dW1"].shape, t[0]["Z1"].shape
    >>> t[0].show()                        # every array with its shape, truncated
    >>> t[0].show(notation="lecture")      # seed 000's bias-augmented notation (2-layer nets)

Names follow the math, with the Dense layers numbered from 1 (layer indices in
``net.layers`` count activations too; these names do not):

``X``
:   the input batch (N, D_in)

``W{l}``, ``b{l}``
:   Dense layer l's weights and bias *as used in the forward pass*, i.e. before the optimiser
    step

``Z{l}``
:   Z_l = A_{l-1} W_l + b_l, the output of Dense layer l (A_0 = X)

``A{l}``
:   A_l = f(Z_l), the output of the layer after Dense l (its activation); further parameter-free
    layers before the next Dense layer (e.g. Dropout) add ``A{l}_{kind}`` (``A1_dropout``),
    which feeds Dense l + 1

``out``
:   the network output (the same array as the last ``Z{L}`` / ``A{l}``)

``y``, ``loss``
:   the targets given to the loss and the loss value (a 0-d array)

``dZ{l}``, ``dA{l}``
:   dL/dZ_l and dL/dA_l: the gradient of each quantity, same shape

``dW{l}``, ``db{l}``
:   dL/dW_l and dL/db_l as backward computed them (before any clipping)

``dX``
:   dL/dX, only when the data gradient was asked for (never in ``fit``)

``update_W{l}``, ``update_b{l}``
:   the change the optimiser made, W_l(after) - W_l(before); only for steps that end with an
    optimiser step (``fit``, ``train_step``), not for a bare ``net.loss_and_gradients``

A *step* starts with each training-mode forward pass (``training=True``: ``fit``,
``train_step``, ``net.loss_and_gradients``); inference passes (``predict``, the validation pass
inside ``fit``) are not steps and are not recorded.  Steps are counted from 0 from the moment
the trace starts.  Outside the selected steps the observer returns at once, and after the last
selected step it leaves ``net.hooks``, so the rest of a long run takes the hook-free path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from .activations import Activation, get_activation
from .functional import one_hot, sigmoid, softmax
from .layers import Layer
from .naming import layer_kind, layer_names
from .network import Sequential

__all__ = ["LectureView", "Step", "Trace", "layer_names", "lecture_view", "trace"]


# --------------------------------------------------------------------------- names
def _input_name(names: list[tuple[str, int]], i: int) -> str:
    """The name of layer i's input: the previous layer's output, or X."""
    return "X" if i == 0 else names[i - 1][0]


# --------------------------------------------------------------------------- one step
class Step(Mapping):
    """The recorded quantities of one step: a read-only mapping name -> array.

    ``index`` is the step number (counted from 0 since the trace started); ``output_kind``
    is how the network output was read ("softmax", "sigmoid" or "identity") and
    ``activations`` maps each Dense layer number to the kind of layer that follows it;
    ``activation_layers`` to that layer itself (the network's object, whose formula and
    parameters ``lecture_view`` uses; absent where no layer follows).
    """

    def __init__(self, index: int, output_kind: str, activations: dict[int, str],
                 activation_layers: dict[int, Layer] | None = None) -> None:
        self.index = index
        self.output_kind = output_kind
        self.activations = activations
        self.activation_layers = activation_layers or {}
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except KeyError:
            raise KeyError(f"{name!r} was not recorded in step {self.index}; recorded: "
                           f"{', '.join(self._arrays)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    @property
    def n_dense(self) -> int:
        """Number of Dense layers L (the names run from 1 to L)."""
        return max(self.activations, default=0)

    def format(self, notation: str = "ffnn", edgeitems: int = 2, precision: int = 4,
               threshold: int = 24) -> str:
        """Each quantity with its shape and a truncated view of its values.

        ``notation="lecture"``: seed 000's bias-augmented quantities instead (see
        ``lecture_view``).  ``edgeitems``, ``precision`` and ``threshold`` are NumPy's print
        options (arrays with more than ``threshold`` entries show ``edgeitems`` at each end).
        """
        if notation == "lecture":
            return lecture_view(self).format(edgeitems, precision, threshold)
        if notation != "ffnn":
            raise ValueError(f"unknown notation {notation!r}; use 'ffnn' or 'lecture'")
        lines = [f"step {self.index}: {len(self)} quantities "
                 f"(Dense layers numbered 1..{self.n_dense})"]
        lines += [_describe(name, a, edgeitems, precision, threshold)
                  for name, a in self._arrays.items()]
        return "\n".join(lines)

    def show(self, notation: str = "ffnn", **options) -> None:
        """Print ``format(notation, **options)``."""
        print(self.format(notation, **options))

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{_shape(v)}" for k, v in self._arrays.items())
        return f"Step({self.index}: {shapes})"


def _shape(a: np.ndarray) -> str:
    return str(tuple(a.shape)).replace(" ", "")


def _describe(name: str, a: np.ndarray, edgeitems: int, precision: int, threshold: int,
              label: str | None = None, note: str = "") -> str:
    head = f"{label or name}  {_shape(a)}  {a.dtype}" + (f"   [{note}]" if note else "")
    if a.ndim == 0:
        return f"{head}  {a.item():.{precision + 2}g}"
    body = np.array2string(a, edgeitems=edgeitems, precision=precision, threshold=threshold,
                           suppress_small=True, max_line_width=96)
    return head + "\n" + "\n".join("    " + line for line in body.splitlines())


# --------------------------------------------------------------------------- the observer
class Trace(Sequence):
    """The steps recorded while the ``with trace(net)`` block ran: ``t[i]``, ``len(t)``.

    ``t[i]`` is the i-th *recorded* step (``t[i].index`` its step number).  The object stays
    readable after the block ends.
    """

    def __init__(self, net: Sequential, steps: int | Iterable[int] | None = None) -> None:
        if not isinstance(net, Sequential):
            raise TypeError(f"trace needs an ffnn Sequential, got {type(net).__name__}")
        self.net = net
        self.selection = steps
        if steps is None:
            self._wanted, self._last = None, None
        elif isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
            if steps < 0:
                raise ValueError(f"steps must be >= 0, got {steps}")
            self._wanted, self._last = range(int(steps)), int(steps) - 1
        else:
            wanted = {int(s) for s in steps}
            if any(s < 0 for s in wanted):
                raise ValueError(f"step indices must be >= 0, got {sorted(wanted)}")
            self._wanted, self._last = wanted, max(wanted, default=-1)
        self.steps: list[Step] = []
        self._count = -1  # the number of the step under way
        self._current: Step | None = None
        self._names = layer_names(net)
        self._dense = {i: l for i, (name, l) in enumerate(self._names) if name == f"Z{l}"}
        self._recorder = _Recorder(self)

    # ---- Sequence
    def __getitem__(self, i):
        return self.steps[i]

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Trace({len(self)} steps recorded of {self._count + 1} seen)"

    # ---- context manager
    def __enter__(self) -> Trace:
        if not any(h is self._recorder for h in self.net.hooks):
            self.net.hooks.append(self._recorder)
        return self

    def __exit__(self, *exc) -> None:
        self._detach()
        self._current = None

    def _detach(self) -> None:
        hooks = self.net.hooks
        for k in range(len(hooks) - 1, -1, -1):
            if hooks[k] is self._recorder:
                # a new list, never an in-place edit: we may be inside Sequential.emit's loop
                # over the old one, which must not skip the observers after us
                self.net.hooks = hooks[:k] + hooks[k + 1:]
                return

    # ---- recording
    def _selected(self, k: int) -> bool:
        return self._wanted is None or k in self._wanted

    def _begin_step(self) -> None:
        self._count += 1
        k = self._count
        if self._last is not None and k > self._last:
            self._current = None
            self._detach()
            return
        if not self._selected(k):
            self._current = None
            return
        acts, act_layers = {}, {}
        for i, (name, l) in enumerate(self._names):
            if name == f"A{l}":
                acts[l] = layer_kind(self.net.layers[i])
                act_layers[l] = self.net.layers[i]
        for l in set(self._dense.values()) - set(acts):
            acts[l] = "identity"
        self._current = Step(k, self.net.output_kind(), dict(sorted(acts.items())), act_layers)
        self.steps.append(self._current)

    def on_forward(self, i: int, layer: Layer, x, out, training: bool) -> None:
        if i == 0 and training:
            self._begin_step()
        step = self._current
        if step is None or not training:
            return
        rec = step._arrays
        if i == 0:
            rec["X"] = x.copy()
        l = self._dense.get(i)
        if l is not None:
            for k, p in layer.params.items():
                rec[f"{k}{l}"] = p.copy()
        name = self._names[i][0]
        rec[name] = out.copy()
        if i == len(self._names) - 1:
            rec["out"] = rec[name]

    def on_loss(self, value, out, y, dout) -> None:
        step = self._current
        if step is None:
            return
        step._arrays["y"] = np.array(y, copy=True)
        step._arrays["loss"] = np.asarray(float(value))

    def on_backward(self, i: int, layer: Layer, dout, dx) -> None:
        step = self._current
        if step is None:
            return
        rec = step._arrays
        rec["d" + self._names[i][0]] = dout.copy()
        l = self._dense.get(i)
        if l is not None:
            for k, g in layer.grads.items():
                rec[f"d{k}{l}"] = g.copy()
        if i == 0 and dx is not None:
            rec["dX"] = dx.copy()

    def on_step(self) -> None:
        step = self._current
        if step is None:
            return
        rec = step._arrays
        for i, l in self._dense.items():
            for k, p in self.net.layers[i].params.items():
                rec[f"update_{k}{l}"] = p - rec[f"{k}{l}"]
        self._current = None
        if self._last is not None and step.index >= self._last:
            self._detach()


class _Recorder:
    """The object placed in ``net.hooks``: forwards the events to its Trace.

    A separate object so that ``net.hooks`` holds nothing but observers (a Trace is a
    Sequence, and ``hook in list`` must compare by identity)."""

    def __init__(self, trace: Trace) -> None:
        self.on_forward = trace.on_forward
        self.on_loss = trace.on_loss
        self.on_backward = trace.on_backward
        self.on_step = trace.on_step


def trace(net: Sequential, steps: int | Iterable[int] | None = None) -> Trace:
    """Record every named quantity of the selected training steps of ``net``.

    ``steps``: None records every step; an int n the first n; an iterable the steps with
    those numbers (counted from 0).  Use it as a context manager; the observer is removed on
    exit, also when the block raises:

        with trace(net, steps=1) as t:
            net.loss_and_gradients(X, y, "ce")
        t[0]["dW1"]          # = net.gradients()["0.W"]

    Each array is a copy, so later steps cannot change what was recorded.
    """
    return Trace(net, steps)


# --------------------------------------------------------------------------- seed 000
_LECTURE_ORDER = [
    # key, printed label, what it is
    ("X", "X", "input batch"),
    ("X_tilde", "X̃ = [1, X]", "ones column prepended"),
    ("V", "V = [b1; W1]", "bias as the first row"),
    ("X_hat", "X̂ = X̃ V", "= Z1 = X W1 + b1"),
    ("F", "F = {act}(X̂)", "= A1"),
    ("F_tilde", "F̃ = [1, F]", "ones column prepended"),
    ("W", "W = [b2; W2]", "bias as the first row"),
    ("F_hat", "F̂ = F̃ W", "= Z2 = A1 W2 + b2"),
    ("G", "G = {out}(F̂)", "network prediction"),
    ("Y", "Y", "one-hot targets"),
    ("E", "E = G − Y", "error"),
    ("dW_lecture", "∂L/∂W = F̃ᵀ E / N", "= [db2; dW2]"),
    ("dV_lecture", "∂L/∂V = X̃ᵀ [(E W[1:]ᵀ) ⊙ {dact}] / N", "= [db1; dW1]"),
]


class LectureView(Mapping):
    r"""Seed 000's quantities for one step of a 2-layer network, keyed by ASCII names:

        X_tilde = [1, X]  (N, D+1)        V = [b1; W1]  (D+1, H)     X_hat = X_tilde V  (N, H)
        F = f(X_hat)      (N, H)          F_tilde = [1, F]  (N, H+1)  W = [b2; W2]  (H+1, C)
        F_hat = F_tilde W (N, C)          G = softmax(F_hat)          E = G - Y
        dW_lecture = F_tilde^T E / N      dV_lecture = X_tilde^T [(E W[1:]^T) * f'(X_hat)] / N

    $$\begin{aligned}
    \tilde X &= [\mathbf 1, X], & \hat X &= \tilde X V, & F &= f(\hat X), \\
    \tilde F &= [\mathbf 1, F], & \hat F &= \tilde F W, & G &= \operatorname{softmax}(\hat F),
    \quad E = G - Y
    \end{aligned}$$

    $$\frac{\partial L}{\partial W} = \frac{\tilde F^\top E}{N}, \qquad
    \frac{\partial L}{\partial V} = \frac{\tilde X^\top \big[(E\, W_{1:}^\top) \odot
    f'(\hat X)\big]}{N}$$

    Putting the bias in the first row of the augmented matrix and a 1 in the first column of
    the input is the same computation as ffnn's Z = X W + b:  ``[1, X] [b; W] = 1 b + X W``.
    So ``X_hat`` equals ``Z1`` and ``F_hat`` equals ``Z2`` (checked in ``format``).  f and f'
    are the network's own activation layer (its ``forward``, and its ``backward`` of ones for
    the elementwise derivative), G is ``ffnn.functional``'s stable softmax or sigmoid: the
    equations are stated once, in the layers.  The gradients use E / N, which is dL/dZ2 only
    for softmax + cross-entropy and sigmoid + binary cross-entropy with one output (the losses
    whose gradient is (G - Y) / N).
    """

    def __init__(self, step: Step, arrays: dict[str, np.ndarray], act: str, out: str,
                 layer: Layer | None = None) -> None:
        self.step = step
        self.act = act
        self.out = out
        self.layer = layer  # the activation f, whose formula names f'
        self._arrays = arrays

    def __getitem__(self, key: str) -> np.ndarray:
        return self._arrays[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def format(self, edgeitems: int = 2, precision: int = 4, threshold: int = 24) -> str:
        s = self.step
        form = getattr(self.layer, "formula", None)
        dact = f"{self.act}'(X̂)"
        if form is not None and form.derivative:
            params = getattr(self.layer, "formula_params", self.layer.config)()
            params = {k: f"{v:g}" if isinstance(v, float) else v for k, v in params.items()}
            dact = form.derivative.format(x="X̂", a="F", **params).replace(" * ", " ⊙ ")
        lines = [f"step {s.index} in lecture notation (seed 000), recomputed in float64:",
                 "the bias is the first row of V and W; inputs get a leading column of ones"]
        for key, label, note in _LECTURE_ORDER:
            if key not in self._arrays:
                continue
            label = label.format(act="σ" if self.act == "sigmoid" else self.act,
                                 out=self.out, dact=dact)
            lines.append(_describe(key, self._arrays[key], edgeitems, precision, threshold,
                                   label=label, note=note))
        if "loss" in s:
            lines.append(f"loss  {float(s['loss']):.6g}")
        lines.append("same computation as Z = X W + b:")
        for a, b in (("X_hat", "Z1"), ("F", "A1"), ("F_hat", "Z2")):
            if b in s:
                diff = float(np.max(np.abs(self._arrays[a].astype(np.float64) - s[b])))
                lines.append(f"    max |{a} − {b}| = {diff:.3g}")
        for a, (db, dw) in (("dW_lecture", ("db2", "dW2")), ("dV_lecture", ("db1", "dW1"))):
            if a in self._arrays and db in s and dw in s:
                ours = np.vstack([s[db][None, :], s[dw]]).astype(np.float64)
                diff = float(np.max(np.abs(self._arrays[a] - ours)))
                lines.append(f"    max |{a} − [{db}; {dw}]| = {diff:.3g}")
        return "\n".join(lines)

    def show(self, **options) -> None:
        print(self.format(**options))

    def __str__(self) -> str:
        return self.format()


def _ones_column(A: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((A.shape[0], 1), dtype=A.dtype), A])


def _activation(step: Step) -> Layer:
    """A fresh copy of the activation after Dense 1 (the network's own layer keeps its caches);
    its ``forward`` is f and its ``backward`` of ones f', for the elementwise ones."""
    kind = step.activations[1]
    layer = step.activation_layers.get(1)
    layer = get_activation(kind) if layer is None else layer.astype(np.float64)
    form = getattr(layer, "formula", None)
    if not isinstance(layer, Activation) or form is None or not form.derivative:
        raise ValueError(f"the lecture view writes out an elementwise activation with a "
                         f"formula after the first Dense layer, not {kind!r}")
    return layer


def lecture_view(step: Step) -> LectureView:
    """Seed 000's bias-augmented notation for a traced step of a Dense-f-Dense network.

    Recomputed (in float64) from the step's X, W1, b1, W2, b2 and y, so it can be compared
    with the traced Z1, A1, Z2 and gradients.  F = f(X_hat) and f'(X_hat) come from the
    network's activation layer itself; G applies the output the step was read with
    (``ffnn.functional``'s softmax for a classifier, sigmoid for binary cross-entropy,
    identity for regression).
    """
    extra = [k for k in step if k.startswith(("A1_", "X_"))]
    if step.n_dense != 2 or extra or any(k not in step for k in ("X", "W1", "b1", "W2", "b2")):
        raise ValueError("the lecture notation describes a network Dense, activation, Dense "
                         f"(like mlp([3, 10, 4])); this step has {step.n_dense} Dense layers"
                         + (f" and the extra layers {', '.join(extra)}" if extra else ""))
    f = _activation(step)
    f64 = np.float64
    X = step["X"].astype(f64)
    V = np.vstack([step["b1"][None, :], step["W1"]]).astype(f64)
    Wt = np.vstack([step["b2"][None, :], step["W2"]]).astype(f64)
    X_tilde = _ones_column(X)
    X_hat = X_tilde @ V
    F = f.forward(X_hat, training=True)
    dF = f.backward(np.ones_like(X_hat))  # f'(X_hat): the backward of dA = 1
    F_tilde = _ones_column(F)
    F_hat = F_tilde @ Wt
    out = step.output_kind
    if out == "softmax":
        G = softmax(F_hat, axis=1)
    elif out == "sigmoid":
        G = sigmoid(F_hat)
    else:
        G = F_hat
    arrays = {"X": X, "X_tilde": X_tilde, "V": V, "X_hat": X_hat, "F": F,
              "F_tilde": F_tilde, "W": Wt, "F_hat": F_hat, "G": G}
    if "y" in step:
        y = np.asarray(step["y"])
        if out == "softmax" and y.ndim == 1:
            Y = one_hot(y, G.shape[1], dtype=f64)
        else:
            Y = y.reshape(G.shape).astype(f64)
        N = X.shape[0]
        E = G - Y
        arrays.update(Y=Y, E=E)
        if out == "softmax" or (out == "sigmoid" and G.shape[1] == 1):
            arrays["dW_lecture"] = F_tilde.T @ E / N
            arrays["dV_lecture"] = X_tilde.T @ ((E @ Wt[1:].T) * dF) / N
    return LectureView(step, arrays, step.activations[1], out, f)
