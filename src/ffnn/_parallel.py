"""The fused training step on two (or more) cores: each core takes its share of every piece.

Why: in the one-thread fused step (``_fastpath``) the matrix products run on all cores (BLAS
threads), but everything between them (bias + ReLU, the loss, ReLU's backward, Adam's update
of every parameter) runs on one core while BLAS's other threads wait.  On MNIST that serial
part was ~0.6 s of a ~2.1 s epoch.  Here ``T`` workers (the main thread and ``T - 1`` helper
threads, all inside compiled code, so without Python's GIL) split the work of each batch:

1. rows: worker t takes rows [lo, hi) of the batch through the forward pass, the loss and the
   backward pass down to every dZ_l (each row's forward and backward is independent of the
   other rows):  Z_l = A_{l-1} W_l + b_l,  A_l = max(Z_l, 0),  dZ_L = (softmax(Z_L) - Y) / N,
   dZ_{l-1} = (dZ_l W_l^T) * 1{A_{l-1} > 0};
2. wait for all workers (every dZ_l is complete);
3. parameters: worker t takes rows [r0, r1) of every W_l (and a share of every b_l):
   dW_l[r0:r1] = A_{l-1}[:, r0:r1]^T dZ_l,  db_l = sum_n dZ_l,  then Adam on exactly those
   entries (contiguous in memory: W_l is row-major), last layer first;
4. wait again (the next batch reads every updated W).

Every product is one BLAS call on one thread (BLAS's own threads are held at 1 meanwhile);
the same BLAS library NumPy uses, called through its CBLAS entry point.  The arithmetic of
every entry is the one-thread fused step's: the same kernels, the same order of sums, the
same Adam kernel; so results match it (a test compares both).

The waits are spin-waits on a shared counter (atomic operations): a blocked thread woken by
the operating system cost 0.4-2 ms per wait on this 2-core VM, i.e. more than a whole step.
Helpers therefore spin while an epoch runs and are stopped between epochs.  The workers
never call back into Python; the main thread runs one compiled call per batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import threading
import time

import numpy as np

from . import _fused as K
from ._fused import _POSTED, _READY, _ROUNDS, _STOP

# --------------------------------------------------------------------------- BLAS
#: CBLAS entry points NumPy's BLAS may export: (single, double, 64-bit integers)
_SYMBOLS = [("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
            ("cblas_sgemm64_", "cblas_dgemm64_", True),
            ("cblas_sgemm", "cblas_dgemm", False),
            ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False)]


def find_blas() -> tuple[dict, str] | None:
    """({dtype: [address of NumPy's CBLAS gemm, 1 if 64-bit integers]}, the library's path),
    or None.

    The library is found with threadpoolctl (which also holds BLAS's threads at 1 while the
    workers run); the entry points by name.  Each found routine is checked once on a small
    product against NumPy before it is trusted."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    libs.sort(key=lambda i: not (os.path.basename(os.path.dirname(i["filepath"])).startswith(
        "numpy") or i["filepath"].startswith(os.path.join(numpy_dir, "numpy"))))
    for info in libs:
        try:
            lib = ctypes.CDLL(info["filepath"])
        except OSError:
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
    return None


def _works(blas: np.ndarray, dtype: np.dtype) -> bool:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 3)).astype(dtype)
    B = rng.standard_normal((5, 4)).astype(dtype)
    C = np.full((3, 4), np.nan, dtype)
    K._gemm(blas, True, False, 3, 4, 5, dtype.type(1), A.ctypes.data, 3, B.ctypes.data, 4,
            C.ctypes.data, 4)  # C = A^T B
    return bool(np.allclose(C, A.T @ B, rtol=1e-4, atol=1e-5))


class ParallelStep:
    """Forward, loss, backward and Adam for one batch, on ``workers`` threads (module doc).

    Built by ``FusedStep.parallel`` for Dense + ReLU networks ending in a Dense layer with
    softmax-CE (integer labels) or sigmoid-BCE, trained with fused Adam / AdamW.  Use:
    ``set_data(X, y)`` once, then per epoch ``with running(order): step(b)`` for each batch b
    (rows ``order[b B:(b + 1) B]``)."""

    def __init__(self, dense: list, names: list[tuple[str, str]], kind: int, optimizer,
                 workers: int, batch: int, blas: dict) -> None:
        self.dense, self.kind, self.opt, self.T, self.B = dense, kind, optimizer, workers, batch
        dt = dense[0].dtype
        self.dtype = np.dtype(dt)
        self.blas = blas[self.dtype]
        self._names = names  # the parameters' names in net.parameters() ("0.W", "0.b", ...)
        self.Xb = np.empty((batch, dense[0].in_features), dt)
        self.Zs = tuple(np.empty((batch, d.out_features), dt) for d in dense)
        self.dZs = tuple(np.empty((batch, d.out_features), dt) for d in dense)
        K_out = dense[-1].out_features
        self.labels = np.zeros(batch if kind == 1 else 1, np.int64)
        self.targets = np.zeros((batch, K_out) if kind == 2 else (1, 1), dt)
        self.ctl = np.zeros(_ROUNDS + 8 * workers, np.int64)
        self.cf = np.zeros(8)
        self.res = np.zeros(8 * workers)  # worker t: [8 t] loss sum, [8 t + 1] right answers
        self.decW = np.ones(len(dense), dt)
        self.decb = np.ones(len(dense), dt)
        self._lr = None
        self._data: tuple | None = None  # (X, labels, targets): set_data
        self._args: tuple | None = None  # what every worker's compiled step takes: running

    def set_data(self, X: np.ndarray, y: np.ndarray) -> None:
        """The training set the batches come from (kept as contiguous arrays)."""
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if self.kind == 1:
            y = np.ascontiguousarray(y, dtype=np.int64)
            self._data = (X, y, self.targets)
        else:
            y = np.ascontiguousarray(y, dtype=self.dtype).reshape(len(y), -1)
            self._data = (X, self.labels, y)

    def _arrays(self) -> tuple:
        """The parameter, gradient and Adam state arrays (Adam's state made if still absent)."""
        opt = self.opt
        cols: list[list[np.ndarray]] = [[] for _ in range(8)]
        for d, (nw, nb) in zip(self.dense, self._names, strict=True):
            opt._ensure_state(nw, d.params["W"])
            opt._ensure_state(nb, d.params["b"])
            cols[0].append(d.params["W"])
            cols[1].append(d.params["b"])
            cols[2].append(d.grads["W"])
            cols[3].append(d.grads["b"])
            cols[4].append(opt.state[nw]["m"])
            cols[5].append(opt.state[nw]["v"])
            cols[6].append(opt.state[nb]["m"])
            cols[7].append(opt.state[nb]["v"])
        for arr in (a for col in cols for a in col):
            if arr.dtype != self.dtype or not arr.flags.c_contiguous:
                raise ValueError("the parallel step needs contiguous arrays of one dtype")
        return tuple(tuple(col) for col in cols)

    @contextlib.contextmanager
    def running(self, order: np.ndarray):
        """Helpers spin while this is active (one epoch; batches are rows of ``order``);
        BLAS keeps to one thread meanwhile."""
        from numba.typed import List
        from threadpoolctl import threadpool_limits

        X, labels_all, targets_all = self._data
        # typed lists, not tuples: one compiled version serves every depth of network
        lists = [List(col) for col in (self.Zs, self.dZs, *self._arrays())]
        self._args = (self.blas, self.ctl, self.cf, self.res, X,
                      np.ascontiguousarray(order, dtype=np.int64), labels_all, targets_all,
                      self.Xb, self.labels, self.targets, *lists, self.decW, self.decb,
                      self.kind)
        self._lr = None
        self.ctl[_STOP] = 0
        self.ctl[_READY] = 0
        seen = int(self.ctl[_POSTED])
        errors: list[BaseException] = []

        def helper(t: int) -> None:
            try:
                K._helper(t, self.T, seen, *self._args)
            except BaseException as exc:  # pragma: no cover - e.g. numba failing to compile
                errors.append(exc)

        threads = [threading.Thread(target=helper, args=(t,), daemon=True,
                                    name=f"ffnn-worker-{t}") for t in range(1, self.T)]
        with threadpool_limits(limits=1, user_api="blas"):
            for th in threads:
                th.start()
            try:
                # the main thread would spin forever at the first wait for a helper that died
                # (a first compile takes seconds: wait for every helper to report in)
                while self.ctl[_READY] < len(threads):
                    if errors or not all(th.is_alive() for th in threads):
                        raise RuntimeError("a worker thread of the parallel training step "
                                           "failed to start") from (errors or [None])[0]
                    time.sleep(1e-4)
                yield self
            finally:
                self.ctl[_STOP] = 1
                K._post(self.ctl)
                for th in threads:
                    th.join()
                self._args = None

    def step(self, b: int) -> tuple[float, np.ndarray, int]:
        """Batch b of the epoch: (mean loss, logits, number right).  The weights and Adam's
        state are updated unless the loss is not finite (then nothing changes)."""
        order = self._args[5]
        start = b * self.B
        n = min(self.B, len(order) - start)
        opt = self.opt
        opt.iterations += 1
        lr = float(opt.lr)
        step, eps_hat = opt._step_sizes(lr)
        self.cf[:] = (start, n, 1.0 - opt.beta1, opt.beta2, 1.0 - opt.beta2, eps_hat, step,
                      opt._flush_below())
        if lr != self._lr:  # AdamW's decay factor follows the learning rate
            self._lr = lr
            for i, (nw, nb) in enumerate(self._names):
                self.decW[i], self.decb[i] = opt._decay(nw, lr), opt._decay(nb, lr)
        K._post(self.ctl)
        K._step(0, self.T, *self._args)
        res = self.res.tolist()
        total = sum(res[0::8])
        if not math.isfinite(total):
            opt.iterations -= 1  # nothing was updated
        size = n if self.kind == 1 else n * self.Zs[-1].shape[1]
        return total / size, self.Zs[-1][:n], int(sum(res[1::8]))
