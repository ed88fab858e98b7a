"""Validation at the boundary: clear errors naming what was received, raised before any math.

Inner math stays clean; these checks run where data enters (``Sequential.forward``/``predict``,
``fit``, the losses, ``Dense.forward``'s shape check).
"""

from __future__ import annotations

import numbers
import os
import threading

import numpy as np

RESHAPE_HINT = (
    "Reshape your data either using X.reshape(-1, 1) if it has a single feature "
    "or X.reshape(1, -1) if it contains a single sample."
)

#: features larger than this in magnitude, unstandardised, get a DataScaleWarning from fit
LARGE_FEATURE = 1e6


class DataScaleWarning(UserWarning):
    """Features so large (|x| > 1e6) that training will saturate or crawl: standardise them.

    A ``UserWarning`` (not a ``RuntimeWarning``): it is advice about the data, shown once
    per call site, and never a numerical error.
    """


#: bytes of a row block that ``value_range`` reduces while it is in the cache
RANGE_BLOCK = 1 << 20
#: from this size on, ``value_range`` reads the array with several threads (one core reads
#: memory at ~8 GB/s here: MNIST's 188 MB took ~23 ms on one thread, ~12 ms on two)
RANGE_THREADS_FROM = 32 << 20


def value_range(arr: np.ndarray) -> tuple[float, float]:
    """(max, min) of a float array in one pass over memory (NaN: both are NaN; +-inf show).

    A block of rows at a time, both reductions while the block is in the cache: on MNIST's
    60000 x 784 float32 this takes a third of a sum, a max and a min over the whole array.
    A large array is cut into as many row ranges as there are cores (at most 4), each read by
    its own thread (NumPy's reductions let the other threads run).
    """
    if arr.size == 0:
        return -np.inf, np.inf
    if arr.ndim == 0 or arr.nbytes <= RANGE_BLOCK:  # (in the cache already: two reductions)
        with np.errstate(invalid="ignore"):
            return float(arr.max()), float(arr.min())
    n = arr.shape[0]
    parts = min(os.cpu_count() or 1, 4, n) if arr.nbytes >= RANGE_THREADS_FROM else 1
    ranges = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
    found: list = [None] * parts

    def scan(i: int) -> None:
        lo, hi = ranges[i]
        found[i] = _blocked_range(arr[lo:hi])

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(1, parts)]
    for th in threads:
        th.start()
    scan(0)
    for th in threads:
        th.join()
    with np.errstate(invalid="ignore"):
        return float(np.max([f[0] for f in found])), float(np.min([f[1] for f in found]))


def _blocked_range(arr: np.ndarray) -> tuple:
    rows = max(1, RANGE_BLOCK // max(arr[0].nbytes, 1)) if arr.ndim >= 2 else arr.shape[0]
    his, los = [], []
    with np.errstate(invalid="ignore"):
        for start in range(0, arr.shape[0], rows):
            block = arr[start:start + rows]
            his.append(block.max())
            los.append(block.min())
        return np.max(his), np.min(los)


def column_names(X) -> list[str] | None:
    """The column names of a pandas DataFrame (None for anything else)."""
    if type(X).__module__.split(".")[0] != "pandas" or not hasattr(X, "columns"):
        return None
    return [str(c) for c in X.columns]


def _from_pandas(X, name: str):
    """A pandas DataFrame/Series/array as a NumPy array; nullable dtypes (Float64, Int64,
    boolean) converted when they hold no NA, NA and text columns named in the error."""
    import pandas as pd

    if isinstance(X, (pd.Index, pd.api.extensions.ExtensionArray)):
        X = pd.Series(X)
    if not isinstance(X, (pd.DataFrame, pd.Series)):
        return None
    series = isinstance(X, pd.Series)
    frame = X.to_frame() if series else X
    np_dtypes = []
    for col, s in frame.items():
        what = name if series else f"{name} column {col!r}"
        if not pd.api.types.is_numeric_dtype(s.dtype):  # (bool counts as numeric)
            example = f" such as {s.iloc[0]!r}" if len(s) else ""
            raise TypeError(f"{what} must be numeric (bool, int or float), got dtype "
                            f"{s.dtype}{example}; encode categories as numbers first "
                            "(e.g. pandas.get_dummies)")
        na = s.isna().to_numpy()
        if na.any():
            n = int(na.sum())
            row = s.index[np.flatnonzero(na)[0]]
            row = row.item() if isinstance(row, np.generic) else row
            raise ValueError(f"{what} has {n} missing value{'s' if n > 1 else ''} (NA/NaN), "
                             f"the first at row {row!r}; fill or drop them first")
        np_dtypes.append(np.dtype(getattr(s.dtype, "numpy_dtype", s.dtype)))
    dt = np.result_type(*np_dtypes) if np_dtypes else np.dtype(np.float64)
    if dt.kind not in "biuf":
        dt = np.dtype(np.float64)
    return X.to_numpy(dtype=dt)


def _sparse_error(X, name: str) -> TypeError:
    """scipy.sparse input: densifying silently could allocate far more memory than the user
    expects (a 10^6 x 10^5 matrix is 800 GB dense), so the user decides, knowing the size."""
    shape = getattr(X, "shape", ())
    cells = int(np.prod(shape)) if shape else 0
    size = next(f"{cells * 8 / f:.3g} {unit}" for f, unit in
                ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "bytes")) if cells * 8 >= f or f == 1)
    call = f"{name}.toarray()" if name.isidentifier() else "call .toarray() on it"
    return TypeError(
        f"{name} is a scipy sparse matrix (shape {tuple(shape)}, {getattr(X, 'nnz', '?')} "
        f"stored values); ffnn needs a dense array: {call} ({size} as float64)"
    )


def _label(name: str, j: int | None, names: list[str] | None) -> str:
    if j is None:
        return name
    if names is not None and j < len(names):
        return f"{name} column {names[j]!r}"
    return f"{name}[:, {j}]"


def _reach(value: float) -> str:
    return f"up to {value:.3g}" if value >= 0 else f"down to {value:.3g}"


def _extremes(arr: np.ndarray, cols: np.ndarray | None) -> list[tuple[int | None, float]]:
    """(column, signed value of largest magnitude) for the given columns (None: a 1-D array)."""
    if arr.ndim < 2:
        finite = arr[np.isfinite(arr)].reshape(-1)
        return [(None, float(finite[np.argmax(np.abs(finite))]))] if finite.size else []
    out = []
    flat = arr.reshape(-1, arr.shape[-1])
    for j in cols:
        c = flat[:, j]
        c = c[np.isfinite(c)]
        if c.size:
            out.append((int(j), float(c[np.argmax(np.abs(c))])))
    return out


def _columns_beyond(arr: np.ndarray, limit: float,
                    bounds: tuple[float, float] | None = None) -> np.ndarray | None:
    """Columns holding finite values with |x| > limit (None when there are none).

    The array's range (``value_range``, or ``bounds`` when already known) clears the common
    case; only a failing array is looked at column by column.
    """
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    hi, lo = value_range(arr) if bounds is None else bounds
    if -limit <= lo and hi <= limit:  # (NaN compares False: looked at below)
        return None
    with np.errstate(invalid="ignore"):
        big = np.isfinite(arr) & (np.abs(arr) > limit)
    if not big.any():
        return None
    if arr.ndim < 2:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(big.reshape(-1, arr.shape[-1]).any(axis=0))


def check_float_range(arr: np.ndarray, dtype, name: str = "X",
                      names: list[str] | None = None,
                      bounds: tuple[float, float] | None = None) -> None:
    """Raise ValueError if casting ``arr`` to ``dtype`` would turn finite values into inf.

    Without it, float64 data beyond float32's range (3.4e38) become infinite in a float32
    network and the first loss is reported as a divergence (a learning-rate problem) instead.
    """
    dt = np.dtype(dtype)
    if dt.kind != "f" or arr.dtype.kind != "f" or dt.itemsize >= arr.dtype.itemsize:
        return
    limit = float(np.finfo(dt).max)
    cols = _columns_beyond(arr, limit, bounds)
    if cols is None:
        return
    j, value = _extremes(arr, cols if arr.ndim >= 2 else None)[0]
    more = f" (and {len(cols) - 1} more columns)" if len(cols) > 1 else ""
    raise ValueError(
        f"{_label(name, j, names)}{more} has values {_reach(value)}, beyond {dt.name}'s "
        f"range (±{limit:.3g}): scale your data (e.g. standardise it) or use dtype=float64"
    )


def large_features_message(arr: np.ndarray, name: str = "X", names: list[str] | None = None,
                           threshold: float = LARGE_FEATURE,
                           bounds: tuple[float, float] | None = None) -> str | None:
    """The advice to standardise when some feature exceeds ``threshold`` in magnitude
    (``bounds``: the array's (max, min) when already known)."""
    cols = _columns_beyond(arr, threshold, bounds)
    if cols is None:
        return None
    ext = _extremes(arr, cols if arr.ndim >= 2 else None)
    shown = ", ".join(f"{_label(name, j, names)} {_reach(v)}" for j, v in ext[:3])
    more = f" and {len(ext) - 3} more" if len(ext) > 3 else ""
    return (
        f"{name} has features of magnitude far beyond 1 ({shown}{more}; threshold "
        f"{threshold:g}): unscaled, they saturate the activations and make the loss and "
        "gradients huge, so training fails or crawls whatever the learning rate. Standardise "
        "them first: (X - X.mean(0)) / X.std(0), or ffnn.datasets.Standardizer"
    )


def as_float_array(X, name: str = "X", dtype=None) -> np.ndarray:
    """Convert ``X`` to a floating ndarray or raise TypeError naming the offending dtype.

    pandas objects are converted column by column (nullable Float64/Int64/boolean included;
    NA values and text columns are named in the error); scipy sparse matrices are refused
    with the call that densifies them.  With ``dtype``, values beyond its range are an error.
    """
    names = column_names(X)
    arr = _numeric_array(X, name)
    if dtype is not None:
        check_float_range(arr, dtype, name, names)
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _numeric_array(X, name: str) -> np.ndarray:
    """``X`` as an ndarray of kind bool, int or float (not yet cast), or a TypeError."""
    module = type(X).__module__
    if module.startswith("scipy.sparse"):
        raise _sparse_error(X, name)
    if module.split(".")[0] == "pandas":
        converted = _from_pandas(X, name)
        X = converted if converted is not None else X
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be numeric (bool, int or float), got an array of dtype {arr.dtype}"
            + (f" such as {arr.flat[0]!r}" if arr.size else "")
        )
    return arr


def check_finite(arr: np.ndarray, name: str = "X",
                 bounds: tuple[float, float] | None = None) -> None:
    """Raise ValueError if ``arr`` holds NaN or infinity, saying how many and where.

    A NaN makes the max NaN and an infinity shows in the max or the min, so one fast pass
    (``value_range``, or its result as ``bounds``) clears the common case; only a
    non-finite range is looked at element by element.
    """
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    hi, lo = value_range(arr) if bounds is None else bounds
    if np.isfinite(hi) and np.isfinite(lo):
        return
    bad = ~np.isfinite(arr)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"{name} contains {int(np.isnan(arr).sum())} NaN and {int(np.isinf(arr).sum())} "
        f"infinite values (first at index {first}); clean or impute them first"
    )


def check_X(X, n_features: int | None = None, name: str = "X", dtype=None) -> np.ndarray:
    """A 2-D, non-empty, finite, numeric batch of shape (N, n_features), cast to ``dtype``.

    NaN/inf are reported before the cast, so values beyond ``dtype``'s range are named as
    such (see ``check_float_range``) rather than as infinities.
    """
    return _checked_X(X, n_features, name, dtype)[0]


def check_features(X, n_features: int | None = None, name: str = "X", dtype=None
                   ) -> tuple[np.ndarray, str | None]:
    """``check_X`` and, from the same pass over the values, the advice to standardise
    (``large_features_message``; None when every |x| <= ``LARGE_FEATURE``)."""
    arr, names, bounds = _checked_X(X, n_features, name, dtype)
    return arr, large_features_message(arr, name, names, bounds=bounds)


def _checked_X(X, n_features: int | None, name: str, dtype
               ) -> tuple[np.ndarray, list[str] | None, tuple[float, float]]:
    """``check_X``'s array, the column names and the values' (max, min)."""
    names = column_names(X)
    arr = _numeric_array(X, name)
    if arr.dtype.kind != "f":  # (integers: straight to the network's dtype, no float64 copy)
        arr = arr.astype(dtype if dtype is not None else np.float64)
    if arr.ndim != 2:
        hint = " " + RESHAPE_HINT if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D of shape (N, D) with one sample per row; "
            f"got {arr.ndim}-D array of shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {arr.shape}); need at least one sample")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features per sample (shape {arr.shape}) "
            f"but the network expects {n_features}"
        )
    bounds = value_range(arr)
    check_finite(arr, name, bounds)
    if dtype is not None:
        check_float_range(arr, dtype, name, names, bounds)
        arr = arr.astype(dtype, copy=False)
    return arr, names, bounds


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_nonneg_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def check_probability(value, name: str, *, inclusive_high: bool = False) -> float:
    value = check_nonneg_float(value, name)
    if value > 1 or (value == 1 and not inclusive_high):
        high = "1]" if inclusive_high else "1)"
        raise ValueError(f"{name} must lie in [0, {high}, got {value!r}")
    return value


def check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt
