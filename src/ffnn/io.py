"""Safe model files and training checkpoints: one ``.npz`` file, no pickle anywhere.

Layout of a file (format version 1), a NumPy ``.npz`` zip archive holding only plain arrays:

* ``__ffnn__.json``: UTF-8 JSON stored as a uint8 array: format name and version, kind
  ("model" or "checkpoint"), the layers (type + constructor arguments), the output kind, and
  the name, shape and dtype of every array; checkpoints add the optimiser (name, settings,
  step count), the loss, the seed, the position (epoch, batch) and the history.
* ``param/<name>``: every parameter, e.g. ``param/0.W``.
* ``opt/<name>/<slot>``: optimiser state, e.g. ``opt/0.W/m`` (checkpoints only).

Loading uses ``np.load(..., allow_pickle=False)``: an object array or a pickled payload is
rejected before anything is unpickled, so no code in a file can run.  Every layer type is
checked against an allow-list and every array's shape and dtype against the architecture.
Saving is atomic: the file is written under a temporary name in the same directory, flushed
to disk, then renamed over the target, so a crash mid-save never destroys the previous file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._version import __version__ as _ffnn_version
from .activations import ACTIVATIONS
from .layers import Dense, Dropout, Layer
from .network import Sequential
from .optimizers import OPTIMIZERS, Optimizer

FORMAT_NAME = "ffnn"
FORMAT_VERSION = 1
META_KEY = "__ffnn__.json"

#: the only layer types a file may name, mapped to their classes
LAYER_TYPES: dict[str, type[Layer]] = {"Dense": Dense, "Dropout": Dropout}
LAYER_TYPES.update({cls.__name__: cls for cls in set(ACTIVATIONS.values())})


class ModelFileError(ValueError):
    """A model or checkpoint file that is corrupt, unsafe, or not an ffnn file."""


# --------------------------------------------------------------------------- writing
def _layer_spec(layer: Layer) -> dict:
    name = type(layer).__name__
    if LAYER_TYPES.get(name) is not type(layer):
        raise TypeError(f"cannot save layer type {name}: only built-in layers "
                        f"({', '.join(sorted(LAYER_TYPES))}) can be saved")
    return {"type": name, "config": layer.config()}


def _array_specs(arrays: dict[str, np.ndarray]) -> dict:
    return {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in arrays.items()}


def _atomic_savez(path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to exactly ``path`` (no suffix added) via temporary file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved model is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _model_meta(net: Sequential, extra: dict | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    params = net.parameters()
    arrays = {f"param/{k}": v for k, v in params.items()}
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "ffnn_version": _ffnn_version,
        "kind": "model",
        "layers": [_layer_spec(layer) for layer in net.layers],
        "output": net.output,
        "arrays": _array_specs(arrays),
        "extra": extra or {},
    }
    return meta, arrays


def _pack(meta: dict, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    return {META_KEY: blob, **arrays}


def save(net: Sequential, path, extra: dict | None = None) -> Path:
    """Save the network (architecture + weights) to exactly ``path``, atomically.

    ``extra`` is any JSON-serialisable dict stored alongside (e.g. class names, feature
    scaling); ``read_metadata(path)["extra"]`` gives it back.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"save expects an ffnn Sequential, got {type(net).__name__}")
    meta, arrays = _model_meta(net, extra)
    _atomic_savez(path, _pack(meta, arrays))
    return Path(path)


# --------------------------------------------------------------------------- reading
def _read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and sanity-check a file: (meta, arrays).  Never unpickles anything."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:1] == b"\x80":
        raise ModelFileError(f"{path} holds a pickled Python object, which ffnn never loads "
                             "(model files must not run code); it is not an ffnn model")
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path} is corrupt or not an ffnn model file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            arrays = {k: npz[k] for k in names}
    except ValueError:  # an object array inside: loading it would need pickle
        raise ModelFileError(f"{path} is not a safe ffnn file: it holds pickled Python objects, "
                             "which ffnn never loads") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise ModelFileError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}); "
                             "it is not a readable ffnn file") from None
    if META_KEY not in arrays:
        raise ModelFileError(f"{path} is an .npz file but not an ffnn model (no {META_KEY})")
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: the ffnn description is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not an ffnn model file")
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path} has format version {version!r}; this ffnn ({_ffnn_version}) reads "
            f"versions 1..{FORMAT_VERSION}: upgrade ffnn to load it"
        )
    specs = meta.get("arrays")
    if not isinstance(specs, dict) or set(specs) != set(arrays):
        raise ModelFileError(f"{path}: the arrays in the file do not match its description "
                             f"(described {sorted(specs or {})}, present {sorted(arrays)})")
    for k, spec in specs.items():
        a = arrays[k]
        if list(a.shape) != spec.get("shape") or a.dtype.name != spec.get("dtype"):
            raise ModelFileError(f"{path}: array {k!r} is {a.dtype.name}{list(a.shape)} but the "
                                 f"file describes {spec.get('dtype')}{spec.get('shape')}")
        if a.dtype.kind not in "fiub":
            raise ModelFileError(f"{path}: array {k!r} has unsupported dtype {a.dtype}")
    return meta, arrays


def _build_network(meta: dict, arrays: dict[str, np.ndarray], path) -> Sequential:
    layers = []
    specs = meta.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ModelFileError(f"{path}: no layers described")
    for i, spec in enumerate(specs):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in LAYER_TYPES:
            raise ModelFileError(f"{path}: layer {i} has unknown type {kind!r}; allowed: "
                                 f"{', '.join(sorted(LAYER_TYPES))}")
        config = spec.get("config", {})
        if not isinstance(config, dict):
            raise ModelFileError(f"{path}: layer {i} config must be a mapping")
        try:
            if kind == "Dense":
                layer = Dense(config["in_features"], config["out_features"], init="zeros",
                              dtype=config.get("dtype", "float32"))
                layer.init = config.get("init", "glorot_uniform")
            else:
                layer = LAYER_TYPES[kind](**config)
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: layer {i} ({kind}) has invalid settings {config}: "
                                 f"{exc}") from None
        layers.append(layer)
    try:
        net = Sequential(*layers, output=meta.get("output"))
    except ValueError as exc:
        raise ModelFileError(f"{path}: inconsistent architecture: {exc}") from None
    params = net.parameters()
    stored = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    if set(stored) != set(params):
        raise ModelFileError(f"{path}: parameters {sorted(stored)} do not match the "
                             f"architecture's {sorted(params)}")
    for k, p in params.items():
        if stored[k].shape != p.shape or stored[k].dtype != p.dtype:
            raise ModelFileError(f"{path}: parameter {k!r} is {stored[k].dtype}"
                                 f"{stored[k].shape}, the architecture needs {p.dtype}{p.shape}")
        if not np.isfinite(stored[k]).all():
            raise ModelFileError(f"{path}: parameter {k!r} contains NaN or infinite values")
        p[...] = stored[k]
    return net


def load(path) -> Sequential:
    """Load a network saved by ``save`` (or the network inside a checkpoint)."""
    meta, arrays = _read(path)
    return _build_network(meta, arrays, path)


# --------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """Everything needed to continue a ``fit`` exactly where it stopped."""

    net: Sequential
    optimizer: Optimizer
    history: object  # ffnn.training.History
    loss: str
    seed: int
    epoch: int  # the next epoch to run (0-based)
    batch: int  # the next batch within that epoch (0 = at an epoch boundary)
    fit_settings: dict = field(default_factory=dict)
    resume_state: dict | None = None  # mid-epoch accumulators and dropout RNG states

    def resume(self, X, y, epochs: int | None = None, **kwargs):
        """Continue training: run up to ``epochs`` *total* epochs (default: the original
        target), with the original batch size, shuffling and seed."""
        from .training import fit

        target = epochs if epochs is not None else self.fit_settings.get("target_epochs")
        if target is None:
            raise ValueError("this checkpoint does not record how many epochs were planned; "
                             "pass epochs= (the total number of epochs to reach)")
        settings = {"batch_size": self.fit_settings.get("batch_size"),
                    "shuffle": self.fit_settings.get("shuffle", True), "verbose": 0}
        settings.update(kwargs)
        return fit(self.net, X, y, self.loss, self.optimizer,
                   epochs=max(int(target) - self.epoch, 0), seed=self.seed,
                   history=self.history, initial_epoch=self.epoch, _resume=self, **settings)


def save_checkpoint(path, context, position: tuple[int, int] | None = None,
                    resume_state: dict | None = None, extra: dict | None = None) -> Path:
    """Write a resumable checkpoint of a running ``fit`` (its TrainingContext) atomically.

    ``position`` = (next epoch, next batch); by default the end of ``context.epoch``.
    """
    net, opt, history = context.net, context.optimizer, context.history
    if extra is None:
        extra = context.extra.get("model_extra")
    meta, arrays = _model_meta(net, extra)
    opt_arrays = {f"opt/{k}": v for k, v in opt.state_dict().items()}
    arrays.update(opt_arrays)
    epoch, batch = position if position is not None else (context.epoch + 1, 0)
    meta.update({
        "kind": "checkpoint",
        "arrays": _array_specs(arrays),
        "optimizer": {"name": opt.name, "config": opt.config(), "iterations": opt.iterations},
        "loss": context.loss.name,
        "seed": int(context.seed),
        "position": {"epoch": int(epoch), "batch": int(batch)},
        "fit": context.extra.get("fit", {}),
        "history": history.records,
        "resume_state": resume_state,
    })
    _atomic_savez(path, _pack(meta, arrays))
    return Path(path)


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` / ``fit(checkpoint=...)``."""
    from .training import History

    meta, arrays = _read(path)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path} is a model file, not a training checkpoint")
    net = _build_network(meta, arrays, path)
    spec = meta.get("optimizer") or {}
    if spec.get("name") not in OPTIMIZERS:
        raise ModelFileError(f"{path}: unknown optimiser {spec.get('name')!r}")
    try:
        opt = OPTIMIZERS[spec["name"]](**spec.get("config", {}))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid optimiser settings: {exc}") from None
    state = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}
    params = net.parameters()
    for key, arr in state.items():
        name = key.rsplit("/", 1)[0]
        if name not in params or arr.shape != params[name].shape:
            raise ModelFileError(f"{path}: optimiser state {key!r} does not match any parameter")
    opt.load_state_dict(state, spec.get("iterations", 0))
    pos = meta.get("position", {})
    history = History(meta.get("history", []), seed=meta.get("seed"))
    return Checkpoint(net=net, optimizer=opt, history=history, loss=meta.get("loss", "mse"),
                      seed=int(meta.get("seed", 0)), epoch=int(pos.get("epoch", 0)),
                      batch=int(pos.get("batch", 0)), fit_settings=meta.get("fit", {}),
                      resume_state=meta.get("resume_state"))


def read_metadata(path) -> dict:
    """The JSON description of a model or checkpoint file (validated, arrays not built)."""
    return _read(path)[0]
