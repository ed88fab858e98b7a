"""ffnn on the command line: train, evaluate, predict, resume, gradcheck, explain, datasets, demo,
playground, export, course.

    ffnn demo                                   seed 001's moons network (the default command)
    ffnn train --dataset moons --hidden 16,32   a run directory with model, history, plots
    ffnn train --config run.toml                the same settings from a TOML file
    ffnn sweep sweep.toml --out DIR             many trainings: a grid or random search
    ffnn evaluate RUN/model.npz --dataset moons
    ffnn predict RUN/model.npz input.csv --output predictions.csv
    ffnn resume RUN                             continue an interrupted run exactly
    ffnn gradcheck --hidden 5,4 --activation tanh
    ffnn explain RUN/model.npz --format markdown
    ffnn datasets
    ffnn playground                             train live in the browser (127.0.0.1:8000)
    ffnn export RUN/model.npz -o model.onnx     ONNX (or .safetensors, PyTorch's names)
    ffnn course release course/ student/        the course's student versions (and: grade)

Errors are one line on stderr and a non-zero exit status; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import platform
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

EXIT_ERROR = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line, exit status 1."""


# --------------------------------------------------------------------------- configuration
def _config_model():
    """The run configuration schema (pydantic: unknown keys and bad values are named)."""
    try:
        from pydantic import BaseModel, ConfigDict, Field, field_validator
    except ImportError as exc:
        raise CLIError("the command line needs pydantic: pip install 'ffnn[all]'") from exc
    from typing import Literal

    class RunConfig(BaseModel):
        """Every setting of a training run (the keys of a run.toml file)."""

        model_config = ConfigDict(extra="forbid")

        dataset: str = Field("moons", description="built-in data set name or a CSV/NPY/NPZ path")
        target: str | None = Field(None, description="target column (CSV) or array (NPZ)")
        task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
        n_samples: int | None = Field(None, gt=0)
        test_size: float = Field(0.2, gt=0, lt=1)
        standardize: bool | None = Field(None, description="scale features (default: tables)")
        hidden: list[int] = Field(default_factory=lambda: [16, 32])
        activation: Literal["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus",
                            "identity"] = "relu"
        init: Literal["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                      "lecun_normal"] | None = None
        dropout: float = Field(0.0, ge=0, lt=1)
        loss: Literal["auto", "mse", "bce", "ce"] = "auto"
        optimizer: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "adam"
        lr: float = Field(1e-3, gt=0)
        momentum: float = Field(0.0, ge=0, lt=1)
        weight_decay: float = Field(0.0, ge=0)
        clip_norm: float | None = Field(None, gt=0)
        fused: bool = Field(False, description="demand the fast training step (numba); it is "
                            "taken by default whenever numba is installed and it applies")
        schedule: Literal["constant", "step", "exponential", "cosine"] = "constant"
        epochs: int = Field(100, ge=1)
        batch_size: int | None = Field(32, ge=1)
        validation_split: float = Field(0.1, ge=0, lt=1)
        early_stopping: int | None = Field(None, ge=1, description="patience in epochs")
        seed: int = 0
        dtype: Literal["float32", "float64"] = "float32"

        @field_validator("hidden")
        @classmethod
        def _positive(cls, v):
            if any(h < 1 for h in v):
                raise ValueError(f"layer sizes must be positive, got {v}")
            return v

    return RunConfig


def _format_validation_error(exc) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(x) for x in err["loc"]) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        parts.append(f"{key}: {msg} (got {err.get('input')!r})")
    return "invalid run configuration: " + "; ".join(parts)


def load_config(path: str | None, overrides: dict) -> object:
    """Defaults < the TOML file < explicit command-line flags; validated as a whole."""
    from pydantic import ValidationError

    RunConfig = _config_model()
    values: dict = {}
    if path:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        p = Path(path)
        if not p.is_file():
            raise CLIError(f"config file not found: {p}")
        try:
            values = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CLIError(f"{p} is not valid TOML: {exc}") from None
        if len(values) == 1 and isinstance(next(iter(values.values())), dict):
            values = next(iter(values.values()))  # allow a single [train] table
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        allowed = {name: _allowed(field) for name, field in RunConfig.model_fields.items()}
        msg = _format_validation_error(exc)
        bad = [err["loc"][0] for err in exc.errors() if err["loc"]]
        hints = [f"{b}: one of {allowed[b]}" for b in bad if b in allowed and allowed[b]]
        unknown = [b for b in bad if b not in allowed]
        if unknown:
            hints.append("known settings: " + ", ".join(RunConfig.model_fields))
        raise CLIError(msg + (" | " + "; ".join(hints) if hints else "")) from None


def _allowed(field) -> str:
    from typing import Literal, get_args, get_origin

    ann = field.annotation
    for arg in (ann, *get_args(ann)):
        if get_origin(arg) is Literal:
            return ", ".join(map(str, get_args(arg)))
    return ""


# --------------------------------------------------------------------------- data
def load_data(cfg):
    """The run's data as an ``ffnn.datasets.Dataset`` (a built-in set or a table file)."""
    from . import datasets

    path = Path(cfg.dataset).expanduser()
    if path.suffix.lower() in (".csv", ".npy", ".npz", ".tsv", ".txt") or path.exists():
        if not path.is_file():
            raise CLIError(f"data file not found: {path}")
        if cfg.target is None:
            raise CLIError(f"{path} is a file: say which column is the target with --target")
        X, y, info = datasets.load_table(path, cfg.target, return_info=True,
                                         delimiter="\t" if path.suffix == ".tsv" else ",")
        task = cfg.task
        if task == "auto":
            task = _guess_task(y)
        if task != "regression":
            y, classes = _encode_labels(y, info.get("classes"))
        else:
            classes = None
        stratify = task != "regression"
        X_tr, y_tr, X_te, y_te = datasets.train_test_split(X, y, test_size=cfg.test_size,
                                                           stratify=stratify, seed=cfg.seed)
        n_classes = None if task == "regression" else len(classes)
        return datasets.Dataset(X_tr, y_tr, X_te, y_te, task, n_classes, path.name,
                                f"table {path}", info.get("feature_names"), classes)
    known = [d["name"] for d in datasets.list_datasets()]
    if cfg.dataset not in known:
        raise CLIError(f"unknown data set {cfg.dataset!r}: use one of {', '.join(known)} "
                       "or a path to a CSV/NPY/NPZ file")
    return datasets.load(cfg.dataset, seed=cfg.seed, test_size=cfg.test_size,
                         n_samples=cfg.n_samples)


def _guess_task(y: np.ndarray) -> str:
    if y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.all(y == np.round(y))):
        n = len(np.unique(y))
        if n <= 2:
            return "binary"
        if n <= 50:
            return "multiclass"
    return "regression"


def _encode_labels(y, text_classes):
    values, codes = np.unique(y, return_inverse=True)
    if text_classes is not None:
        classes = [text_classes[int(v)] for v in values]
    else:
        classes = [v.item() for v in values]
    return codes.astype(np.int64), classes


def _data_hash(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- building
def _loss_for(cfg, task: str) -> str:
    if cfg.loss != "auto":
        return cfg.loss
    return {"binary": "bce", "multiclass": "ce", "regression": "mse"}[task]


def _n_outputs(loss: str, data) -> int:
    if loss == "ce":
        return data.n_classes
    if loss == "bce":
        if data.n_classes and data.n_classes > 2:
            raise CLIError("loss 'bce' needs a binary target; this data set has "
                           f"{data.n_classes} classes (use --loss ce)")
        return 1
    return 1 if data.y_train.ndim == 1 else data.y_train.shape[1]


def build_network(cfg, n_in: int, n_out: int):
    import ffnn

    return ffnn.mlp([n_in, *cfg.hidden, n_out], activation=cfg.activation, init=cfg.init,
                    seed=cfg.seed, dtype=cfg.dtype, dropout=cfg.dropout or 0.0)


def build_optimizer(cfg):
    import ffnn

    kwargs = {"lr": cfg.lr, "clip_norm": cfg.clip_norm, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "sgd":
        kwargs["momentum"] = cfg.momentum
    if cfg.fused:
        kwargs["fused"] = True  # demand the fast step (fit takes it by default when it can)
    return ffnn.get_optimizer(cfg.optimizer, **kwargs)


def build_callbacks(cfg):
    from .callbacks import EarlyStopping, LearningRateScheduler
    from .schedules import get_schedule

    callbacks = []
    if cfg.schedule != "constant":
        kw = {"lr": cfg.lr}
        if cfg.schedule == "step":
            kw.update(step_size=max(cfg.epochs // 3, 1), gamma=0.1)
        elif cfg.schedule == "exponential":
            kw.update(gamma=0.01 ** (1 / max(cfg.epochs, 1)))
        elif cfg.schedule == "cosine":
            kw.update(total_epochs=cfg.epochs)
        callbacks.append(LearningRateScheduler(get_schedule(cfg.schedule, **kw)))
    if cfg.early_stopping:
        monitor = "val_loss" if cfg.validation_split else "loss"
        callbacks.append(EarlyStopping(monitor=monitor, patience=cfg.early_stopping))
    return callbacks


def _scaler_from_json(st: dict):
    """The feature scaling stored with a model (a fitted ``ffnn.datasets.Standardizer``)."""
    from .datasets import Standardizer

    scaler = Standardizer()
    scaler.mean_ = np.asarray(st["mean"], dtype=np.float64)
    scaler.scale_ = np.asarray(st["std"], dtype=np.float64)
    return scaler


def _scaler_to_json(scaler) -> dict:
    return {"mean": scaler.mean_.tolist(), "std": scaler.scale_.tolist()}


def _model_extra_callback(extra: dict):
    """A callback that stores what predict/evaluate need beside the weights in checkpoints."""
    from .training import Callback

    class ModelExtra(Callback):
        def set_context(self, context):
            super().set_context(context)
            context.extra["model_extra"] = extra

    return ModelExtra()


# --------------------------------------------------------------------------- metrics
def compute_metrics(net, X, y, task: str, loss: str) -> dict:
    import ffnn

    from . import metrics

    out = {"loss": ffnn.evaluate(net, X, y, loss)["loss"], "n_samples": int(len(X))}
    if task == "regression":
        pred = net.predict(X)
        pred = pred[:, 0] if pred.shape[1] == 1 and np.ndim(y) == 1 else pred
        out.update(mse=metrics.mean_squared_error(y, pred),
                   mae=metrics.mean_absolute_error(y, pred), r2=metrics.r2_score(y, pred))
    else:
        pred = net.classify(X)
        prf = metrics.precision_recall_f1(y, pred, average="macro")
        out.update(accuracy=metrics.accuracy(y, pred), precision_macro=float(prf[0]),
                   recall_macro=float(prf[1]), f1_macro=float(prf[2]))
    return {k: float(v) if isinstance(v, (float, np.floating)) else v for k, v in out.items()}


def _print_metrics(title: str, m: dict) -> None:
    print(title)
    for k, v in m.items():
        print(f"  {k:<16} {v:.4f}" if isinstance(v, float) else f"  {k:<16} {v}")


# --------------------------------------------------------------------------- manifest
def _environment() -> dict:
    import ffnn

    env = {"ffnn": ffnn.__version__, "numpy": np.__version__,
           "python": platform.python_version(), "platform": platform.platform()}
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "num_threads",
                                              "architecture")}
                       for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        env["blas"] = "unknown (install threadpoolctl)"
    return env


# --------------------------------------------------------------------------- train
def _run_dir(cfg, out: str | None) -> Path:
    if out:
        return Path(out)
    stem = Path(cfg.dataset).stem if "/" in cfg.dataset or "." in cfg.dataset else cfg.dataset
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_train(args) -> int:
    overrides = {k: getattr(args, k) for k in (
        "dataset", "target", "task", "n_samples", "test_size", "init", "dropout", "loss",
        "optimizer", "lr", "momentum", "weight_decay", "clip_norm", "schedule", "epochs",
        "batch_size", "validation_split", "early_stopping", "seed", "dtype", "activation",
        "fused")}
    overrides["hidden"] = _parse_hidden(args.hidden)
    if args.full_batch:
        overrides["batch_size"] = None
    if args.standardize is not None:
        overrides["standardize"] = args.standardize
    cfg = load_config(args.config, overrides)
    if args.full_batch:
        cfg.batch_size = None
    return train_run(cfg, _run_dir(cfg, args.out), verbose=args.verbose,
                     overwrite=args.overwrite)


def train_run(cfg, run: Path, *, verbose: int = 1, overwrite: bool = False, data=None,
              plots: bool = True, checkpoint: bool = True) -> int:
    """Train ``cfg`` (a validated ``load_config`` result) into the run directory ``run``, as
    ``ffnn train`` does: locked, manifest, metrics, model, checkpoint, history (and plots).

    ``data``: the ``ffnn.datasets.Dataset`` that ``load_data(cfg)`` would give, already loaded
    (``ffnn sweep`` loads it once for many trials).  ``checkpoint=False``: no checkpoint.npz
    (it is written after every epoch, for ``ffnn resume``).  Returns 0.
    """
    run = Path(run)
    with _locked_run(run, "train", "wait for it or choose another --out", create=True) as state:
        # checked under the lock: of two runs started together, the second sees the first
        if (run / "manifest.json").exists() and not overwrite:
            raise CLIError(f"{run} already holds a run: use `ffnn resume {run}`, another "
                           "--out, or --overwrite")
        if overwrite:  # no file of the old run may outlive the new one
            for name in RUN_OUTPUTS:
                (run / name).unlink(missing_ok=True)
        return _train(cfg, run, verbose=verbose, resume=None, state=state, data=data,
                      plots=plots, checkpoint=checkpoint)


#: ``ffnn train`` writes checkpoint.npz after an epoch at most this often (and at the end, and
#: on Ctrl-C): with fsync'd writes after every epoch, 2000 short epochs took 58 s instead of 1.5
CHECKPOINT_SECONDS = 2.0

#: the files a run writes (removed first by --overwrite)
RUN_OUTPUTS = ("model.npz", "checkpoint.npz", "history.csv", "metrics.json", "manifest.json",
               "curves.png", "confusion_matrix.png", "decision_boundary.png",
               "regression_fit.png")


def _make_run_dir(run: Path) -> list[Path]:
    """Create ``run`` (and missing parents); return the directories this process created."""
    if run.exists() and not run.is_dir():
        raise CLIError(f"{run} exists and is not a directory: choose another --out")
    created: list[Path] = []
    for d in [*reversed(run.parents), run]:
        if d.is_dir():
            continue
        try:
            d.mkdir()  # (not exist_ok: of two processes, only one created it)
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_dirs(created)
            raise CLIError(f"cannot create the run directory {run}: "
                           f"{exc.strerror or exc}") from None
        created.append(d)
    return created


def _remove_dirs(created: list[Path]) -> None:
    """Remove the directories this process created, deepest first, if they are empty."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:  # not empty (another run's lock, the user's files): keep it
            return


@contextlib.contextmanager
def _locked_run(run: Path, command: str, advice: str, create: bool = False):
    """Hold ``run``'s lock for the block (``create``: make the directory first); leave
    nothing misleading behind if it fails.

    A fresh run failing before its first epoch removes what it wrote and the directories it
    created (if nothing else is in them); a run failing later keeps its files and marks the
    manifest ``failed: <reason>`` (``interrupted`` for Ctrl-C), so it cannot pass for a
    finished or running one.  The lock is released in every case (SIGTERM included).
    """
    from ._runlock import RunInUse, acquire

    for attempt in range(3):
        created = _make_run_dir(run) if create else []
        try:
            lock = acquire(run, command, advice=advice)
        except FileNotFoundError:  # a failed run removed the directory just now
            _remove_dirs(created)
            if not create or attempt == 2:
                raise CLIError(f"{run} was removed while this command started") from None
            continue
        except BaseException as exc:
            _remove_dirs(created)
            if isinstance(exc, RunInUse):
                raise CLIError(str(exc)) from None
            raise
        break
    state = {"written": [], "training": False, "epochs_done": None,
             "resumed": command == "resume"}
    early = False
    try:
        with _sigterm_raises():
            yield state
    except BaseException as exc:  # (still holding the lock: nobody else sees half of this)
        early = not state["resumed"] and state["epochs_done"] is None
        if early:
            for path in state["written"]:
                path.unlink(missing_ok=True)
        elif state["training"]:
            _mark_failed(run, exc, state)
        raise
    finally:
        lock.release()
        if early:
            _remove_dirs(created)


def _mark_failed(run: Path, exc: BaseException, state: dict) -> None:
    path = run / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(exc, KeyboardInterrupt):
        status = "interrupted"
    elif isinstance(exc, SystemExit):
        status = "failed: terminated by a signal"
    else:
        status = f"failed: {_one_line(exc)}"
    manifest.update(status=status, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if state["epochs_done"] is not None:
        manifest["epochs_done"] = state["epochs_done"]
    path.write_text(json.dumps(manifest, indent=2))
    hint = f"; `ffnn resume {run}` continues from its last checkpoint" \
        if (run / "checkpoint.npz").exists() else ""
    print(f"ffnn: note: {run} keeps its files, marked {status.split(':')[0]!r} in "
          f"manifest.json{hint}", file=sys.stderr)


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM ends the process through the ``finally`` blocks (lock released, run marked)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _epoch_counter(state: dict):
    """A callback recording the epochs done, so a failure knows whether any was finished."""
    from .training import Callback

    class EpochCounter(Callback):
        def on_epoch_end(self, epoch, logs):
            state["epochs_done"] = epoch + 1

    return EpochCounter()


def _parse_hidden(text: str | None):
    if text is None:
        return None
    if text.strip() == "":
        return []
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise CLIError(f"--hidden takes comma-separated layer sizes like 16,32; got {text!r}") \
            from None


def _train(cfg, run: Path, verbose: int, resume, state: dict, data=None,
           plots: bool = True, checkpoint: bool = True) -> int:
    import ffnn

    from ._checks import DataScaleWarning, check_float_range, large_features_message

    data = load_data(cfg) if data is None else data
    loss = _loss_for(cfg, data.task)
    standardize = cfg.standardize if cfg.standardize is not None else \
        (data.name not in ("mnist", "fashion_mnist", "digits"))
    from .datasets import Standardizer

    scaler = Standardizer().fit(data.X_train) if standardize else None
    prep = scaler.transform if scaler is not None else (lambda X: X)
    Xtr, Xte = prep(data.X_train), prep(data.X_test)
    # say it now, naming the column: beyond float32 they would become inf and the first loss
    # would read as a divergence; huge unscaled features train to nonsense without an error
    check_float_range(Xtr, cfg.dtype, data.name, data.feature_names)
    check_float_range(Xte, cfg.dtype, data.name, data.feature_names)
    advice = large_features_message(Xtr, data.name, data.feature_names)
    if advice is not None:
        print(f"ffnn: warning: {advice} (ffnn train does this unless --no-standardize)",
              file=sys.stderr)
    data_hash = _data_hash(data.X_train, data.y_train)
    extra = {"task": data.task, "loss": loss, "classes": data.classes,
             "feature_names": data.feature_names, "dataset": cfg.dataset,
             "target": cfg.target,
             "split": {"seed": cfg.seed, "test_size": cfg.test_size,
                       "n_samples": cfg.n_samples},
             "standardize": _scaler_to_json(scaler) if scaler is not None else None}
    manifest_path = run / "manifest.json"
    if resume is None:
        net = build_network(cfg, Xtr.shape[1], _n_outputs(loss, data))
        opt = build_optimizer(cfg)
        manifest = {"command": " ".join(sys.argv), "config": cfg.model_dump(),
                    "seed": cfg.seed, "data": {"name": data.name, "sha256": data_hash,
                                               "n_train": int(len(Xtr)),
                                               "n_test": int(len(Xte)), "task": data.task},
                    "environment": _environment(), "loss": loss,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "status": "running",
                    "pid": os.getpid(), "host": platform.node()}
        manifest_path.write_text(json.dumps(manifest, indent=2))
        state["written"].append(manifest_path)
        history = None
        if verbose:
            print(net.summary())
    else:
        manifest = json.loads(manifest_path.read_text())
        if manifest["data"]["sha256"] != data_hash:
            raise CLIError(f"the data of {run} changed since the run started (hash mismatch): "
                           "resuming would not continue the same training")
        net, opt, history = resume.net, resume.optimizer, resume.history
    callbacks = [_model_extra_callback(extra), _epoch_counter(state), *build_callbacks(cfg)]
    if checkpoint:  # after an epoch at most every CHECKPOINT_SECONDS, at the end, on Ctrl-C
        callbacks.append(ffnn.callbacks.ModelCheckpoint(run / "checkpoint.npz",
                                                        min_interval=CHECKPOINT_SECONDS))
    t0 = time.perf_counter()
    common = dict(batch_size=cfg.batch_size, seed=cfg.seed, verbose=verbose,
                  validation_split=cfg.validation_split, callbacks=callbacks,
                  fused=True if cfg.fused else "auto")
    if resume is not None:
        manifest.update(status="running", resumed=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        pid=os.getpid(), host=platform.node())
        manifest_path.write_text(json.dumps(manifest, indent=2))
    state["training"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataScaleWarning)  # (printed above, once)
        if resume is None:
            history = ffnn.fit(net, Xtr, data.y_train, loss, opt, epochs=cfg.epochs, **common)
        else:
            history = ffnn.resume(resume, Xtr, data.y_train, epochs=cfg.epochs,
                                  callbacks=callbacks, verbose=verbose, fused=common["fused"])
    seconds = time.perf_counter() - t0
    ffnn.save(net, run / "model.npz", extra=extra)
    history.to_csv(run / "history.csv")
    metrics = {"train": compute_metrics(net, Xtr, data.y_train, data.task, loss),
               "test": compute_metrics(net, Xte, data.y_test, data.task, loss),
               "epochs": len(history), "seconds": seconds}
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    status = "interrupted" if history.interrupted else (
        "early-stopped" if len(history) < cfg.epochs else "completed")
    manifest.update(status=status, finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                    epochs_done=len(history))
    manifest_path.write_text(json.dumps(manifest, indent=2))
    plots = _write_plots(run, net, history, data, Xtr, Xte, loss) if plots else []
    _print_metrics(f"train ({metrics['train']['n_samples']} samples)", metrics["train"])
    _print_metrics(f"test ({metrics['test']['n_samples']} samples)", metrics["test"])
    print(f"run directory: {run}  ({status}, {len(history)} epochs, {seconds:.1f} s; "
          f"files: model.npz checkpoint.npz history.csv metrics.json manifest.json"
          + (" " + " ".join(plots) if plots else "") + ")")
    if history.interrupted:
        print(f"interrupted: continue with `ffnn resume {run}`")
    return 0


def _write_plots(run: Path, net, history, data, Xtr, Xte, loss: str) -> list[str]:
    try:
        from . import plots
    except ImportError:
        print("(plots skipped: pip install 'ffnn[plots]')")
        return []
    import matplotlib.pyplot as plt

    written = []

    def emit(name, fn, *a, **kw):
        fig = fn(*a, save=run / name, **kw)
        plt.close(fig)
        written.append(name)

    emit("curves.png", plots.plot_history, history, title=f"training curves: {data.name}")
    if data.task != "regression":
        emit("confusion_matrix.png", plots.plot_confusion_matrix, data.y_test,
             net.classify(Xte), title=f"test confusion matrix: {data.name}")
        if Xtr.shape[1] == 2:
            emit("decision_boundary.png", plots.plot_decision_boundary, net, Xtr, data.y_train,
                 title=f"decision boundary: {data.name}")
    else:
        emit("regression_fit.png", plots.plot_regression, net, Xtr, data.y_train, Xte,
             data.y_test, title=f"fit: {data.name}")
    return written


# --------------------------------------------------------------------------- resume
def cmd_resume(args) -> int:
    import ffnn

    run = Path(args.run_dir)
    manifest_path, ckpt = run / "manifest.json", run / "checkpoint.npz"
    if not manifest_path.is_file():
        raise CLIError(f"{run} is not a run directory (no manifest.json)")
    if not ckpt.is_file():
        raise CLIError(f"{run} has no checkpoint.npz to resume from")
    with _locked_run(run, "resume", "wait for it to finish") as state:
        manifest = json.loads(manifest_path.read_text())
        cfg = load_config(None, manifest["config"])
        if args.epochs:
            cfg.epochs = args.epochs
        resume = ffnn.load_checkpoint(ckpt)
        if resume.epoch >= cfg.epochs and resume.batch == 0:
            print(f"{run} already finished {resume.epoch} of {cfg.epochs} epochs; pass "
                  "--epochs N to train further")
            return 0
        print(f"resuming {run} at epoch {resume.epoch + 1}, batch {resume.batch + 1}")
        return _train(cfg, run, verbose=args.verbose, resume=resume, state=state)


# --------------------------------------------------------------------------- evaluate
def _load_model(path):
    import ffnn

    from .io import read_metadata

    try:
        net = ffnn.load(path)
    except FileNotFoundError:
        raise CLIError(f"model file not found: {path}") from None
    extra = read_metadata(path).get("extra") or {}
    return net, extra


def _prepare(extra: dict):
    st = extra.get("standardize")
    return _scaler_from_json(st).transform if st else (lambda X: np.asarray(X, float))


def cmd_evaluate(args) -> int:
    from .datasets.tabular import match_columns

    net, extra = _load_model(args.model)
    split = extra.get("split") or {}
    same_data = args.dataset is None or args.dataset == extra.get("dataset")
    # the model's own target, task and split: the test split is the one held out in training
    overrides = {"dataset": args.dataset or extra.get("dataset") or "moons",
                 "target": args.target or extra.get("target"),
                 "task": extra.get("task"),
                 "seed": args.seed if args.seed is not None else split.get("seed", 0),
                 "test_size": args.test_size if args.test_size is not None else
                 split.get("test_size", 0.2),
                 "n_samples": split.get("n_samples") if same_data else None}
    cfg = load_config(None, overrides)
    data = load_data(cfg)
    task = extra.get("task", data.task)
    loss = extra.get("loss") or _loss_for(cfg, task)
    prep = _prepare(extra)
    X, y = (data.X_test, data.y_test) if args.split == "test" else (data.X_train, data.y_train)
    if extra.get("feature_names") and data.feature_names:
        try:  # by name, in the model's order
            X = X[:, match_columns(data.feature_names, extra["feature_names"], data.name)]
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    elif net.n_features != X.shape[1]:
        raise CLIError(f"the model expects {net.n_features} features but {data.name} has "
                       f"{X.shape[1]}")
    if task != "regression":
        y = _to_model_classes(y, data.classes, extra.get("classes"), data.name)
    m = compute_metrics(net, prep(X), y, task, loss)
    if args.json:
        print(json.dumps(m))
    else:
        _print_metrics(f"{args.model} on {data.name} ({args.split} split)", m)
    return 0


def _to_model_classes(y, data_classes, model_classes, source: str):
    """Label codes of this data set re-coded as the model's (a file may lack some classes)."""
    if not model_classes or data_classes is None or list(data_classes) == list(model_classes):
        return y
    lookup = {c: i for i, c in enumerate(model_classes)}
    present = [data_classes[int(c)] for c in np.unique(y)]
    unknown = [c for c in present if c not in lookup]
    if unknown:
        raise CLIError(f"{source} has labels the model never saw in training: "
                       f"{', '.join(repr(c) for c in unknown)}; the model knows: "
                       f"{', '.join(map(str, model_classes))}")
    recode = np.array([lookup.get(c, -1) for c in data_classes], dtype=np.int64)
    return recode[y]


# --------------------------------------------------------------------------- predict
def cmd_predict(args) -> int:
    from ._checks import check_float_range

    net, extra = _load_model(args.model)
    path = Path(args.input)
    if not path.is_file():
        raise CLIError(f"input file not found: {path}")
    X, names = _read_features(path, extra, net.n_features)
    X = _prepare(extra)(X)
    check_float_range(X, net.dtype or np.float32, path.name, names)
    task = extra.get("task", "regression" if net.output_kind() == "identity" else "multiclass")
    header: list[str]
    if task == "regression":
        pred = net.predict(X)
        header = ["prediction"] if pred.shape[1] == 1 else [f"prediction_{i}"
                                                           for i in range(pred.shape[1])]
        rows = pred.tolist()
    else:
        classes = extra.get("classes") or list(range(max(net.n_outputs, 2)))
        labels = net.classify(X)
        rows = [[classes[int(i)]] for i in labels]
        header = ["prediction"]
        if args.proba:
            P = net.predict_proba(X)
            if P.shape[1] == 1:
                P = np.hstack([1 - P, P])
            header += [f"p_{c}" for c in classes]
            rows = [r + list(map(float, p)) for r, p in zip(rows, P, strict=True)]
    out = sys.stdout if args.output in (None, "-") else open(args.output, "w", newline="")
    try:
        w = csv.writer(out)
        w.writerow(header)
        w.writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()
            print(f"{len(rows)} predictions written to {args.output}")
    return 0


def _read_features(path: Path, extra: dict, n_features: int):
    """X (N, D) of a .npy or a CSV, columns matched to the model's feature names."""
    from .datasets.tabular import read_features

    if path.suffix.lower() == ".npy":
        X = np.load(path, allow_pickle=False)
        return np.atleast_2d(X), None
    # models saved before the target was recorded cannot tell it from an unknown column
    strict = "target" in extra
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        X, names = read_features(path, extra.get("feature_names"), n_features=n_features,
                                 target=extra.get("target"),
                                 delimiter="\t" if path.suffix.lower() == ".tsv" else ",",
                                 extra_columns="error" if strict else "warn")
    for w in caught:
        print(f"ffnn: warning: {w.message}", file=sys.stderr)
    return X, names


# --------------------------------------------------------------------------- others
def cmd_gradcheck(args) -> int:
    import ffnn

    cfg = load_config(args.config, {"dataset": args.dataset, "activation": args.activation,
                                    "loss": args.loss, "hidden": _parse_hidden(args.hidden),
                                    "seed": args.seed, "target": args.target})
    data = load_data(cfg)
    loss = _loss_for(cfg, data.task)
    n = min(args.samples, len(data.X_train))
    from .datasets import Standardizer

    X = Standardizer().fit(data.X_train).transform(data.X_train[:n])
    net = build_network(cfg, X.shape[1], _n_outputs(loss, data))
    report = ffnn.check_network(net, X, data.y_train[:n], loss, max_checks=args.max_checks,
                                tol=args.tol)
    print(f"network {[X.shape[1], *cfg.hidden, net.n_outputs]} {cfg.activation}, loss {loss}, "
          f"{n} samples of {data.name}")
    print(report)
    return 0 if report.passed else EXIT_ERROR


def cmd_explain(args) -> int:
    import ffnn

    if args.model:
        net, extra = _load_model(args.model)
        loss = args.loss or extra.get("loss")
    else:
        sizes = _parse_hidden(args.sizes) if args.sizes else [784, 512, 256, 128, 10]
        net = ffnn.mlp(sizes, activation=args.activation)
        loss = args.loss
    try:
        from .explain import explain
    except ImportError as exc:
        raise CLIError(f"explain is not available: {exc}") from None
    print(explain(net, loss=loss, format=args.format, convention=args.convention))
    return 0


#: output suffix -> export format, when --format is not given
EXPORT_SUFFIXES = {".onnx": "onnx", ".safetensors": "safetensors"}


def cmd_export(args) -> int:
    """Write a saved model as ONNX (ONNX Runtime) or safetensors (PyTorch), via ffnn.export."""
    from . import export

    fmt = args.format or EXPORT_SUFFIXES.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise CLIError(f"say which format to write with --format onnx or --format safetensors "
                       f"({args.out} ends in neither .onnx nor .safetensors)")
    if args.output is not None and fmt != "onnx":
        raise CLIError("--output (logits or proba) applies to --format onnx only")
    net, extra = _load_model(args.model)
    scaling = extra.get("standardize")
    try:
        if fmt == "onnx":
            output = args.output or "logits"
            standardize = (scaling["mean"], scaling["std"]) if scaling else None
            path = export.to_onnx(net, args.out, output=output, standardize=standardize,
                                  extra=extra)
            print(f"ONNX model written to {path}: input 'X' (N, {net.n_features}) "
                  f"{net.dtype}" + (", standardised inside the graph" if scaling else "")
                  + f"; output {output!r} (N, {net.n_outputs})")
            return 0
        path = export.to_safetensors(net, args.out, extra=extra)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    print(f"safetensors written to {path}: the state dict of this PyTorch network "
          "(model.load_state_dict(safetensors.torch.load_file(path))):")
    print(export.torch_source(net))
    if scaling:
        print("ffnn: note: the network expects standardised features, (X - mean) / std, with "
              "mean and std in the file's metadata ('ffnn.extra', key 'standardize')",
              file=sys.stderr)
    return 0


def cmd_datasets(args) -> int:
    from . import datasets

    rows = datasets.list_datasets()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['task']:<10}  {r['description']}")
    return 0


def cmd_demo(args) -> int:
    """Seed 001: moons (1000, noise 0.2, seed 42), 2-16-32-1 sigmoid, BCE, GD lr 1.0, 2000 ep."""
    import ffnn

    from .datasets import moons

    X, y = moons(n_samples=1000, noise=0.2, seed=42)
    net = ffnn.mlp([2, 16, 32, 1], activation="sigmoid", seed=args.seed)
    print("seed 001: moons (1000 points, noise 0.2), 2-16-32-1 sigmoid, binary cross-entropy,")
    print(f"full-batch gradient descent, lr 1.0, {args.epochs} epochs")
    print(net.summary())
    history = ffnn.fit(net, X, y, "bce", ffnn.SGD(1.0), epochs=args.epochs, verbose=args.verbose)
    accuracy = float(np.mean(net.classify(X) == y))
    print(f"final cost J = {history['loss'][-1]:.4f}   training accuracy = {accuracy:.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ffnn.save(net, out / "model.npz", extra={"task": "binary", "loss": "bce",
                                             "classes": [0, 1], "dataset": "moons"})
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        print("(the decision-boundary picture needs matplotlib: pip install 'ffnn[all]')")
    else:
        from .plots import plot_decision_boundary

        png = out / "decision_boundary.png"
        plot_decision_boundary(net, X, y, title=f"seed 001: moons, 2-16-32-1 sigmoid "
                               f"(accuracy {accuracy:.3f})", save=png)
        print(f"decision boundary written to {png}")
    print(f"model written to {out / 'model.npz'}")
    return 0


def cmd_playground(args) -> int:
    """Serve the playground page until Ctrl-C."""
    import importlib.util

    missing = [m for m in ("starlette", "uvicorn", "websockets") if importlib.util.find_spec(m)
               is None]
    if missing:
        raise CLIError(f"the playground needs {', '.join(missing)}: pip install "
                       "'ffnn[playground]'")
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must lie in [0, 65535], got {args.port}")
    from .playground.server import serve

    try:
        serve(args.host, args.port, open_browser=not args.no_browser)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    return 0


def cmd_sweep(args) -> int:
    """Run a sweep file's trials (skipping those already finished in --out)."""
    from . import sweeps

    if sum(x is not None for x in (args.workers, args.local_cluster, args.scheduler)) > 1:
        raise CLIError("choose one of --workers, --local-cluster and --scheduler")
    try:
        spec = sweeps.load_spec(args.sweep_file)
    except sweeps.SweepError as exc:
        raise CLIError(str(exc)) from None
    for note in spec.notes:
        print(f"ffnn: note: {note}", file=sys.stderr)

    def progress(row, done, total):
        if args.verbose:
            what = {k: row[k] for k in spec.swept}
            tail = f" {row['error']}" if row.get("error") else ""
            print(f"[{done}/{total}] {row['status']:<8} {what}{tail}", flush=True)

    try:
        result = sweeps.sweep(spec, args.out, workers=args.workers,
                              local_cluster=args.local_cluster, scheduler=args.scheduler,
                              retry_failed=args.retry_failed, plots=not args.no_plots,
                              progress=progress)
    except sweeps.SweepError as exc:
        raise CLIError(str(exc)) from None
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts().items()))
    where = f" on {result.backend}" if result.ran else ""
    print(f"{len(result.rows)} trials ({counts}): {result.ran} run{where} in "
          f"{result.seconds:.1f} s, {result.skipped} already finished; "
          f"{Path(args.out) / 'results.csv'}")
    for path in result.plots:
        print(f"plot: {path}")
    return 0


def cmd_course(args) -> int:
    """The teacher kit: ``release`` the student versions, ``grade`` the submissions."""
    from . import course

    try:
        if args.course_command == "release":
            written = course.release(args.src, args.dst, force=args.force)
            notebooks = sum(p.suffix == ".ipynb" for p in written)
            print(f"{notebooks} student notebooks and {len(written) - notebooks} other files "
                  f"written to {args.dst}")
            return 0
        if args.course_command == "grade":
            out = Path(args.out)
            start = time.monotonic()
            graded = course.grade(args.source, args.submissions, out, timeout=args.timeout,
                                  jobs=args.jobs, cell_timeout=args.cell_timeout,
                                  memory_limit=args.memory_limit,
                                  progress=lambda line: print(line, flush=True))
            print()
            print(course.summary_table(graded))
            print(f"{len(graded)} submissions graded in {time.monotonic() - start:.1f} s: "
                  f"{out}, feedback in {out.parent / 'feedback'}")
            return 0
    except course.CourseError as exc:
        raise CLIError(str(exc)) from None
    raise CLIError("ffnn course needs a command: release or grade (see ffnn course --help)")


# --------------------------------------------------------------------------- parser
def _add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="built-in name (see `ffnn datasets`) or a CSV/NPY/NPZ path")
    g.add_argument("--target", help="target column of a CSV (or array name of an NPZ)")
    g.add_argument("--task", choices=("auto", "binary", "multiclass", "regression"))
    g.add_argument("--n-samples", type=int, help="size of a generated data set")
    g.add_argument("--test-size", type=float, help="held-out fraction (default 0.2)")
    g.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="scale features with the training mean/std (default: on, except images)")
    g = p.add_argument_group("network")
    g.add_argument("--hidden", help="hidden layer sizes, e.g. 16,32 (default 16,32)")
    g.add_argument("--activation", help="relu, leaky_relu, elu, gelu, sigmoid, tanh, softplus")
    g.add_argument("--init", help="initialiser (default follows the activation)")
    g.add_argument("--dropout", type=float, help="dropout after each hidden activation")
    g.add_argument("--dtype", choices=("float32", "float64"))
    g = p.add_argument_group("training")
    g.add_argument("--loss", choices=("auto", "mse", "bce", "ce"))
    g.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop", "adagrad"))
    g.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    g.add_argument("--momentum", type=float, help="SGD momentum")
    g.add_argument("--weight-decay", type=float, help="L2 penalty (decoupled for adamw)")
    g.add_argument("--clip-norm", type=float, help="clip gradients to this global norm")
    g.add_argument("--fused", action="store_true", default=None,
                   help="demand the fast training step (needs numba; the same math, float "
                        "rounding aside); without it the fast step is still taken when numba "
                        "is installed and it applies")
    g.add_argument("--schedule", choices=("constant", "step", "exponential", "cosine"))
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--full-batch", action="store_true", help="one batch of all samples")
    g.add_argument("--validation-split", type=float)
    g.add_argument("--early-stopping", type=int, metavar="PATIENCE")
    g.add_argument("--seed", type=int)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ffnn", description="Feed-forward neural networks written by hand in NumPy.",
        epilog="`ffnn COMMAND --help` explains each command.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a network and write a run directory",
                       description="Train a network; writes model.npz, checkpoint.npz, "
                       "history.csv, metrics.json, manifest.json and plots to the run directory.")
    _add_train_options(p)
    p.add_argument("--config", help="a run.toml with the same settings (flags override it)")
    p.add_argument("--out", help="run directory (default runs/<dataset>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="reuse an existing run directory")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="many trainings: a grid or random search, in parallel",
                       description="Run every trial of SWEEP.toml ([train]: the settings of "
                       "`ffnn train --config`; [sweep]: the lists or distributions to search) "
                       "as a run directory under --out, with DIR/results.csv and plots. "
                       "Trials already finished in --out are skipped. Default: local worker "
                       "processes, one per core.")
    p.add_argument("sweep_file", metavar="SWEEP.toml")
    p.add_argument("--out", required=True, metavar="DIR", help="the sweep's directory")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: the cores; 1: in this process)")
    p.add_argument("--local-cluster", type=int, metavar="N",
                   help="a Dask LocalCluster of N processes on this machine")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--retry-failed", action="store_true",
                   help="run the trials recorded as failed again")
    p.add_argument("--no-plots", action="store_true", help="no plots of the results")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1))
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("evaluate", help="metrics of a saved model on a data set")
    p.add_argument("model")
    p.add_argument("--dataset", help="default: the data set the model was trained on")
    p.add_argument("--target", help="target column (default: the one the model was trained on)")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--seed", type=int, help="split seed (default: the model's training run)")
    p.add_argument("--test-size", type=float,
                   help="held-out fraction (default: the model's training run)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predictions of a saved model for a CSV of features")
    p.add_argument("model")
    p.add_argument("input", help="CSV with a header row naming the features (or .npy)")
    p.add_argument("--output", "-o", help="output CSV (default: standard output)")
    p.add_argument("--proba", action="store_true", help="add class probabilities")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("resume", help="continue an interrupted run where it stopped")
    p.add_argument("run_dir")
    p.add_argument("--epochs", type=int, help="train to this many epochs in total")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("gradcheck", help="check backprop against finite differences")
    p.add_argument("--config")
    p.add_argument("--dataset", default=None)
    p.add_argument("--target")
    p.add_argument("--hidden")
    p.add_argument("--activation")
    p.add_argument("--loss", choices=("auto", "mse", "bce", "ce"))
    p.add_argument("--seed", type=int)
    p.add_argument("--samples", type=int, default=16, help="batch size for the check")
    p.add_argument("--max-checks", type=int, default=200, help="entries sampled per parameter")
    p.add_argument("--tol", type=float, default=1e-6)
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("explain", help="the forward and backward equations of a network")
    p.add_argument("model", nargs="?", help="a saved model (default: an MLP from --sizes)")
    p.add_argument("--sizes", help="layer sizes, e.g. 784,512,256,128,10")
    p.add_argument("--activation", default="relu")
    p.add_argument("--loss", choices=("mse", "bce", "ce"))
    p.add_argument("--format", choices=("text", "markdown", "latex"), default="text")
    p.add_argument("--convention", choices=("row", "column"), default="row")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("export", help="write a saved model as ONNX or safetensors",
                       description="Write a saved model for ONNX Runtime (--format onnx: "
                       "input 'X' (N, D_in), output 'logits' or 'proba'; a model trained on "
                       "standardised features gets the scaling inside the graph) or PyTorch "
                       "(--format safetensors: the state dict of the matching nn.Sequential). "
                       "Needs pip install 'ffnn[interop]'.")
    p.add_argument("model")
    p.add_argument("--format", choices=("onnx", "safetensors"),
                   help="default: from the suffix of -o (.onnx, .safetensors)")
    p.add_argument("-o", "--out", required=True, metavar="PATH", help="the file to write")
    p.add_argument("--output", choices=("logits", "proba"),
                   help="ONNX only: the raw output (default) or the probabilities")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("datasets", help="list the built-in data sets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("playground", help="train a network live in the browser",
                       description="Serve the playground (a local web page) and open the "
                       "browser on it. Each tab trains its own network with ffnn.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_playground)

    p = sub.add_parser("course", help="teacher kit: release student notebooks, grade them",
                       description="The course's teacher kit. Notebooks use nbgrader's "
                       "markers (### BEGIN SOLUTION / ### END SOLUTION).")
    p.set_defaults(func=cmd_course, course_command=None)
    csub = p.add_subparsers(dest="course_command", metavar="COMMAND")
    q = csub.add_parser("release", help="write the student versions of solution notebooks",
                        description="Replace each solution region by `# YOUR CODE HERE` / "
                        "`raise NotImplementedError()` (Markdown: YOUR ANSWER HERE), clear the "
                        "outputs, copy the other files of SRC.")
    q.add_argument("src", help="a solution notebook or a folder of them (searched recursively)")
    q.add_argument("dst", help="output folder (outside SRC)")
    q.add_argument("--force", action="store_true", help="overwrite existing files in DST")
    q = csub.add_parser("grade", help="run and check the submissions, write grades and feedback",
                        description="Run each submission in its own process, kernel and "
                        "temporary folder with a time limit, check its exercises with "
                        "ffnn.exercises, write the grades CSV and feedback/<student>.md next "
                        "to it.")
    q.add_argument("--source", required=True, metavar="SOLUTIONS",
                   help="the solution notebooks (a folder, or one notebook)")
    q.add_argument("--submissions", required=True, metavar="DIR",
                   help="DIR/<student>/<lesson>.ipynb (or DIR/<student>.ipynb for one lesson)")
    q.add_argument("--out", required=True, help="the grades CSV to write")
    q.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="wall-clock limit for a whole notebook (default 120)")
    q.add_argument("--cell-timeout", type=float, metavar="SECONDS",
                   help="limit for one cell, then it is interrupted (default: half of --timeout)")
    q.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="submissions graded side by side (default 1)")
    q.add_argument("--memory-limit", type=int, default=4096, metavar="MB",
                   help="address space per submission (default 4096; 0: no limit)")

    p = sub.add_parser("demo", help="seed 001's moons network with its decision boundary")
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=5, help="initialisation seed")
    p.add_argument("--out", default="ffnn-demo", help="output directory")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not any(a in parser._subparsers._group_actions[0].choices for a in argv):
        if not any(a in ("-h", "--help") for a in argv):
            argv = [*[a for a in argv if a == "--debug"], "demo",
                    *[a for a in argv if a != "--debug"]]
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("ffnn: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        if args.debug:
            raise
        print(f"ffnn: error: this command needs the optional package {exc.name!r}: "
              "pip install 'ffnn[all]'", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        print(f"ffnn: error: {_one_line(exc)}", file=sys.stderr)
        if not isinstance(exc, (CLIError, ValueError, TypeError, FileNotFoundError, KeyError,
                                OSError, ImportError, FloatingPointError)):
            print("ffnn: (unexpected error; run with --debug for the traceback)",
                  file=sys.stderr)
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return " ".join(text.split())
