"""Losses on the network's raw output (logits for classifiers).

``loss.forward(out, y) -> float`` computes the mean loss and caches what ``backward`` needs;
``loss.backward() -> dout`` returns dL/d(out), with ``out``'s shape and dtype.

Why fuse the output non-linearity into the loss?  For softmax + cross-entropy the softmax
Jacobian and the -y/p of the log cancel, leaving dL/dZ = (P - Y)/N: nothing is divided by a
probability and no log of 0 is ever taken.  The same happens for sigmoid + binary
cross-entropy: dL/dZ = (sigma(Z) - Y)/(N K).  Reductions follow PyTorch: MSE and BCE average
over all elements, cross-entropy over samples.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from ._checks import as_float_array, check_finite
from .formula import LossFormula


class Loss:
    """Base class.  ``name`` is the registry key; ``output_kind`` says how the raw output maps
    to a prediction: "identity" (regression), "sigmoid" or "softmax" (probabilities)."""

    name: str = ""
    output_kind: str = "identity"
    #: the equations as text and LaTeX templates ({out} = the output's name, {N} = batch size,
    #: {NK} = number of elements), read by ``ffnn.explain``; None for a loss without them
    formula: LossFormula | None = None

    def forward(self, out: np.ndarray, y) -> float:
        """The mean loss L of the raw output ``out`` (N, K) against targets ``y``; caches what
        ``backward`` needs."""
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        """dL/d(out), with the shape (N, K) and dtype of the last ``forward``'s output."""
        raise NotImplementedError

    def __call__(self, out: np.ndarray, y) -> float:
        return self.forward(out, y)

    def prepare_targets(self, y, n_outputs: int, dtype) -> np.ndarray:
        """Validate targets once (e.g. in ``fit``) and return them in the loss's working form."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_out(out: np.ndarray) -> np.ndarray:
    if not isinstance(out, np.ndarray) or out.ndim != 2:
        shape = getattr(out, "shape", None)
        raise ValueError(f"the network output must be a 2-D array (N, K), got shape {shape}")
    if out.shape[0] == 0:
        raise ValueError("the network output is an empty batch (N = 0)")
    return out


def _targets_2d(y, out_shape: tuple[int, int], name: str, dtype) -> np.ndarray:
    """Targets as (N, K) matching the output; (N,) is accepted when K == 1."""
    Y = as_float_array(y, name, dtype=dtype)
    N, K = out_shape
    if Y.ndim == 1 and K == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape != (N, K):
        want = f"({N},) or ({N}, 1)" if K == 1 else f"({N}, {K})"
        raise ValueError(f"{name} must have shape {want} to match the output {out_shape}, "
                         f"got {np.shape(y)}")
    check_finite(Y, name)
    return Y


class MSE(Loss):
    r"""Mean squared error over all elements (PyTorch's MSELoss):

        L = (1 / (N K)) sum_{n,k} (out[n,k] - Y[n,k])^2       dL/dout = 2 (out - Y) / (N K)

    $$L = \frac{1}{NK} \sum_{n,k} (\text{out}_{nk} - Y_{nk})^2, \qquad
    \frac{\partial L}{\partial\, \text{out}} = \frac{2\,(\text{out} - Y)}{NK}$$

    Shapes: out, Y and dL/dout (N, K); targets (N,) are accepted when K = 1.
    """

    name = "mse"
    output_kind = "identity"
    formula = LossFormula(
        loss="sum(({out} - Y)**2) / {NK}",
        loss_tex=r"\tfrac{{1}}{{{NK}}} \textstyle\sum ({out} - Y)^{{2}}",
        dout="2 * ({out} - Y) / {NK}",
        dout_tex=r"\tfrac{{2}}{{{NK}}}({out} - Y)")

    def prepare_targets(self, y, n_outputs, dtype):
        y = as_float_array(y, "y", dtype=dtype)
        return _targets_2d(y, (y.shape[0], n_outputs), "y", dtype)

    def forward(self, out, y):
        out = _check_out(out)
        Y = _targets_2d(y, out.shape, "y", out.dtype)
        self.diff = out - Y
        return float(np.mean(self.diff * self.diff))

    def backward(self):
        return self.diff * self.diff.dtype.type(2.0 / self.diff.size)


class BinaryCrossEntropy(Loss):
    r"""Sigmoid + binary cross-entropy on logits Z, averaged over all elements:

        L = (1 / (N K)) sum [softplus(Z) - Y Z]
          (= -mean[Y log s + (1-Y) log(1-s)], s = sigma(Z))
        dL/dZ = (sigma(Z) - Y) / (N K)

    $$\begin{aligned}
    L &= \frac{1}{NK} \sum_{n,k} \big[\operatorname{softplus}(Z_{nk}) - Y_{nk} Z_{nk}\big] \\
    &= -\frac{1}{NK} \sum_{n,k} \big[Y_{nk} \log s_{nk} + (1 - Y_{nk}) \log (1 - s_{nk})\big],
    \qquad s = \sigma(Z)
    \end{aligned}$$

    $$\frac{\partial L}{\partial Z} = \frac{\sigma(Z) - Y}{NK}$$

    softplus(Z) = max(Z, 0) + log1p(exp(-|Z|)) keeps logits of +-1000 finite.
    Shapes: Z, Y and dL/dZ (N, K); targets (N,) are accepted when K = 1.
    Targets must lie in [0, 1] (soft labels allowed); several outputs = multi-label.
    """

    name = "bce"
    output_kind = "sigmoid"
    formula = LossFormula(
        prob="sigmoid({out})", prob_tex=r"\sigma({out})",
        loss="sum(softplus({out}) - Y * {out}) / {NK}",
        loss_tex=r"\tfrac{{1}}{{{NK}}} \textstyle\sum \mathrm{{softplus}}({out}) - Y \odot {out}",
        dout="(P - Y) / {NK}",
        dout_tex=r"\tfrac{{1}}{{{NK}}}(P - Y)")

    def prepare_targets(self, y, n_outputs, dtype):
        y = as_float_array(y, "y", dtype=dtype)
        Y = _targets_2d(y, (y.shape[0], n_outputs), "y", dtype)
        self._check_range(Y)
        return Y

    @staticmethod
    def _check_range(Y):
        if Y.min() < 0 or Y.max() > 1:
            raise ValueError(
                "binary cross-entropy targets must lie in [0, 1], "
                f"got values in [{Y.min():g}, {Y.max():g}]"
            )

    def forward(self, out, y):
        Z = _check_out(out)
        Y = _targets_2d(y, Z.shape, "y", Z.dtype)
        self._check_range(Y)
        self.Z, self.Y = Z, Y
        return float(np.mean(F.softplus(Z) - Y * Z))

    def backward(self):
        return (F.sigmoid(self.Z) - self.Y) * self.Z.dtype.type(1.0 / self.Z.size)


class SoftmaxCrossEntropy(Loss):
    r"""Softmax + cross-entropy on logits Z (N, C), averaged over samples:

        L = -(1/N) sum_n sum_c Y[n,c] log softmax(Z)[n,c]     log softmax via max-shifted logsumexp
        dL/dZ = (softmax(Z) - Y) / N

    $$L = -\frac{1}{N} \sum_{n=1}^{N} \sum_{c=1}^{C} Y_{nc} \log \operatorname{softmax}(Z)_{nc},
    \qquad \frac{\partial L}{\partial Z} = \frac{\operatorname{softmax}(Z) - Y}{N}$$

    Shapes: Z and dL/dZ (N, C).  Targets: integer labels (N,) in [0, C) or one-hot /
    probability rows (N, C) (Y above is their one-hot form).
    """

    name = "ce"
    output_kind = "softmax"
    #: {unit} is "row" (or "column" in the column convention)
    formula = LossFormula(
        prob="softmax_{unit}s({out})", prob_tex=r"\mathrm{{softmax}}({out})",
        prob_note="Y: one-hot targets",
        loss="-sum(Y * log(P)) / {N}",
        loss_tex=r"-\tfrac{{1}}{{{N}}} \textstyle\sum Y \odot \log P",
        dout="(P - Y) / {N}",
        dout_tex=r"\tfrac{{1}}{{{N}}}(P - Y)",
        dout_note="softmax Jacobian and -Y/P cancel")

    def prepare_targets(self, y, n_outputs, dtype):
        """Integer labels stay integer (N,); one-hot rows are validated and cast to ``dtype``."""
        return self._targets(y, (np.shape(y)[0] if np.ndim(y) else 0, n_outputs), dtype)

    def _targets(self, y, out_shape, dtype):
        N, C = out_shape
        y_arr = np.asarray(y)
        if y_arr.dtype == object or y_arr.dtype.kind not in "biuf":
            raise TypeError(
                f"cross-entropy targets must be integer labels or one-hot rows, got dtype "
                f"{y_arr.dtype}; encode string labels first (e.g. with np.unique(..., "
                "return_inverse=True))"
            )
        if y_arr.ndim == 2 and y_arr.shape[1] == 1 and C > 1:
            y_arr = y_arr[:, 0]
        if y_arr.ndim == 1:
            if y_arr.shape[0] != N:
                raise ValueError(f"got {y_arr.shape[0]} labels for {N} samples")
            if y_arr.dtype.kind == "f":
                check_finite(y_arr, "y")
                if not np.all(y_arr == np.round(y_arr)):
                    bad = y_arr[y_arr != np.round(y_arr)][:3]
                    raise ValueError(f"class labels must be integers, got non-integer values "
                                     f"such as {bad.tolist()}")
            labels = y_arr.astype(np.int64)
            if labels.size and (labels.min() < 0 or labels.max() >= C):
                raise ValueError(
                    f"class labels must lie in [0, {C - 1}] for a network with {C} outputs, "
                    f"got values in [{labels.min()}, {labels.max()}]"
                )
            return labels
        if y_arr.ndim == 2:
            if y_arr.shape != (N, C):
                raise ValueError(f"one-hot targets must have shape ({N}, {C}), got {y_arr.shape}")
            Y = y_arr.astype(dtype, copy=False)
            check_finite(Y, "y")
            if Y.min() < 0 or not np.allclose(Y.sum(axis=1), 1, atol=1e-3):
                raise ValueError("one-hot / probability targets must be non-negative rows that sum "
                                 "to 1")
            return Y
        raise ValueError(f"cross-entropy targets must have shape ({N},) or ({N}, {C}), "
                         f"got {y_arr.shape}")

    def forward(self, out, y):
        Z = _check_out(out)
        if Z.shape[1] < 2:
            raise ValueError("softmax cross-entropy needs at least 2 outputs; for a single "
                             "output unit use BinaryCrossEntropy ('bce')")
        T = self._targets(y, Z.shape, Z.dtype)
        logP = F.log_softmax(Z, axis=1)
        self.P = np.exp(logP)
        self.T = T
        N = Z.shape[0]
        if T.ndim == 1:
            return float(-np.mean(logP[np.arange(N), T]))
        return float(-np.sum(T * logP) / N)

    def backward(self):
        P, T = self.P, self.T
        N = P.shape[0]
        dZ = P.copy()
        if T.ndim == 1:
            dZ[np.arange(N), T] -= 1  # P - Y with Y one-hot, without building Y
        else:
            dZ -= T
        dZ *= dZ.dtype.type(1.0 / N)
        return dZ


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "mean_squared_error": MSE,
    "bce": BinaryCrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "binary_crossentropy": BinaryCrossEntropy,
    "ce": SoftmaxCrossEntropy,
    "cross_entropy": SoftmaxCrossEntropy,
    "categorical_crossentropy": SoftmaxCrossEntropy,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
}


def get_loss(loss: str | Loss | type[Loss]) -> Loss:
    """Resolve a loss name (or class, or instance) to a loss instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValueError(f"unknown loss {loss!r}; known losses: {', '.join(sorted(LOSSES))}")
