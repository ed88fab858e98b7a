"""The fused training step: the same forward, loss and backward as the layers, fewer passes.

``fit(..., fused=True)`` (the default when the optimiser was built with ``fused=True``) runs
each batch through a ``FusedStep`` instead of ``Sequential.forward`` / ``backward``.  The math
is the layers' (read ``layers.py``, ``activations.py`` and ``losses.py`` for it); what changes:

* every (batch, units) array lives in a buffer allocated once per ``fit`` and reused by every
  batch, and matrix products write into them (``np.matmul(..., out=)``);
* Dense + ReLU run as ``Z = A W`` (BLAS) then one compiled pass ``A' = max(Z + b, 0)``; in
  the backward pass one compiled pass gives both ``dZ = dA' * 1{A' > 0}`` and
  ``db = sum_n dZ``;
* softmax cross-entropy with integer labels, and sigmoid binary cross-entropy, give the
  loss, ``dL/dZ`` and the count of right answers in one pass.

Every other layer (Dropout, Sigmoid, Tanh, a learner's own layer, ...) and every other loss
runs through its own ``forward`` / ``backward``, so any network trains; only the common
pieces are fused.  The kernels are in ``ffnn._fused`` (numba).  Results equal the reference
step's up to float rounding: the same operations, except that exp and log come from a
different math library (a test compares the two paths).

Observers (``net.hooks``, e.g. ``ffnn.trace``) always see the reference step.

On two or more cores, ``FusedStep.parallel`` gives the same step with its work shared between
cores (``ffnn._parallel``) for the common case: Dense + ReLU layers, a last Dense layer with
softmax-CE or sigmoid-BCE, fused Adam / AdamW.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .activations import ReLU
from .layers import Dense, Layer
from .losses import BinaryCrossEntropy, Loss, SoftmaxCrossEntropy


def load_kernels():
    """The compiled kernels, or an ImportError that says how to get them."""
    try:
        from . import _fused
    except ImportError as exc:  # pragma: no cover - numba is in the dev extras
        raise ImportError("fused=True needs numba: pip install 'ffnn[fast]'") from exc
    return _fused


class _DenseOp:
    """A Dense layer, and the ReLU that follows it when there is one."""

    def __init__(self, layer: Dense, relu: bool, first: bool, batch: int) -> None:
        self.layer, self.relu, self.first = layer, relu, first
        dt = layer.dtype
        self.Z = np.empty((batch, layer.out_features), dt)  # Z = A W + b (then ReLU in place)
        self.dZ = np.empty((batch, layer.out_features), dt) if relu else None
        self.dX = None if first else np.empty((batch, layer.in_features), dt)
        self.x: np.ndarray | None = None


class _LayerOp:
    """Any other layer, run through its own forward / backward."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer


class FusedStep:
    """Forward + loss, then backward, for one batch of ``net`` (gradients land in the layers'
    ``grads``, where the optimiser reads them, exactly as with the reference step)."""

    def __init__(self, net, loss: Loss, batch: int) -> None:
        self.k = load_kernels()
        self.loss = loss
        layers = list(net.layers)
        self._index = {id(layer): i for i, layer in enumerate(layers)}
        self.ops: list[_DenseOp | _LayerOp] = []
        i = 0
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, Dense):
                relu = i + 1 < len(layers) and type(layers[i + 1]) is ReLU
                self.ops.append(_DenseOp(layer, relu, first=not self.ops, batch=batch))
                i += 2 if relu else 1
            else:
                self.ops.append(_LayerOp(layer))
                i += 1
        last = self.ops[-1]
        # the loss kernel needs the logits in a buffer of ours (a last Dense without activation);
        # softmax-CE takes integer labels (N,) and averages over samples, sigmoid-BCE takes
        # (N, K) targets and averages over elements
        self.loss_kernel = None
        if isinstance(last, _DenseOp) and not last.relu:
            if type(loss) is SoftmaxCrossEntropy and last.layer.out_features >= 2:
                # (one output is refused by the loss's own forward, with its clear error)
                self.loss_kernel, self._target_ndim = self.k.softmax_cross_entropy, 1
            elif type(loss) is BinaryCrossEntropy:
                self.loss_kernel, self._target_ndim = self.k.sigmoid_cross_entropy, 2
        self.dout: np.ndarray | None = None
        self._dout_buf = np.empty_like(last.Z) if self.loss_kernel is not None else None

    def forward_loss(self, X: np.ndarray, y: np.ndarray
                     ) -> tuple[float, np.ndarray, int | None]:
        """(mean loss, network output, number classified right or None when not counted here)
        for the batch; the loss gradient is kept for ``backward``."""
        n = X.shape[0]
        A = X
        for op in self.ops:
            if isinstance(op, _DenseOp):
                Z = op.Z[:n]
                np.matmul(A, op.layer.params["W"], out=Z)  # Z = A W
                if op.relu:
                    self.k.bias_relu(Z, op.layer.params["b"])  # A' = max(Z + b, 0)
                else:
                    self.k.bias_add(Z, op.layer.params["b"])  # Z + b
                op.x = A
                A = Z
            else:
                A = op.layer.forward(A, training=True)
        if self.loss_kernel is not None and y.ndim == self._target_ndim:
            dout = self._dout_buf[:n]
            total, correct = self.loss_kernel(A, y, dout)
            value = total / (n if self._target_ndim == 1 else A.size)
        else:
            value = self.loss.forward(A, y)
            dout = correct = None
        self.dout = dout
        return float(value), A, correct

    def backward(self) -> None:
        """Fill every layer's ``grads`` from the loss gradient of the last ``forward_loss``."""
        dA = self.dout if self.dout is not None else self.loss.backward()
        for op in reversed(self.ops):
            if isinstance(op, _DenseOp):
                grads, W = op.layer.grads, op.layer.params["W"]
                n = dA.shape[0]
                if op.relu:  # dZ = dA * 1{A > 0}, db = sum_n dZ
                    dZ = op.dZ[:n]
                    self.k.relu_backward(dA, op.Z[:n], dZ, grads["b"])
                else:
                    dZ = dA
                    self.k.column_sums(dZ, grads["b"])  # db = sum_n dZ
                np.matmul(op.x.T, dZ, out=grads["W"])  # dW = X^T dZ
                if op.first:  # the data's gradient is never needed
                    return
                dA = np.matmul(dZ, W.T, out=op.dX[:n])  # dX = dZ W^T
            else:
                dA = op.layer.backward(dA)

    def parallel(self, optimizer, target_ndim: int, workers: int | None = None):
        """A ``ParallelStep`` doing this step's work and the optimiser's update on ``workers``
        threads (default: ``optimizers.default_threads()``, at most the usable cores and the
        threads BLAS is allowed), or None when this network, loss or optimiser is not the case
        it covers or there is one worker: then this one-thread step runs."""
        from .optimizers import Adam, default_threads

        ops = self.ops
        if (self.loss_kernel is None or target_ndim != self._target_ndim
                or not all(isinstance(op, _DenseOp) for op in ops)
                or any(op.relu for op in ops[-1:]) or not all(op.relu for op in ops[:-1])
                or not isinstance(optimizer, Adam) or optimizer._kernel is None
                or optimizer.clip_norm is not None or optimizer.weight_decay or optimizer.l1
                or len({op.layer.dtype for op in ops}) != 1
                or not all(a.flags.c_contiguous for op in ops for d in (op.layer.params,
                                                                       op.layer.grads)
                           for a in d.values())):
            return None
        cores = min(default_threads(), _usable_cores())
        found = _blas() if cores >= 2 else None
        if found is None:
            return None
        blas, library = found
        if workers is None:
            workers = min(cores, _blas_threads(library))
        if workers < 2:
            return None
        from . import _parallel

        dense = [op.layer for op in ops]
        names = [(f"{self._index[id(d)]}.W", f"{self._index[id(d)]}.b") for d in dense]
        kind = 1 if self.loss_kernel is self.k.softmax_cross_entropy else 2
        return _parallel.ParallelStep(dense, names, kind, optimizer, workers,
                                      self.ops[0].Z.shape[0], blas)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _blas_threads(library: str) -> int:
    """The threads NumPy's BLAS may use right now: a limit set by the user, by threadpoolctl
    or in joblib's workers is respected (the shared step uses no more cores than that)."""
    from threadpoolctl import threadpool_info

    return min([i["num_threads"] for i in threadpool_info() if i["filepath"] == library],
               default=1)


@functools.cache
def _blas():
    """(NumPy's BLAS entry points, the library's path) for the parallel step, looked up once;
    or None."""
    from ._parallel import find_blas

    return find_blas()
