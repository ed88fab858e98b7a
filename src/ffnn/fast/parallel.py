"""The fused training step on two (or more) cores: each core takes its share of every piece.

Why: in the one-thread fused step the matrix products run on all cores (BLAS threads), but
everything between them (bias + activation, dropout, the loss, the backward passes of the
activations, the optimiser's update of every parameter) runs on one core while BLAS's other
threads wait.  On MNIST that serial part was ~0.6 s of a ~2.1 s epoch.  Here ``T`` workers
(the main thread and ``T - 1`` helper threads, all inside compiled code, so without Python's
GIL) split the work of each batch:

1. rows: worker t takes rows [lo, hi) of the batch through the forward pass, the loss and the
   backward pass down to every dZ_l (each row's forward and backward is independent of the
   other rows):  Z_l = A_{l-1} W_l + b_l,  A_l = f(Z_l) * M_l (dropout's mask M_l, drawn
   beforehand by the main thread from the layer's rng, as ``Dropout.forward`` draws it),
   dZ_L = dL/dZ_L,  dZ_{l-1} = ((dZ_l W_l^T) * M_{l-1}) * f'(Z_{l-1}).  The cuts fall on
   multiples of 8 rows, and the loss is summed per 8-row block, the blocks in row order.
   Where this BLAS gives the network's row products of a full batch the same numbers
   wherever the batch is cut so (``split_invariant``, checked once per process: true for
   MNIST's 784-512-256-128-10 on OpenBLAS, not for every shape), the cuts follow the
   workers' speed at their rows, as the parameters' do (below); otherwise they are fixed;
2. parameters: worker t takes rows [r0, r1) of every W_l (and a share of every b_l):
   dW_l[r0:r1] = A_{l-1}[:, r0:r1]^T dZ_l,  db_l = sum_n dZ_l,  the penalties (weight decay,
   L1), then the update (SGD with or without momentum, Adam, AdamW) of exactly those entries
   (contiguous in memory: W_l is row-major), last layer first.  No wait for all workers
   here: layer l starts once every worker has written its rows of dZ_{l-1} (a counter per
   layer: dZ_l is complete and no worker still reads W_l), so a worker done with its rows
   starts on the last layers while another finishes its backward pass.  The rows of W each
   worker takes follow the last steps' timings (``kernels.balance``): on this VM one vCPU
   often ran 20-50% slower than the other for hundreds of steps, and an even split left the
   other waiting for it at every step (the shares of rows and parameters together took
   6% + 6% off an MNIST epoch in interleaved runs).  Who computes a row changes nothing in
   its numbers: the boundaries fall on multiples of 8 rows and leave each worker 8 rows or
   none (BLAS then gives each entry of dW the value it has in one whole product; tests
   check that the parameters come out bit for bit the same under different splits), the
   rest is entry by entry (where this BLAS does not give dW the same numbers so, which
   ``split_invariant`` checks, the cuts of W stay fixed);
3. wait for all workers (the next batch reads every updated W).

Every product is one BLAS call on one thread (BLAS's own threads are held at 1 meanwhile);
the same BLAS library NumPy uses, called through its CBLAS entry point.  The arithmetic of
every entry is the one-thread fused step's: the same kernels, the same order of sums, the
same update kernels; so results match it (a test compares both).

The waits are spin-waits on a shared counter (atomic operations): a blocked thread woken by
the operating system cost 0.4-2 ms per wait on this 2-core VM, i.e. more than a whole step.
Helpers therefore spin while an epoch runs (``running()``) and are stopped between epochs.
The workers never call back into Python; the main thread runs one compiled call per batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import threading
import time

import numpy as np

from ..losses import Loss
from ..network import Sequential
from ..optimizers import FLUSH_BELOW, Adam, Optimizer
from ..step_api import Rows, StepResult
from . import kernels as K
from .fused import DenseOp, blas_limited

_INT64 = np.dtype(np.int64)

# --------------------------------------------------------------------------- BLAS
#: CBLAS entry points NumPy's BLAS may export: (single, double, 64-bit integers)
_SYMBOLS = [("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
            ("cblas_sgemm64_", "cblas_dgemm64_", True),
            ("cblas_sgemm", "cblas_dgemm", False),
            ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False)]


@functools.cache
def find_blas() -> tuple[dict, str] | None:
    """({dtype: [address of NumPy's CBLAS gemm, 1 if 64-bit integers]}, the library's path),
    or None; looked up once.

    The library is found with threadpoolctl (which also holds BLAS's threads at 1 while the
    workers run); the entry points by name.  Each found routine is checked once on a small
    product against NumPy before it is trusted."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl comes with the fast extra
        return None
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    libs.sort(key=lambda i: not (os.path.basename(os.path.dirname(i["filepath"])).startswith(
        "numpy") or i["filepath"].startswith(os.path.join(numpy_dir, "numpy"))))
    for info in libs:
        try:
            lib = ctypes.CDLL(info["filepath"])
        except OSError:  # pragma: no cover
            continue
        for s_name, d_name, wide in _SYMBOLS:
            try:
                found = {np.dtype(np.float32): getattr(lib, s_name),
                         np.dtype(np.float64): getattr(lib, d_name)}
            except AttributeError:
                continue
            table = {dt: np.array([ctypes.cast(fn, ctypes.c_void_p).value, int(wide)], np.int64)
                     for dt, fn in found.items()}
            if all(_works(blas, dt) for dt, blas in table.items()):
                return table, info["filepath"]
    return None  # pragma: no cover


def _works(blas: np.ndarray, dtype: np.dtype) -> bool:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 3)).astype(dtype)
    B = rng.standard_normal((5, 4)).astype(dtype)
    C = np.full((3, 4), np.nan, dtype)
    K.gemm(blas, True, False, 3, 4, 5, dtype.type(1), A.ctypes.data, 3, B.ctypes.data, 4,
           C.ctypes.data, 4)  # C = A^T B
    return bool(np.allclose(C, A.T @ B, rtol=1e-4, atol=1e-5))


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def blas_threads(library: str) -> int:
    """The threads NumPy's BLAS may use right now: a limit set by the user, by threadpoolctl
    or in joblib's workers is respected (the shared step uses no more cores than that)."""
    from threadpoolctl import threadpool_info

    return min([i["num_threads"] for i in threadpool_info() if i["filepath"] == library],
               default=1)


def split_invariant(sizes: tuple[tuple[int, int], ...], batch: int, blas: np.ndarray,
                    dtype: np.dtype) -> tuple[bool, bool]:
    """(rows, parameters): whether this BLAS gives every product of a full batch the same
    numbers when it is cut at a multiple of 8 rows as in one piece, for the rows phase
    (Z = A W and dA = dZ W^T, the batch cut in two) and for the update phase (dW = A^T dZ,
    W's rows cut in two, 8 or more on each side; W of 8 or more columns).  Where it does, the
    workers' shares may follow their speeds (``K.balance``) without any number depending on
    the split; elsewhere the cuts stay fixed.  BLAS's kernels sum in an order that depends on
    the shapes (small products take other code paths), never on the values, so one check on
    random numbers per shape answers it; checked once per process (about 0.1 s for MNIST's
    network; OpenBLAS: (True, True) there)."""
    return _split_invariant(sizes, batch, int(blas[0]), int(blas[1]), np.dtype(dtype).str)


@functools.cache
def _split_invariant(sizes, batch: int, address: int, wide: int,
                     dtype: str) -> tuple[bool, bool]:
    blas = np.array([address, wide], np.int64)
    dt = np.dtype(dtype)
    rng = np.random.default_rng(0)

    def same(ta: bool, tb: bool, m: int, n: int, k: int, A, lda: int, B, ldb: int,
             cuts) -> bool:
        """C = op(A) op(B) (m x n) whole, then its rows [0, c) and [c, m) apart, each c."""
        one, size = dt.type(1), dt.itemsize
        step = size if ta else k * size  # bytes from one row of op(A) to the next
        whole, part = np.empty((m, n), dt), np.empty((m, n), dt)
        K.gemm(blas, ta, tb, m, n, k, one, A.ctypes.data, lda, B.ctypes.data, ldb,
               whole.ctypes.data, n)
        for c in cuts:
            for r0, r1 in ((0, c), (c, m)):
                K.gemm(blas, ta, tb, r1 - r0, n, k, one, A.ctypes.data + r0 * step, lda,
                       B.ctypes.data, ldb, part.ctypes.data + r0 * n * size, n)
            if not np.array_equal(part, whole):
                return False
        return True

    rows = params = True
    with blas_limited(1):
        for l, (fi, fo) in enumerate(sizes):
            W = rng.standard_normal((fi, fo)).astype(dt)
            A = rng.standard_normal((batch, fi)).astype(dt)
            dZ = rng.standard_normal((batch, fo)).astype(dt)
            cuts = range(8, batch - 7, 8)
            rows = rows and same(False, False, batch, fo, fi, A, fi, W, fo, cuts)  # A W
            if l:
                rows = rows and same(False, True, batch, fi, fo, dZ, fo, W, fo, cuts)  # dZ W^T
            if fo >= 8:  # (narrower W: fixed cuts anyway)
                params = params and same(True, False, fi, fo, batch, A, fi, dZ, fo,
                                         range(8, fi - 7, 8))  # A^T dZ
    return rows, params


def default_threads() -> int:
    """Workers wanted when the optimiser says nothing: ``FFNN_NUM_THREADS`` or the number of
    cores (at most 4: beyond, a batch of 128 rows is cut too thin)."""
    env = os.environ.get("FFNN_NUM_THREADS")
    if env:
        return max(int(env), 1)
    return max(min(os.cpu_count() or 1, 4), 1)


class ParallelStep:
    """Forward, loss, backward and update for one batch, on ``workers`` threads (module doc).

    Built by ``ffnn.fast.fastest_step`` for networks of fused Dense ops (Dense, then ReLU,
    Sigmoid, Tanh, LeakyReLU or none, then optionally Dropout) ending in a Dense layer, with
    softmax-CE (integer labels), sigmoid-BCE or MSE, trained with SGD (any momentum), Adam
    or AdamW without clipping.  ``step(X, y)`` inside ``with step.running():`` (one epoch);
    called outside, it starts and stops its workers around that one batch."""

    name = "parallel"
    gathers = True  # a batch given as Rows is gathered by the workers, each its own rows

    def __init__(self, net: Sequential, ops: list[DenseOp], loss: Loss, loss_kind: int,
                 optimizer: Optimizer, workers: int, batch: int, blas: dict) -> None:
        self.net, self.loss, self.ops, self.loss_kind = net, loss, ops, loss_kind
        self.opt, self.T, self.B = optimizer, workers, batch
        self.dtype = np.dtype(ops[0].layer.dtype)
        self.blas = blas[self.dtype]
        for op in ops:
            op.allocate(batch)
        dt = self.dtype
        K_out = ops[-1].layer.out_features
        self.labels = np.zeros(batch, np.int64)
        self.rows = np.zeros(batch, np.int64)  # a Rows batch's row indices
        self.xbuf = np.zeros((batch, ops[0].layer.in_features), dt)  # ... and its rows
        self._xbuf_addr = self.xbuf.ctypes.data
        self._src: np.ndarray | None = None  # the X of the Rows batches, once checked
        self._src_addr = 0
        self._out = ops[-1].Z[:batch]
        self._no_index = self.rows[:0]
        self.targets = np.zeros((batch, K_out), dt)
        self._no_labels = self.labels[:0]  # the targets' argument main_step does not read
        self._no_targets = self.targets[:0]
        L = len(ops)
        # counters: the rounds (and a clock's scratch) of every worker, one dZ-ready per layer
        self.ctl = np.zeros(K.ROUNDS + 8 * workers + 8 * L, np.int64)
        self.sizes = np.array([(op.layer.in_features, op.layer.out_features) for op in ops],
                              np.int64)
        # ``K.balance``: the shares of the parameter rows, then of the batch's rows
        self.share = np.full(2 * workers, 1.0 / workers)
        self.bounds = np.zeros((L, workers + 1), np.int64)
        self.rowcut = np.zeros(workers + 1, np.int64)
        self.lossblk = np.zeros((batch + 7) // 8)  # the loss sum of each 8 rows of the batch
        rows_ok, params_ok = split_invariant(tuple(map(tuple, self.sizes.tolist())), batch,
                                             self.blas, self.dtype) if workers > 1 else (0, 0)
        self.adapt = np.array([rows_ok and workers == 2, params_ok], np.int64)  # (rows, W)
        self.cf = np.zeros(16)
        self.res = np.zeros(8 * workers)  # worker t: [8 t] loss sum, [8 t + 1] right answers
        self.acts = np.array([op.act for op in ops], np.int64)
        self.alphas = np.array([op.alpha for op in ops], dt)
        self.drop_p = np.array([op.p for op in ops], dt)
        self.drop_scale = np.array([1.0 / (1.0 - op.p) for op in ops], dt)
        self.dropped = np.array([op.dropout is not None for op in ops], np.int64)
        self.decW = np.ones(L, dt)
        self.decb = np.ones(L, dt)
        self.names = [(f"{op.index}.W", f"{op.index}.b") for op in ops]
        self.adam = isinstance(optimizer, Adam)
        self._lr: float | None = None
        self._args: tuple | None = None  # what every worker's compiled step takes: running
        self._keep: list | None = None  # the arrays whose addresses _args holds

    def _arrays(self) -> list[list[np.ndarray]]:
        """Parameters, gradients and optimiser state (made if still absent), per layer."""
        opt = self.opt
        cols: list[list[np.ndarray]] = [[] for _ in range(8)]
        for op, (nw, nb) in zip(self.ops, self.names, strict=True):
            d = op.layer
            sw, sb = opt.state_for(nw, d.params["W"]), opt.state_for(nb, d.params["b"])
            cols[0].append(d.params["W"])
            cols[1].append(d.params["b"])
            cols[2].append(d.grads["W"])
            cols[3].append(d.grads["b"])
            if self.adam:
                mW, vW, mb, vb = sw["m"], sw["v"], sb["m"], sb["v"]
            elif "v" in sw:  # SGD with momentum: the velocity (the last two: never touched)
                mW, vW, mb, vb = sw["v"], sw["v"], sb["v"], sb["v"]
            else:  # plain SGD: arrays the kernel never touches
                mW, vW, mb, vb = d.grads["W"], d.grads["W"], d.grads["b"], d.grads["b"]
            for c, a in zip(cols[4:], (mW, vW, mb, vb), strict=True):
                c.append(a)
        for arr in (a for col in cols for a in col):
            if arr.dtype != self.dtype or not arr.flags.c_contiguous:
                raise ValueError("the parallel step needs contiguous arrays of one dtype")
        return cols

    @contextlib.contextmanager
    def running(self):
        """Helpers spin while this is active (one epoch); BLAS keeps to one thread meanwhile."""
        ops = self.ops
        Zs = [op.Z for op in ops]
        Ds = [op.D if op.D is not None else op.Z for op in ops]  # (unused without dropout)
        Us = [op.U if op.U is not None else op.Z for op in ops]
        dZs = [op.dZ for op in ops]
        cols = [Zs, Ds, Us, dZs, *self._arrays()]  # in the order of K.TZ ... K.TVB
        # the workers take the arrays' addresses (``K.worker_step``): check every shape, and
        # keep the arrays alive for the epoch (as the lists passed before did)
        for l, (fi, fo) in enumerate(self.sizes.tolist()):
            want = [(self.B, fo)] * 4 + [(fi, fo), (fo,)] * 2 + [(fi, fo), (fi, fo), (fo,), (fo,)]
            for col, shape in zip(cols, want, strict=True):
                if col[l].shape != shape:
                    raise ValueError(f"the parallel step expected an array of shape {shape} "
                                     f"in layer {ops[l].index}, got {col[l].shape}")
        self._keep = cols
        tab = np.array([[col[l].ctypes.data for col in cols] for l in range(len(ops))],
                       np.int64)
        self._args = (self.blas, self.ctl, self.cf, self.res, self.labels, self.targets,
                      self.rows, self.xbuf, tab, self.sizes, self.acts, self.alphas,
                      self.drop_p, self.drop_scale, self.dropped, self.bounds, self.rowcut,
                      self.lossblk, self.decW, self.decb, self.loss_kind,
                      K.OPT_ADAM if self.adam else K.OPT_SGD)
        self._lr = None
        self.ctl[K.STOP] = 0
        self.ctl[K.READY] = 0
        seen = int(self.ctl[K.POSTED])
        errors: list[BaseException] = []

        def helper(t: int) -> None:
            try:
                K.helper(t, self.T, seen, *self._args)
            except BaseException as exc:  # pragma: no cover - e.g. numba failing to compile
                errors.append(exc)

        threads = [threading.Thread(target=helper, args=(t,), daemon=True,
                                    name=f"ffnn-worker-{t}") for t in range(1, self.T)]
        with blas_limited(1):
            for th in threads:
                th.start()
            try:
                # the main thread would spin forever at the first wait for a helper that died
                # (a first compile takes seconds: wait for every helper to report in)
                while self.ctl[K.READY] < len(threads):
                    if errors or not all(th.is_alive() for th in threads):
                        raise RuntimeError("a worker thread of the parallel training step "
                                           "failed to start") from (errors or [None])[0]
                    time.sleep(1e-4)
                yield self
            finally:
                self.ctl[K.STOP] = 1
                K.post(self.ctl)
                for th in threads:
                    th.join()
                self._args = self._keep = None
                self._src = None  # (the user's X is not kept alive past the epoch)

    def __call__(self, X: np.ndarray | Rows, y: np.ndarray) -> StepResult:
        if self._args is None:  # outside an epoch: start the workers for this batch
            with self.running():
                return self(X, y)
        n = X.shape[0]
        if n > self.B:
            raise ValueError(f"the parallel step was built for batches of at most {self.B} "
                             f"rows, got {n}")
        src_addr, src_rows, index = 0, 0, self._no_index
        if isinstance(X, Rows):  # the workers gather the rows (the kernel checks the indices)
            src, index = X.X, X.index
            if src is not self._src:  # an epoch hands the same X every batch: checked once
                if src.dtype != self.dtype or not src.flags.c_contiguous:
                    return self(np.asarray(X), y)
                self._src, self._src_addr = src, src.ctypes.data
            if src.shape[1:] != self.xbuf.shape[1:] or index.dtype is not _INT64:
                return self(np.asarray(X), y)
            src_addr, src_rows = self._src_addr, src.shape[0]
            x_addr = self._xbuf_addr
        else:
            if X.dtype != self.dtype or not X.flags.c_contiguous:
                X = np.ascontiguousarray(X, dtype=self.dtype)
            x_addr = X.ctypes.data
        ce = self.loss_kind == K.CE_LABELS
        if ce:
            scale = 1.0 / n
        else:
            y = y.reshape(n, -1)
            scale = (2.0 if self.loss_kind == K.MSE else 1.0) / (n * self.targets.shape[1])
        for op in self.ops:  # dropout's uniforms, drawn as Dropout.forward draws them
            if op.dropout is not None:
                op.dropout.rng.random((n, op.U.shape[1]), dtype=self.dtype, out=op.U[:n])
        opt = self.opt
        opt.begin_step({}, {})  # t <- t + 1 (clipping: never here; penalties: in the kernel)
        lr = float(opt.lr)
        if self.adam:
            step, eps_hat = opt.scaled_step(lr)
            first = (1.0 - opt.beta1, opt.beta2, 1.0 - opt.beta2, eps_hat, step)
        else:
            first = (lr, opt.momentum, 1.0 if opt.nesterov else 0.0, 0.0, 0.0)
        scalars = first + (FLUSH_BELOW if opt.flush_due() else 0.0, float(opt.weight_decay),
                           float(opt.l1), scale)  # CF_A..CF_E, CF_BELOW, CF_WD, CF_L1, scale
        if lr != self._lr:  # AdamW's decay factor follows the learning rate
            self._lr = lr
            for i, (nw, nb) in enumerate(self.names):
                self.decW[i], self.decb[i] = opt.decay_factor(nw, lr), opt.decay_factor(nb, lr)
        total, correct = K.main_step(x_addr, n, y if ce else self._no_labels,
                                     self._no_targets if ce else y, scalars, src_addr,
                                     src_rows, index, self.share, self.adapt, self.T,
                                     *self._args)
        if not math.isfinite(total):
            opt.iterations -= 1  # nothing was updated: the step did not happen
        out = self._out if n == self.B else self.ops[-1].Z[:n]
        if ce:
            return StepResult(total / n, out, correct)
        return StepResult(total / out.size, out, correct if self.loss_kind == K.BCE else None)
