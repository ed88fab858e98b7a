"""Gradient checking by finite differences: is backpropagation computing the true gradient?

For a scalar function L(theta) and one entry theta_i, the numerical derivative is the
fourth-order central difference (error O(h^4), far below the O(h^2) of the two-point form)

    n_i = [-L(theta_i + 2h) + 8 L(theta_i + h) - 8 L(theta_i - h) + L(theta_i - 2h)] / (12 h)

(``method="central"`` gives the classic two-point  [L(theta_i + h) - L(theta_i - h)] / (2h)).
It is compared with the analytical (backprop) gradient a_i by the relative error

    rel_i = |a_i - n_i| / max(|a_i|, |n_i|, atol)

where ``atol`` keeps gradients that are zero up to rounding (dead ReLU units, saturated
sigmoids) from dividing noise by noise.

ReLU, LeakyReLU and ELU have a kink at 0, where no derivative exists and a finite difference
that steps across it measures nonsense.  The check watches the pattern of active units: an
entry whose perturbed passes change that pattern is reported as skipped ("kinks"), not failed.

Everything runs on a float64 *copy*: float32
rounding (1e-7) would swamp any finite difference.

Use it on a whole network with a loss (``check_network``) or on one layer (``check_layer``,
which checks dL/dx too, with L = sum(out * R) for a fixed random R, so dL/dout = R).  Any
object with ``forward(x, training=...)``, ``backward(dout)`` and ``params``/``grads`` dicts
can be checked, including a layer you wrote yourself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .layers import Dropout
from .losses import Loss, get_loss
from .network import Sequential


@dataclass
class ParamCheck:
    """The result for one parameter array (or the input)."""

    name: str
    shape: tuple[int, ...]
    n_checked: int
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float  # backprop value at the worst index
    numeric: float  # finite-difference value at the worst index
    max_abs_error: float
    passed: bool
    n_kinks: int = 0  # entries skipped because the finite difference crossed a kink

    def row(self) -> str:
        mark = "ok  " if self.passed else ("NONE" if self.n_checked == 0 else "FAIL")
        kinks = f"  ({self.n_kinks} at a kink, skipped)" if self.n_kinks else ""
        if self.n_checked == 0:  # nothing was compared: not a pass
            kinks += ("  no entry checked: every sampled entry crossed a kink (try another "
                      "seed, a smaller eps or more entries)")
        return (f"{mark}  {self.name:<10} {str(self.shape):<12} {self.n_checked:>7}  "
                f"{self.max_rel_error:>9.2e}  {str(self.worst_index):<10} "
                f"{self.analytic:>+12.5e} {self.numeric:>+12.5e}{kinks}")


@dataclass
class GradCheckReport:
    """Per-parameter results.  ``report.passed`` is True when every entry is within ``tol``
    and every parameter had at least one entry checked (a check of nothing is not a pass)."""

    checks: list[ParamCheck] = field(default_factory=list)
    tol: float = 1e-6
    eps: float = 1e-3
    method: str = "five-point"

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.checks), default=0.0)

    def __getitem__(self, name: str) -> ParamCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __str__(self) -> str:
        head = (f"gradient check ({self.method} differences, h={self.eps:g}, float64, "
                f"tolerance {self.tol:g}): {'PASSED' if self.passed else 'FAILED'}")
        cols = (f"      {'param':<10} {'shape':<12} {'checked':>7}  {'max rel':>9}  "
                f"{'at':<10} {'backprop':>12} {'numerical':>12}")
        return "\n".join([head, cols] + [c.row() for c in self.checks])

    def _repr_pretty_(self, p, cycle):  # IPython shows the table
        p.text(str(self))

    def raise_if_failed(self) -> GradCheckReport:
        if not self.passed:
            raise AssertionError(str(self))
        return self


class _Function:
    """The scalar being differentiated, plus the activation pattern of its kinked layers."""

    def __init__(self, evaluate: Callable[[], float], layers) -> None:
        self.evaluate = evaluate
        self.kinked = [layer for layer in layers if getattr(layer, "piecewise", False)]
        evaluate()
        self.base = [layer.mask.copy() for layer in self.kinked]

    def __call__(self) -> tuple[float, bool]:
        """(value, True if the pattern of active units is the one at the base point)."""
        value = self.evaluate()
        same = all(np.array_equal(layer.mask, m) for layer, m in zip(self.kinked, self.base,
                                                                     strict=True))
        return value, same


def _derivative(f: _Function, arr: np.ndarray, idx: tuple, h: float, method: str):
    """(numerical dL/d arr[idx], crossed a kink?), restoring arr[idx] afterwards."""
    orig = arr[idx]
    steps = (1, -1) if method == "central" else (2, 1, -1, -2)
    vals, smooth = [], True
    try:
        for k in steps:
            arr[idx] = orig + k * h
            value, same = f()
            vals.append(value)
            smooth &= same
    finally:
        arr[idx] = orig
    if method == "central":
        return (vals[0] - vals[1]) / (2 * h), not smooth
    return (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h), not smooth


def _indices(shape, max_checks: int | None, rng: np.random.Generator) -> list[tuple]:
    size = int(np.prod(shape))
    if max_checks is None or size <= max_checks:
        flat = np.arange(size)
    else:
        flat = rng.choice(size, size=max_checks, replace=False)
        flat.sort()
    return [tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat]


def _compare(name, analytic, f, arr, max_checks, rng, h, tol, atol, method) -> ParamCheck:
    idxs = _indices(arr.shape, max_checks, rng)
    worst = (-1.0, (), 0.0, 0.0)
    max_abs = 0.0
    kinks = 0
    for idx in idxs:
        a = float(analytic[idx])
        n, at_kink = _derivative(f, arr, idx, h, method)
        if at_kink:
            kinks += 1
            continue
        err = abs(a - n)
        rel = err / max(abs(a), abs(n), atol)
        max_abs = max(max_abs, err)
        if rel > worst[0]:
            worst = (rel, idx, a, n)
    rel, idx, a, n = worst
    rel = max(rel, 0.0)
    checked = len(idxs) - kinks
    return ParamCheck(name, tuple(arr.shape), checked, rel, idx, a, n, max_abs,
                      checked > 0 and rel <= tol, kinks)


def _fix_dropout_masks(layers, run_forward: Callable[[], object]) -> None:
    """Freeze each Dropout's mask so the function being differentiated is deterministic."""
    drops = [layer for layer in layers if isinstance(layer, Dropout) and layer.fixed_mask is None]
    if drops:
        run_forward()
        for layer in drops:
            if layer.mask is not None:
                layer.fixed_mask = layer.mask.copy()


def check_network(
    net: Sequential,
    X,
    y,
    loss: str | Loss,
    *,
    eps: float = 1e-3,
    tol: float = 1e-6,
    atol: float = 1e-6,
    max_checks: int | None = None,
    seed: int = 0,
    method: str = "five-point",
    check_input: bool = False,
) -> GradCheckReport:
    """Check every parameter gradient of ``net`` for ``loss`` on the batch (X, y).

    ``max_checks`` samples at most that many entries per parameter (for big layers); None
    checks every entry.  The network itself is not modified: the check runs on a float64 copy.
    """
    if method not in ("five-point", "central"):
        raise ValueError(f"method must be 'five-point' or 'central', got {method!r}")
    loss = get_loss(loss)
    net64 = net.astype(np.float64)
    X64 = np.array(X, dtype=np.float64)
    y64 = np.asarray(y)
    if y64.dtype.kind == "f":
        y64 = y64.astype(np.float64)
    _fix_dropout_masks(net64.layers, lambda: net64.forward(X64, training=True))

    loss.forward(net64.forward(X64, training=True), y64)
    dX = net64.backward(loss.backward(), input_grad=True)
    analytic = {k: g.copy() for k, g in net64.gradients().items()}

    f = _Function(lambda: loss.forward(net64.forward(X64, training=True, check=False), y64),
                  net64.layers)

    rng = np.random.default_rng(seed)
    report = GradCheckReport(tol=tol, eps=eps, method=method)
    for name, param in net64.parameters().items():
        report.checks.append(
            _compare(name, analytic[name], f, param, max_checks, rng, eps, tol, atol, method))
    if check_input:
        report.checks.append(_compare("input", dX, f, X64, max_checks, rng, eps, tol, atol, method))
    return report


def check_layer(
    layer,
    x,
    dout=None,
    *,
    eps: float = 1e-3,
    tol: float = 1e-6,
    atol: float = 1e-6,
    max_checks: int | None = None,
    seed: int = 0,
    method: str = "five-point",
) -> GradCheckReport:
    """Check one layer's parameter gradients and its input gradient dL/dx.

    The scalar checked is L = sum(out * R) with R = ``dout`` (default: fixed random normal),
    so backprop's answer is ``layer.backward(R)``.  Works for any object following the Layer
    contract; it is deep-copied and converted to float64 first.
    """
    layer64 = copy.deepcopy(layer)
    for k in getattr(layer64, "params", {}):
        layer64.params[k] = np.array(layer64.params[k], dtype=np.float64)
        layer64.grads[k] = np.zeros_like(layer64.params[k])
    if hasattr(layer64, "dtype"):
        layer64.dtype = np.dtype(np.float64)
    x64 = np.array(x, dtype=np.float64)
    _fix_dropout_masks([layer64], lambda: layer64.forward(x64, training=True))
    rng = np.random.default_rng(seed)
    out = layer64.forward(x64, training=True)
    R = rng.standard_normal(out.shape) if dout is None else np.array(dout, dtype=np.float64)
    if R.shape != out.shape:
        raise ValueError(f"dout must have the output's shape {out.shape}, got {R.shape}")
    dx = layer64.backward(R)
    analytic = {k: np.array(g, dtype=np.float64) for k, g in layer64.grads.items()}

    f = _Function(lambda: float(np.sum(layer64.forward(x64, training=True) * R)), [layer64])

    report = GradCheckReport(tol=tol, eps=eps, method=method)
    for name, param in layer64.params.items():
        report.checks.append(
            _compare(name, analytic[name], f, param, max_checks, rng, eps, tol, atol, method))
    report.checks.append(_compare("input", dx, f, x64, max_checks, rng, eps, tol, atol, method))
    return report
