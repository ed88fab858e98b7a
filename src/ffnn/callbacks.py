"""Callbacks for ``fit``: early stopping, checkpoints, learning-rate control.

A callback subclasses ``ffnn.training.Callback`` and overrides any of
``on_train_begin``, ``on_epoch_begin(epoch)``, ``on_batch_end(batch, logs)``,
``on_epoch_end(epoch, logs)``, ``on_train_end``.  ``self.context`` gives the network, the
optimiser, the history, and ``stop_training`` (set it to True to stop after this epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._checks import check_nonneg_float, check_positive_float, check_positive_int
from .history import History
from .losses import Loss
from .network import Sequential
from .optimizers import Optimizer

__all__ = ["Callback", "EarlyStopping", "LearningRateScheduler", "ModelCheckpoint",
           "ReduceLROnPlateau", "LambdaCallback", "TrainingContext"]


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


def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "min" if "loss" in monitor or "error" in monitor else "max"


def _metric(logs: dict, monitor: str) -> float:
    if monitor not in logs:
        raise KeyError(f"cannot monitor {monitor!r}: it is not among this epoch's metrics "
                       f"({', '.join(logs)}); for 'val_*' metrics pass validation_data or "
                       "validation_split to fit")
    return float(logs[monitor])


class _Improvement:
    """Tracks the best value of a metric: improvement means better by more than min_delta."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = min_delta
        self.best = math.inf if self.mode == "min" else -math.inf

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the network ends with the weights of its best epoch.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best_weights: bool = True, mode: str = "auto") -> None:
        self.monitor = monitor
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_nonneg_float(min_delta, "min_delta")
        self.restore_best_weights = bool(restore_best_weights)
        self.mode = _mode_for(monitor, mode)

    def on_train_begin(self, logs=None) -> None:
        self._tracker = _Improvement(self.monitor, self.mode, self.min_delta)
        self.wait = 0
        self.best_epoch: int | None = None
        self.best_weights = None
        self.stopped_epoch: int | None = None

    @property
    def best(self) -> float:
        return self._tracker.best

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = _metric(logs, self.monitor)
        if self._tracker.improved(value):
            self.wait = 0
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.context.net.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.context.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.context.net.set_weights(self.best_weights)


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(epoch)`` at the start of every epoch."""

    def __init__(self, schedule: Callable[[int], float]) -> None:
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        lr = float(self.schedule(epoch))
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"the schedule gave a learning rate of {lr} at epoch {epoch}")
        self.context.optimizer.lr = lr


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience``
    epochs (then wait ``cooldown`` epochs); never below ``min_lr``."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 5,
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 mode: str = "auto") -> None:
        self.monitor = monitor
        self.factor = check_positive_float(factor, "factor")
        if self.factor >= 1:
            raise ValueError(f"factor must be < 1, got {factor}")
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_nonneg_float(min_delta, "min_delta")
        self.cooldown = int(cooldown)
        self.min_lr = check_nonneg_float(min_lr, "min_lr")
        self.mode = mode

    def on_train_begin(self, logs=None) -> None:
        self._tracker = _Improvement(self.monitor, self.mode, self.min_delta)
        self.wait = 0
        self.cooldown_left = 0

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = _metric(logs, self.monitor)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._tracker.improved(value):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.context.optimizer
            opt.lr = max(opt.lr * self.factor, self.min_lr)
            self.wait = 0
            self.cooldown_left = self.cooldown


class ModelCheckpoint(Callback):
    """Write a resumable checkpoint (weights, optimiser state, epoch, seed, history) at the end
    of every ``every``-th epoch, or only when ``monitor`` improves (``save_best_only``); and,
    with ``save_on_interrupt`` (the default), when Ctrl-C stops training in the middle of an
    epoch, with the position and the epoch's running sums so ``ffnn.resume`` continues exactly.

    ``min_interval`` (seconds): write at most that often; an epoch whose write was skipped is
    written when training ends (or the interrupt's checkpoint replaces it), so short epochs do
    not spend their time writing files (``ffnn train`` uses 2 s: a crash loses at most that
    much work; Ctrl-C loses none).  Not with ``save_best_only`` (the best weights are gone by
    the time a deferred write could happen).

    This is the one checkpoint writer: ``fit(..., checkpoint=path)`` adds
    ``ModelCheckpoint(path)``.  Files are written atomically (temporary file + rename), so a
    crash mid-write never destroys the previous good checkpoint.  ``path`` may contain
    ``{epoch}``.
    """

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False,
                 every: int = 1, mode: str = "auto", save_on_interrupt: bool = True,
                 min_interval: float = 0.0) -> None:
        self.path = str(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.every = check_positive_int(every, "every")
        self.mode = mode
        self.save_on_interrupt = bool(save_on_interrupt)
        self.min_interval = check_nonneg_float(min_interval, "min_interval")
        if self.min_interval and self.save_best_only:
            raise ValueError("min_interval cannot defer a save_best_only checkpoint (the best "
                             "weights would be gone by the deferred write): use one of them")
        self.last_path: str | None = None

    def on_train_begin(self, logs=None) -> None:
        self._tracker = _Improvement(self.monitor, self.mode, 0.0)
        self._last_write = -math.inf
        self._pending: int | None = None  # an epoch whose write min_interval deferred
        self._in_epoch = False

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._in_epoch = True

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self._in_epoch = False
        if self.save_best_only:
            if not self._tracker.improved(_metric(logs, self.monitor)):
                return
        elif (epoch + 1) % self.every:
            return
        if time.monotonic() - self._last_write < self.min_interval:
            self._pending = epoch + 1
            return
        self._write(epoch + 1)

    def on_train_end(self, logs=None) -> None:
        stopped = self.context.extra.get("interrupted_at")  # (epoch, next batch) mid-epoch
        if self.save_on_interrupt and stopped is not None:
            self._write(stopped[0] + 1, position=stopped,
                        resume_state=self.context.extra.get("resume_state"))
        elif self._pending is not None and not self._in_epoch:
            # (in an epoch: training failed there; the last checkpoint written stands)
            self._write(self._pending)

    def _write(self, epoch_label: int, position=None, resume_state=None) -> None:
        from .io import save_checkpoint

        path = self.path.format(epoch=epoch_label)
        save_checkpoint(path, self.context, position=position, resume_state=resume_state)
        self.last_path = path
        self._last_write = time.monotonic()
        self._pending = None


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None) -> None:
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_end", on_batch_end), ("on_train_begin", on_train_begin),
                         ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)
