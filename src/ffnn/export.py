r"""Networks in and out of ffnn: ONNX (ONNX Runtime), safetensors (PyTorch), scikit-learn.

    to_onnx(net, "model.onnx")                  ONNX Runtime, in any language it serves
    to_safetensors(net, "model.safetensors")    model.load_state_dict(load_file(path)) in PyTorch
    from_safetensors("model.safetensors")       ... and back (layout from the file or given)
    from_sklearn(mlp) / to_sklearn(net)         a fitted sklearn.neural_network MLP, both ways
    torch_source(net)                           the PyTorch nn.Sequential that matches net

The optional packages (``pip install "ffnn[interop]"``: onnx, onnxruntime, safetensors;
scikit-learn for the last pair) are imported by the function that needs them, so ``import
ffnn`` still needs only NumPy.  A network or file that cannot be converted raises
``ExportError`` (a ValueError) naming the layer or the tensor.

How the layouts map
-------------------
ffnn's ``Dense`` computes Z = X W + b with W (D_in, D_out) (rows = inputs), b (D_out,).

* ONNX: ``Gemm(X, W, b)`` computes the same product with the same W, so the weights go in as
  they are (initialisers named like ffnn's parameters, ``"0.W"``, ``"0.b"``).
* PyTorch: ``nn.Linear`` stores ``weight`` (out, in) = W^T and computes X weight^T + bias.
  In ``nn.Sequential`` every module, activations and dropout included, takes an index, and the
  state dict names a Linear's tensors ``"<index>.weight"``, ``"<index>.bias"``.  ffnn's
  Sequential numbers its layers the same way, so ffnn layer i is module i of the matching
  nn.Sequential (``torch_source`` writes it out).
* scikit-learn: ``coefs_[k]`` (n_in, n_out) is W of the k-th Dense layer, ``intercepts_[k]``
  its b; one activation for every hidden layer, the output activation chosen by the task.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ._version import __version__ as _ffnn_version
from .activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .io import LAYER_TYPES
from .layers import Dense, Dropout, Layer
from .network import Sequential

#: the ONNX operator set written: ONNX >= 1.15 and ONNX Runtime >= 1.17 know it, and it is the
#: first with a Gelu operator (approximate="tanh" is ffnn's GELU)
ONNX_OPSET = 20
#: the ONNX IR version of opset 20 (ONNX 1.15); newer readers accept older IR versions
ONNX_IR_VERSION = 9
#: the name of the ONNX model's input, shape ("N", D_in)
ONNX_INPUT = "X"
#: metadata keys of a safetensors file written by ``to_safetensors`` (str -> str)
META_LAYERS, META_OUTPUT, META_EXTRA = "ffnn.layers", "ffnn.output", "ffnn.extra"

_EXTRA = "pip install 'ffnn[interop]'"


class ExportError(ValueError):
    """A network that cannot be converted, or a file that does not describe an ffnn network;
    the message names the layer or tensor."""


def _require(module: str, what: str, install: str = _EXTRA):
    """Import an optional package, or an ImportError naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{what} needs the {module.split('.')[0]} package: {install}") \
            from exc


def _check_net(net) -> Sequential:
    if not isinstance(net, Sequential):
        raise TypeError(f"expected an ffnn Sequential, got {type(net).__name__}")
    if net.n_features is None:
        raise ExportError("the network has no Dense layer, so its input width is unknown")
    return net


def _layer_name(i: int, layer: Layer) -> str:
    return f"layer {i} ({type(layer).__name__})"


def _write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to exactly ``path`` via a temporary file in the same folder + rename,
    so a failed export never leaves half a file under the target's name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.ffnn-tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _layers_json(net: Sequential) -> str:
    """The layers as a model file describes them: [{"type", "config"}, ...]."""
    specs = []
    for i, layer in enumerate(net.layers):
        name = type(layer).__name__
        if LAYER_TYPES.get(name) is not type(layer):
            raise ExportError(f"{_layer_name(i, layer)} is not one of ffnn's built-in layers "
                              f"({', '.join(sorted(LAYER_TYPES))}); it cannot be exported")
        specs.append({"type": name, "config": layer.config()})
    return json.dumps(specs)


# =========================================================================== ONNX
class _Graph:
    """Nodes and initialisers of the ONNX graph being built (a thin list keeper)."""

    def __init__(self, helper, numpy_helper, dtype: np.dtype) -> None:
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, dtype
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=self.dtype))
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output


def _onnx_dense(g: _Graph, i: int, layer: Dense, x: str, out: str) -> str:
    # Gemm: out = X W + b (alpha = beta = 1, no transposes): ffnn's W goes in as it is
    W = g.const(f"{i}.W", layer.params["W"])
    b = g.const(f"{i}.b", layer.params["b"])
    return g.node("Gemm", [x, W, b], out, f"{i}.Dense")


def _onnx_op(op: str, **fixed):
    """A layer that is one ONNX operator (attributes from ``fixed`` or the layer)."""

    def build(g: _Graph, i: int, layer: Layer, x: str, out: str) -> str:
        attrs = {k: (v(layer) if callable(v) else v) for k, v in fixed.items()}
        return g.node(op, [x], out, f"{i}.{type(layer).__name__}", **attrs)

    return build


def _onnx_leaky_relu(g: _Graph, i: int, layer: LeakyReLU, x: str, out: str) -> str:
    if g.dtype == np.float32:
        return g.node("LeakyRelu", [x], out, f"{i}.LeakyReLU", alpha=layer.alpha)
    # ONNX Runtime has LeakyRelu for float32 only: A = where(Z > 0, Z, alpha Z)
    p = f"{i}.LeakyReLU"
    pos = g.node("Greater", [x, g.const(f"{p}.zero", 0.0)], f"{p}.positive", f"{p}.greater")
    scaled = g.node("Mul", [x, g.const(f"{p}.alpha", layer.alpha)], f"{p}.scaled", f"{p}.mul")
    return g.node("Where", [pos, x, scaled], out, f"{p}.where")


def _onnx_elu(g: _Graph, i: int, layer: ELU, x: str, out: str) -> str:
    if g.dtype == np.float32:
        return g.node("Elu", [x], out, f"{i}.ELU", alpha=layer.alpha)
    # ONNX Runtime has Elu for float32 only: A = where(Z > 0, Z, alpha (exp(min(Z, 0)) - 1))
    p = f"{i}.ELU"
    zero, one = g.const(f"{p}.zero", 0.0), g.const(f"{p}.one", 1.0)
    pos = g.node("Greater", [x, zero], f"{p}.positive", f"{p}.greater")
    neg = g.node("Min", [x, zero], f"{p}.negative_part", f"{p}.min")
    e = g.node("Exp", [neg], f"{p}.exp", f"{p}.exp")
    em1 = g.node("Sub", [e, one], f"{p}.expm1", f"{p}.sub")
    scaled = g.node("Mul", [em1, g.const(f"{p}.alpha", layer.alpha)], f"{p}.scaled", f"{p}.mul")
    return g.node("Where", [pos, x, scaled], out, f"{p}.where")


def _onnx_softplus(g: _Graph, i: int, layer: Softplus, x: str, out: str) -> str:
    if g.dtype == np.float32:
        return g.node("Softplus", [x], out, f"{i}.Softplus")
    # ONNX Runtime has Softplus for float32 only: A = max(Z, 0) + log(1 + exp(-|Z|)), the
    # stable form ffnn.functional.softplus uses (no log1p in ONNX: the absolute error of
    # log(1 + e) for tiny e is below e, far under float64 rounding of A)
    p = f"{i}.Softplus"
    zero, one = g.const(f"{p}.zero", 0.0), g.const(f"{p}.one", 1.0)
    a = g.node("Abs", [x], f"{p}.abs", f"{p}.abs")
    na = g.node("Neg", [a], f"{p}.neg", f"{p}.neg")
    e = g.node("Exp", [na], f"{p}.exp", f"{p}.exp")
    s = g.node("Add", [e, one], f"{p}.onep", f"{p}.add1")
    lg = g.node("Log", [s], f"{p}.log1p", f"{p}.log")
    mx = g.node("Max", [x, zero], f"{p}.relu", f"{p}.max")
    return g.node("Add", [mx, lg], out, f"{p}.add")


def _onnx_gelu(g: _Graph, i: int, layer: GELU, x: str, out: str) -> str:
    if g.dtype == np.float32:
        return g.node("Gelu", [x], out, f"{i}.GELU", approximate="tanh")
    # ONNX Runtime's float64 Gelu agrees with the formula to ~6e-9 only: composed, in the
    # order ffnn.GELU computes it, A = (0.5 Z) (1 + tanh(c (Z + ((k Z) Z) Z)))
    p = f"{i}.GELU"
    kz = g.node("Mul", [g.const(f"{p}.k", GELU._K), x], f"{p}.kz", f"{p}.mul_k")
    kz2 = g.node("Mul", [kz, x], f"{p}.kz2", f"{p}.mul_z")
    kz3 = g.node("Mul", [kz2, x], f"{p}.kz3", f"{p}.mul_zz")
    inner = g.node("Add", [x, kz3], f"{p}.inner", f"{p}.add_z")
    u = g.node("Mul", [g.const(f"{p}.c", GELU._C), inner], f"{p}.u", f"{p}.mul_c")
    t = g.node("Tanh", [u], f"{p}.tanh", f"{p}.tanh")
    onept = g.node("Add", [g.const(f"{p}.one", 1.0), t], f"{p}.onept", f"{p}.add_1")
    half = g.node("Mul", [g.const(f"{p}.half", 0.5), x], f"{p}.halfz", f"{p}.mul_half")
    return g.node("Mul", [half, onept], out, f"{p}.mul")


#: ffnn layer type -> builder of its ONNX nodes (exact types: a subclass may compute
#: something else, so it is refused like any custom layer)
ONNX_BUILDERS = {
    Dense: _onnx_dense,
    Dropout: _onnx_op("Identity"),  # identity at inference
    Identity: _onnx_op("Identity"),
    Sigmoid: _onnx_op("Sigmoid"),
    Tanh: _onnx_op("Tanh"),
    ReLU: _onnx_op("Relu"),
    LeakyReLU: _onnx_leaky_relu,
    ELU: _onnx_elu,
    GELU: _onnx_gelu,  # ffnn's GELU is the tanh approximation
    Softplus: _onnx_softplus,
    Softmax: _onnx_op("Softmax", axis=1),  # one distribution per row
}

OUTPUT_MODES = ("logits", "proba")


def to_onnx(net: Sequential, path, *, output: str = "logits", standardize=None,
            extra: dict | None = None) -> Path:
    """Write ``net`` as an ONNX model (opset ``ONNX_OPSET``) that ONNX Runtime runs.

    The graph has one input, ``"X"``, of shape ``("N", D_in)`` (``N`` is a dynamic batch
    dimension) and the network's dtype (float32, or float64), and one output of shape
    ``("N", D_out)``, named after ``output``:

    * ``"logits"``: the network's raw output, what ``net.predict(X)`` returns;
    * ``"proba"``: what ``net.predict_proba(X)`` returns: a ``Sigmoid`` or a ``Softmax``
      (axis 1) node after the last layer, chosen by ``net.output_kind()`` (none for a network
      that ends in its own Sigmoid or Softmax layer and leaves ``output`` unset).  A
      regression network (output kind "identity") has no probabilities: ExportError.

    Layers: ``Dense`` -> ``Gemm(X, W, b)`` with initialisers ``"<i>.W"`` (D_in, D_out) and
    ``"<i>.b"``; ``Sigmoid``, ``Tanh``, ``ReLU`` -> Sigmoid, Tanh, Relu; ``LeakyReLU`` ->
    LeakyRelu(alpha); ``ELU`` -> Elu(alpha); ``GELU`` -> Gelu(approximate="tanh");
    ``Softplus`` -> Softplus; ``Softmax`` -> Softmax(axis=1); ``Identity`` and ``Dropout``
    (identity at inference) -> Identity.  ONNX Runtime implements LeakyRelu, Elu and Softplus
    for float32 only, and its float64 Gelu agrees with the formula to ~6e-9 only, so a
    float64 network gets these four composed from elementary operators (Greater, Where, Min,
    Max, Exp, Log, Tanh, Mul, Add).  Nodes are named ``"<i>.<layer type>"`` (composed ones
    ``"<i>.<layer type>.<step>"``).

    ``standardize=(mean, std)`` (arrays of D_in values) puts ``(X - mean) / std`` in front,
    for a network trained on standardised features (``ffnn train`` stores them in the model
    file; ``ffnn export`` passes them on).  ``extra`` (JSON-serialisable) is stored in the
    model's metadata under ``"ffnn.extra"``, beside ``"ffnn.layers"`` and ``"ffnn.output"``.

    The model is checked with ``onnx.checker`` before it is written (atomically) to ``path``.
    A layer that is not one of ffnn's built-in layers raises ExportError naming it.
    """
    onnx = _require("onnx", "to_onnx")
    from onnx import TensorProto, helper, numpy_helper

    net = _check_net(net)
    if output not in OUTPUT_MODES:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUT_MODES))}, "
                         f"got {output!r}")
    layers_json = _layers_json(net)  # refuses custom layers, naming them
    for i, layer in enumerate(net.layers):
        if type(layer) not in ONNX_BUILDERS:  # pragma: no cover - every built-in has one
            raise ExportError(f"{_layer_name(i, layer)} has no ONNX equivalent")
    dtype = np.dtype(net.dtype)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}
    last = net.layers[-1]
    head = None  # what predict_proba applies to the raw output
    if output == "proba":
        head = net.output_kind()
        if head == "identity":
            if not isinstance(last, (Sigmoid, Softmax)):
                raise ExportError("output='proba': this network's output kind is 'identity' "
                                  "(regression values), which has no probabilities; use "
                                  "output='logits'")
            head = None  # the network's own last layer gives them
    g = _Graph(helper, numpy_helper, dtype)
    x = ONNX_INPUT
    if standardize is not None:
        mean, std = (np.asarray(a, dtype=np.float64).reshape(-1) for a in standardize)
        for name, a in (("mean", mean), ("std", std)):
            if a.shape != (net.n_features,):
                raise ExportError(f"standardize {name} has {a.size} values; the network "
                                  f"takes {net.n_features} features")
        if not np.all(np.isfinite(std)) or np.any(std == 0):
            raise ExportError("standardize std must be finite and non-zero")
        x = g.node("Sub", [x, g.const("standardize.mean", mean)], "standardize.centred",
                   "standardize.sub")
        x = g.node("Div", [x, g.const("standardize.std", std)], "standardize.out",
                   "standardize.div")
    n_layers = len(net.layers)
    for i, layer in enumerate(net.layers):
        out = output if (i == n_layers - 1 and head is None) else f"{i}.out"
        x = ONNX_BUILDERS[type(layer)](g, i, layer, x, out)
    if head == "sigmoid":
        g.node("Sigmoid", [x], output, "proba.Sigmoid")
    elif head == "softmax":
        g.node("Softmax", [x], output, "proba.Softmax", axis=1)
    what = {"logits": "the network's raw output (net.predict)",
            "proba": "probabilities (net.predict_proba)"}[output]
    graph = helper.make_graph(
        g.nodes, "ffnn",
        [helper.make_tensor_value_info(ONNX_INPUT, elem[dtype], ["N", net.n_features])],
        [helper.make_tensor_value_info(output, elem[dtype], ["N", net.n_outputs])],
        initializer=g.initializers,
        doc_string=f"ffnn Sequential: input {ONNX_INPUT!r} (N, {net.n_features}) {dtype.name}"
                   + (" (standardised inside the graph)" if standardize is not None else "")
                   + f"; output {output!r} (N, {net.n_outputs}), {what}")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="ffnn", producer_version=_ffnn_version)
    model.ir_version = ONNX_IR_VERSION
    meta = {META_LAYERS: layers_json, META_OUTPUT: net.output_kind()}
    if extra:
        meta[META_EXTRA] = json.dumps(extra)
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return _write_atomic(path, model.SerializeToString())


# =========================================================================== PyTorch
#: ffnn layer type -> the matching torch.nn module, as source code (exact types)
TORCH_MODULES = {
    Dense: lambda l: f"nn.Linear({l.in_features}, {l.out_features}"
                     + (", dtype=torch.float64)" if l.dtype == np.float64 else ")"),
    Dropout: lambda l: f"nn.Dropout(p={l.p!r})",
    Identity: lambda l: "nn.Identity()",
    Sigmoid: lambda l: "nn.Sigmoid()",
    Tanh: lambda l: "nn.Tanh()",
    ReLU: lambda l: "nn.ReLU()",
    LeakyReLU: lambda l: f"nn.LeakyReLU(negative_slope={l.alpha!r})",
    ELU: lambda l: f"nn.ELU(alpha={l.alpha!r})",
    GELU: lambda l: 'nn.GELU(approximate="tanh")',
    Softplus: lambda l: "nn.Softplus()",
    Softmax: lambda l: "nn.Softmax(dim=1)",
}


def torch_source(net: Sequential) -> str:
    """The PyTorch network that computes what ``net`` computes, as source code.

    Module i of the ``nn.Sequential`` is ffnn layer i, so the state dict written by
    ``to_safetensors`` loads into it (``import torch; from torch import nn`` first)::

        >>> print(torch_source(ffnn.mlp([2, 16, 1], activation="tanh")))
        nn.Sequential(
            nn.Linear(2, 16),
            nn.Tanh(),
            nn.Linear(16, 1),
        )

    (PyTorch's Softplus returns x itself beyond x > 20, where ffnn's differs by
    log1p(exp(-x)) < 2.1e-9.)
    """
    _check_net(net)
    _layers_json(net)
    lines = [f"    {TORCH_MODULES[type(layer)](layer)}," for layer in net.layers]
    return "nn.Sequential(\n" + "\n".join(lines) + "\n)"


def _safetensors_tensors(net: Sequential) -> dict[str, np.ndarray]:
    tensors = {}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            tensors[f"{i}.weight"] = np.ascontiguousarray(layer.params["W"].T)  # (out, in)
            tensors[f"{i}.bias"] = np.ascontiguousarray(layer.params["b"])
    return tensors


def to_safetensors(net: Sequential, path, *, extra: dict | None = None) -> Path:
    """Write the weights as PyTorch's ``nn.Sequential`` of ``nn.Linear`` names them.

    Dense layer i becomes ``"<i>.weight"`` of shape (D_out, D_in) = W^T and ``"<i>.bias"``
    (D_out,), in the network's dtype: exactly the state dict of the nn.Sequential that
    ``torch_source(net)`` writes, so in PyTorch::

        model.load_state_dict(safetensors.torch.load_file(path))

    The file's metadata (str -> str) holds ``"format": "pt"`` (what PyTorch loaders look
    for), ``"ffnn.layers"`` (the layers as a model file describes them, JSON), so that
    ``from_safetensors(path)`` rebuilds the network without being told its layout,
    ``"ffnn.output"`` (the output kind) and, if given, ``"ffnn.extra"`` (``extra`` as JSON).
    Written atomically.  A layer that is not one of ffnn's built-in layers raises
    ExportError naming it.
    """
    st = _require("safetensors.numpy", "to_safetensors")
    net = _check_net(net)
    meta = {"format": "pt", META_LAYERS: _layers_json(net), META_OUTPUT: net.output or ""}
    if extra:
        meta[META_EXTRA] = json.dumps(extra)
    return _write_atomic(path, st.save(_safetensors_tensors(net), metadata=meta))


def _parse_layout(layout, path, n_linear: int) -> list[dict]:
    """A layout as a list of {"type", "config"} (Dense configs may leave out the sizes).

    ``layout`` is either a list of activation names (or None for no layer), one for each
    gap between consecutive Linear layers (and optionally one more after the last), or the
    full ffnn description [{"type": "Dense" | "ReLU" | ..., "config": {...}}, ...].
    ``n_linear`` is the number of Linear layers in the file.
    """
    from .activations import ACTIVATIONS

    if isinstance(layout, str) or not isinstance(layout, (list, tuple)):
        raise TypeError("layout must be a list: activation names, e.g. ['relu', 'relu'], or "
                        f"layer descriptions [{{'type': ..., 'config': ...}}], got "
                        f"{type(layout).__name__}")
    if all(isinstance(x, dict) for x in layout) and layout:
        specs = []
        for i, spec in enumerate(layout):
            kind = spec.get("type")
            if kind not in LAYER_TYPES:
                raise ExportError(f"{path}: layout entry {i} has unknown layer type {kind!r}; "
                                  f"known: {', '.join(sorted(LAYER_TYPES))}")
            config = spec.get("config", {})
            if not isinstance(config, dict):
                raise ExportError(f"{path}: layout entry {i} ({kind}): config must be an "
                                  "object")
            specs.append({"type": kind, "config": dict(config)})
        return specs
    specs = [{"type": "Dense", "config": {}}]
    for k, name in enumerate(layout):
        if name is not None and not (isinstance(name, str) and
                                     (name.lower() in ACTIVATIONS or name.lower() == "none")):
            known = sorted(n for n, cls in ACTIVATIONS.items() if cls.name == n)
            raise ExportError(f"{path}: layout entry {k} is {name!r}, not an activation name "
                              f"({', '.join(known)}) or None")
        if name is not None and name.lower() != "none":
            specs.append({"type": ACTIVATIONS[name.lower()].__name__, "config": {}})
        if k < n_linear - 1 or k < len(layout) - 1:  # (one more name: after the last Linear)
            specs.append({"type": "Dense", "config": {}})
    return specs


def from_safetensors(path, layout=None, *, output: str | None = None) -> Sequential:
    """Build the ffnn network whose weights a safetensors file holds (PyTorch names).

    The file holds ``"<i>.weight"`` (D_out, D_in) and ``"<i>.bias"`` (D_out,) for every
    Linear layer i of an ``nn.Sequential``, float32 or float64 (e.g. written by
    ``to_safetensors`` or by ``safetensors.torch.save_file(model.state_dict(), path)``).
    ``layout`` says what sits between the Linear layers:

    * ``None``: the ``"ffnn.layers"`` description ``to_safetensors`` stored in the file's
      metadata (an error if the file has none);
    * a list of activation names, one for each gap between consecutive Linear layers (and
      optionally one more after the last): ``["relu", "relu"]`` is
      ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)``, whose Linear layers are modules
      0, 2 and 4; ``None`` for no module between two Linear layers;
    * the full ffnn description ``[{"type": "Dense", "config": {}}, {"type": "Dropout",
      "config": {"p": 0.2}}, ...]`` (a Dense config's sizes, if given, must match the file).

    Every tensor is checked against the layout before the network is built: the names must
    be exactly the layout's (``"2.weight"`` where layer 2 is a Linear), the shapes 2-D
    (out, in) and 1-D (out,) and chained (each Linear's in = the previous one's out), one
    dtype throughout.  A mismatch raises ExportError naming the tensor.  ``output`` (the
    network's output kind) defaults to the file's ``"ffnn.output"``.
    """
    safetensors = _require("safetensors", "from_safetensors")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such safetensors file: {path}")
    try:
        handle = safetensors.safe_open(str(path), framework="numpy")
    except Exception as exc:  # SafetensorError, OSError: the header is not readable
        raise ExportError(f"{path} is not a readable safetensors file: {exc}") from None
    with handle as f:
        meta = f.metadata() or {}
        if layout is None:
            text = meta.get(META_LAYERS)
            if text is None:
                raise ExportError(f"{path} does not say what sits between its Linear layers "
                                  f"(no {META_LAYERS!r} in its metadata: it was not written "
                                  "by ffnn.export.to_safetensors); pass layout=, e.g. "
                                  "['relu', 'relu'] for Linear, ReLU, Linear, ReLU, Linear")
            try:
                layout = json.loads(text)
            except ValueError:
                raise ExportError(f"{path}: metadata {META_LAYERS!r} is not valid JSON") \
                    from None
            if not isinstance(layout, list) or not all(isinstance(s, dict) for s in layout):
                raise ExportError(f"{path}: metadata {META_LAYERS!r} is not a list of "
                                  "{type, config} objects")
        shapes, dtypes = {}, {}
        for key in f.keys():
            sl = f.get_slice(key)
            shapes[key], dtypes[key] = tuple(sl.get_shape()), sl.get_dtype()
        specs = _parse_layout(layout, path, sum(k.endswith(".weight") for k in shapes))
        _check_tensors(specs, shapes, dtypes, path)
        tensors = {key: f.get_tensor(key) for key in shapes}
    if output is None:
        output = meta.get(META_OUTPUT) or None
    return _build_from_tensors(specs, tensors, output, path)


_ST_DTYPES = {"F32": "float32", "F64": "float64"}


def _check_tensors(specs: list[dict], shapes: dict, dtypes: dict, path) -> None:
    """Names, shapes and dtypes of the file's tensors against the layout, in layer order."""
    dense = [i for i, s in enumerate(specs) if s["type"] == "Dense"]
    expected = [f"{i}.{k}" for i in dense for k in ("weight", "bias")]
    missing = [k for k in expected if k not in shapes]
    if missing:
        i = int(missing[0].split(".")[0])
        raise ExportError(f"{path}: tensor {missing[0]!r} is missing; the layout puts a Linear "
                          f"(Dense) layer at index {i}, and ffnn's Dense layers always have "
                          f"weight and bias (the file has {_names(shapes)})")
    unexpected = [k for k in shapes if k not in expected]
    if unexpected:
        k = unexpected[0]
        i = k.split(".")[0]
        at = next((s["type"] for j, s in enumerate(specs) if str(j) == i), None)
        where = (f"the layout has {at} at index {i}" if at is not None else
                 f"the layout has {len(specs)} layers")
        raise ExportError(f"{path}: tensor {k!r} does not fit the layout ({where}; it expects "
                          f"{_names(dict.fromkeys(expected))})")
    width = None
    dtype = None
    for i in dense:
        wname, bname = f"{i}.weight", f"{i}.bias"
        for name in (wname, bname):
            dt = _ST_DTYPES.get(dtypes[name])
            if dt is None:
                raise ExportError(f"{path}: tensor {name!r} is {dtypes[name]}; ffnn reads "
                                  "float32 (F32) and float64 (F64) weights")
            if dtype is not None and dt != dtype:
                raise ExportError(f"{path}: tensor {name!r} is {dt} but the tensors before "
                                  f"it are {dtype}; an ffnn network has one dtype")
            dtype = dt
        w, b = shapes[wname], shapes[bname]
        if len(w) != 2:
            raise ExportError(f"{path}: tensor {wname!r} has shape {w}; a Linear weight is "
                              "2-D (out_features, in_features)")
        d_out, d_in = w
        if b != (d_out,):
            raise ExportError(f"{path}: tensor {bname!r} has shape {b}; weight {wname!r} "
                              f"{w} needs a bias of shape ({d_out},)")
        if width is not None and d_in != width:
            raise ExportError(f"{path}: tensor {wname!r} has shape {w}: it takes {d_in} "
                              f"inputs but the Linear layer before it gives {width} "
                              f"(a weight is (out_features, in_features))")
        config = specs[i]["config"]
        for key, have in (("in_features", d_in), ("out_features", d_out)):
            if key in config and config[key] != have:
                raise ExportError(f"{path}: tensor {wname!r} has shape {w} but layout entry "
                                  f"{i} says {key}={config[key]!r}")
        if config.get("dtype", dtype) != dtype:
            raise ExportError(f"{path}: tensor {wname!r} is {dtype} but layout entry {i} "
                              f"says dtype={config['dtype']!r}")
        width = d_out


def _names(keys) -> str:
    def order(k: str):
        index, _, rest = k.partition(".")
        return (int(index) if index.isdigit() else -1, {"weight": 0, "bias": 1}.get(rest, 2), k)

    names = sorted(keys, key=order)
    shown = ", ".join(repr(k) for k in names[:8])
    return shown + (f", ... ({len(names)} tensors)" if len(names) > 8 else "") \
        if names else "no tensors"


def _build_from_tensors(specs: list[dict], tensors: dict, output, path) -> Sequential:
    layers: list[Layer] = []
    for i, spec in enumerate(specs):
        kind, config = spec["type"], spec["config"]
        try:
            if kind == "Dense":
                W = tensors[f"{i}.weight"].T  # (in, out)
                layer = Dense(W.shape[0], W.shape[1], init="zeros", dtype=W.dtype)
                layer.init = config.get("init", "glorot_uniform")
                layer.params["W"][...] = W
                layer.params["b"][...] = tensors[f"{i}.bias"]
            else:
                layer = LAYER_TYPES[kind](**config)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"{path}: layout entry {i} ({kind}) has invalid settings "
                              f"{config!r}: {exc}") from None
        layers.append(layer)
    try:
        return Sequential(*layers, output=output)
    except ValueError as exc:
        raise ExportError(f"{path}: {exc}") from None


# =========================================================================== scikit-learn
#: scikit-learn's hidden activation names <-> ffnn's activation layers
SKLEARN_ACTIVATIONS: dict[str, type[Layer]] = {
    "identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU,
}
#: scikit-learn's out_activation_ -> ffnn's output kind
SKLEARN_OUTPUTS = {"identity": "identity", "logistic": "sigmoid", "softmax": "softmax"}


def from_sklearn(mlp) -> Sequential:
    """The ffnn network of a fitted ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``.

    Dense layer k gets ``W = coefs_[k]`` (n_in, n_out) and ``b = intercepts_[k]`` (copies, in
    their dtype); scikit-learn's ``activation`` (identity, logistic, tanh, relu) goes between
    them, and its ``out_activation_`` becomes the network's output kind (softmax ->
    "softmax", logistic -> "sigmoid", identity -> "identity"), so ``net.predict_proba(X)``
    equals ``mlp.predict_proba(X)`` (for a binary classifier, scikit-learn's one output unit:
    its column 1).  Class labels stay with the estimator: ``mlp.classes_[net.classify(X)]``.
    """
    sk = _require("sklearn.neural_network", "from_sklearn", "pip install scikit-learn")
    if not isinstance(mlp, (sk.MLPClassifier, sk.MLPRegressor)):
        raise TypeError("from_sklearn expects a fitted sklearn.neural_network.MLPClassifier or "
                        f"MLPRegressor, got {type(mlp).__name__}")
    if not hasattr(mlp, "coefs_"):
        raise ExportError(f"this {type(mlp).__name__} is not fitted yet (no coefs_): call fit "
                          "first")
    act = SKLEARN_ACTIVATIONS.get(mlp.activation)
    if act is None:
        raise ExportError(f"scikit-learn activation {mlp.activation!r} has no ffnn equivalent")
    out = SKLEARN_OUTPUTS.get(mlp.out_activation_)
    if out is None:
        raise ExportError(f"scikit-learn output activation {mlp.out_activation_!r} has no "
                          f"ffnn output kind (ffnn knows {', '.join(SKLEARN_OUTPUTS)})")
    layers: list[Layer] = []
    n = len(mlp.coefs_)
    for k, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        W, b = np.asarray(W), np.asarray(b)
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ExportError(f"coefs_[{k}] {W.shape} and intercepts_[{k}] {b.shape} are not a "
                              "layer's (n_in, n_out) and (n_out,)")
        dense = Dense(W.shape[0], W.shape[1], init="zeros", dtype=W.dtype)
        dense.init = "glorot_uniform"  # scikit-learn's initialisation, whatever the activation
        dense.params["W"][...] = W
        dense.params["b"][...] = b
        layers.append(dense)
        if k < n - 1:
            layers.append(act())
    return Sequential(*layers, output=out)


def _sklearn_hidden(between: list[tuple[int, Layer]]) -> tuple[str, int | None]:
    """scikit-learn's name of the one activation between two Dense layers (Identity layers
    and no layer at all are "identity")."""
    acts = [(i, layer) for i, layer in between if type(layer) is not Identity]
    if not acts:
        return "identity", (between[0][0] if between else None)
    i, layer = acts[0]
    name = next((k for k, cls in SKLEARN_ACTIVATIONS.items() if type(layer) is cls), None)
    if name is None:
        raise ExportError(f"{_layer_name(i, layer)} has no scikit-learn equivalent: "
                          "scikit-learn's MLP has the hidden activations identity, logistic "
                          "(Sigmoid), tanh and relu")
    if len(acts) > 1:
        j, second = acts[1]
        raise ExportError(f"{_layer_name(j, second)} follows {_layer_name(i, layer)}: "
                          "scikit-learn's MLP has one activation between two Dense layers")
    return name, i


def _where(net: Sequential, at: int | None) -> str:
    return "a gap with no activation layer" if at is None else _layer_name(at, net.layers[at])


def to_sklearn(net: Sequential, *, classes=None):
    """A fitted-looking scikit-learn MLP that predicts what ``net`` predicts.

    The network must be an MLP scikit-learn can express: Dense layers with one activation
    from identity, logistic (Sigmoid), tanh, relu between every pair (Dropout layers are
    dropped: they are the identity at inference; no activation at all means identity), and
    nothing after the last Dense layer except a Sigmoid or Softmax.  The estimator follows the
    output kind: "softmax" -> ``MLPClassifier`` (multiclass; ``classes`` default
    0..C-1), "sigmoid" with one output -> binary ``MLPClassifier`` (``classes`` default
    [0, 1]), "sigmoid" with several -> multi-label ``MLPClassifier``, "identity" ->
    ``MLPRegressor``.  Its ``coefs_``/``intercepts_`` are copies of the weights; ``classes_``,
    ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``n_features_in_`` and the label
    binariser are set as ``fit`` sets them, so ``predict``, ``predict_proba`` and ``score``
    work (further training with ``partial_fit`` is not supported).  A layer scikit-learn has
    no equivalent for raises ExportError naming it.
    """
    sk = _require("sklearn.neural_network", "to_sklearn", "pip install scikit-learn")
    from sklearn.preprocessing import LabelBinarizer

    net = _check_net(net)
    coefs, intercepts = [], []
    hidden: list[tuple[str, int | None]] = []  # (activation, its layer) between Dense layers
    between: list[tuple[int, Layer]] = []  # layers since the last Dense (Dropout left out)
    for i, layer in enumerate(net.layers):
        if type(layer) is Dropout:  # the identity at inference
            continue
        if type(layer) is not Dense:
            between.append((i, layer))
            continue
        if coefs:
            hidden.append(_sklearn_hidden(between))
        elif between:
            j, first = between[0]
            raise ExportError(f"{_layer_name(j, first)} comes before the first Dense layer; "
                              "scikit-learn's MLP starts with one")
        coefs.append(layer.params["W"].copy())
        intercepts.append(layer.params["b"].copy())
        between = []
    head = None
    tail = [(i, layer) for i, layer in between if type(layer) is not Identity]
    if tail:
        i, layer = tail[0]
        if len(tail) > 1 or type(layer) not in (Sigmoid, Softmax):
            i, layer = tail[0] if type(layer) not in (Sigmoid, Softmax) else tail[1]
            raise ExportError(f"{_layer_name(i, layer)} after the last Dense layer: "
                              "scikit-learn's MLP ends in one output activation (logistic "
                              "or softmax, or none)")
        head = "sigmoid" if type(layer) is Sigmoid else "softmax"
    names = {name for name, _ in hidden}
    if len(names) > 1:
        name0, at0 = hidden[0]
        name, at = next((n, a) for n, a in hidden if n != name0)
        raise ExportError(f"{_where(net, at)} has activation {name} but {_where(net, at0)} "
                          f"has {name0}: scikit-learn's MLP uses one activation for every "
                          "hidden layer")
    act_name = hidden[0][0] if hidden else "identity"
    kind = head or net.output_kind()
    n_out = coefs[-1].shape[1]
    if kind == "identity":
        est = sk.MLPRegressor(hidden_layer_sizes=tuple(w.shape[1] for w in coefs[:-1]),
                              activation=act_name)
        out_activation = "identity"
    else:
        est = sk.MLPClassifier(hidden_layer_sizes=tuple(w.shape[1] for w in coefs[:-1]),
                               activation=act_name)
        if kind == "softmax":
            if n_out < 2:
                raise ExportError("a softmax output needs at least 2 units; this network "
                                  "has 1")
            out_activation = "softmax"
            labels = np.asarray(classes if classes is not None else np.arange(n_out))
            binarizer = LabelBinarizer().fit(labels)
        else:
            out_activation = "logistic"
            if n_out == 1:
                labels = np.asarray(classes if classes is not None else [0, 1])
                binarizer = LabelBinarizer().fit(labels)
            else:  # multi-label: one independent probability per output
                binarizer = LabelBinarizer().fit(np.eye(n_out, dtype=int))
                labels = binarizer.classes_
                if classes is not None:
                    raise ExportError("classes= does not apply to a multi-label network "
                                      "(scikit-learn numbers its labels 0..n_outputs-1)")
        if len(binarizer.classes_) != len(labels) or \
                (n_out > 1 and len(binarizer.classes_) != n_out) or \
                (n_out == 1 and len(binarizer.classes_) != 2):
            raise ExportError(f"classes has {len(labels)} distinct labels but the network "
                              f"has {n_out} output{'s' * (n_out != 1)}"
                              + (" (one output = two classes)" if n_out == 1 else ""))
        est._label_binarizer = binarizer
        est.classes_ = binarizer.classes_
    est.coefs_, est.intercepts_ = coefs, intercepts
    est.n_features_in_ = coefs[0].shape[0]
    est.n_layers_ = len(coefs) + 1
    est.n_outputs_ = n_out
    est.out_activation_ = out_activation
    est.n_iter_, est.t_ = 0, 0
    return est


__all__ = ["ExportError", "from_safetensors", "from_sklearn", "to_onnx", "to_safetensors",
           "to_sklearn", "torch_source"]
