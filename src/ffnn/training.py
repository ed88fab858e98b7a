"""The visible training loop.

``train_step`` is the whole algorithm in four lines (forward, loss, backward, step).  ``fit``
adds what practice needs around it: shuffled mini-batches by index permutation, validation,
metrics per epoch in a ``History``, callbacks, a progress bar, a divergence guard and a clean
stop on Ctrl-C.

Randomness: epoch ``e`` of a run with seed ``s`` shuffles with ``default_rng([s, e])`` and
gives each Dropout layer ``default_rng([s, e, layer index])``.  So a run is reproducible
bit for bit, and it can be resumed at any epoch knowing only the seed and the epoch number.
"""

from __future__ import annotations

import contextlib
import csv
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._checks import DataScaleWarning, check_X, column_names, large_features_message
from ._fastpath import FusedStep
from .layers import Dropout
from .losses import Loss, get_loss
from .network import Sequential
from .optimizers import Optimizer


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite during ``fit``."""


# --------------------------------------------------------------------------- history
class History:
    """Per-epoch records: ``history["loss"]``, ``history["val_accuracy"]``, ...

    ``rows()`` gives one dict per epoch, ``columns()`` a dict of lists, ``to_csv(path)``
    writes a CSV with one row per epoch.
    """

    def __init__(self, records: list[dict] | None = None, seed: int | None = None) -> None:
        self.records: list[dict] = list(records or [])
        self.seed = seed
        self.interrupted = False

    def append(self, logs: dict) -> None:
        """Record one epoch.  The dict itself is kept, so callbacks that add entries to an
        epoch's ``logs`` in ``on_epoch_end`` (e.g. diagnostics) add them to the history."""
        self.records.append(logs)

    def keys(self) -> list[str]:
        keys: list[str] = []
        for r in self.records:
            keys += [k for k in r if k not in keys]
        return keys

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"{key!r} is not in the history; available: {', '.join(self.keys())}")
        return [r.get(key, math.nan) for r in self.records]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.records)

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.records]

    def columns(self) -> dict[str, list]:
        return {k: self[k] for k in self.keys()}

    def last(self) -> dict:
        return dict(self.records[-1]) if self.records else {}

    def to_csv(self, path) -> None:
        keys = self.keys()
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            for r in self.records:
                writer.writerow({k: r.get(k, "") for k in keys})

    @classmethod
    def from_csv(cls, path) -> History:
        with open(path, newline="") as fh:
            records = [{k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(fh)]
        return cls(records)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"


def _parse_number(v: str):
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


# --------------------------------------------------------------------------- callbacks
@dataclass
class TrainingContext:
    """What callbacks can see and steer while ``fit`` runs."""

    net: Sequential
    loss: Loss
    optimizer: Optimizer
    history: History
    seed: int
    epoch: int = 0
    stop_training: bool = False
    extra: dict = field(default_factory=dict)


class Callback:
    """Hooks called by ``fit``.  ``self.context`` is set before training starts."""

    context: TrainingContext

    def set_context(self, context: TrainingContext) -> None:
        self.context = context

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...


# --------------------------------------------------------------------------- the step
def train_step(net: Sequential, loss: Loss, optimizer: Optimizer, X: np.ndarray, y) -> float:
    """One gradient-descent step on the batch (X, y); returns the batch loss before the step."""
    out = net._forward(X, training=True)  # forward:  output = f(X; theta)
    value = loss.forward(out, y)  # loss:     L(output, y)
    if net.hooks:  # observers (ffnn.trace) also see the loss and the update
        _observed_step(net, loss, optimizer, out, value, y)
        return value
    net.backward(loss.backward(), input_grad=False)  # backward: dL/dtheta
    optimizer.step(net.parameters(), net.gradients())  # step:     theta <- update(theta, dL/dtheta)
    return value


def _observed_step(net: Sequential, loss: Loss, optimizer: Optimizer, out, value, y) -> None:
    """The backward and step of ``train_step`` with observers told about the loss and update."""
    dout = loss.backward()
    net.emit("loss", value=value, out=out, y=y, dout=dout)
    net.backward(dout, input_grad=False)
    optimizer.step(net.parameters(), net.gradients())
    net.emit("step")


# --------------------------------------------------------------------------- metrics
def _is_classifier(loss: Loss) -> bool:
    return loss.output_kind in ("sigmoid", "softmax")


def _labels_from_targets(y: np.ndarray) -> np.ndarray:
    return np.argmax(y, axis=1) if y.ndim == 2 else y


class _Running:
    """Loss and accuracy / R^2 accumulated over the batches of one epoch (as Keras reports)."""

    def __init__(self, loss: Loss) -> None:
        self.classifier = _is_classifier(loss)
        self.kind = loss.output_kind
        self.loss_sum = 0.0
        self.n = 0
        self.correct = 0.0
        self.count = 0
        self.sums = None  # regression: [sum y, sum y^2, sum (y - yhat)^2] per output

    def update(self, value: float, out: np.ndarray, y: np.ndarray,
               correct: int | None = None) -> None:
        """Add one batch; ``correct`` is the batch's count of right answers when already known."""
        nb = out.shape[0]
        self.loss_sum += value * nb
        self.n += nb
        if self.classifier:
            correct, count = (_correct(self.kind, out, y) if correct is None else
                              (float(correct), _judged(self.kind, out)))
            self.correct += correct
            self.count += count
        else:
            Y = y.reshape(out.shape) if y.ndim == 1 else y
            s = np.stack([Y.sum(0), (Y * Y).sum(0), ((Y - out) ** 2).sum(0)]).astype(np.float64)
            self.sums = s if self.sums is None else self.sums + s

    def state(self) -> dict:
        """JSON-friendly accumulators (for a mid-epoch checkpoint)."""
        return {"loss_sum": self.loss_sum, "n": self.n, "correct": self.correct,
                "count": self.count, "sums": None if self.sums is None else self.sums.tolist()}

    def load_state(self, state: dict) -> None:
        for k in ("loss_sum", "n", "correct", "count"):
            if k in state:
                setattr(self, k, state[k])
        if state.get("sums") is not None:
            self.sums = np.array(state["sums"], dtype=np.float64)

    def logs(self, prefix: str = "") -> dict:
        logs = {prefix + "loss": self.loss_sum / max(self.n, 1)}
        if self.classifier:
            logs[prefix + "accuracy"] = self.correct / max(self.count, 1)
        elif self.sums is not None:
            logs[prefix + "r2"] = _r2_from_sums(self.sums, self.n)
        return logs


def _judged(kind: str, out: np.ndarray) -> int:
    """How many answers a batch gives: one per sample (softmax), one per output (sigmoid)."""
    return out.shape[0] if kind == "softmax" else out.size


def _correct(kind: str, out: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """(number correct, number judged) for logits ``out`` and targets ``y``."""
    if kind == "softmax":
        pred = np.argmax(out, axis=1)
        return float(np.sum(pred == _labels_from_targets(y))), _judged(kind, out)
    Y = y.reshape(out.shape) if y.ndim == 1 else y
    # sigma(z) >= 0.5 <=> z > 0
    return float(np.sum((out > 0) == (Y >= 0.5))), _judged(kind, out)


def _r2_from_sums(s: np.ndarray, n: int) -> float:
    """R^2 = 1 - SS_res / SS_tot per output, averaged over outputs (scikit-learn's default)."""
    ss_tot = s[1] - s[0] ** 2 / n
    ss_res = s[2]
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                  np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(r2))


def evaluate(net: Sequential, X, y, loss: str | Loss, batch_size: int = 8192) -> dict:
    """Loss and metrics (accuracy for classifiers, R^2 for regression) on (X, y)."""
    loss = get_loss(loss)
    dtype = net.dtype or np.dtype(np.float32)
    X = check_X(X, net.n_features, dtype=dtype)
    y = loss.prepare_targets(y, net.n_outputs, dtype)
    if len(y) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(y)}")
    running = _Running(loss)
    for i in range(0, X.shape[0], batch_size):
        out = net._forward(X[i:i + batch_size], training=False)
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
        labels = _labels_from_targets(y)
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


#: below this many multiply-adds per sample and batch (batch size x parameters), fit runs the
#: BLAS on one thread: handing tiny matrix products to a second thread costs more than it saves
#: (measured: seed 001's moons network trains ~20% faster on one thread, MNIST's 567k-parameter
#: network ~1.5x slower)
SMALL_WORK = 4_000_000


def _blas_threads_for(work: int):
    """One BLAS thread for small networks (needs threadpoolctl; otherwise leave BLAS alone)."""
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
    fused: bool | None = None,
    _resume=None,
) -> History:
    """Train ``net`` on (X, y) for ``epochs`` epochs and return the per-epoch ``History``.

    batch_size None = full-batch gradient descent; 1 = per-sample SGD; else mini-batches
    drawn from a fresh index permutation every epoch (the data are never copied).
    Train metrics are averaged over the epoch's batches as they are computed; validation
    metrics are computed on the validation set at the end of each epoch.

    The optimiser keeps its state between calls and epochs continue from ``history`` (or
    ``initial_epoch``), so ``fit(..., epochs=1)`` called n times with the same seed and a
    shared history equals one call with ``epochs=n``.

    ``checkpoint`` (a path) writes a resumable checkpoint after every epoch, and after the
    current batch when Ctrl-C stops training; ``ffnn.io.load_checkpoint(path).resume(X, y)``
    continues exactly where it stopped.  A NaN or infinite loss raises ``TrainingDiverged``.

    ``fused=True`` runs each batch through ``ffnn._fastpath.FusedStep`` (needs numba): the same
    math with reused buffers and compiled Dense+ReLU / softmax-CE passes, equal to the reference
    step up to float rounding.  The default (None) follows the optimiser's ``fused`` flag, so
    ``Adam(fused=True)`` alone gives the whole fast path.  With observers in ``net.hooks``
    (``ffnn.trace``) the reference step always runs.  On two or more cores, a fused step of a
    Dense + ReLU network with softmax-CE (integer labels) or sigmoid-BCE and fused Adam/AdamW
    is shared between cores (``ffnn._parallel``; same results; no more workers than BLAS
    may use threads, so ``FFNN_NUM_THREADS=1`` or a one-thread BLAS limit keep one).
    """
    loss = get_loss(loss)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an ffnn Optimizer (e.g. SGD(0.1)), got {optimizer!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    dtype = net.dtype or np.dtype(np.float32)
    names = column_names(X)
    X = check_X(X, net.n_features, dtype=dtype)
    y = loss.prepare_targets(y, net.n_outputs, dtype)
    if len(y) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(y)} targets")
    advice = large_features_message(X, "X", names)
    if advice is not None:  # huge features: say so now, not as a "divergence" later
        warnings.warn(advice, DataScaleWarning, stacklevel=2)
    if validation_data is not None and validation_split:
        raise ValueError("give either validation_data or validation_split, not both")
    if seed is None:
        seed = history.seed if history is not None and history.seed is not None else \
            int(np.random.SeedSequence().generate_state(1)[0])
    seed = int(seed)
    if validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"validation_split must lie in (0, 1), got {validation_split}")
        X, y, Xv, yv = _split_validation(X, y, validation_split, seed,
                                         stratify=loss.output_kind == "softmax" or
                                         (loss.output_kind == "sigmoid" and y.shape[1] == 1))
        validation_data = (Xv, yv)
    if validation_data is not None:
        Xv, yv = validation_data
        Xv = check_X(Xv, net.n_features, name="validation X", dtype=dtype)
        yv = loss.prepare_targets(yv, net.n_outputs, dtype)
        if len(yv) != Xv.shape[0]:
            raise ValueError(f"validation X has {Xv.shape[0]} samples but y has {len(yv)}")
    if net.output is None:
        net.output = loss.output_kind

    history = history if history is not None else History(seed=seed)
    history.seed = seed
    start = len(history) if initial_epoch is None else int(initial_epoch)
    n = X.shape[0]
    B = n if batch_size is None else min(int(batch_size), n)
    steps = math.ceil(n / B)
    full_batch = B == n
    callbacks = list(callbacks)
    ctx = TrainingContext(net, loss, optimizer, history, seed, epoch=start)
    ctx.extra["fit"] = {"batch_size": batch_size, "shuffle": shuffle, "n_samples": n,
                        "target_epochs": start + epochs, "validation_split": validation_split}
    start_batch = _resume.batch if _resume is not None else 0
    resume_state = (_resume.resume_state or {}) if _resume is not None else {}
    for cb in callbacks:
        cb.set_context(ctx)
    dropouts = [(i, layer) for i, layer in enumerate(net.layers) if isinstance(layer, Dropout)]
    if fused is None:
        fused = bool(getattr(optimizer, "fused", False))
    fast = FusedStep(net, loss, B) if fused else None
    # big enough to share each step between cores (small networks: handing off costs more)
    shared = fast.parallel(optimizer, y.ndim) if fast is not None and not full_batch and \
        B * net.n_params() >= SMALL_WORK else None
    if shared is not None:
        shared.set_data(X, y)

    # reusable batch buffers: gathering rows into them never allocates inside the loop
    if not full_batch:
        Xb_buf = np.empty((B,) + X.shape[1:], dtype=X.dtype)
        yb_buf = np.empty((B,) + y.shape[1:], dtype=y.dtype)

    progress = _Progress(verbose, epochs * steps, start + epochs, start)
    flag = {"stop": False}
    last_good = None
    for cb in callbacks:
        cb.on_train_begin()
    try:
        # Overflow to inf/NaN is caught by the divergence guard below with a clear message,
        # so NumPy's own overflow warnings would only be noise in front of it.
        with _stop_on_sigint(flag), np.errstate(over="ignore", invalid="ignore"), \
                _blas_threads_for(B * net.n_params()):
            for epoch in range(start, start + epochs):
                ctx.epoch = epoch
                for cb in callbacks:
                    cb.on_epoch_begin(epoch)
                for i, layer in dropouts:
                    layer.rng = np.random.default_rng([seed, epoch, i])
                order = None
                if shuffle and not full_batch:
                    order = np.random.default_rng([seed, epoch]).permutation(n)
                last_good = _snapshot(net, last_good)
                running = _Running(loss)
                first = 0
                if start_batch and epoch == start:  # resuming in the middle of this epoch
                    first = start_batch
                    running.load_state(resume_state.get("running", {}))
                    for i, layer in dropouts:
                        layer.rng.bit_generator.state = resume_state["dropout_rng"][str(i)]
                t0 = time.perf_counter()
                # the workers run for this epoch unless observers want the reference step
                sharing = shared is not None and not net.hooks
                with contextlib.nullcontext() if not sharing else \
                        shared.running(np.arange(n) if order is None else order):
                    for b in range(first, steps):
                        fused_now = fast is not None and not net.hooks  # observers: reference
                        shared_now = fused_now and sharing
                        if shared_now:
                            # gather, forward, loss, backward and update, on all workers
                            # (nothing is updated when the loss is not finite)
                            value, out, correct = shared.step(b)
                            yb = None
                        else:
                            if full_batch:
                                Xb, yb = X, y
                            elif order is None:
                                Xb, yb = X[b * B:(b + 1) * B], y[b * B:(b + 1) * B]
                            else:
                                idx = order[b * B:(b + 1) * B]
                                Xb = np.take(X, idx, axis=0, out=Xb_buf[: len(idx)])
                                yb = np.take(y, idx, axis=0, out=yb_buf[: len(idx)])
                            if fused_now:
                                value, out, correct = fast.forward_loss(Xb, yb)
                            else:
                                out = net._forward(Xb, training=True)
                                value, correct = loss.forward(out, yb), None
                        if not math.isfinite(value):
                            _diverged(net, last_good, epoch, b, history, running, optimizer)
                        running.update(value, out, yb, correct)
                        if net.hooks:
                            _observed_step(net, loss, optimizer, out, value, yb)
                        elif not shared_now:  # (the shared step has updated already)
                            if fused_now:
                                fast.backward()
                            else:
                                net.backward(loss.backward(), input_grad=False)
                            optimizer.step(net.parameters(), net.gradients())
                        progress.step()
                        for cb in callbacks:
                            cb.on_batch_end(b, {"loss": value})
                        if flag["stop"]:
                            break
                if flag["stop"] and b < steps - 1:
                    history.interrupted = True
                    ctx.extra["interrupted_at"] = (epoch, b)
                    if checkpoint is not None:
                        from .io import save_checkpoint

                        save_checkpoint(checkpoint, ctx, position=(epoch, b + 1), resume_state={
                            "running": running.state(),
                            "dropout_rng": {str(i): layer.rng.bit_generator.state
                                            for i, layer in dropouts}})
                    break
                logs = {"epoch": epoch + 1, **running.logs()}
                if validation_data is not None:
                    logs.update({f"val_{k}": v for k, v in
                                 evaluate(net, Xv, yv, loss).items()})
                logs["lr"] = float(optimizer.lr)
                logs["time"] = time.perf_counter() - t0
                history.append(logs)
                progress.epoch_end(epoch, logs)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                if checkpoint is not None:
                    from .io import save_checkpoint

                    save_checkpoint(checkpoint, ctx)
                if flag["stop"]:
                    history.interrupted = True
                    break
                if ctx.stop_training:
                    break
    finally:
        progress.close()
        for cb in callbacks:  # also after an error, so observers leave net.hooks
            cb.on_train_end({"interrupted": history.interrupted})
    return history


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
