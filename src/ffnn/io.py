"""Safe model files and training checkpoints: one ``.npz`` file, no pickle anywhere.

Layout of a file (format version 1), a NumPy ``.npz`` zip archive holding only plain arrays:

* ``__ffnn__.json``: UTF-8 JSON stored as a uint8 array: format name and version, kind
  ("model" or "checkpoint"), the layers (type + constructor arguments), the output kind, and
  the name, shape and dtype of every array; checkpoints add the optimiser (name, settings,
  step count), the loss, the seed, the position (epoch, batch) and the history.
* ``param/<name>``: every parameter, e.g. ``param/0.W``.
* ``opt/<name>/<slot>``: optimiser state, e.g. ``opt/0.W/m`` (checkpoints only).

Loading trusts nothing the file says about itself until it is checked, and checks it before
allocating anything big: the zip directory (``ffnn._npz``), then every field of the JSON
(types, layer types from an allow-list, layer sizes against ``MAX_PARAMS``), then every
array's ``.npy`` header (dtype, shape, size) against the JSON, and only then reads each
array's data straight into the layer built for it (see ``load`` for the order).  Nothing is
ever unpickled, so no code in a file can run; parameters are float32 or float64,
little-endian, C order.  Every problem with a file is a ``ModelFileError`` naming the file
and the field or array.

Saving is atomic: the file is written under a temporary name in the same directory
(``.<name>.ffnn-tmp-<pid>-<random>``), flushed to disk, then renamed over the target, so a
crash mid-save never destroys the previous file; a temporary left by a save that was killed
is removed by the next save to the same path once its process is gone.  Weights holding NaN
or infinity are refused on both sides unless ``allow_nonfinite=True``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _npz
from ._version import __version__ as _ffnn_version
from .activations import ACTIVATIONS
from .history import History
from .layers import Dense, Dropout, Layer
from .losses import LOSSES
from .network import OUTPUT_KINDS, Sequential
from .optimizers import OPTIMIZERS, Optimizer

FORMAT_NAME = "ffnn"
FORMAT_VERSION = 1
META_KEY = "__ffnn__.json"

#: the only layer types a file may name, mapped to their classes
LAYER_TYPES: dict[str, type[Layer]] = {"Dense": Dense, "Dropout": Dropout}
LAYER_TYPES.update({cls.__name__: cls for cls in set(ACTIVATIONS.values())})

#: the most parameters ``load`` / ``load_checkpoint`` build unless given ``max_params=``; the
#: layer sizes in the JSON are checked against it before any layer or array is allocated
MAX_PARAMS = 50_000_000
#: the largest JSON description read (a checkpoint's history grows with its epochs)
MAX_METADATA_BYTES = 8 << 20
#: the most layers a file may describe
MAX_LAYERS = 10_000
#: parameter dtypes a file may hold: name in the JSON -> ``.npy`` descr (little-endian always)
PARAM_DTYPES = {"float32": "<f4", "float64": "<f8"}
_MAX_COUNT = 2**63 - 1  # epochs, steps, iterations: anything larger is a damaged file


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


_TMP_MARK = ".ffnn-tmp-"
_TMP_TAIL = re.compile(r"([0-9]{1,10})-[A-Za-z0-9_]+")  # <pid>-<mkstemp's random part>


def _pid_alive(pid: int) -> bool:
    """True unless process ``pid`` is known not to exist on this machine."""
    if os.name != "posix":
        return True  # Windows' os.kill(pid, 0) would terminate the process, not probe it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: alive, owned by someone else
        return True
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete ``.<name>.ffnn-tmp-<pid>-<random>`` files of earlier saves to ``path`` whose
    process no longer exists (a save killed between creating and renaming its file).

    A file whose process is alive may be another save in progress, so it stays; so do this
    process's own (another thread may be writing it).
    """
    prefix = f".{path.name}{_TMP_MARK}"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        match = _TMP_TAIL.fullmatch(name, len(prefix)) if name.startswith(prefix) else None
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == 0 or pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.parent / name)


def _write_error(exc: OSError, path: Path) -> OSError:
    """The same kind of OSError, naming the file asked for rather than the temporary one."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    msg = f"cannot write {path.name} in {os.path.abspath(path.parent)}: " \
          f"{reason[:1].lower()}{reason[1:]}"
    try:
        new = type(exc)(msg)
    except TypeError:
        new = OSError(msg)
    new.errno = exc.errno
    return new


def _atomic_savez(path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to exactly ``path`` (no suffix added) via temporary file + rename.

    The temporary file is ``.<name>.ffnn-tmp-<pid>-<random>`` next to ``path``; leftovers of
    earlier saves to ``path`` killed mid-write (their process gone) are removed first.  An
    OSError names ``path``, e.g. "cannot write model.npz in /x: permission denied".
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent,
                                   prefix=f".{path.name}{_TMP_MARK}{os.getpid()}-")
    except OSError as exc:
        raise _write_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved model is an ordinary file
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(exc, path) from None
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def _model_meta(net: Sequential, extra: dict | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    params = net.parameters()
    arrays = {f"param/{k}": _portable(v) for k, v in params.items()}
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


def _portable(a: np.ndarray) -> np.ndarray:
    """C order, little-endian: the only layout ``load`` accepts (a no-op on usual machines)."""
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))


def _nonfinite_text(n_nan: int, n_inf: int) -> str:
    parts = [f"{n_nan} NaN value{'s' * (n_nan != 1)}"] if n_nan else []
    parts += [f"{n_inf} infinite value{'s' * (n_inf != 1)}"] if n_inf else []
    return " and ".join(parts)


def _count_nonfinite(a: np.ndarray) -> tuple[int, int]:
    """(number of NaN, number of ±inf) in ``a``; one sum clears the usual all-finite case."""
    with np.errstate(over="ignore", invalid="ignore"):
        if a.size == 0 or np.isfinite(np.sum(a)):
            return 0, 0
    return int(np.isnan(a).sum()), int(np.isinf(a).sum())


def _refuse_nonfinite(arrays: dict[str, np.ndarray], what: str) -> None:
    for k, a in arrays.items():
        n_nan, n_inf = _count_nonfinite(a)
        if n_nan or n_inf:
            raise ValueError(f"refusing to save: {what} {k!r} holds "
                             f"{_nonfinite_text(n_nan, n_inf)}; pass allow_nonfinite=True to "
                             "save anyway")


def _pack(meta: dict, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    text = json.dumps(meta).encode("utf-8")
    if len(text) > MAX_METADATA_BYTES:
        raise ValueError(f"refusing to save: the JSON description is {len(text):,} bytes, more "
                         f"than the {MAX_METADATA_BYTES:,} that load reads "
                         "(ffnn.io.MAX_METADATA_BYTES); is `extra` or the history that large?")
    return {META_KEY: np.frombuffer(text, dtype=np.uint8), **arrays}


def save(net: Sequential, path, extra: dict | None = None, *,
         allow_nonfinite: bool = False) -> Path:
    """Save the network (architecture + weights) to exactly ``path``, atomically.

    ``extra`` is any JSON-serialisable dict stored alongside (e.g. class names, feature
    scaling); ``read_metadata(path)["extra"]`` gives it back.

    A parameter holding NaN or infinity is refused (ValueError naming it), since ``load``
    would refuse the file; ``allow_nonfinite=True`` saves it anyway (and
    ``load(path, allow_nonfinite=True)`` reads it back).  A save killed mid-write leaves a
    ``.<name>.ffnn-tmp-<pid>-<random>`` file, which the next save to ``path`` removes.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"save expects an ffnn Sequential, got {type(net).__name__}")
    if not allow_nonfinite:
        _refuse_nonfinite(net.parameters(), "parameter")
    meta, arrays = _model_meta(net, extra)
    _atomic_savez(path, _pack(meta, arrays))
    return Path(path)


# --------------------------------------------------------------------------- checking
def _got(value) -> str:
    """A JSON value as a message names it: "a string", "an object", "-3", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**15 else "a huge integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _settings_of(cls: type, skip: tuple[str, ...]) -> dict[str, object]:
    """The keyword arguments a file may give ``cls``, with their defaults (which give the
    type: bool -> true/false, None -> a number or null, otherwise a number)."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and name not in skip and p.default is not inspect.Parameter.empty}


class _Fields:
    """Type checks of the JSON description; every failure names the file and the field."""

    def __init__(self, path) -> None:
        self.path = path

    def error(self, text: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {text}")

    def fail(self, name: str, expected: str, value) -> ModelFileError:
        return self.error(f"metadata field {name!r} must be {expected}, got {_got(value)}")

    def get(self, obj: dict, key: str, name: str):
        if key not in obj:
            raise self.error(f"metadata field {name!r} is missing")
        return obj[key]

    def object(self, value, name: str, expected: str = "an object") -> dict:
        if not isinstance(value, dict):
            raise self.fail(name, expected, value)
        return value

    def list(self, value, name: str, expected: str = "a list") -> list:
        if not isinstance(value, list):
            raise self.fail(name, expected, value)
        return value

    def integer(self, value, name: str, low: int = 0, high: int | None = _MAX_COUNT) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(name, "a positive integer" if low == 1 else
                            "a non-negative integer", value)
        if high is not None and value > high:
            raise self.fail(name, f"an integer of at most {high:,}", value)
        return value

    def number(self, value, name: str, *, optional: bool = False):
        if optional and value is None:
            return value
        if isinstance(value, bool) or not (
                (isinstance(value, int) and abs(value) <= _MAX_COUNT)
                or (isinstance(value, float) and math.isfinite(value))):
            raise self.fail(name, "a finite number" + (" or null" if optional else ""), value)
        return value

    def choice(self, value, name: str, choices) -> str:
        if not isinstance(value, str) or value not in choices:
            shown = _short(value) if isinstance(value, str) else _got(value)
            raise self.error(f"metadata field {name!r} must be one of "
                             f"{', '.join(map(repr, choices))}, got {shown}")
        return value

    def settings(self, config: dict, cls: type, name: str, skip: tuple[str, ...]) -> None:
        """``config`` holds only keyword arguments of ``cls`` with values of their types."""
        allowed = _settings_of(cls, skip)
        for key, value in config.items():
            if key not in allowed:
                raise self.error(f"metadata field {name!r} has {_short(key)}, which is not a "
                                 f"setting of {cls.__name__} ({', '.join(allowed) or 'none'})")
            default = allowed[key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise self.fail(f"{name}.{key}", "true or false", value)
            else:
                self.number(value, f"{name}.{key}", optional=default is None)


def _check_layers(meta: dict, f: _Fields, max_params: int) -> dict[str, tuple[str, list]]:
    """Layer types, settings and sizes, and the parameter count against ``max_params``,
    from the JSON alone; returns the parameters the architecture needs: name -> (dtype,
    shape).  Nothing is built except parameter-free layers (to check their settings)."""
    layers = f.get(meta, "layers", "layers")
    if not isinstance(layers, list) or not layers or len(layers) > MAX_LAYERS:
        raise f.fail("layers", f"a list of 1 to {MAX_LAYERS:,} {{type, config}} objects",
                     layers if not isinstance(layers, list) else f"{len(layers)} layers")
    params: dict[str, tuple[str, list]] = {}
    width = None
    total = 0
    for i, spec in enumerate(layers):
        name = f"layers[{i}]"
        spec = f.object(spec, name, "an object {type, config}")
        kind = f.get(spec, "type", f"{name}.type")
        if not isinstance(kind, str) or kind not in LAYER_TYPES:
            raise f.error(f"layer {i} has unknown type {_short(kind)}; allowed: "
                          f"{', '.join(sorted(LAYER_TYPES))}")
        config = f.object(f.get(spec, "config", f"{name}.config"), f"{name}.config")
        if LAYER_TYPES[kind] is not Dense:
            f.settings(config, LAYER_TYPES[kind], f"{name}.config", skip=("rng",))
            continue
        unknown = set(config) - {"in_features", "out_features", "init", "dtype"}
        if unknown:
            raise f.error(f"metadata field '{name}.config' has {_short(sorted(unknown))}, "
                          "which Dense does not take")
        d_in = f.integer(f.get(config, "in_features", f"{name}.config.in_features"),
                         f"{name}.config.in_features", low=1)
        d_out = f.integer(f.get(config, "out_features", f"{name}.config.out_features"),
                          f"{name}.config.out_features", low=1)
        dtype = f.choice(config.get("dtype", "float32"), f"{name}.config.dtype", PARAM_DTYPES)
        if not isinstance(config.get("init", ""), str):
            raise f.fail(f"{name}.config.init", "an initialiser name", config["init"])
        if width is not None and d_in != width:
            raise f.error(f"inconsistent architecture: layer {i} (Dense {d_in}->{d_out}) "
                          f"expects {d_in} inputs but the previous layer gives {width}")
        width = d_out
        total += d_in * d_out + d_out
        if total > max_params:
            raise f.error(f"layer {i}, Dense({d_in}, {d_out}), brings the parameters to "
                          f"{total:,}, more than max_params={max_params:,}; nothing was "
                          "allocated (pass a larger max_params= to load a model this big)")
        params[f"{i}.W"] = (dtype, [d_in, d_out])
        params[f"{i}.b"] = (dtype, [d_out])
    for i, spec in enumerate(layers):  # settings of parameter-free layers, by their own checks
        cls = LAYER_TYPES[spec["type"]]
        if cls is not Dense:
            try:
                cls(**spec["config"])
            except (TypeError, ValueError) as exc:
                raise f.error(f"layer {i} ({spec['type']}) has invalid settings "
                              f"{_short(spec['config'])}: {exc}") from None
    return params


def _check_optimizer(meta: dict, f: _Fields) -> set[str]:
    """The optimiser's name, settings and step count; returns its state slots (e.g. m, v)."""
    spec = f.object(f.get(meta, "optimizer", "optimizer"), "optimizer",
                    "an object {name, config, iterations}")
    name = f.get(spec, "name", "optimizer.name")
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise f.error(f"unknown optimiser {_short(name)}; known: "
                      f"{', '.join(sorted(OPTIMIZERS))}")
    config = f.object(f.get(spec, "config", "optimizer.config"), "optimizer.config")
    f.settings(config, OPTIMIZERS[name], "optimizer.config", skip=("threads",))
    f.integer(f.get(spec, "iterations", "optimizer.iterations"), "optimizer.iterations")
    opt = _make_optimizer(spec, f, check_only=True)
    return set(opt.state_slots())


def _make_optimizer(spec: dict, f: _Fields, check_only: bool = False) -> Optimizer:
    """The optimiser a checked ``spec`` describes.  ``check_only`` leaves out ``fused``
    (the same settings and state; numba is needed only to run it, and ``load_checkpoint``
    then raises numba's ImportError: the file is fine, the environment lacks a package)."""
    config = {k: v for k, v in spec["config"].items() if not (check_only and k == "fused")}
    try:
        return OPTIMIZERS[spec["name"]](**config)
    except (TypeError, ValueError) as exc:
        raise f.error(f"invalid optimiser settings: {exc}") from None


def _check_arrays(meta: dict, f: _Fields, params: dict, slots: set[str] | None) -> None:
    """``arrays``: its types, then exactly the parameters the layers need (and, in a
    checkpoint, optimiser state ``opt/<parameter>/<slot>`` shaped like its parameter)."""
    arrays = f.object(f.get(meta, "arrays", "arrays"), "arrays",
                      "an object mapping names to {shape, dtype}")
    for name, spec in arrays.items():
        field_name = f'arrays["{name}"]'
        spec = f.object(spec, field_name, "an object {shape, dtype}")
        if set(spec) != {"shape", "dtype"}:
            raise f.error(f"metadata field {field_name!r} must have exactly the keys shape and "
                          f"dtype, got {_short(sorted(spec))}")
        shape = spec["shape"]
        if not isinstance(shape, list) or len(shape) > 32 or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= _MAX_COUNT
                for d in shape):
            raise f.fail(f"{field_name}.shape", "a list of non-negative integers", shape)
        f.choice(spec["dtype"], f"{field_name}.dtype", PARAM_DTYPES)
    needed = {f"param/{k}": v for k, v in params.items()}
    for name, (dtype, shape) in needed.items():
        if name not in arrays:
            raise f.error(f"metadata field 'arrays' lacks {name!r}, which the architecture "
                          f"needs ({dtype}{tuple(shape)})")
    state: dict[str, set[str]] = {}
    for name, spec in arrays.items():
        if name in needed:
            dtype, shape = needed[name]
            what = f"array {name!r}"
        else:
            param, _, slot = name[len("opt/"):].rpartition("/")
            if slots is None or not name.startswith("opt/") or param not in params or \
                    slot not in slots:
                raise f.error(f"metadata field 'arrays' names {_short(name)}, which is neither "
                              "a parameter of the architecture"
                              + (" nor optimiser state" if slots is not None else ""))
            state.setdefault(param, set()).add(slot)
            dtype, shape = params[param]
            what = f"optimiser state {name!r}"
        if spec["dtype"] != dtype or spec["shape"] != shape:
            raise f.error(f"{what} is {spec['dtype']}{tuple(spec['shape'])} but the "
                          f"architecture needs {dtype}{tuple(shape)}")
    for param, have in state.items():
        if have != slots:
            raise f.error(f"optimiser state of {param!r} has slots {sorted(have)}; the "
                          f"optimiser keeps {sorted(slots)}")


def _check_rng_state(value, name: str, f: _Fields) -> None:
    """A dropout layer's ``bit_generator.state`` (PCG64), as fit restores it on resume."""
    state = f.object(value, name, "a PCG64 state object")
    inner = state.get("state")
    ok = (state.get("bit_generator") == "PCG64" and isinstance(inner, dict)
          and set(inner) == {"state", "inc"} and all(
              isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**128
              for v in inner.values())
          and state.get("has_uint32") in (0, 1)
          and isinstance(state.get("uinteger"), int) and 0 <= state["uinteger"] < 2**32)
    if ok:
        try:
            np.random.PCG64().state = state
        except (TypeError, ValueError, KeyError, OverflowError):
            ok = False
    if not ok:
        raise f.error(f"metadata field {name!r} is not a valid PCG64 generator state")


def _check_training_state(meta: dict, f: _Fields) -> None:
    """The loss, seed, position, fit settings, history and mid-epoch state of a checkpoint."""
    loss = f.get(meta, "loss", "loss")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise f.error(f"metadata field 'loss' must name a loss ({', '.join(sorted(LOSSES))}), "
                      f"got {_short(loss) if isinstance(loss, str) else _got(loss)}")
    f.integer(f.get(meta, "seed", "seed"), "seed", high=None)
    position = f.object(f.get(meta, "position", "position"), "position",
                        "an object {epoch, batch}")
    f.integer(f.get(position, "epoch", "position.epoch"), "position.epoch")
    batch = f.integer(f.get(position, "batch", "position.batch"), "position.batch")
    fit = f.object(meta.get("fit", {}), "fit")
    if fit.get("batch_size") is not None:
        f.integer(fit["batch_size"], "fit.batch_size", low=1)
    if fit.get("target_epochs") is not None:
        f.integer(fit["target_epochs"], "fit.target_epochs")
    if "shuffle" in fit and not isinstance(fit["shuffle"], bool):
        raise f.fail("fit.shuffle", "true or false", fit["shuffle"])
    for i, record in enumerate(f.list(meta.get("history", []), "history")):
        f.object(record, f"history[{i}]", "an object (one epoch's logs)")
    resume = meta.get("resume_state")
    dropouts = [str(i) for i, spec in enumerate(meta["layers"]) if spec["type"] == "Dropout"]
    if resume is None:
        if batch and dropouts:
            raise f.error("metadata field 'resume_state' is missing: a checkpoint taken "
                          "mid-epoch needs the dropout generators' states to resume")
        return
    resume = f.object(resume, "resume_state", "an object {running, dropout_rng} or null")
    running = f.object(resume.get("running", {}), "resume_state.running")
    for key in ("loss_sum", "n", "correct", "count"):
        if key in running:
            f.number(running[key], f"resume_state.running.{key}")
    sums = running.get("sums")
    if sums is not None:
        rows = f.list(sums, "resume_state.running.sums", "null or 3 lists of numbers")
        if len(rows) != 3 or not all(isinstance(r, list) and len(r) == len(rows[0])
                                     for r in rows):
            raise f.fail("resume_state.running.sums", "null or 3 lists of equal length", sums)
        for j, row in enumerate(rows):
            for k, v in enumerate(row):
                f.number(v, f"resume_state.running.sums[{j}][{k}]")
    rngs = f.object(resume.get("dropout_rng", {}), "resume_state.dropout_rng")
    if batch and set(rngs) != set(dropouts):
        raise f.error("metadata field 'resume_state.dropout_rng' must hold the generator of "
                      f"each dropout layer ({dropouts}), got {_short(sorted(rngs))}")
    for key, value in rngs.items():
        _check_rng_state(value, f"resume_state.dropout_rng[{key!r}]", f)


def _check_meta(meta, path, max_params: int) -> None:
    """Every field of the JSON description, in order: format, version, kind, ffnn_version,
    output, extra, layers (and the parameter cap), [optimiser], arrays, [training state]."""
    f = _Fields(path)
    if not isinstance(meta, dict):
        raise f.error(f"the ffnn description must be a JSON object, got {_got(meta)}")
    if meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not an ffnn model file (its metadata field 'format' "
                             f"is {_got(meta.get('format'))}, not 'ffnn')")
    version = meta.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {_got(version)}; this ffnn ({_ffnn_version}) reads "
            f"versions 1..{FORMAT_VERSION}: upgrade ffnn to load it"
        )
    f.integer(version, "version", low=1)
    kind = f.choice(f.get(meta, "kind", "kind"), "kind", ("model", "checkpoint"))
    if "ffnn_version" in meta and not isinstance(meta["ffnn_version"], str):
        raise f.fail("ffnn_version", "a string", meta["ffnn_version"])
    if meta.get("output") is not None:
        f.choice(meta["output"], "output", OUTPUT_KINDS)
    meta["extra"] = f.object(meta.get("extra", {}), "extra")
    params = _check_layers(meta, f, max_params)
    slots = _check_optimizer(meta, f) if kind == "checkpoint" else None
    _check_arrays(meta, f, params, slots)
    if kind == "checkpoint":
        _check_training_state(meta, f)


# --------------------------------------------------------------------------- reading
def _read_meta(reader: _npz.NpzReader, path) -> dict:
    """The JSON description: a 1-D uint8 member of at most MAX_METADATA_BYTES, UTF-8 JSON."""
    if META_KEY not in reader.members:
        raise ModelFileError(f"{path} is an .npz file but not an ffnn model (no {META_KEY})")
    hdr = reader.header(META_KEY)
    if hdr.dtype.str != "|u1" or len(hdr.shape) != 1 or hdr.fortran_order:
        raise ModelFileError(f"{path}: {META_KEY} must be a 1-D uint8 array, got "
                             f"{hdr.dtype.str}{hdr.shape}")
    if hdr.claimed_bytes > MAX_METADATA_BYTES:
        raise ModelFileError(f"{path}: {META_KEY} is {hdr.claimed_bytes:,} bytes, more than "
                             f"ffnn.io.MAX_METADATA_BYTES ({MAX_METADATA_BYTES:,})")
    if hdr.claimed_bytes != hdr.data_bytes:
        raise ModelFileError(f"{path}: {META_KEY} claims {hdr.claimed_bytes:,} bytes but the "
                             f"zip directory gives {hdr.data_bytes:,}")
    blob = np.empty(hdr.shape, dtype=np.uint8)
    reader.read_into(META_KEY, blob, hdr)
    try:
        return json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: the ffnn description is not valid JSON "
                             f"({str(exc)[:200]})") from None


def _check_headers(reader: _npz.NpzReader, meta: dict, path) -> dict[str, _npz.NpyHeader]:
    """The members are exactly the described arrays, and each ``.npy`` header (read without
    its data) gives the described dtype and shape, C order, and a data size equal to
    prod(shape) * itemsize and to the member's size in the zip directory."""
    described = meta["arrays"]
    present = set(reader.members) - {META_KEY}
    if present != set(described):
        missing, unexpected = sorted(set(described) - present), sorted(present - set(described))
        raise ModelFileError(f"{path}: the arrays in the file do not match its description "
                             f"(missing {_short(missing)}, not described {_short(unexpected)})")
    headers = {}
    for name, spec in described.items():
        hdr = reader.header(name)
        want = PARAM_DTYPES[spec["dtype"]]
        if hdr.dtype.str != want:
            raise ModelFileError(f"{path}: array {name!r} is stored as {hdr.dtype.str!r}, not "
                                 f"{want!r} ({spec['dtype']}, little-endian) as described"
                                 + (" (object arrays are never loaded: they would need "
                                    "pickle)" if hdr.dtype.hasobject else ""))
        if hdr.fortran_order:
            raise ModelFileError(f"{path}: array {name!r} is stored in Fortran order; ffnn "
                                 "files hold C-ordered arrays only")
        if list(hdr.shape) != spec["shape"] or \
                not all(type(d) is int for d in hdr.shape):
            raise ModelFileError(f"{path}: array {name!r} has shape {_short(hdr.shape)} in "
                                 f"the file but its description says {tuple(spec['shape'])}")
        if hdr.claimed_bytes != hdr.data_bytes:
            raise ModelFileError(f"{path}: array {name!r} needs {hdr.claimed_bytes:,} bytes "
                                 f"for its shape and dtype but the zip directory gives "
                                 f"{hdr.data_bytes:,}")
        headers[name] = hdr
    return headers


@contextlib.contextmanager
def _checked(path, max_params: int | None):
    """Open ``path`` and run every check that needs no array data, in order: a regular
    file; a zip archive (not a pickle); its directory (``ffnn._npz``: sizes, compression,
    names); the JSON description (``_check_meta``); every ``.npy`` header
    (``_check_headers``).  Yields (meta, reader, headers) for reading the data; any damage
    found then (truncation, CRC-32) is a ModelFileError too."""
    if max_params is None:
        max_params = MAX_PARAMS
    if isinstance(max_params, bool) or not isinstance(max_params, int) or max_params < 0:
        raise ValueError(f"max_params must be a non-negative integer, got {max_params!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if magic[:1] == b"\x80":
            raise ModelFileError(f"{path} holds a pickled Python object, which ffnn never loads "
                                 "(model files must not run code); it is not an ffnn model")
        if magic != b"PK\x03\x04":
            raise ModelFileError(f"{path} is corrupt or not an ffnn model file (not an .npz "
                                 "archive)")
        limit = max(8 * max_params, MAX_METADATA_BYTES) + _npz.MAX_HEADER_BYTES + 64
        try:
            with _npz.NpzReader(fh, max_member_bytes=limit) as reader:
                meta = _read_meta(reader, path)
                _check_meta(meta, path, max_params)
                yield meta, reader, _check_headers(reader, meta, path)
        except _npz.NpzError as exc:
            raise ModelFileError(f"{path}: {exc}") from None


def _read_arrays(reader: _npz.NpzReader, headers: dict, targets: dict[str, np.ndarray]) -> None:
    """Read each member straight into its target array (allocated after every check)."""
    for name, out in targets.items():
        hdr = headers[name]
        if out.dtype.str == hdr.dtype.str and out.flags.c_contiguous:
            reader.read_into(name, out, hdr)
        else:  # a big-endian machine: read the little-endian bytes, then convert
            buf = np.empty(hdr.shape, dtype=hdr.dtype)
            reader.read_into(name, buf, hdr)
            out[...] = buf


def _refuse_nonfinite_loaded(path, arrays: dict[str, np.ndarray], what: str) -> None:
    for k, a in arrays.items():
        n_nan, n_inf = _count_nonfinite(a)
        if n_nan or n_inf:
            raise ModelFileError(f"{path}: {what} {k!r} holds {_nonfinite_text(n_nan, n_inf)}; "
                                 "pass allow_nonfinite=True to load it anyway")


def _build_network(meta: dict, path) -> Sequential:
    """The layers described by a checked ``meta`` (Dense weights zero until read)."""
    layers = []
    for i, spec in enumerate(meta["layers"]):
        kind, config = spec["type"], spec["config"]
        try:
            if kind == "Dense":
                layer = Dense(config["in_features"], config["out_features"], init="zeros",
                              dtype=config.get("dtype", "float32"))
                layer.init = config.get("init", "glorot_uniform")
            else:
                layer = LAYER_TYPES[kind](**config)
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: layer {i} ({kind}) has invalid settings "
                                 f"{_short(config)}: {exc}") from None
        layers.append(layer)
    try:
        return Sequential(*layers, output=meta.get("output"))
    except ValueError as exc:
        raise ModelFileError(f"{path}: inconsistent architecture: {exc}") from None


def load(path, *, max_params: int | None = None, allow_nonfinite: bool = False) -> Sequential:
    """Load a network saved by ``save`` (or the network inside a checkpoint).

    Checked, in this order, before anything is allocated for the weights: a regular file;
    a zip archive, not a pickle; its directory (at most 4 MiB; unique ``*.npy`` member
    names; stored or deflated only; sizes consistent and at most 1032:1 compressed); the
    JSON description (at most ``MAX_METADATA_BYTES``; every field's type; layer types from
    an allow-list; the layer sizes, whose parameter count must not exceed ``max_params``,
    default ``ffnn.io.MAX_PARAMS``; the arrays described are exactly what the layers need);
    each array's ``.npy`` header (dtype float32/float64 little-endian, C order, the
    described shape, prod(shape) * itemsize equal to the member's size in the directory).
    Then the layers are built and each member is read straight into its parameter
    (CRC-32 checked); NaN or infinite weights are refused unless ``allow_nonfinite=True``.
    Nothing is unpickled.  Every problem with the file is a ``ModelFileError`` naming the
    file and the field or array.
    """
    with _checked(path, max_params) as (meta, reader, headers):
        net = _build_network(meta, path)
        params = net.parameters()
        _read_arrays(reader, headers, {f"param/{k}": p for k, p in params.items()})
    if not allow_nonfinite:
        _refuse_nonfinite_loaded(path, params, "parameter")
    return net


# --------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """Everything needed to continue a ``fit`` exactly where it stopped (``ffnn.resume``)."""

    net: Sequential
    optimizer: Optimizer
    history: History
    loss: str
    seed: int
    epoch: int  # the next epoch to run (0-based)
    batch: int  # the next batch within that epoch (0 = at an epoch boundary)
    fit_settings: dict = field(default_factory=dict)
    resume_state: dict | None = None  # mid-epoch accumulators and dropout RNG states


def save_checkpoint(path, context, position: tuple[int, int] | None = None,
                    resume_state: dict | None = None, extra: dict | None = None, *,
                    allow_nonfinite: bool = False) -> Path:
    """Write a resumable checkpoint of a running ``fit`` (its TrainingContext) atomically.

    ``position`` = (next epoch, next batch); by default the end of ``context.epoch``.
    Non-finite parameters or optimiser state are refused as in ``save`` unless
    ``allow_nonfinite=True``.
    """
    net, opt, history = context.net, context.optimizer, context.history
    if extra is None:
        extra = context.extra.get("model_extra")
    state = opt.state_dict()
    if not allow_nonfinite:
        _refuse_nonfinite(net.parameters(), "parameter")
        _refuse_nonfinite(state, "optimiser state")
    meta, arrays = _model_meta(net, extra)
    arrays.update({f"opt/{k}": _portable(v) for k, v in state.items()})
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


def load_checkpoint(path, *, max_params: int | None = None,
                    allow_nonfinite: bool = False) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` / ``fit(checkpoint=...)``.

    Checked as in ``load``, and also before any array is allocated: the optimiser (a known
    name, settings of the right types that its constructor accepts, a non-negative step
    count), its state arrays (``opt/<parameter>/<slot>``: the optimiser's slots, each with
    its parameter's shape and dtype), the loss name, the seed, the position (non-negative
    epoch and batch), the fit settings, the history (a list of objects) and the mid-epoch
    state (running sums; each dropout layer's PCG64 state).  Non-finite parameters or
    optimiser state are refused unless ``allow_nonfinite=True``.
    """
    with _checked(path, max_params) as (meta, reader, headers):
        if meta["kind"] != "checkpoint":
            raise ModelFileError(f"{path} is a model file, not a training checkpoint")
        net = _build_network(meta, path)
        params = net.parameters()
        _read_arrays(reader, headers, {f"param/{k}": p for k, p in params.items()})
        spec = meta["optimizer"]
        opt = _make_optimizer(spec, _Fields(path))
        state = {name[len("opt/"):]: np.empty(s["shape"], dtype=s["dtype"])
                 for name, s in meta["arrays"].items() if name.startswith("opt/")}
        _read_arrays(reader, headers, {f"opt/{k}": v for k, v in state.items()})
    if not allow_nonfinite:
        _refuse_nonfinite_loaded(path, params, "parameter")
        _refuse_nonfinite_loaded(path, state, "optimiser state")
    opt.load_state_dict(state, spec["iterations"])
    pos = meta["position"]
    history = History(meta.get("history", []), seed=meta["seed"])
    return Checkpoint(net=net, optimizer=opt, history=history, loss=meta["loss"],
                      seed=meta["seed"], epoch=pos["epoch"], batch=pos["batch"],
                      fit_settings=meta.get("fit", {}), resume_state=meta.get("resume_state"))


def read_metadata(path, *, max_params: int | None = None) -> dict:
    """The JSON description of a model or checkpoint file (validated, arrays not built).

    Everything ``load`` checks before reading array data is checked here too (the
    directory, every metadata field, every array header); no array data is read.
    """
    with _checked(path, max_params) as (meta, _, _):
        return meta
