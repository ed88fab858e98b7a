"""The visible training loop.

``train_step`` is the whole algorithm: forward, loss, backward, update (``ffnn.steps``).
``fit`` runs it over shuffled mini-batches for some epochs, with what practice needs around
it: validation, metrics per epoch in a ``History``, callbacks, a progress bar, a divergence
guard and a clean stop on Ctrl-C.  ``resume`` continues a run from its checkpoint.

Randomness: epoch ``e`` of a run with seed ``s`` shuffles with ``default_rng([s, e])`` and
gives each Dropout layer ``default_rng([s, e, layer index])``.  So a run is reproducible
bit for bit, and it can be resumed at any epoch knowing only the seed and the epoch number.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import DataScaleWarning, check_features, check_X
from .callbacks import Callback, ModelCheckpoint, TrainingContext
from .history import History
from .io import Checkpoint
from .layers import Dropout
from .losses import Loss, get_loss
from .network import Sequential
from .optimizers import Optimizer
from .running_metrics import RunningMetrics, labels_from_targets
from .step_api import SMALL_WORK
from .steps import ReferenceStep, batches, choose_step

__all__ = ["Callback", "History", "TrainingContext", "TrainingDiverged", "evaluate", "fit",
           "resume", "train_step"]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite during ``fit``."""


def train_step(net: Sequential, loss: Loss, optimizer: Optimizer, X: np.ndarray, y) -> float:
    """One gradient-descent step on the batch (X, y): forward, loss, backward, update
    (``ffnn.steps.ReferenceStep``); returns the batch loss before the step."""
    return ReferenceStep(net, loss, optimizer)(X, y).loss


# --------------------------------------------------------------------------- metrics
def evaluate(net: Sequential, X, y, loss: str | Loss, batch_size: int = 8192) -> dict:
    """Loss and metrics (accuracy for classifiers, R^2 for regression) on (X, y)."""
    loss = get_loss(loss)
    dtype = net.dtype or np.dtype(np.float32)
    X = check_X(X, net.n_features, dtype=dtype)
    y = loss.prepare_targets(y, net.n_outputs, dtype)
    if len(y) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(y)}")
    running = RunningMetrics(loss)
    for i in range(0, X.shape[0], batch_size):
        out = net.forward(X[i:i + batch_size], check=False)
        yb = y[i:i + batch_size]
        running.update(loss.forward(out, yb), out, yb)
    return running.logs()



# --------------------------------------------------------------------------- splitting
def _split_validation(X, y, fraction: float, seed: int, stratify: bool):
    n = X.shape[0]
    rng = np.random.default_rng([seed, 2**31 - 1])
    n_val = int(round(n * fraction))
    if not 0 < n_val < n:
        raise ValueError(f"validation_split={fraction} leaves no data on one side of {n} samples")
    if stratify:
        labels = labels_from_targets(y)
        val_idx = []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            val_idx.append(members[: int(round(len(members) * fraction))])
        val = np.sort(np.concatenate(val_idx))
    else:
        val = np.sort(rng.permutation(n)[:n_val])
    train = np.setdiff1d(np.arange(n), val, assume_unique=True)
    return X[train], y[train], X[val], y[val]


# --------------------------------------------------------------------------- progress
class _Progress:
    """A tqdm bar over all steps in a terminal (verbose=1), or one line per epoch (verbose=2)."""

    def __init__(self, verbose: int, total_steps: int, epochs: int, initial_epoch: int) -> None:
        self.verbose = verbose
        self.bar = None
        self.epochs = epochs
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # no tqdm: fall back to epoch lines
                self.verbose = 2
            else:
                self.bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True,
                                disable=None, leave=True, file=sys.stderr)

    def say(self, text: str) -> None:
        """A line for the user at verbose >= 1 (above the bar when there is one)."""
        if self.verbose < 1:
            return
        if self.bar is not None:
            self.bar.write(f"ffnn: {text}", file=sys.stderr)
        else:
            print(f"ffnn: {text}", file=sys.stderr, flush=True)

    def step(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        text = " ".join(f"{k}={v:.4g}" for k, v in logs.items()
                        if k not in ("epoch", "time", "lr") and isinstance(v, float))
        if self.bar is not None:
            self.bar.set_description(f"epoch {epoch + 1}/{self.epochs}", refresh=False)
            self.bar.set_postfix_str(text, refresh=False)
        elif self.verbose >= 2:
            print(f"epoch {epoch + 1}/{self.epochs}  {text}  ({logs.get('time', 0):.2f}s)",
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _blas_threads_for(work: int):
    """One BLAS thread for small networks (``step_api.SMALL_WORK``; needs threadpoolctl,
    otherwise BLAS is left alone).  The one place this policy is applied, for every step."""
    if work >= SMALL_WORK:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@contextlib.contextmanager
def _stop_on_sigint(flag: dict):
    """While active, Ctrl-C sets flag["stop"] instead of raising mid-update."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.get("stop"):  # second Ctrl-C: stop right now
            raise KeyboardInterrupt
        flag["stop"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- fit
def fit(
    net: Sequential,
    X,
    y,
    loss: str | Loss,
    optimizer: Optimizer,
    epochs: int = 1,
    batch_size: int | None = None,
    seed: int | None = None,
    verbose: int = 1,
    validation_data: tuple | None = None,
    validation_split: float = 0.0,
    callbacks: Sequence[Callback] | Iterable[Callback] = (),
    shuffle: bool = True,
    initial_epoch: int | None = None,
    history: History | None = None,
    checkpoint=None,
    fused: bool | str = "auto",
) -> History:
    """Train ``net`` on (X, y) for ``epochs`` epochs and return the per-epoch ``History``.

    batch_size None = full-batch gradient descent; 1 = per-sample SGD; else mini-batches
    drawn from a fresh index permutation every epoch (the data are never copied).
    Train metrics are averaged over the epoch's batches as they are computed; validation
    metrics are computed on the validation set at the end of each epoch.

    The optimiser keeps its state between calls and epochs continue from ``history`` (or
    ``initial_epoch``), so ``fit(..., epochs=1)`` called n times with the same seed and a
    shared history equals one call with ``epochs=n``.

    The step (``ffnn.steps``) is chosen once: with ``fused="auto"`` the fastest one that
    supports the network, loss and optimiser when numba is installed (``ffnn.fast``: the same
    math up to float rounding), else the reference; ``fused=False`` forces the reference,
    ``fused=True`` demands a fast step.  The choice and the reasons a faster step was not
    taken are in ``history.meta["step"]`` and printed at ``verbose >= 1``.

    ``checkpoint`` (a path) adds ``callbacks.ModelCheckpoint(path)``: a resumable checkpoint
    after every epoch, and after the current batch when Ctrl-C stops training;
    ``ffnn.resume(ffnn.load_checkpoint(path), X, y)`` continues exactly where it stopped.
    A NaN or infinite loss raises ``TrainingDiverged``.
    """
    loss = get_loss(loss)
    _check_settings(optimizer, epochs, batch_size, verbose)
    if seed is None:
        seed = history.seed if history is not None and history.seed is not None else \
            int(np.random.SeedSequence().generate_state(1)[0])
    X, y, validation = _checked_data(net, loss, X, y, validation_data, validation_split,
                                     int(seed))
    history = history if history is not None else History(seed=int(seed))
    start = len(history) if initial_epoch is None else int(initial_epoch)
    if checkpoint is not None:
        callbacks = [*callbacks, ModelCheckpoint(checkpoint)]
    run = _Run(net, loss, optimizer, X, y, validation, history, int(seed), batch_size,
               shuffle, start, start + epochs, list(callbacks), verbose, fused,
               {"validation_split": validation_split})
    return _train(run)


def resume(checkpoint: Checkpoint, X, y, epochs: int | None = None, *,
           validation_data: tuple | None = None, callbacks: Sequence[Callback] = (),
           verbose: int = 0, fused: bool | str = "auto", save_to=None) -> History:
    """Continue a training run from its checkpoint on the same data: up to ``epochs`` *total*
    epochs (default: the original target), with the original batch size, shuffling and seed,
    from the exact batch where it stopped; the result equals the run without the stop.

    ``ckpt = ffnn.load_checkpoint(path); history = ffnn.resume(ckpt, X, y)`` trains
    ``ckpt.net`` with ``ckpt.optimizer``.  ``save_to`` keeps writing checkpoints (e.g. to the
    same path)."""
    if not isinstance(checkpoint, Checkpoint):
        raise TypeError("resume takes the Checkpoint that ffnn.load_checkpoint(path) returns "
                        f"(it holds the network being trained), got {type(checkpoint).__name__}")
    ckpt = checkpoint
    plan = ckpt.fit_settings
    target = epochs if epochs is not None else plan.get("target_epochs")
    if target is None:
        raise ValueError("this checkpoint does not record how many epochs were planned; "
                         "pass epochs= (the total number of epochs to reach)")
    loss = get_loss(ckpt.loss)
    split = plan.get("validation_split", 0.0) if validation_data is None else 0.0
    X, y, validation = _checked_data(ckpt.net, loss, X, y, validation_data, split, ckpt.seed)
    if save_to is not None:
        callbacks = [*callbacks, ModelCheckpoint(save_to)]
    ckpt.history.seed = ckpt.seed
    run = _Run(ckpt.net, loss, ckpt.optimizer, X, y, validation, ckpt.history, ckpt.seed,
               plan.get("batch_size"), plan.get("shuffle", True), ckpt.epoch,
               max(int(target), ckpt.epoch), list(callbacks), verbose, fused,
               {"validation_split": split},
               first_batch=ckpt.batch, resume_state=ckpt.resume_state or {})
    return _train(run)


@dataclass
class _Run:
    """Everything one call of ``fit`` or ``resume`` trains with."""

    net: Sequential
    loss: Loss
    optimizer: Optimizer
    X: np.ndarray
    y: np.ndarray
    validation: tuple | None
    history: History
    seed: int
    batch_size: int | None
    shuffle: bool
    start: int  # the first epoch to run (0-based)
    end: int  # one past the last
    callbacks: list
    verbose: int
    fused: bool | str
    settings: dict
    first_batch: int = 0  # resuming inside epoch ``start``
    resume_state: dict | None = None


def _train(run: _Run) -> History:
    """The epochs: each shuffles, runs the step on every batch, and records its metrics."""
    net, loss, history, n = run.net, run.loss, run.history, run.X.shape[0]
    B = n if run.batch_size is None else min(int(run.batch_size), n)
    steps = math.ceil(n / B)
    ctx = TrainingContext(net, loss, run.optimizer, history, run.seed, epoch=run.start)
    ctx.extra["fit"] = {"batch_size": run.batch_size, "shuffle": run.shuffle, "n_samples": n,
                        "target_epochs": run.end, **run.settings}
    for cb in run.callbacks:
        cb.set_context(ctx)
    if net.output is None:
        net.output = loss.output_kind
    progress = _Progress(run.verbose, (run.end - run.start) * steps, run.end, run.start)
    flag = {"stop": False}
    last_good = None
    for cb in run.callbacks:
        cb.on_train_begin()
    try:  # the step is chosen after on_train_begin: callbacks may attach observers there
        step, choice = choose_step(net, loss, run.optimizer, fused=run.fused, batch=B,
                                   n_samples=n, target_ndim=run.y.ndim,
                                   announce=progress.say if run.verbose >= 1 else None)
        history.meta["step"] = choice.to_dict()
        progress.say(choice.describe())
        # (NumPy's overflow warnings would only be noise before the divergence guard's message)
        with _stop_on_sigint(flag), np.errstate(over="ignore", invalid="ignore"), \
                _blas_threads_for(B * net.n_params()):
            for epoch in range(run.start, run.end):
                ctx.epoch = epoch
                for cb in run.callbacks:
                    cb.on_epoch_begin(epoch)
                first = run.first_batch if epoch == run.start else 0
                running = _start_epoch(net, loss, run, epoch, first)
                order = np.random.default_rng([run.seed, epoch]).permutation(n) \
                    if run.shuffle and B < n else None
                last_good = _snapshot(net, last_good)
                t0 = time.perf_counter()
                b = first - 1
                with step.running():
                    for b, (Xb, yb) in enumerate(batches(run.X, run.y, B, order, first,
                                                         rows=step.gathers), start=first):
                        result = step(Xb, yb)
                        if not math.isfinite(result.loss):
                            _diverged(net, last_good, epoch, b, history, running, run.optimizer)
                        running.update(result.loss, result.out, yb, result.correct)
                        progress.step()
                        for cb in run.callbacks:
                            cb.on_batch_end(b, {"loss": result.loss})
                        if flag["stop"]:
                            break
                if flag["stop"] and b < steps - 1:  # stopped inside the epoch
                    history.interrupted = True
                    ctx.extra["interrupted_at"] = (epoch, b + 1)
                    ctx.extra["resume_state"] = _mid_epoch_state(net, running)
                    break
                logs = {"epoch": epoch + 1, **running.logs()}
                if run.validation is not None:
                    logs.update({f"val_{k}": v for k, v in
                                 evaluate(net, *run.validation, loss).items()})
                logs["lr"] = float(run.optimizer.lr)
                logs["time"] = time.perf_counter() - t0
                history.append(logs)
                progress.epoch_end(epoch, logs)
                for cb in run.callbacks:
                    cb.on_epoch_end(epoch, logs)
                history.interrupted = flag["stop"]
                if flag["stop"] or ctx.stop_training:
                    break
    finally:
        progress.close()
        for cb in run.callbacks:  # also after an error, so observers leave net.hooks
            cb.on_train_end({"interrupted": history.interrupted})
    return history


def _check_settings(optimizer, epochs, batch_size, verbose) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an ffnn Optimizer (e.g. SGD(0.1)), got {optimizer!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")


def _checked_data(net, loss, X, y, validation_data, validation_split, seed):
    """(X, y, (X_val, y_val) or None) checked against the network, in its dtype."""
    dtype = net.dtype or np.dtype(np.float32)
    X, advice = check_features(X, net.n_features, dtype=dtype)
    y = loss.prepare_targets(y, net.n_outputs, dtype)
    if len(y) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(y)} targets")
    if advice is not None:  # huge features: say so now, not as a "divergence" later
        warnings.warn(advice, DataScaleWarning, stacklevel=3)
    if validation_data is not None and validation_split:
        raise ValueError("give either validation_data or validation_split, not both")
    if validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"validation_split must lie in (0, 1), got {validation_split}")
        stratify = loss.output_kind == "softmax" or (loss.output_kind == "sigmoid" and
                                                     y.shape[1] == 1)
        X, y, Xv, yv = _split_validation(X, y, validation_split, seed, stratify)
        return X, y, (Xv, yv)
    if validation_data is None:
        return X, y, None
    Xv, yv = validation_data
    Xv = check_X(Xv, net.n_features, name="validation X", dtype=dtype)
    yv = loss.prepare_targets(yv, net.n_outputs, dtype)
    if len(yv) != Xv.shape[0]:
        raise ValueError(f"validation X has {Xv.shape[0]} samples but y has {len(yv)}")
    return X, y, (Xv, yv)


def _dropouts(net: Sequential) -> list[tuple[int, Dropout]]:
    return [(i, layer) for i, layer in enumerate(net.layers) if isinstance(layer, Dropout)]


def _start_epoch(net, loss, run: _Run, epoch: int, first: int) -> RunningMetrics:
    """Seed each Dropout layer for this epoch; a resumed epoch gets back its running sums and
    its Dropout generators' states."""
    running = RunningMetrics(loss)
    for i, layer in _dropouts(net):
        layer.rng = np.random.default_rng([run.seed, epoch, i])
    if first:
        running.load_state(run.resume_state.get("running", {}))
        for i, layer in _dropouts(net):
            layer.rng.bit_generator.state = run.resume_state["dropout_rng"][str(i)]
    return running


def _mid_epoch_state(net, running: RunningMetrics) -> dict:
    return {"running": running.state(),
            "dropout_rng": {str(i): layer.rng.bit_generator.state for i, layer in _dropouts(net)}}


def _snapshot(net: Sequential, into: dict | None) -> dict:
    """Copy the weights (into the arrays of the previous snapshot when they still fit)."""
    params = net.parameters()
    if into is None or into.keys() != params.keys():
        return {k: v.copy() for k, v in params.items()}
    for k, v in params.items():
        np.copyto(into[k], v)
    return into


def _diverged(net, last_good, epoch, batch, history, running, optimizer) -> None:
    """Stop with a clear message; leave the weights at their last finite state."""
    params = net.parameters()
    if not all(np.isfinite(p).all() for p in params.values()):
        net.set_weights(last_good)  # the weights at the start of this epoch were finite
        where = "restored to their values at the start of this epoch"
    else:
        where = "left at their last (finite) values"
    finite = [r["loss"] for r in history.records if math.isfinite(r.get("loss", math.nan))]
    last = running.loss_sum / running.n if running.n else (finite[-1] if finite else None)
    last_txt = f"{last:.6g}" if last is not None else "none yet"
    raise TrainingDiverged(
        f"training diverged: the loss became NaN or infinite at epoch {epoch + 1}, batch "
        f"{batch + 1} (last finite loss: {last_txt}). The weights were {where}. The usual "
        f"cause is a learning rate that is too high (lr={optimizer.lr:g}): try one 10x lower, "
        "or clip gradients (clip_norm=...)."
    )
