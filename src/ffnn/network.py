r"""Sequential: an ordered list of layers.  It knows nothing about losses or optimisers.

    Forward:   A_0 = X,   A_l = layer_l(A_{l-1}),   output = A_L
    Backward:  dA_L = dL/d(output),   dA_{l-1} = layer_l.backward(dA_l)   (l = L, ..., 1)

$$\begin{aligned}
&\text{forward:} && A_0 = X, \quad A_l = \text{layer}_l(A_{l-1}), \quad \text{output} = A_L \\
&\text{backward:} && dA_L = \frac{\partial L}{\partial\, \text{output}}, \quad
dA_{l-1} = \text{layer}_l.\text{backward}(dA_l), \quad l = L, \dots, 1
\end{aligned}$$

X is (N, D_in), the output (N, D_out); every dA_l has A_l's shape.

``parameters()`` and ``gradients()`` return flat dicts of the *live* arrays keyed
``"<layer index>.<name>"`` ("0.W", "0.b", "2.W", ...), the one place optimisers, gradient
checks and model files look.
"""

from __future__ import annotations

import copy

import numpy as np

from . import functional as F
from ._checks import check_dtype, check_probability, check_X
from .activations import Activation, Sigmoid, Softmax, get_activation
from .init import as_generator, get_initializer
from .layers import Dense, Dropout, Layer
from .losses import Loss, get_loss

_RELU_FAMILY = {"relu", "leaky_relu", "elu", "gelu", "softplus"}
OUTPUT_KINDS = ("identity", "sigmoid", "softmax")


class Sequential:
    """A feed-forward network: ``Sequential(Dense(2, 16), Sigmoid(), Dense(16, 1))``.

    ``output`` says what the raw output means: "identity" (regression values), "sigmoid"
    (independent probabilities) or "softmax" (one distribution per row).  ``predict_proba``
    uses it; ``fit`` sets it from the loss when it was left as None.
    """

    def __init__(self, *layers: Layer, output: str | None = None) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is a {type(layer).__name__}, not an ffnn Layer")
        self.layers: list[Layer] = list(layers)
        self.output = output
        #: observers (see ffnn.trace): objects with any of on_forward(i, layer, x, out, training),
        #: on_backward(i, layer, dout, dx), on_loss(value, out, y, dout), on_step().  Empty
        #: means the loops below pay one falsy check per call and nothing else.
        self.hooks: list = []
        if output is not None and output not in OUTPUT_KINDS:
            raise ValueError(f"unknown output kind {output!r}; known: {', '.join(OUTPUT_KINDS)}")
        self._check_chain()

    # ---------------------------------------------------------------- structure
    def _check_chain(self) -> None:
        """Each Dense layer's in_features must equal the width coming out of the one before."""
        width = None
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                if width is not None and layer.in_features != width:
                    raise ValueError(
                        f"layer {i} (Dense {layer.in_features}->{layer.out_features}) expects "
                        f"{layer.in_features} inputs but the previous layer gives {width}"
                    )
                width = layer.out_features

    @property
    def n_features(self) -> int | None:
        """Input width: the first Dense layer's in_features."""
        first = next((l for l in self.layers if isinstance(l, Dense)), None)
        return None if first is None else first.in_features

    @property
    def n_outputs(self) -> int | None:
        last = next((l for l in reversed(self.layers) if isinstance(l, Dense)), None)
        return None if last is None else last.out_features

    @property
    def dtype(self) -> np.dtype | None:
        """The parameters' dtype (None for a network without parameters: inputs keep theirs)."""
        for p in self.parameters().values():
            return p.dtype
        return getattr(self, "_dtype", None)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    # ---------------------------------------------------------------- forward / backward
    def forward(self, X: np.ndarray, training: bool = False, *, check: bool = True
                ) -> np.ndarray:
        """The network's raw output for a batch X (N, D_in), validated at the boundary
        (``check=False``: for loops that validated their data once)."""
        if check:
            X = check_X(X, self.n_features, dtype=self.dtype)
        return self._forward(X, training)

    def _forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Forward without validation (for loops that validated their data once)."""
        A = X
        if self.hooks:
            for i, layer in enumerate(self.layers):
                out = layer.forward(A, training=training)
                self.emit("forward", i=i, layer=layer, x=A, out=out, training=training)
                A = out
            return A
        for layer in self.layers:
            A = layer.forward(A, training=training)
        return A

    def emit(self, event: str, **data) -> None:
        """Tell every observer in ``hooks`` that ``event`` happened (no-op without hooks)."""
        for hook in self.hooks:
            method = getattr(hook, "on_" + event, None)
            if method is not None:
                method(**data)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Propagate dL/d(output) back; fills every layer's grads, returns dL/dX.

        With ``input_grad=False`` the gradient with respect to the data is not computed (the
        training loop never needs it) and None is returned.
        """
        dA = dout
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and not input_grad and isinstance(layer, Dense):
                layer.backward_params(dA)
                dx = None
            else:
                dx = layer.backward(dA)
            if self.hooks:
                self.emit("backward", i=i, layer=layer, dout=dA, dx=dx)
            dA = dx
        return dA if input_grad else None

    def loss_and_gradients(self, X, y, loss: str | Loss, input_grad: bool = False) -> float:
        """Forward, loss, backward in one call; returns the loss, leaves gradients() filled."""
        loss = get_loss(loss)
        out = self.forward(X, training=True)
        value = loss.forward(out, y)
        dout = loss.backward()
        if self.hooks:
            self.emit("loss", value=value, out=out, y=y, dout=dout)
        self.backward(dout, input_grad=input_grad)
        return value

    # ---------------------------------------------------------------- parameters
    def parameters(self) -> dict[str, np.ndarray]:
        """``{"<layer>.<name>": live parameter array}``, in layer order."""
        return {f"{i}.{k}": v
                for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        """``{"<layer>.<name>": live gradient array}``, same keys and shapes as parameters()."""
        return {f"{i}.{k}": v
                for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def n_params(self) -> int:
        return int(sum(p.size for p in self.parameters().values()))

    def get_weights(self) -> dict[str, np.ndarray]:
        """A copy of every parameter (for snapshots, e.g. early stopping)."""
        return {k: v.copy() for k, v in self.parameters().items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy arrays into the live parameters, checking names and shapes."""
        params = self.parameters()
        missing = set(params) - set(weights)
        extra = set(weights) - set(params)
        if missing or extra:
            raise ValueError(f"weights do not match the network: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        for k, p in params.items():
            w = np.asarray(weights[k])
            if w.shape != p.shape:
                raise ValueError(f"weight {k!r} has shape {w.shape}, the network needs {p.shape}")
            p[...] = w

    # ---------------------------------------------------------------- prediction
    def predict(self, X, batch_size: int | None = 8192) -> np.ndarray:
        """Raw output (logits for a classifier) for X (N, D_in), in inference mode."""
        X = check_X(X, self.n_features, dtype=self.dtype)
        if batch_size is None or X.shape[0] <= batch_size:
            return self._forward(X, training=False)
        return np.concatenate([self._forward(X[i:i + batch_size], training=False)
                               for i in range(0, X.shape[0], batch_size)])

    def output_kind(self) -> str:
        """"identity", "sigmoid" or "softmax": set explicitly, by fit, or guessed from the shape."""
        if self.output is not None:
            return self.output
        last = self.layers[-1] if self.layers else None
        if isinstance(last, (Sigmoid, Softmax)):
            return "identity"  # the network already outputs probabilities
        return "sigmoid" if self.n_outputs == 1 else "softmax"

    def predict_proba(self, X, batch_size: int | None = 8192) -> np.ndarray:
        """Probabilities: sigmoid of the logits (one output / multi-label), else softmax."""
        out = self.predict(X, batch_size)
        kind = self.output_kind()
        if kind == "sigmoid":
            return F.sigmoid(out)
        if kind == "softmax":
            return F.softmax(out, axis=1)
        return out

    def classify(self, X, threshold: float = 0.5) -> np.ndarray:
        """Class labels: argmax over outputs, or probability >= threshold for one output."""
        proba = self.predict_proba(X)
        if proba.shape[1] == 1:
            return (proba[:, 0] >= threshold).astype(np.int64)
        if self.output_kind() == "sigmoid":  # multi-label
            return (proba >= threshold).astype(np.int64)
        return np.argmax(proba, axis=1)

    # ---------------------------------------------------------------- copies and display
    def astype(self, dtype) -> Sequential:
        """A copy of the network with every parameter in ``dtype`` (float32 or float64)."""
        dtype = check_dtype(dtype)
        new = Sequential(*[layer.astype(dtype) for layer in self.layers], output=self.output)
        new._dtype = dtype
        return new

    def copy(self) -> Sequential:
        """A deep copy (parameters, gradients and per-layer settings; observers are not copied)."""
        hooks, self.hooks = self.hooks, []
        try:
            return copy.deepcopy(self)
        finally:
            self.hooks = hooks

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        rows = [("#", "layer", "output shape", "params")]
        width = self.n_features
        for i, layer in enumerate(self.layers):
            width = layer.output_features(width) if width is not None else None
            n = sum(p.size for p in layer.params.values())
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in layer.params.items())
            rows.append((str(i), repr(layer), f"(N, {width})", f"{n:,}" + (f"  [{shapes}]"
                                                                         if shapes else "")))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "  ".join("-" * w for w in widths)
        out = [line] + ["  ".join(r[c].ljust(widths[c]) for c in range(4)) for r in rows[:1]]
        out += [line] + ["  ".join(r[c].ljust(widths[c]) for c in range(4)) for r in rows[1:]]
        out += [line, f"input (N, {self.n_features})   total parameters: {self.n_params():,}   "
                      f"dtype: {self.dtype}   output: {self._output_text()}"]
        return "\n".join(out)

    def _output_text(self) -> str:
        """The output's meaning for the summary; before ``fit`` (or ``output=``) it is not
        known, and a guess from the shape would call a regression net "sigmoid"."""
        if self.output is not None:
            return self.output
        return "raw (not set yet: fit sets it from the loss, or pass output=)"

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def explain(self, loss=None, format: str = "text", convention: str = "row",
                batch="N") -> str:
        """This network's forward and backward equations with their shapes (ffnn.explain)."""
        from .explain import explain

        return explain(self, loss=loss, format=format, convention=convention, batch=batch)


def mlp(
    sizes: list[int] | tuple[int, ...],
    activation: str = "relu",
    init: str | None = None,
    seed: np.random.Generator | int | None = None,
    dtype=np.float32,
    output: str | None = None,
    dropout: float = 0.0,
) -> Sequential:
    """A multi-layer perceptron: Dense, activation, Dense, activation, ..., Dense.

    ``mlp([2, 16, 32, 1], activation="sigmoid")`` builds
    Dense(2,16) Sigmoid Dense(16,32) Sigmoid Dense(32,1).  The last layer has no activation:
    its raw output (logits) goes to a fused loss.  The default initialiser follows the
    activation: He (normal) for the ReLU family, Glorot (uniform) otherwise.

    ``dropout=p`` puts ``Dropout(p)`` after every hidden activation.  The weights are the
    same as without dropout for the same seed: the dropout layers' generators are drawn from
    ``seed`` after every weight has been.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
    act = get_activation(activation)  # validates the name before anything is built
    if init is None:
        init = "he_normal" if act.name in _RELU_FAMILY else "glorot_uniform"
    get_initializer(init)
    dropout = check_probability(dropout, "dropout")
    rng = as_generator(seed)
    layers: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Dense(fan_in, fan_out, init=init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(copy.deepcopy(act) if isinstance(activation, Activation)
                          else get_activation(activation))
    if dropout > 0:
        with_dropout: list[Layer] = []
        for layer in layers:
            with_dropout.append(layer)
            if isinstance(layer, Activation):
                with_dropout.append(Dropout(dropout, rng=int(rng.integers(2**63))))
        layers = with_dropout
    return Sequential(*layers, output=output)


__all__ = ["Sequential", "mlp"]
