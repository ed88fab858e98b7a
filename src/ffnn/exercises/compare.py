"""Comparing one output with the right one, and saying in words where they differ.

``agree`` decides; the other functions describe.  Every output kind (see ``spec.Output``) has
its own notion of "the same": entry by entry within a tolerance for arrays and numbers, the
distribution for random weights, the sizes and coverage for mini-batches.
"""

from __future__ import annotations

import numpy as np

from .spec import Exercise, Output

#: random weights with at least this many entries are compared by their statistics
STATS_MIN_SIZE = 2000


def _floats(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _ok_entries(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Boolean array: entry close to the right one (NaN and inf must be matched exactly)."""
    g, w = _floats(got), _floats(want)
    with np.errstate(all="ignore"):
        finite_w = np.isfinite(w)
        scale = float(np.max(np.abs(w[finite_w]))) if finite_w.any() else 1.0
        scale = scale if scale > 0 else 1.0
        both = finite_w & np.isfinite(g)
        close = np.abs(g - w) <= rtol * np.abs(w) + atol * scale
        exact = (g == w) | (np.isnan(g) & np.isnan(w))
        return np.where(both, close, exact)


def stats(a: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation, kurtosis (3 normal, 1.8 uniform) and largest |entry|."""
    x = _floats(a).ravel()
    with np.errstate(all="ignore"):
        mean = float(np.mean(x))
        std = float(np.std(x))
        kurt = float(np.mean((x - mean) ** 4) / std**4) if std > 0 else float("nan")
        return {"mean": mean, "std": std, "kurtosis": kurt, "max": float(np.max(np.abs(x)))}


def _same_distribution(got: np.ndarray, want: np.ndarray) -> bool:
    g, w = stats(got), stats(want)
    if not all(np.isfinite(v) for v in g.values()):
        return False
    n = got.size
    spread = max(g["std"], w["std"])
    return (abs(g["mean"] - w["mean"]) <= 8 * spread / np.sqrt(n)
            and abs(g["std"] - w["std"]) <= 0.05 * w["std"]
            and abs(g["kurtosis"] - w["kurtosis"]) <= 0.4)


def batch_signature(batches: list[np.ndarray], n: int) -> tuple:
    """(sizes, every index exactly once?, in the order 0, 1, ..., n-1?)."""
    sizes = tuple(int(b.size) for b in batches)
    flat = np.concatenate([_floats(b) for b in batches]) if batches else np.zeros(0)
    once = flat.size == n and np.array_equal(np.sort(flat), np.arange(n))
    in_order = once and np.array_equal(flat, np.arange(n))
    return sizes, bool(once), bool(in_order)


def agree(ex: Exercise, out: Output, got, want) -> bool:
    """Is ``got`` the same answer as ``want`` for this kind of output?"""
    if out.kind == "batches":
        n = sum(int(b.size) for b in want)
        return batch_signature(got, n) == batch_signature(want, n)
    if got.shape != want.shape:
        return False
    if out.kind == "sample":
        if got.size < STATS_MIN_SIZE:
            return bool(np.all(np.isfinite(_floats(got))))
        return _same_distribution(got, want)
    return bool(np.all(_ok_entries(got, want, ex.rtol, ex.atol)))


def wrong_dtype(out: Output, got, want) -> str | None:
    """The sentence when the numbers are right but their type is not."""
    if out.kind == "batches":
        kinds = {b.dtype.kind for b in got}
        if kinds - {"i", "u"}:
            bad = next(b.dtype for b in got if b.dtype.kind not in "iu")
            return (f"the index arrays have dtype {bad}; indices must be integers "
                    "(rng.permutation(n) already is)")
        return None
    if want.dtype.kind == "f" and got.dtype.kind != "f":
        return (f"{out.name} has dtype {got.dtype}; return floating-point numbers "
                "(float64), as the reference does")
    return None


def wrong_shape(out: Output, got, want) -> str | None:
    """The sentence when the shape is wrong (None when it is right)."""
    if out.kind == "batches" or got.shape == want.shape:
        return None
    if out.kind == "scalar":
        return (f"{out.name} must be a single number (a float); you returned an array of "
                f"shape {got.shape}")
    symbolic = f", {out.shape}" if out.shape else ""
    like = f" like {out.like}" if out.like else ""
    return f"{out.name} has shape {got.shape}; it must have shape {want.shape}{symbolic}{like}"


def first_nonfinite(got, want) -> tuple | None:
    """The first index where the answer is NaN or inf but the right value is finite."""
    if isinstance(got, list) or got.shape != want.shape:
        return None
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(_floats(got)) & np.isfinite(_floats(want))
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def fmt(v) -> str:
    """A number for a sentence: 6 significant digits."""
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return repr(v)


def at(name: str, idx: tuple) -> str:
    return f"{name}[{', '.join(str(i) for i in idx)}]" if idx else name


def difference(ex: Exercise, out: Output, got, want) -> str:
    """The first wrong entry in words (or, for random and batch outputs, the summary)."""
    name = out.name
    if out.kind == "batches":
        n = sum(int(b.size) for b in want)
        sizes, once, in_order = batch_signature(got, n)
        ref_sizes = batch_signature(want, n)[0]
        cover = "each index exactly once" if once else "not every index exactly once"
        order = ", in the order 0, 1, 2, ..." if in_order else ""
        return (f"your batches have sizes {list(sizes)} ({cover}{order}); for n = {n} the "
                f"sizes must be {list(ref_sizes)}, every index once, in a shuffled order")
    if out.kind == "sample":
        if (idx := first_nonfinite(got, want)) is not None:
            return f"{at(name, idx)} is {fmt(_floats(got)[idx])}: random weights must be finite"
        g, w = stats(got), stats(want)
        return (f"over {got.size} draws your {name} has mean {g['mean']:.3g}, std "
                f"{g['std']:.4g}, largest |{name}| {g['max']:.3g} and kurtosis "
                f"{g['kurtosis']:.2f}; the right distribution gives mean {w['mean']:.3g}, "
                f"std {w['std']:.4g}, largest {w['max']:.3g}, kurtosis {w['kurtosis']:.2f} "
                "(3 for a normal, 1.8 for a uniform distribution)")
    ok = _ok_entries(got, want, ex.rtol, ex.atol)
    if ok.all():
        return f"{name} is right"
    idx = tuple(int(i) for i in np.argwhere(~ok)[0]) if ok.ndim else ()
    g, w = _floats(got)[idx], _floats(want)[idx]
    if got.ndim == 0:
        return f"{name} = {fmt(g)} but the right value is {fmt(w)}"
    return (f"{at(name, idx)} = {fmt(g)} but the right value is {fmt(w)} "
            f"({int((~ok).sum())} of {ok.size} entries differ; {name} has shape {got.shape})")
