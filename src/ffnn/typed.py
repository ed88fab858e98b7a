r"""Typed, validated parameters, gradients and model-file metadata (pydantic).

Seed 004 kept its gradients in typed objects; this module does that for any ffnn network,
beside the plain arrays rather than instead of them (the layers, the optimisers and the
training loop keep working on NumPy arrays):

    >>> from ffnn.typed import NetworkParams, ModelMetadata
    >>> p = NetworkParams.from_network(net)      # every Dense layer's W, b and dW, db, checked
    >>> p.params[0].W.shape, p.grads[0].W.shape   # (D_in, D_out) both
    >>> text = p.model_dump_json()               # arrays as {dtype, shape, data (base64)}
    >>> NetworkParams.model_validate_json(text).load_into(net)   # bit for bit
    >>> ModelMetadata.from_file("model.npz")     # a model file's JSON description, typed

What is checked
---------------
* An array field (``Matrix``, ``Vector``) holds a float32 or float64 NumPy array of its number
  of dimensions; in JSON it is ``{"dtype": "float32", "shape": [2, 16], "data": ...}`` with
  ``data`` the little-endian bytes in base64 (exact) or, with ``to_dict(arrays="list")``,
  nested lists (exact too: every float32 and float64 is a JSON number that reads back the same).
* ``DenseParams``: W (D_in, D_out) and b (D_out,) of one dtype.  The gradients of a layer,
  dW and db, have the same shapes and use the same class.
* ``NetworkParams``: the Dense layers keyed by their index in the Sequential (the ``"2"`` of
  ``net.parameters()["2.W"]``), one dtype for all, each layer's D_in equal to the D_out of the
  Dense layer before it, and gradients (if taken) with exactly the parameters' layers and shapes.
* ``ModelMetadata``: the ``__ffnn__.json`` member of a model or checkpoint file (see
  ``ffnn.io``): the layers from the allow-list with their settings, the arrays each layer needs
  with their shapes and dtypes, the checkpoint's optimiser, loss and position.  Its JSON Schema
  (``ModelMetadata.model_json_schema()``, or ``python -m ffnn.typed``) is published in the
  documentation as ``model-file-schema.json``.  ``ffnn.io.load`` remains the authority on
  which files load: it checks the same fields (and the arrays' bytes) without pydantic.

Every failure is a ``pydantic.ValidationError`` (a ValueError) whose location names the layer
and the array, e.g. ``params.2.b``.  pydantic is optional (``pip install "ffnn[all]"``): this
module imports it, ``import ffnn`` does not import this module.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Annotated, Any, Literal

import numpy as np

try:
    from pydantic import BaseModel, ConfigDict, Field, model_validator
    from pydantic_core import core_schema
except ImportError as exc:  # pragma: no cover - pydantic is in the dev extras
    raise ImportError("ffnn.typed needs pydantic>=2: pip install 'pydantic>=2' (or "
                      "'ffnn[all]')") from exc

from .io import FORMAT_NAME, FORMAT_VERSION, MAX_LAYERS, read_metadata
from .layers import Dense
from .losses import LOSSES
from .network import OUTPUT_KINDS
from .optimizers import OPTIMIZERS

FloatDType = Literal["float32", "float64"]
_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}


# --------------------------------------------------------------------------- arrays
class _FloatArray:
    """pydantic annotation: a float32/float64 NumPy array with ``ndim`` dimensions.

    Accepted: an ``np.ndarray`` (kept as it is, not copied), or the JSON form
    ``{"dtype", "shape", "data"}`` with ``data`` base64 bytes (little-endian, C order) or
    nested lists.  Dumped as the array itself in Python mode and as the JSON form in JSON mode
    (base64, or lists if the serialisation context says ``{"arrays": "list"}``).
    """

    def __init__(self, ndim: int, shape_text: str) -> None:
        self.ndim, self.shape_text = ndim, shape_text

    def validate(self, value) -> np.ndarray:
        if isinstance(value, dict):
            value = _from_json(value)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"must be a NumPy array {self.shape_text} or "
                             f"{{dtype, shape, data}}, got {type(value).__name__}")
        if value.dtype.name not in _DTYPES:
            raise ValueError(f"must be float32 or float64, got {value.dtype}")
        if value.ndim != self.ndim:
            raise ValueError(f"must be {self.ndim}-D {self.shape_text}, got shape "
                             f"{value.shape}")
        return value

    def serialize(self, value: np.ndarray, info):
        if info.mode != "json":
            return value
        lists = isinstance(info.context, dict) and info.context.get("arrays") == "list"
        return _to_json(value, lists)

    def __get_pydantic_core_schema__(self, source, handler):
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                self.serialize, info_arg=True))

    def __get_pydantic_json_schema__(self, schema, handler):
        return {
            "type": "object",
            "description": f"a {self.ndim}-D array {self.shape_text}: dtype, shape, and the "
                           "values (base64 of the little-endian bytes in C order, or nested "
                           "lists)",
            "properties": {
                "dtype": {"enum": list(_DTYPES)},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0},
                          "minItems": self.ndim, "maxItems": self.ndim},
                "data": {"anyOf": [{"type": "string", "contentEncoding": "base64"},
                                   {"type": "array"}]},
            },
            "required": ["dtype", "shape", "data"],
            "additionalProperties": False,
        }


def _to_json(a: np.ndarray, lists: bool = False) -> dict:
    data = a.tolist() if lists else base64.b64encode(
        np.ascontiguousarray(a, dtype=_DTYPES[a.dtype.name]).tobytes()).decode("ascii")
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": data}


def _from_json(d: dict) -> np.ndarray:
    if set(d) != {"dtype", "shape", "data"}:
        raise ValueError(f"an array in JSON is {{dtype, shape, data}}, got keys {sorted(d)}")
    if d["dtype"] not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {d['dtype']!r}")
    shape = d["shape"]
    if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"shape must be a list of non-negative integers, got {shape!r}")
    dtype, data = _DTYPES[d["dtype"]], d["data"]
    if isinstance(data, str):
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise ValueError("data is not valid base64") from None
        n = int(np.prod(shape, dtype=np.int64))
        if len(raw) != n * dtype.itemsize:
            raise ValueError(f"data holds {len(raw)} bytes; {d['dtype']}{tuple(shape)} needs "
                             f"{n * dtype.itemsize}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    a = np.asarray(data, dtype=dtype.newbyteorder("="))
    if list(a.shape) != shape:
        raise ValueError(f"data has shape {a.shape} but shape says {tuple(shape)}")
    return a


#: a 2-D float array, e.g. W (D_in, D_out)
Matrix = Annotated[np.ndarray, _FloatArray(2, "(D_in, D_out)")]
#: a 1-D float array, e.g. b (D_out,)
Vector = Annotated[np.ndarray, _FloatArray(1, "(D_out,)")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)


# --------------------------------------------------------------------------- parameters
class DenseParams(_Strict):
    """One Dense layer's parameters, or their gradients (same shapes):

        W (D_in, D_out)    (dW = X^T dZ for gradients)
        b (D_out,)         (db = sum over the batch of dZ)

    both float32 or both float64.
    """

    W: Matrix = Field(description="weights (D_in, D_out); rows are inputs")
    b: Vector = Field(description="biases (D_out,)")

    @model_validator(mode="after")
    def _shapes_agree(self):
        if self.b.shape != (self.W.shape[1],):
            raise ValueError(f"b has shape {self.b.shape} but W {self.W.shape} needs "
                             f"({self.W.shape[1]},)")
        if self.b.dtype != self.W.dtype:
            raise ValueError(f"b is {self.b.dtype} but W is {self.W.dtype}")
        return self

    @property
    def in_features(self) -> int:
        return int(self.W.shape[0])

    @property
    def out_features(self) -> int:
        return int(self.W.shape[1])

    @property
    def dtype(self) -> str:
        return self.W.dtype.name


class NetworkParams(_Strict):
    """Every Dense layer's W and b (and, if taken, dW and db) of a ``Sequential``, keyed by
    the layer's index, e.g. ``params[2].W`` is ``net.parameters()["2.W"]``.

    Build it with ``from_network``; put it back with ``load_into``; dump it with
    ``model_dump_json()`` / ``to_dict()`` and read it with ``model_validate_json`` /
    ``model_validate``.  Shapes and dtypes are checked on every one of these paths.
    """

    dtype: FloatDType = Field(description="the dtype of every array")
    params: dict[int, DenseParams] = Field(description="layer index -> its W and b")
    grads: dict[int, DenseParams] | None = Field(
        None, description="layer index -> dL/dW and dL/db (the shapes of params), as the last "
                          "backward pass left them; null when not taken")

    @model_validator(mode="after")
    def _consistent(self):
        width, before = None, None
        for i in sorted(self.params):
            p = self.params[i]
            if i < 0:
                raise ValueError(f"layer index {i} is negative")
            if p.dtype != self.dtype:
                raise ValueError(f"layer {i}: W and b are {p.dtype}, not {self.dtype}")
            if width is not None and p.in_features != width:
                raise ValueError(f"layer {i}: W {p.W.shape} takes {p.in_features} inputs but "
                                 f"layer {before} gives {width}")
            width, before = p.out_features, i
        if self.grads is not None:
            if set(self.grads) != set(self.params):
                raise ValueError(f"grads are for layers {sorted(self.grads)}, params for "
                                 f"{sorted(self.params)}")
            for i, g in self.grads.items():
                p = self.params[i]
                for k in ("W", "b"):
                    ga, pa = getattr(g, k), getattr(p, k)
                    if ga.shape != pa.shape or ga.dtype != pa.dtype:
                        raise ValueError(f"layer {i}: d{k} is {ga.dtype}{ga.shape} but {k} is "
                                         f"{pa.dtype}{pa.shape}")
        return self

    @classmethod
    def from_network(cls, net, *, grads: bool = True, copy: bool = True) -> NetworkParams:
        """The parameters (and gradients, unless ``grads=False``) of ``net``, validated.

        ``copy=False`` keeps the live arrays (changing them changes the network).  A layer
        with parameters that is not a Dense layer raises a ValueError naming it.
        """
        params, gradients = {}, {}
        for i, layer in enumerate(net.layers):
            if not layer.params:
                continue
            if not isinstance(layer, Dense) or set(layer.params) != {"W", "b"}:
                raise ValueError(f"layer {i} ({type(layer).__name__}) has parameters "
                                 f"{sorted(layer.params)}; NetworkParams describes Dense "
                                 "layers (W, b) only")
            take = (lambda a: a.copy()) if copy else (lambda a: a)
            params[i] = {k: take(layer.params[k]) for k in ("W", "b")}
            if grads:
                gradients[i] = {k: take(layer.grads[k]) for k in ("W", "b")}
        if not params:
            raise ValueError("the network has no Dense layer")
        dtype = next(iter(params.values()))["W"].dtype.name
        return cls(dtype=dtype, params=params, grads=gradients if grads else None)

    def load_into(self, net, *, grads: bool = False) -> None:
        """Copy W and b (and dW, db if ``grads``) into ``net``'s layers at the same indices,
        after checking that each is a Dense layer of the same shape and dtype."""
        have = {i for i, layer in enumerate(net.layers) if layer.params}
        if have != set(self.params):
            raise ValueError(f"the network has parameters in layers {sorted(have)}, these "
                             f"are for layers {sorted(self.params)}")
        if grads and self.grads is None:
            raise ValueError("these parameters were taken without gradients")
        for i, p in self.params.items():
            layer = net.layers[i]
            for k in ("W", "b"):
                a, target = getattr(p, k), layer.params.get(k)
                if target is None or a.shape != target.shape or a.dtype != target.dtype:
                    got = "none" if target is None else f"{target.dtype}{target.shape}"
                    raise ValueError(f"layer {i} ({type(layer).__name__}): {k} is "
                                     f"{a.dtype}{a.shape} here but {got} in the network")
        for i, p in self.params.items():
            layer = net.layers[i]
            layer.params["W"][...] = p.W
            layer.params["b"][...] = p.b
            if grads:
                layer.grads["W"][...] = self.grads[i].W
                layer.grads["b"][...] = self.grads[i].b

    def flat(self) -> dict[str, np.ndarray]:
        """``{"0.W": W, "0.b": b, ...}``: the keys and arrays of ``net.parameters()``."""
        return {f"{i}.{k}": getattr(p, k) for i, p in sorted(self.params.items())
                for k in ("W", "b")}

    def flat_grads(self) -> dict[str, np.ndarray]:
        """``{"0.W": dW, ...}``: the keys and arrays of ``net.gradients()``."""
        if self.grads is None:
            raise ValueError("these parameters were taken without gradients")
        return {f"{i}.{k}": getattr(g, k) for i, g in sorted(self.grads.items())
                for k in ("W", "b")}

    def array_specs(self) -> dict[str, ArraySpec]:
        """The ``arrays`` entries a model file holds for these parameters (``param/0.W``...)."""
        return {f"param/{k}": ArraySpec(shape=list(a.shape), dtype=a.dtype.name)
                for k, a in self.flat().items()}

    def to_dict(self, arrays: Literal["base64", "list"] = "base64") -> dict:
        """A JSON-ready dict; arrays as ``{dtype, shape, data}`` with base64 or list data."""
        if arrays not in ("base64", "list"):
            raise ValueError(f"arrays must be 'base64' or 'list', got {arrays!r}")
        return self.model_dump(mode="json", context={"arrays": arrays})


# --------------------------------------------------------------------------- model files
class ArraySpec(_Strict):
    """An array a model file holds, as its JSON description names it."""

    shape: list[Annotated[int, Field(ge=0)]] = Field(description="the array's shape")
    dtype: FloatDType


class DenseConfig(_Strict):
    in_features: int = Field(ge=1, description="D_in")
    out_features: int = Field(ge=1, description="D_out")
    init: str = Field("glorot_uniform", description="the initialiser it was built with")
    dtype: FloatDType = "float32"


class DenseSpec(_Strict):
    """``Dense(in_features, out_features)``: Z = X W + b; arrays ``param/<i>.W`` and
    ``param/<i>.b``."""

    type: Literal["Dense"]
    config: DenseConfig


class DropoutConfig(_Strict):
    p: float = Field(0.5, ge=0, lt=1, description="probability of dropping a unit")


class DropoutSpec(_Strict):
    """``Dropout(p)``: identity at inference."""

    type: Literal["Dropout"]
    config: DropoutConfig


class LeakyReLUConfig(_Strict):
    alpha: float = Field(0.01, ge=0, description="slope for Z <= 0")


class LeakyReLUSpec(_Strict):
    type: Literal["LeakyReLU"]
    config: LeakyReLUConfig


class ELUConfig(_Strict):
    alpha: float = Field(1.0, ge=0, description="alpha (exp(Z) - 1) for Z <= 0")


class ELUSpec(_Strict):
    type: Literal["ELU"]
    config: ELUConfig


class NoConfig(_Strict):
    """No settings."""


class ActivationSpec(_Strict):
    """A parameter-free activation without settings."""

    type: Literal["Identity", "Sigmoid", "Tanh", "ReLU", "GELU", "Softplus", "Softmax"]
    config: NoConfig


#: one entry of ``layers``: chosen by its ``type``
LayerSpec = Annotated[DenseSpec | DropoutSpec | LeakyReLUSpec | ELUSpec | ActivationSpec,
                      Field(discriminator="type")]


class OptimizerSpec(_Strict):
    name: Literal[tuple(sorted(OPTIMIZERS))]  # type: ignore[valid-type]
    config: dict[str, float | bool | None] = Field(description="its constructor's settings")
    iterations: int = Field(ge=0, description="steps taken")


class Position(_Strict):
    epoch: int = Field(ge=0, description="the next epoch to run (0-based)")
    batch: int = Field(ge=0, description="the next batch of that epoch (0: an epoch boundary)")


class ModelMetadata(_Strict):
    """The JSON description (``__ffnn__.json``) of an ffnn model or checkpoint file.

    Beyond each field's type: the Dense layers chain (each D_in is the D_out before it); the
    ``arrays`` hold exactly ``param/<i>.W`` (D_in, D_out) and ``param/<i>.b`` (D_out,) in the
    layer's dtype for every Dense layer i, plus, in a checkpoint, optimiser state
    ``opt/<parameter>/<slot>`` shaped like its parameter; a checkpoint has its optimiser,
    loss, seed and position.
    """

    model_config = ConfigDict(title="ffnn model file metadata (__ffnn__.json)")

    format: Literal[FORMAT_NAME] = Field(description="always \"ffnn\"")  # type: ignore
    version: int = Field(ge=1, le=FORMAT_VERSION, description="file format version")
    ffnn_version: str | None = Field(None, description="the ffnn that wrote the file")
    kind: Literal["model", "checkpoint"]
    layers: list[LayerSpec] = Field(min_length=1, max_length=MAX_LAYERS,
                                    description="the Sequential's layers, in order")
    output: Literal[OUTPUT_KINDS] | None = Field(  # type: ignore[valid-type]
        None, description="what the raw output means (null: guessed from the shape)")
    arrays: dict[str, ArraySpec] = Field(description="name -> shape and dtype of every array")
    extra: dict[str, Any] = Field(default_factory=dict,
                                  description="the writer's own JSON data (ffnn.save(extra=))")
    optimizer: OptimizerSpec | None = Field(None, description="checkpoints: the optimiser")
    loss: Literal[tuple(sorted(LOSSES))] | None = Field(  # type: ignore[valid-type]
        None, description="checkpoints: the loss")
    seed: int | None = Field(None, ge=0, description="checkpoints: fit's seed")
    position: Position | None = Field(None, description="checkpoints: where training stands")
    fit: dict[str, Any] | None = Field(None, description="checkpoints: fit's settings")
    history: list[dict[str, Any]] | None = Field(None, description="checkpoints: per epoch")
    resume_state: dict[str, Any] | None = Field(
        None, description="checkpoints: mid-epoch accumulators and dropout generator states")

    @model_validator(mode="after")
    def _arrays_match_layers(self):
        needed = self.parameter_specs()
        for name, spec in needed.items():
            have = self.arrays.get(name)
            if have is None:
                raise ValueError(f"arrays lacks {name!r} ({spec.dtype}{tuple(spec.shape)}), "
                                 "which the layers need")
            if have != spec:
                raise ValueError(f"array {name!r} is {have.dtype}{tuple(have.shape)} but the "
                                 f"layers need {spec.dtype}{tuple(spec.shape)}")
        for name, have in self.arrays.items():
            if name in needed:
                continue
            param, _, slot = name.removeprefix("opt/").rpartition("/")
            if self.kind != "checkpoint" or not name.startswith("opt/") or \
                    f"param/{param}" not in needed or not slot:
                raise ValueError(f"array {name!r} is neither a parameter of the layers"
                                 + (" nor optimiser state" if self.kind == "checkpoint"
                                    else ""))
            spec = needed[f"param/{param}"]
            if have != spec:
                raise ValueError(f"optimiser state {name!r} is {have.dtype}"
                                 f"{tuple(have.shape)} but its parameter is "
                                 f"{spec.dtype}{tuple(spec.shape)}")
        if self.kind == "checkpoint":
            missing = [k for k in ("optimizer", "loss", "seed", "position")
                       if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a checkpoint needs {', '.join(missing)}")
        return self

    def parameter_specs(self) -> dict[str, ArraySpec]:
        """``{"param/<i>.W": ..., "param/<i>.b": ...}`` for the Dense layers; their sizes
        must chain."""
        specs, width, before = {}, None, None
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, DenseSpec):
                continue
            c = layer.config
            if width is not None and c.in_features != width:
                raise ValueError(f"layers[{i}] (Dense {c.in_features}->{c.out_features}) "
                                 f"takes {c.in_features} inputs but layers[{before}] gives "
                                 f"{width}")
            specs[f"param/{i}.W"] = ArraySpec(shape=[c.in_features, c.out_features],
                                              dtype=c.dtype)
            specs[f"param/{i}.b"] = ArraySpec(shape=[c.out_features], dtype=c.dtype)
            width, before = c.out_features, i
        return specs

    @classmethod
    def from_file(cls, path) -> ModelMetadata:
        """The typed description of a model or checkpoint file (``ffnn.io.read_metadata``
        checks the file first; no array data is read)."""
        return cls.model_validate(read_metadata(path))


def model_file_schema() -> dict:
    """The JSON Schema of ``__ffnn__.json`` (``ModelMetadata``), as published in the docs."""
    schema = ModelMetadata.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


if __name__ == "__main__":  # python -m ffnn.typed > docs/guides/model-file-schema.json
    json.dump(model_file_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
