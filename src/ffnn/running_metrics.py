"""An epoch's metrics, accumulated batch by batch as the batches are trained (as Keras reports
them): the mean loss, and accuracy for classifiers or R^2 for regression."""

from __future__ import annotations

import numpy as np

from .losses import Loss


def is_classifier(loss: Loss) -> bool:
    return loss.output_kind in ("sigmoid", "softmax")


def labels_from_targets(y: np.ndarray) -> np.ndarray:
    return np.argmax(y, axis=1) if y.ndim == 2 else y


class RunningMetrics:
    """Loss and accuracy / R^2 accumulated over the batches of one epoch (as Keras reports)."""

    def __init__(self, loss: Loss) -> None:
        self.classifier = is_classifier(loss)
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
        return float(np.sum(pred == labels_from_targets(y))), _judged(kind, out)
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


__all__ = ["RunningMetrics", "is_classifier", "labels_from_targets"]
