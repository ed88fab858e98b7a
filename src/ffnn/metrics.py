"""Evaluation metrics in NumPy, with scikit-learn's conventions and results.

Classification metrics take label arrays ``y_true`` and ``y_pred`` of shape (N,) (integers,
bools or strings); ``log_loss`` takes predicted probabilities.  Regression metrics take
targets of shape (N,) or (N, K) and average over the K outputs.  The tests check every
function against scikit-learn on random inputs.
"""

from __future__ import annotations

import numpy as np

_AVERAGES = (None, "binary", "micro", "macro", "weighted")


# --------------------------------------------------------------------------- validation
def _labels_1d(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = (" (these look like scores or one-hot rows: take np.argmax(..., axis=1) or use "
                "net.classify(X))" if y.ndim == 2 else "")
        raise ValueError(f"{name} must be class labels of shape (N,), got shape {y.shape}{hint}")
    if y.dtype == object or y.dtype.kind not in "biuUS":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            return y
        raise ValueError(f"{name} must hold class labels (integers, bools or strings), got "
                         f"dtype {y.dtype}")
    return y


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = _labels_1d(y_true, "y_true")
    y_pred = _labels_1d(y_pred, "y_pred")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} samples but y_pred has "
                         f"{y_pred.shape[0]}")
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; need at least one sample")
    return y_true, y_pred


def _targets(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Regression targets as float64 (N, K)."""
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if b.ndim == 1:
        b = b.reshape(-1, 1)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"y_true and y_pred must have the same shape (N,) or (N, K), got "
                         f"{np.shape(y_true)} and {np.shape(y_pred)}")
    if a.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; need at least one sample")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("y_true and y_pred must be finite (found NaN or infinity)")
    return a, b


# --------------------------------------------------------------------------- classification
def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted label equals the true label: mean(y_pred == y_true).

    y_true, y_pred (N,) labels.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """M[i, j] = number of samples with true label labels[i] predicted as labels[j].

    Rows are true classes, columns predicted classes (scikit-learn's convention).  ``labels``
    fixes which classes appear and in what order; default: the sorted union of both arrays.
    Samples whose labels are not in ``labels`` are ignored.

    Returns int64 (C, C).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    labels = _label_set(y_true, y_pred, labels)
    if not np.isin(labels, y_true).any():
        raise ValueError(f"none of the labels {labels.tolist()} occurs in y_true")
    C = len(labels)
    t = _index_in(labels, y_true)
    p = _index_in(labels, y_pred)
    keep = (t >= 0) & (p >= 0)
    flat = np.bincount(t[keep] * C + p[keep], minlength=C * C)
    return flat.reshape(C, C).astype(np.int64)


def _label_set(y_true, y_pred, labels) -> np.ndarray:
    if labels is None:
        return np.union1d(y_true, y_pred)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D list of classes, got shape "
                         f"{labels.shape}")
    if np.unique(labels).size != labels.size:
        raise ValueError(f"labels must not repeat a class, got {labels.tolist()}")
    return labels


def _index_in(labels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position of each y in ``labels``, or -1 where y is not among them."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.searchsorted(sorted_labels, y)
    pos = np.clip(pos, 0, len(labels) - 1)
    found = sorted_labels[pos] == y
    return np.where(found, order[pos], -1)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    """num / den, with ``zero_division`` where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_f1(y_true, y_pred, *, average: str | None = None, labels=None,
                        pos_label=1, zero_division: float = 0.0):
    """Precision, recall and F1 per class or averaged (scikit-learn's
    ``precision_recall_fscore_support``).

    For class c with tp = #(pred c and true c), fp = #(pred c, true not c),
    fn = #(true c, pred not c):
        precision = tp / (tp + fp),  recall = tp / (tp + fn),  F1 = 2 tp / (2 tp + fp + fn),
    and ``zero_division`` (0, 1 or nan) where a denominator is 0.

    average: None -> arrays of shape (C,) per class, in the order of ``labels`` (default: the
    sorted union of labels); "macro" -> unweighted mean over classes; "weighted" -> mean
    weighted by support; "micro" -> tp, fp, fn summed over classes first; "binary" -> the
    values for ``pos_label`` only.

    Returns ``(precision, recall, f1, support)``: support (C,) int64 counts of each true class
    when ``average`` is None, else None (as in scikit-learn).
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}")
    y_true, y_pred = _pair(y_true, y_pred)
    if average == "binary":
        present = np.union1d(y_true, y_pred)
        if present.size > 2:
            raise ValueError(f"average='binary' needs two classes, found {present.tolist()}; "
                             f"use average='macro', 'micro' or 'weighted'")
        labels = [pos_label]
    labels = _label_set(y_true, y_pred, labels)
    M = confusion_matrix(y_true, y_pred, labels=np.union1d(labels, np.union1d(y_true, y_pred)))
    full = np.union1d(labels, np.union1d(y_true, y_pred))
    idx = _index_in(full, labels)
    tp = np.diag(M)[idx]
    pred_count = M.sum(axis=0)[idx]  # tp + fp
    true_count = M.sum(axis=1)[idx]  # tp + fn (= support)
    if average == "micro":
        tp, pred_count, true_count = tp.sum(keepdims=True), pred_count.sum(keepdims=True), \
            true_count.sum(keepdims=True)
    precision = _divide(tp, pred_count, zero_division)
    recall = _divide(tp, true_count, zero_division)
    f1 = _divide(2 * tp, pred_count + true_count, zero_division)
    if average is None:
        return precision, recall, f1, true_count.astype(np.int64)
    if average in ("micro", "binary"):
        return float(precision[0]), float(recall[0]), float(f1[0]), None
    if average == "weighted":
        w = true_count.astype(np.float64)
        return (float(_nan_average(precision, w)), float(_nan_average(recall, w)),
                float(_nan_average(f1, w)), None)
    return (float(_nan_average(precision)), float(_nan_average(recall)),
            float(_nan_average(f1)), None)


def _nan_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean (weighted) over the entries that are not NaN (scikit-learn's ``_nanaverage``).

    If the remaining weights are all zero the plain mean is used, as scikit-learn does.
    """
    ok = ~np.isnan(values)
    if not ok.any():
        return float("nan")
    if weights is None or weights[ok].sum() == 0:
        return float(np.mean(values[ok]))
    return float(np.average(values[ok], weights=weights[ok]))


def log_loss(y_true, y_pred, labels=None) -> float:
    """Mean cross-entropy -1/N sum_n log p[n, y_n] of predicted probabilities.

    y_true (N,) labels; y_pred (N, C) class probabilities (rows sum to 1, columns in the sorted
    order of ``labels``, default the sorted labels of y_true) or (N,) probabilities of the
    positive (larger) class of a binary problem.  Probabilities are clipped to
    [eps, 1 - eps], eps = machine epsilon of y_pred's dtype, so a confident mistake costs
    about 36 (float64) instead of infinity.
    """
    y_true = _labels_1d(y_true, "y_true")
    P = np.asarray(y_pred)
    if P.dtype.kind not in "f":
        P = P.astype(np.float64)
    if P.ndim == 1:
        P = P.reshape(-1, 1)
    if P.ndim != 2 or P.shape[0] != y_true.shape[0]:
        raise ValueError(f"y_pred must be probabilities of shape (N,) or (N, C) with "
                         f"N = {y_true.shape[0]}, got shape {np.shape(y_pred)}")
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty; need at least one sample")
    if not np.all(np.isfinite(P)) or P.min() < 0 or P.max() > 1:
        raise ValueError(f"y_pred must hold probabilities in [0, 1] (got values in "
                         f"[{np.nanmin(P):g}, {np.nanmax(P):g}]); apply sigmoid or softmax to "
                         f"logits first")
    classes = np.unique(y_true) if labels is None else np.unique(np.asarray(labels))
    if classes.size < 2:
        raise ValueError(f"y_true contains only one label ({classes.tolist()}); pass labels=[...] "
                         f"to name all classes")
    if P.shape[1] == 1:
        P = np.concatenate([1 - P, P], axis=1)
    if P.shape[1] != classes.size:
        raise ValueError(f"y_pred has {P.shape[1]} columns but there are {classes.size} classes "
                         f"{classes.tolist()}; pass labels=[...] if y_true lacks some classes")
    eps = np.finfo(P.dtype).eps
    if not np.allclose(P.sum(axis=1), 1.0, rtol=np.sqrt(eps), atol=0.0):
        raise ValueError("the rows of y_pred must sum to 1 (probabilities, e.g. a softmax "
                         "output)")
    col = _index_in(classes, y_true)
    if np.any(col < 0):
        unknown = np.setdiff1d(y_true, classes)
        raise ValueError(f"y_true contains labels {unknown.tolist()} not in labels "
                         f"{classes.tolist()}")
    p_true = np.clip(P, eps, 1 - eps)[np.arange(P.shape[0]), col]
    return float(-np.mean(np.log(p_true)))


# --------------------------------------------------------------------------- regression
def mean_squared_error(y_true, y_pred) -> float:
    """MSE = mean over samples and outputs of (y_pred - y_true)^2.  Shapes (N,) or (N, K)."""
    a, b = _targets(y_true, y_pred)
    return float(np.mean(np.mean((b - a) ** 2, axis=0)))


def mean_absolute_error(y_true, y_pred) -> float:
    """MAE = mean over samples and outputs of |y_pred - y_true|.  Shapes (N,) or (N, K)."""
    a, b = _targets(y_true, y_pred)
    return float(np.mean(np.mean(np.abs(b - a), axis=0)))


def r2_score(y_true, y_pred) -> float:
    """Coefficient of determination R^2 = 1 - SS_res / SS_tot, averaged over outputs.

    SS_res = sum (y - y_pred)^2, SS_tot = sum (y - mean y)^2 per output.  1 is a perfect fit,
    0 is no better than predicting the mean, negative is worse.  A constant y_true (SS_tot = 0)
    gives 1 if predicted exactly, else 0 (scikit-learn's ``force_finite``).
    Shapes (N,) or (N, K); needs N >= 2.
    """
    a, b = _targets(y_true, y_pred)
    if a.shape[0] < 2:
        raise ValueError("R^2 is not defined for a single sample")
    ss_res = np.sum((a - b) ** 2, axis=0)
    ss_tot = np.sum((a - a.mean(axis=0)) ** 2, axis=0)
    safe_tot = np.where(ss_tot != 0, ss_tot, 1.0)
    r2 = np.where(ss_tot != 0, 1.0 - ss_res / safe_tot, np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(r2))


__all__ = ["accuracy", "confusion_matrix", "log_loss", "mean_absolute_error",
           "mean_squared_error", "precision_recall_f1", "r2_score"]
