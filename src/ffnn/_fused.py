"""Optional fused optimiser kernels (numba): one pass over memory instead of twelve.

The NumPy code in ``optimizers.py`` is the reference: read it for the algorithm.  Each kernel
below performs, for every element, the *same* float operations in the same order as that
reference (each scalar first rounded to the array's dtype, as NumPy does with a Python float;
no fast-math, no fused multiply-add), so the results are bit-identical, which a test checks.
What changes is only the memory traffic: NumPy streams the 567k parameters of an MNIST network
through memory twelve times per Adam step, the kernel once.

Used when an optimiser is built with ``fused=True`` (``pip install "ffnn[fast]"``).  Below the
optimiser kernels: the kernels of the fused training step (``_fastpath``), then the compiled
part of the step shared between cores (``_parallel``: atomics, a BLAS call, the workers).
"""

from __future__ import annotations

import math
import platform

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _adam(p, g, m, v, decay, c1, b2, c2, eps_hat, step, below):  # pragma: no cover - compiled
    zero = m.dtype.type(0)
    for i in range(p.size):
        pi = p[i]
        if decay != 1:
            pi = pi * decay  # AdamW: W <- W (1 - lr wd)
        gi = g[i]
        s = gi - m[i]
        s = s * c1
        mi = m[i] + s  # m <- m + (1 - b1)(g - m)
        m[i] = zero if abs(mi) < below else mi  # the flush of tiny entries (optimizers.py)
        vi = v[i] * b2
        s = gi * gi
        s = s * c2
        vi = vi + s  # v <- b2 v + (1 - b2) g^2
        v[i] = zero if abs(vi) < below else vi
        s = math.sqrt(vi)
        s = s + eps_hat
        s = mi / s
        s = s * step
        p[i] = pi - s  # W <- W - step m / (sqrt(v) + eps')


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, decay: float,
                beta1: float, beta2: float, eps_hat: float, step: float,
                flush_below: float = 0.0) -> None:
    """In place, for contiguous arrays of one float dtype: Adam(W) with scalars as in NumPy.
    Stored moments smaller than ``flush_below`` in magnitude become 0 (0: no flush)."""
    t = p.dtype.type
    _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), t(decay), t(1.0 - beta1),
          t(beta2), t(1.0 - beta2), t(eps_hat), t(step), t(flush_below))


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _adam_many(ps, gs, ms, vs, decays, c1, b2, c2, eps_hat, step, below):  # pragma: no cover
    for k in range(len(ps)):
        _adam(ps[k], gs[k], ms[k], vs[k], decays[k], c1, b2, c2, eps_hat, step, below)


def adam_update_many(ps: tuple, gs: tuple, ms: tuple, vs: tuple, decays: np.ndarray, *,
                     beta1: float, beta2: float, eps_hat: float, step: float,
                     flush_below: float = 0.0) -> None:
    """``adam_update`` for several parameters in one call (tuples of flat arrays of one dtype):
    one entry into compiled code per step instead of one per parameter."""
    t = ps[0].dtype.type
    _adam_many(ps, gs, ms, vs, decays, t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps_hat),
               t(step), t(flush_below))

# --------------------------------------------------------------------------- training step
# Kernels of ``ffnn._fastpath.FusedStep``: each one pass over a small (batch, units) array
# instead of the two to four NumPy calls of the layer-by-layer reference.


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def bias_relu(Z, b):  # pragma: no cover - compiled
    """In place: Z <- max(Z + b, 0)   (Dense's bias, then ReLU; as Z += b; np.maximum(Z, 0),
    which keeps a NaN: an overflowing network must reach the loss as NaN, not as 0)."""
    n, k = Z.shape
    zero = Z.dtype.type(0)
    for i in range(n):
        for j in range(k):
            z = Z[i, j] + b[j]
            Z[i, j] = zero if z <= zero else z


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def bias_add(Z, b):  # pragma: no cover - compiled
    """In place: Z <- Z + b."""
    n, k = Z.shape
    for i in range(n):
        for j in range(k):
            Z[i, j] = Z[i, j] + b[j]


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def column_sums(dZ, db):  # pragma: no cover - compiled
    """db = sum over the batch (rows) of dZ, row after row as NumPy's sum(axis=0) adds them."""
    db[:] = dZ.dtype.type(0)
    for i in range(dZ.shape[0]):
        db += dZ[i]


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def relu_mask(dA, A, dZ):  # pragma: no cover - compiled
    """dZ = dA * 1{A > 0}: ReLU's backward from its output A = max(Z, 0), so A > 0 <=> Z > 0
    (dZ may be dA itself: then in place)."""
    n, k = dA.shape
    zero = dA.dtype.type(0)
    for i in range(n):
        for j in range(k):
            dZ[i, j] = dA[i, j] if A[i, j] > zero else zero


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def relu_backward(dA, A, dZ, db):  # pragma: no cover - compiled
    """dZ = dA * 1{A > 0} (``relu_mask``) and db = sum over the batch of dZ (the bias
    gradient of the Dense layer below)."""
    relu_mask(dA, A, dZ)
    column_sums(dZ, db)


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def softmax_cross_entropy(Z, y, dZ):  # pragma: no cover - compiled
    """Softmax cross-entropy on logits Z (N, C) with integer labels y (N,), in one pass per row.

    Returns (sum_n [logsumexp(Z[n]) - Z[n, y[n]]] as float64, the caller divides by N;
    the number of rows whose first largest logit is at y[n], i.e. argmax hits) and writes
    dZ = (softmax(Z) - Y) / N.  Each row is shifted by its maximum, as in ``functional``.
    """
    return softmax_cross_entropy_rows(Z, y, dZ, Z.dtype.type(1) / Z.dtype.type(Z.shape[0]))


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def softmax_cross_entropy_rows(Z, y, dZ, inv_n):  # pragma: no cover - compiled
    """``softmax_cross_entropy`` for some rows of a batch of N: dZ = (softmax(Z) - Y) inv_n,
    inv_n = 1 / N (two workers each take half of the rows)."""
    n, c = Z.shape
    one = Z.dtype.type(1)
    total = 0.0
    correct = 0
    for i in range(n):
        m = Z[i, 0]
        arg = 0
        for j in range(1, c):
            if Z[i, j] > m:
                m = Z[i, j]
                arg = j
        if arg == y[i]:
            correct += 1
        s = Z.dtype.type(0)
        for j in range(c):
            e = math.exp(Z[i, j] - m)
            dZ[i, j] = e
            s = s + e
        total += float(m) + math.log(float(s)) - float(Z[i, y[i]])
        for j in range(c):
            dZ[i, j] = dZ[i, j] / s
        dZ[i, y[i]] = dZ[i, y[i]] - one
        for j in range(c):
            dZ[i, j] = dZ[i, j] * inv_n
    return total, correct


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def sigmoid_cross_entropy(Z, Y, dZ):  # pragma: no cover - compiled
    """Sigmoid binary cross-entropy on logits Z (N, K) with targets Y (N, K) in [0, 1].

    Returns (sum of softplus(z) - y z as float64, the caller divides by N K; the number of
    entries with (z > 0) == (y >= 0.5)) and writes dZ = (sigma(Z) - Y) / (N K).
    softplus(z) = max(z, 0) + log1p(exp(-|z|)) and sigma via exp(-|z|): nothing overflows.
    """
    return sigmoid_cross_entropy_rows(Z, Y, dZ, Z.dtype.type(1) / Z.dtype.type(Z.size))


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def sigmoid_cross_entropy_rows(Z, Y, dZ, inv):  # pragma: no cover - compiled
    """``sigmoid_cross_entropy`` for some rows of a batch: dZ = (sigma(Z) - Y) inv,
    inv = 1 / (N K)."""
    n, k = Z.shape
    one = Z.dtype.type(1)
    total = 0.0
    correct = 0
    for i in range(n):
        for j in range(k):
            z = Z[i, j]
            y = Y[i, j]
            e = math.exp(-abs(z))
            total += max(float(z), 0.0) + math.log1p(float(e)) - float(y) * float(z)
            s = one / (one + e) if z >= 0 else e / (one + e)
            dZ[i, j] = (s - y) * inv
            if (z > 0) == (y >= 0.5):
                correct += 1
    return total, correct


# =========================================================================== parallel step
# The compiled part of ``ffnn._parallel`` (read its docstring).  It lives in this file because
# numba's on-disk cache is keyed by the content of the file a function is written in, not of
# the files it calls: kept apart, a changed kernel above could be run from a stale cache.

# --------------------------------------------------------------------------- atomics


def _item_pointer(context, builder, aryty, ary, index):
    array = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, array, [index])


@intrinsic
def _atomic_add(typingctx, arr, index, value):
    """arr[index] += value as one atomic operation (sequentially consistent); the old value."""
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def _atomic_load(typingctx, arr, index):
    """arr[index], read atomically (acquire: later reads see what was written before it)."""
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


_MACHINE = platform.machine().lower()


@intrinsic
def _spin_pause(typingctx):
    """The CPU's spin-wait hint (x86 pause, ARM yield): a spinning thread then leaves the
    core's resources to its neighbour (2 vCPUs are often two threads of one core)."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        if _MACHINE in ("x86_64", "amd64", "i386", "i686"):
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(fn, [])
        elif _MACHINE in ("aarch64", "arm64"):
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i32]), "llvm.aarch64.hint")
            builder.call(fn, [ir.Constant(i32, 1)])  # 1: yield
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------- BLAS


def _cblas_intrinsic(int_bits: int):
    """A call of ``cblas_?gemm`` at a run-time address: row-major C = op(A) op(B) (beta = 0)."""

    @intrinsic
    def call(typingctx, addr, ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc):
        sig = types.void(addr, ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc)

        def codegen(context, builder, sig, args):
            i32, it = ir.IntType(32), ir.IntType(int_bits)
            fty = context.get_value_type(sig.args[6])
            ptr = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, it, it, it, fty, ptr, it,
                                                   ptr, it, fty, ptr, it])
            fn = builder.inttoptr(args[0], fnty.as_pointer())
            ints = {1: i32, 2: i32, 3: it, 4: it, 5: it, 8: it, 10: it, 12: it}
            vals = []
            for i, (val, ty) in enumerate(zip(args, sig.args, strict=True)):
                if i == 0:
                    continue
                if i in ints:
                    val = context.cast(builder, val, ty, types.int64)
                    val = builder.trunc(val, ints[i]) if ints[i].width < 64 else val
                elif i in (7, 9, 11):
                    val = builder.inttoptr(val, ptr)
                vals.append(val)
            vals.insert(10, ir.Constant(fty, 0.0))  # beta
            builder.call(fn, [ir.Constant(i32, 101)] + vals)  # 101: CblasRowMajor
            return context.get_dummy_value()

        return sig, codegen

    return call


_cblas64 = _cblas_intrinsic(64)
_cblas32 = _cblas_intrinsic(32)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _gemm(blas, ta, tb, m, n, k, one, a, lda, b, ldb, c, ldc):  # pragma: no cover - compiled
    """Row-major C (m, n) = op(A) op(B) at addresses a, b, c with row strides lda, ldb, ldc
    (op = transpose when ta / tb); blas = [address, 1 if 64-bit integers]."""
    ta_, tb_ = 112 if ta else 111, 112 if tb else 111  # CblasTrans / CblasNoTrans
    if blas[1]:
        _cblas64(blas[0], ta_, tb_, m, n, k, one, a, lda, b, ldb, c, ldc)
    else:
        _cblas32(blas[0], ta_, tb_, m, n, k, one, a, lda, b, ldb, c, ldc)


# --------------------------------------------------------------------------- the workers
# ctl (int64): counters threads spin on, each on its own 64-byte line
_ARRIVED, _POSTED, _STOP, _READY, _ROUNDS = 0, 8, 9, 10, 16
# cf (float64), written by the main thread before each step: the batch and Adam's scalars
_START, _N, _C1, _B2, _C2, _EPS, _STEP, _BELOW = range(8)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _barrier(ctl, t, T):  # pragma: no cover - compiled
    """Wait until all T workers arrived here (round r: the counter reaches T r)."""
    r = ctl[_ROUNDS + 8 * t] + 1
    ctl[_ROUNDS + 8 * t] = r
    _atomic_add(ctl, _ARRIVED, 1)
    while _atomic_load(ctl, _ARRIVED) < T * r:
        _spin_pause()


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _part(n, t, T):  # pragma: no cover - compiled
    """Worker t's share [lo, hi) of range(n)."""
    return (n * t) // T, (n * (t + 1)) // T


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _step(t, T, blas, ctl, cf, res, X, order, labels_all, targets_all, Xb, labels, targets,
          Zs, dZs, Ws, bs, gWs, gbs, mWs, vWs, mbs, vbs, decW, decb,
          kind):  # pragma: no cover - compiled
    """Worker t's share of one training step on rows order[start:start + n] of (X, y) (module
    docstring).  kind 1: softmax-CE with integer labels, 2: sigmoid-BCE with targets (N, K)."""
    start, n = int(cf[_START]), int(cf[_N])
    L = len(Ws)
    ft = Ws[0].dtype.type
    one = ft(1)
    size = Ws[0].itemsize
    d = Xb.shape[1]
    lo, hi = _part(n, t, T)
    h = hi - lo
    # 1. this worker's rows of the batch, forward, loss, and every dZ
    rows = order[start + lo:start + hi]
    Xh = Xb[lo:hi]
    for i in range(h):
        Xh[i, :] = X[rows[i], :]
    if kind == 1:
        lab = labels[lo:hi]
        for i in range(h):
            lab[i] = labels_all[rows[i]]
    else:
        tar = targets[lo:hi]
        for i in range(h):
            tar[i, :] = targets_all[rows[i], :]
    for l in range(L):
        fi, fo = Ws[l].shape
        a = Xb.ctypes.data + lo * d * size if l == 0 else Zs[l - 1].ctypes.data + lo * fi * size
        _gemm(blas, False, False, h, fo, fi, one, a, fi, Ws[l].ctypes.data, fo,
              Zs[l].ctypes.data + lo * fo * size, fo)  # Z = A W
        if l < L - 1:
            bias_relu(Zs[l][lo:hi], bs[l])  # A = max(Z + b, 0)
        else:
            bias_add(Zs[l][lo:hi], bs[l])
    Z, dZ = Zs[L - 1][lo:hi], dZs[L - 1][lo:hi]
    if kind == 1:
        total, correct = softmax_cross_entropy_rows(Z, labels[lo:hi], dZ, one / ft(n))
    else:
        total, correct = sigmoid_cross_entropy_rows(Z, targets[lo:hi], dZ,
                                                      one / ft(n * Z.shape[1]))
    res[8 * t], res[8 * t + 1] = total, correct
    for l in range(L - 1, 0, -1):
        fi, fo = Ws[l].shape
        _gemm(blas, False, True, h, fi, fo, one, dZs[l].ctypes.data + lo * fo * size, fo,
              Ws[l].ctypes.data, fo, dZs[l - 1].ctypes.data + lo * fi * size, fi)  # dZ W^T
        dprev = dZs[l - 1][lo:hi]
        relu_mask(dprev, Zs[l - 1][lo:hi], dprev)  # in place
    _barrier(ctl, t, T)
    # a non-finite loss: no update (every worker sees the same sum and skips)
    total = 0.0
    for i in range(T):
        total += res[8 * i]
    if math.isfinite(total):
        # 3. gradients and Adam for this worker's rows of every W, share of every b
        c1, b2, c2 = ft(cf[_C1]), ft(cf[_B2]), ft(cf[_C2])
        eps, step, below = ft(cf[_EPS]), ft(cf[_STEP]), ft(cf[_BELOW])
        for l in range(L - 1, -1, -1):
            fi, fo = Ws[l].shape
            r0, r1 = _part(fi, t, T)
            a = (Xb.ctypes.data if l == 0 else Zs[l - 1].ctypes.data) + r0 * size
            _gemm(blas, True, False, r1 - r0, fo, n, one, a, fi, dZs[l].ctypes.data, fo,
                  gWs[l].ctypes.data + r0 * fo * size, fo)  # dW = A^T dZ
            e0, e1 = r0 * fo, r1 * fo
            _adam(Ws[l].reshape(-1)[e0:e1], gWs[l].reshape(-1)[e0:e1],
                    mWs[l].reshape(-1)[e0:e1], vWs[l].reshape(-1)[e0:e1], decW[l],
                    c1, b2, c2, eps, step, below)
            c0, c1_ = _part(fo, t, T)
            db = gbs[l][c0:c1_]
            column_sums(dZs[l][:n, c0:c1_], db)  # db = sum_n dZ
            _adam(bs[l][c0:c1_], db, mbs[l][c0:c1_], vbs[l][c0:c1_], decb[l],
                    c1, b2, c2, eps, step, below)
    _barrier(ctl, t, T)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _helper(t, T, seen, blas, ctl, cf, res, X, order, labels_all, targets_all, Xb, labels,
            targets, Zs, dZs, Ws, bs, gWs, gbs, mWs, vWs, mbs, vbs, decW, decb,
            kind):  # pragma: no cover - compiled
    """A helper thread: say it runs, then run worker t's share of every posted step until
    told to stop."""
    _atomic_add(ctl, _READY, 1)
    while True:
        while _atomic_load(ctl, _POSTED) == seen:
            _spin_pause()
        seen += 1
        if ctl[_STOP]:
            return
        _step(t, T, blas, ctl, cf, res, X, order, labels_all, targets_all, Xb, labels,
              targets, Zs, dZs, Ws, bs, gWs, gbs, mWs, vWs, mbs, vbs, decW, decb, kind)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _post(ctl):  # pragma: no cover - compiled
    _atomic_add(ctl, _POSTED, 1)
