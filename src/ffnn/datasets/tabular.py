"""Loading a user's own table: a CSV with a header row, or a NumPy ``.npy`` / ``.npz`` file."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


def load_table(path: str | os.PathLike, target: str | int, *, delimiter: str = ",",
               return_info: bool = False):
    """Features X and target y from a CSV, ``.npy`` or ``.npz`` file.

    * CSV: the first row names the columns; ``target`` is a column name (or index).  Every
      other column must be numeric; the target may be numeric or text (text classes are
      numbered 0, 1, ... in sorted order).
    * ``.npy``: one 2-D numeric array; ``target`` is a column index.
    * ``.npz``: ``target`` names the array holding y; X is the array named ``X`` (or the only
      other array).

    Returns X float64 (N, D) and y of shape (N,): int64 if every value is an integer or the
    target was text, float64 otherwise.  With ``return_info=True`` a third value is a dict with
    ``feature_names`` (list of str), ``target`` (its name) and ``classes`` (the original text
    labels, or None).  NumPy files are read with ``allow_pickle=False``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        X, y, names, tname = _from_npy(path, target)
        classes = None
    elif suffix == ".npz":
        X, y, names, tname = _from_npz(path, target)
        classes = None
    else:
        X, y, names, tname, classes = _from_csv(path, target, delimiter)
    if X.shape[0] == 0:
        raise ValueError(f"{path} holds no data rows")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    info = {"feature_names": names, "target": tname, "classes": classes}
    return (X, y, info) if return_info else (X, y)


def _column_index(target, names: list[str], path: Path) -> int:
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"target column {target!r} not found in {path}; the columns are: "
                             f"{', '.join(names)}")
        return names.index(target)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a column name or index, got {target!r}")
    if not -len(names) <= target < len(names):
        raise ValueError(f"target index {target} is out of range for {len(names)} columns in "
                         f"{path}")
    return int(target) % len(names)


def _from_csv(path: Path, target, delimiter: str):
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [row for row in csv.reader(fh, delimiter=delimiter) if row]
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row naming the columns")
    names = [name.strip() for name in rows[0]]
    t = _column_index(target, names, path)
    body = rows[1:]
    for i, row in enumerate(body, start=2):
        if len(row) != len(names):
            raise ValueError(f"{path}, line {i}: {len(row)} values but the header has "
                             f"{len(names)} columns")
    feature_cols = [j for j in range(len(names)) if j != t]
    X = np.empty((len(body), len(feature_cols)), dtype=np.float64)
    for i, row in enumerate(body):
        for k, j in enumerate(feature_cols):
            X[i, k] = _number(row[j], path, i + 2, names[j])
    raw_y = [row[t].strip() for row in body]
    classes = None
    try:
        y = np.array([float(v) for v in raw_y], dtype=np.float64)
    except ValueError:
        if any(v == "" for v in raw_y):
            line = raw_y.index("") + 2
            raise ValueError(f"{path}, line {line}: the target column {names[t]!r} is "
                             f"empty") from None
        classes, y = np.unique(np.array(raw_y), return_inverse=True)
        classes, y = [str(c) for c in classes], y.astype(np.int64)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        line = int(np.flatnonzero(~np.isfinite(y))[0]) + 2
        raise ValueError(f"{path}, line {line}: the target column {names[t]!r} is not finite")
    return X, y, [names[j] for j in feature_cols], names[t], classes


def _number(text: str, path: Path, line: int, column: str) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        what = "is empty (missing value)" if text == "" else f"holds {text!r}, not a number"
        raise ValueError(f"{path}, line {line}: column {column!r} {what}; feature columns must "
                         f"be numeric (encode categories as numbers first)") from None
    if not np.isfinite(value):
        raise ValueError(f"{path}, line {line}: column {column!r} holds {text!r}; feature values "
                         f"must be finite")
    return value


def _numeric(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def _from_npy(path: Path, target):
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 2:
        raise ValueError(f"{path}: a .npy table must be 2-D (N, columns), got shape {arr.shape}")
    names = [f"column_{j}" for j in range(arr.shape[1])]
    t = _column_index(target, names, path)
    arr = _numeric(arr, str(path))
    X = np.delete(arr, t, axis=1)
    return X, arr[:, t], [n for j, n in enumerate(names) if j != t], names[t]


def _from_npz(path: Path, target):
    if not isinstance(target, str):
        raise TypeError(f"for an .npz file, target must name the array holding y, got {target!r}")
    with np.load(path, allow_pickle=False) as data:
        keys = list(data.files)
        if target not in keys:
            raise ValueError(f"{path} has no array named {target!r}; it holds: {', '.join(keys)}")
        others = [k for k in keys if k != target]
        if "X" in others:
            x_key = "X"
        elif len(others) == 1:
            x_key = others[0]
        else:
            raise ValueError(f"{path}: cannot tell which array holds X among {others}; name it "
                             f"'X'")
        X = _numeric(data[x_key], f"{path}[{x_key!r}]")
        y = np.asarray(data[target])
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D (N, D), got shape {X.shape}")
    y = _numeric(y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y, f"{path}[{target!r}]")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: y must have shape ({X.shape[0]},), got {y.shape}")
    return X, y, [f"x{j}" for j in range(X.shape[1])], target


__all__ = ["load_table"]
