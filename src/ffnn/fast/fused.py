"""The fused training step: the reference step's math with reused buffers and compiled passes.

``FusedStep(net, loss, optimizer, batch)(X, y)`` does what ``ffnn.steps.ReferenceStep`` does
(forward, loss, backward, update; nothing updated when the loss is not finite).  What changes:

* every (batch, units) array lives in a buffer allocated once and reused by every batch, and
  the matrix products write into them (``np.matmul(..., out=)``);
* a Dense layer and the ReLU or LeakyReLU after it run as ``Z = A W`` (BLAS) then one
  compiled pass ``A = f(Z + b)`` (Sigmoid and Tanh: NumPy's vectorised exp and tanh in
  place, the reference's own numbers); a Dropout after them draws its uniforms from the
  layer's own ``rng`` exactly as ``Dropout.forward`` does (so runs equal the reference) and
  applies the mask in one more pass;
* backward, one compiled pass gives ``dZ = (dA * M) * f'(Z)`` from the cached output and
  ``db = sum_n dZ``; then ``dW = A^T dZ`` and ``dA = dZ W^T`` (BLAS);
* softmax cross-entropy (integer labels or one-hot rows), sigmoid binary cross-entropy and
  MSE on a last Dense layer give the loss, dL/dZ (and the count of right answers) in one pass;
* SGD (plain, momentum, Nesterov), Adam and AdamW update every parameter in one compiled
  call (``CompiledUpdate``), bit-identical to ``Optimizer.step``, after
  ``Optimizer.begin_step`` (step count, clipping, penalties).

Every other layer (a learner's own, ELU, Softmax, ...) runs through its own ``forward`` and
``backward``, every other loss through its ``forward`` and ``backward``, every other optimiser
(RMSProp, Adagrad, a user's own) through its ``step``: any network trains.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from ..layers import Dense, Dropout, Layer
from ..losses import MSE, BinaryCrossEntropy, Loss, SoftmaxCrossEntropy
from ..network import Sequential
from ..optimizers import FLUSH_BELOW, SGD, Adam, AdamW, Optimizer
from ..step_api import StepResult
from . import kernels as K

#: the activations fused into the Dense layer before them (exact types: a subclass may
#: change the math)
ACTIVATIONS = {Identity: K.IDENTITY, ReLU: K.RELU, Sigmoid: K.SIGMOID, Tanh: K.TANH,
               LeakyReLU: K.LEAKY_RELU}



@dataclass
class DenseOp:
    """A Dense layer with the activation and the Dropout that follow it (when fused).

    Buffers (rows of a batch): Z holds A = f(X W + b), D the output after dropout, U dropout's
    uniforms, dZ the gradient at Z, dX the gradient at the input."""

    layer: Dense
    act: int = K.IDENTITY
    alpha: float = 0.0
    dropout: Dropout | None = None
    first: bool = False
    index: int = 0  # the Dense layer's position in net.layers (its parameters' names)
    Z: np.ndarray = field(init=False, repr=False)
    D: np.ndarray | None = field(init=False, repr=False, default=None)
    U: np.ndarray | None = field(init=False, repr=False, default=None)
    dZ: np.ndarray = field(init=False, repr=False)
    dX: np.ndarray | None = field(init=False, repr=False, default=None)
    x: np.ndarray | None = field(init=False, repr=False, default=None)

    def allocate(self, rows: int) -> None:
        dt, d_in, d_out = self.layer.dtype, self.layer.in_features, self.layer.out_features
        t = np.dtype(dt).type  # the scalars the kernels take, in the parameters' dtype
        self.alpha_t, self.p_t, self.scale_t = t(self.alpha), t(self.p), t(1.0 / (1.0 - self.p))
        self.Z = np.empty((rows, d_out), dt)
        self.dZ = np.empty((rows, d_out), dt)
        if self.dropout is not None:
            self.D = np.empty((rows, d_out), dt)
            self.U = np.empty((rows, d_out), dt)
        self.dX = None if self.first else np.empty((rows, d_in), dt)

    @property
    def p(self) -> float:
        return 0.0 if self.dropout is None else self.dropout.p

    @property
    def out(self) -> np.ndarray:
        """The buffer the next layer reads."""
        return self.Z if self.D is None else self.D


@dataclass
class LayerOp:
    """Any other layer, run through its own forward / backward."""

    layer: Layer


def plan(layers: list[Layer]) -> list[DenseOp | LayerOp]:
    """The layers grouped into fused Dense (+ activation) (+ Dropout) ops and other ops."""
    ops: list[DenseOp | LayerOp] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if type(layer) is not Dense:
            ops.append(LayerOp(layer))
            i += 1
            continue
        op = DenseOp(layer, first=i == 0, index=i)
        i += 1
        nxt = layers[i] if i < len(layers) else None
        if type(nxt) in ACTIVATIONS:
            op.act = ACTIVATIONS[type(nxt)]
            op.alpha = float(getattr(nxt, "alpha", 0.0))
            i += 1
            nxt = layers[i] if i < len(layers) else None
        if type(nxt) is Dropout and nxt.fixed_mask is None:
            if nxt.p > 0:  # (p = 0: the layer is the identity and draws nothing)
                op.dropout = nxt
            i += 1
        ops.append(op)
    return ops


def loss_kind(loss: Loss, last: DenseOp | LayerOp, target_ndim: int) -> int | None:
    """The compiled loss for this loss, last op and targets' ndim, or None (the loss's own
    forward / backward)."""
    if not isinstance(last, DenseOp) or last.act != K.IDENTITY or last.dropout is not None:
        return None
    if type(loss) is SoftmaxCrossEntropy and last.layer.out_features >= 2:
        # (one output is refused by the loss's own forward, with its clear error)
        return K.CE_LABELS if target_ndim == 1 else 0  # 0: one-hot rows
    if type(loss) is BinaryCrossEntropy and target_ndim == 2:
        return K.BCE
    if type(loss) is MSE and target_ndim == 2:
        return K.MSE
    return None


@functools.cache
def _blas_libraries() -> tuple:
    """threadpoolctl's controllers of the BLAS libraries loaded now (looked up once: a
    lookup walks every loaded library, ~1 ms, too slow for every epoch of a small network)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with the fast extra
        return ()
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def blas_limited(threads: int):
    """BLAS on at most ``threads`` threads while active (restored afterwards)."""
    libs = _blas_libraries()
    before = [lib.get_num_threads() for lib in libs]
    for lib, n in zip(libs, before, strict=True):
        if n is not None and n > threads:
            lib.set_num_threads(threads)
    try:
        yield
    finally:
        for lib, n in zip(libs, before, strict=True):
            if n is not None and n > threads:
                lib.set_num_threads(n)


class CompiledUpdate:
    """``optimizer.step(params, grads)`` for SGD, Adam and AdamW as one compiled call.

    ``begin_step`` first (t += 1, clipping, penalties), then every parameter, last first (the
    first layer's weights, updated last, are still in cache when the next forward pass starts
    with them), with the same float operations as the reference ``_update`` and the flush of
    tiny state entries folded into the same pass: bit-identical to ``optimizer.step``."""

    @staticmethod
    def supports(optimizer: Optimizer) -> bool:
        return type(optimizer) in (SGD, Adam, AdamW)

    def __init__(self, optimizer: Optimizer, params: dict[str, np.ndarray],
                 grads: dict[str, np.ndarray]) -> None:
        self.opt, self.params, self.grads = optimizer, params, grads
        self.names = list(params)[::-1]
        self.dtype = next(iter(params.values())).dtype
        self.kind = K.OPT_ADAM if isinstance(optimizer, Adam) else K.OPT_SGD
        self._key: tuple | None = None
        self._lists: tuple | None = None
        self._lr: float | None = None
        self._decays: np.ndarray | None = None

    @staticmethod
    def usable(params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> bool:
        """One float dtype, contiguous arrays (what the kernels take)."""
        arrays = [*params.values(), *grads.values()]
        return bool(arrays) and len({a.dtype for a in arrays}) == 1 and \
            arrays[0].dtype.kind == "f" and all(a.flags.c_contiguous for a in arrays)

    def _arrays(self) -> tuple:
        """Tuples of flat views (ps, gs, ms, vs), rebuilt when the optimiser's state changes
        (its first step, ``load_state_dict``).  Tuples, not numba's typed lists: their first
        use costs ~1 s and ~70 MB in every process; a tuple's kernel is compiled once per
        number of parameters and cached on disk."""
        opt = self.opt
        if self._lists is not None and opt.state is self._key[0] and all(
                opt.state.get(k) is st for k, st in self._key[1]):
            return self._lists
        states = [opt.state_for(name, self.params[name]) for name in self.names]
        ps = [K.flat(self.params[k]) for k in self.names]
        gs = [K.flat(self.grads[k]) for k in self.names]
        if self.kind == K.OPT_ADAM:
            ms = [K.flat(st["m"]) for st in states]
            vs = [K.flat(st["v"]) for st in states]
        else:  # SGD: the velocity, or (plain SGD) arrays the kernel never touches
            ms = [K.flat(st["v"]) for st in states] if states and "v" in states[0] else gs
            vs = gs
        self._lists = tuple(tuple(col) for col in (ps, gs, ms, vs))
        self._key = (opt.state, list(zip(self.names, states, strict=True)))
        return self._lists

    def __call__(self) -> None:
        opt = self.opt
        opt.begin_step(self.params, self.grads)
        lr = float(opt.lr)
        ps, gs, ms, vs = self._arrays()
        t = self.dtype.type
        below = t(FLUSH_BELOW if opt.flush_due() else 0.0)
        if lr != self._lr:  # AdamW's decay factor follows the learning rate
            self._lr = lr
            self._decays = np.array([opt.decay_factor(k, lr) for k in self.names], self.dtype)
        if self.kind == K.OPT_ADAM:
            step, eps_hat = opt.scaled_step(lr)
            K.update_many(K.OPT_ADAM, ps, gs, ms, vs, self._decays, t(1.0 - opt.beta1),
                          t(opt.beta2), t(1.0 - opt.beta2), t(eps_hat), t(step), below)
        else:
            K.update_many(K.OPT_SGD, ps, gs, ms, vs, self._decays, t(lr), t(opt.momentum),
                          t(1.0 if opt.nesterov else 0.0), t(0.0), t(0.0), below)


class FusedStep:
    """Forward, loss, backward and update for one batch (module docstring); one thread (BLAS
    may use its own threads for the products)."""

    name = "fused"
    gathers = False

    def __init__(self, net: Sequential, loss: Loss, optimizer: Optimizer, batch: int) -> None:
        self.net, self.loss, self.optimizer = net, loss, optimizer
        self.ops = plan(list(net.layers))
        self.rows = 0
        self._allocate(max(int(batch), 1))
        self.params, self.grads = net.parameters(), net.gradients()
        self.update = CompiledUpdate(optimizer, self.params, self.grads) if (
            CompiledUpdate.supports(optimizer) and CompiledUpdate.usable(self.params, self.grads)
        ) else None
        self._dout: np.ndarray | None = None
        self._kinds: dict[int, int | None] = {}

    def _allocate(self, rows: int) -> None:
        for op in self.ops:
            if isinstance(op, DenseOp):
                op.allocate(rows)
        last = self.ops[-1]
        self._dout_buf = np.empty_like(last.Z) if isinstance(last, DenseOp) else None
        self._views: dict[int, list] = {}  # batch rows -> per op (Z, D, U, dZ, dX) views
        self.rows = rows

    def _views_of(self, n: int) -> list:
        """The first n rows of every buffer (two sizes per epoch: the batch and the last)."""
        views = self._views.get(n)
        if views is None:
            views = [None if isinstance(op, LayerOp) else tuple(
                None if a is None else a[:n] for a in (op.Z, op.D, op.U, op.dZ, op.dX))
                for op in self.ops]
            self._views[n] = views
        return views

    def running(self) -> contextlib.AbstractContextManager:
        """Nothing to start (``fit`` already keeps BLAS on one thread for small networks)."""
        return contextlib.nullcontext()

    def __call__(self, X: np.ndarray, y: np.ndarray) -> StepResult:
        value, out, correct = self.forward_loss(X, y)
        if math.isfinite(value):  # (a NaN loss is reported, never applied to the weights)
            self.backward()
            if self.update is not None:
                self.update()
            else:
                self.optimizer.step(self.params, self.grads)
        return StepResult(value, out, correct)

    def forward_loss(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, int | None]:
        """(mean loss, network output, number right or None when not counted here); the loss
        gradient is kept for ``backward``."""
        n = X.shape[0]
        if n > self.rows:
            self._allocate(n)
        views = self._views_of(n)
        A = X
        with np.errstate(over="ignore"):
            for op, v in zip(self.ops, views, strict=True):
                if v is None:
                    A = op.layer.forward(A, training=True)
                    continue
                W, b = op.layer.params["W"], op.layer.params["b"]
                if A.dtype != W.dtype:
                    A = A.astype(W.dtype)
                op.x = A
                Z = v[0]
                np.matmul(A, W, out=Z)  # Z = A W
                if op.act == K.SIGMOID:  # NumPy's vectorised exp: the reference's numbers
                    K.neg_bias(Z, b)  # -(Z + b)
                    np.exp(Z, out=Z)  # exp(-Z), possibly inf (then A = 0, the limit)
                    K.one_over_one_plus(Z)  # A = 1 / (1 + exp(-Z))
                elif op.act == K.TANH:
                    np.add(Z, b, out=Z)
                    np.tanh(Z, out=Z)  # A = tanh(Z)
                else:
                    K.bias_act(Z, b, op.act, op.alpha_t)  # A = f(Z + b), one pass
                A = Z
                if op.dropout is not None:  # the mask from the layer's rng, as Dropout draws
                    U = op.dropout.rng.random(Z.shape, dtype=Z.dtype, out=v[2])
                    A = v[1]
                    K.dropout_forward(Z, U, op.p_t, op.scale_t, A)
        kind = self._kinds.get(y.ndim, -1)
        if kind == -1:
            kind = self._kinds[y.ndim] = loss_kind(self.loss, self.ops[-1], y.ndim)
        if kind is None or (kind != K.CE_LABELS and y.shape != A.shape):
            self._dout = None
            return float(self.loss.forward(A, y)), A, None
        dout = self._dout = self._dout_buf[:n]
        t = A.dtype.type
        if kind == K.CE_LABELS:
            total, correct = K.softmax_cross_entropy_rows(A, y, dout, t(1.0 / n))
            return total / n, A, correct
        if kind == K.BCE:
            total, correct = K.sigmoid_cross_entropy_rows(A, y, dout, t(1.0 / A.size))
            return total / A.size, A, correct
        if kind == K.MSE:
            return K.squared_error_rows(A, y, dout, t(2.0 / A.size)) / A.size, A, None
        return K.softmax_cross_entropy_onehot(A, y, dout, t(1.0 / n)) / n, A, None

    def backward(self) -> None:
        """Fill every layer's ``grads`` from the loss gradient of the last ``forward_loss``."""
        dA = self._dout if self._dout is not None else self.loss.backward()
        views = self._views_of(dA.shape[0])
        for op, v in zip(reversed(self.ops), reversed(views), strict=True):
            if v is None:
                dA = op.layer.backward(dA)
                continue
            grads, W = op.layer.grads, op.layer.params["W"]
            if op.act != K.IDENTITY or op.dropout is not None:
                dZ = v[3]  # dZ = (dA * M) * f'(Z),  db = sum_n dZ
                K.act_backward(dA, v[0], dZ if v[2] is None else v[2], op.p_t, op.scale_t,
                               op.dropout is not None, op.act, op.alpha_t, dZ, grads["b"])
            else:
                dZ = dA
                K.column_sums(dZ, grads["b"])  # db = sum_n dZ
            np.matmul(op.x.T, dZ, out=grads["W"])  # dW = X^T dZ
            if op.first:  # the data's gradient is never needed
                return
            if W.shape[1] == 1:  # dX = dZ W^T, an outer product: one multiply per entry
                dA = v[4]
                K.outer(dZ, W[:, 0], dA)
            else:
                dA = np.matmul(dZ, W.T, out=v[4])  # dX = dZ W^T
