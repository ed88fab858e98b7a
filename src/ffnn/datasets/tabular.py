"""Loading a user's own table: a CSV with a header row, or a NumPy ``.npy`` / ``.npz`` file."""

from __future__ import annotations

import csv
import os
import warnings
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


def _read_csv(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file, each with its line number in the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            rows = []
            try:
                for row in reader:
                    if row:
                        rows.append((reader.line_num, row))
            except csv.Error as exc:
                raise ValueError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") \
                    from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it "
                         "as UTF-8 CSV") from None
    return rows


def _header(path: Path, rows: list) -> list[str]:
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row naming the columns")
    names = [name.strip() for name in rows[0][1]]
    seen: set[str] = set()
    for j, name in enumerate(names):
        if name == "":
            raise ValueError(f"{path}, line {rows[0][0]}: column {j + 1} of the header has no "
                             "name")
        if name in seen:
            raise ValueError(f"{path}, line {rows[0][0]}: the header names column {name!r} "
                             "twice")
        seen.add(name)
    return names


def _check_width(path: Path, line: int, row: list[str], names: list[str]) -> None:
    """A row with as many values as the header has columns; else say which column is off."""
    n = len(names)
    if len(row) < n:
        missing = ", ".join(repr(c) for c in names[len(row):])
        raise ValueError(f"{path}, line {line}: {len(row)} values but the header names {n} "
                         f"columns; no value for column {missing}")
    if len(row) > n:
        raise ValueError(f"{path}, line {line}: {len(row)} values but the header names {n} "
                         f"columns; value {n + 1} ({row[n].strip()!r}) has no column (an "
                         "unquoted delimiter inside a value?)")


def _from_csv(path: Path, target, delimiter: str):
    rows = _read_csv(path, delimiter)
    names = _header(path, rows)
    t = _column_index(target, names, path)
    body = rows[1:]
    for line, row in body:
        _check_width(path, line, row, names)
    feature_cols = [j for j in range(len(names)) if j != t]
    X = _parse(path, body, feature_cols, names)
    raw_y = [row[t].strip() for _, row in body]
    lines = [line for line, _ in body]
    classes = None
    if "" in raw_y:
        raise ValueError(f"{path}, line {lines[raw_y.index('')]}: the target column "
                         f"{names[t]!r} is empty (a missing label or value)")
    try:
        y = np.array([float(v) for v in raw_y], dtype=np.float64)
    except ValueError:
        classes, y = np.unique(np.array(raw_y), return_inverse=True)
        classes, y = [str(c) for c in classes], y.astype(np.int64)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        line = lines[int(np.flatnonzero(~np.isfinite(y))[0])]
        raise ValueError(f"{path}, line {line}: the target column {names[t]!r} is not finite")
    return X, y, [names[j] for j in feature_cols], names[t], classes


def _parse(path: Path, body: list, cols: list[int], names: list[str]) -> np.ndarray:
    X = np.empty((len(body), len(cols)), dtype=np.float64)
    for i, (line, row) in enumerate(body):
        for k, j in enumerate(cols):
            X[i, k] = _number(row[j], path, line, names[j])
    return X


def match_columns(columns: list[str], feature_names: list[str], source, *,
                  target: str | None = None) -> list[int]:
    """Indices into ``columns`` of the model's ``feature_names``, in the model's order.

    Columns the model did not see in training are an error (not silently dropped): they
    usually mean the wrong file or a renamed feature.  The training target may be present
    (it is not a feature; evaluation files carry it).
    """
    takes = ", ".join(feature_names)
    missing = [f for f in feature_names if f not in columns]
    if missing:
        raise ValueError(f"{source} lacks the model's feature column"
                         f"{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(m) for m in missing)}; the model takes: {takes}")
    extra = [c for c in columns if c not in feature_names and c != target]
    if extra:
        raise ValueError(f"{source} has column{'s' if len(extra) > 1 else ''} not seen in "
                         f"training: {', '.join(repr(e) for e in extra)}; the model takes: "
                         f"{takes}" + (f" (and the target {target!r} may be present)"
                                       if target else ""))
    return [columns.index(f) for f in feature_names]


def read_features(path: str | os.PathLike, feature_names: list[str] | None = None, *,
                  n_features: int | None = None, target: str | None = None,
                  delimiter: str = ",", extra_columns: str = "error"):
    """The feature matrix X (N, D) float64 of a CSV, for a trained model's predictions.

    With a header row and the model's ``feature_names``, columns are taken by name in the
    model's order (see ``match_columns``; ``extra_columns="warn"`` drops unknown columns
    with a warning instead, for models that did not record their target).  Without names
    (or without a header row, detected as a first row of numbers), columns are taken by
    position and their number must be ``n_features``.  Every error names the file, the line and the
    column.  Returns ``(X, columns)``: the column names used (None without a header row).
    """
    path = Path(path).expanduser()
    rows = _read_csv(path, delimiter)
    if not rows:
        raise ValueError(f"{path} is empty")
    first = [v.strip() for v in rows[0][1]]
    if all(_is_number(v) for v in first):  # no header row
        width = n_features if n_features is not None else len(first)
        for line, row in rows:
            if len(row) != width:
                raise ValueError(f"{path}, line {line}: {len(row)} values but the model takes "
                                 f"{width} features" + (f" ({', '.join(feature_names)})"
                                                        if feature_names else ""))
        names = feature_names or [f"column {j + 1}" for j in range(width)]
        return _parse(path, rows, list(range(width)), names), None
    names = _header(path, rows)
    body = rows[1:]
    for line, row in body:
        _check_width(path, line, row, names)
    if feature_names:
        unseen = [c for c in names if c not in feature_names and c != target]
        if unseen and extra_columns == "warn":
            warnings.warn(f"{path.name}: ignoring columns not seen in training: "
                          f"{', '.join(repr(c) for c in unseen)}", UserWarning, stacklevel=2)
            names_seen = [c for c in names if c not in unseen]
            idx = [names.index(names_seen[i]) for i in
                   match_columns(names_seen, feature_names, path.name, target=target)]
        else:
            idx = match_columns(names, feature_names, path.name, target=target)
    else:
        idx = [j for j, c in enumerate(names) if c != target]
        if n_features is not None and len(idx) != n_features:
            raise ValueError(f"{path.name} has {len(idx)} feature columns "
                             f"({', '.join(names[j] for j in idx)}) but the model takes "
                             f"{n_features}")
    if not body:
        raise ValueError(f"{path} holds a header row but no data rows")
    return _parse(path, body, idx, names), [names[j] for j in idx]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


__all__ = ["load_table", "match_columns", "read_features"]
