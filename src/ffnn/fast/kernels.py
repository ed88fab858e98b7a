"""The compiled kernels of the fast steps (numba): each one pass over memory where the
layer-by-layer reference makes two to twelve.

The NumPy code of ``layers.py``, ``activations.py``, ``losses.py`` and ``optimizers.py`` is the
reference: read it for the math.  Each kernel performs the same float operations per element,
in the same order, with every scalar first rounded to the array's dtype as NumPy does with a
Python float (no fast-math, no fused multiply-add).  The optimiser updates are therefore
bit-identical to the reference (tests check it); the forward and backward passes equal it up to
float rounding (exp, log and tanh come from another math library, and the loss is summed in
float64).

Everything compiled lives in this one file, the worker of the step shared between cores
included: numba's on-disk cache is keyed by the content of the file a function is written in,
not of the files it calls, so kernels kept apart could be run from a stale cache.

Codes shared with ``fused.py`` and ``parallel.py``:

* activation: ``IDENTITY``, ``RELU``, ``SIGMOID``, ``TANH``, ``LEAKY_RELU``;
* loss: ``CE_LABELS`` (softmax cross-entropy, integer labels), ``BCE`` (sigmoid binary
  cross-entropy), ``MSE``;
* optimiser: ``OPT_SGD`` (plain, momentum or Nesterov), ``OPT_ADAM`` (Adam and AdamW).
"""

from __future__ import annotations

import math
import platform
import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

IDENTITY, RELU, SIGMOID, TANH, LEAKY_RELU = 0, 1, 2, 3, 4
CE_LABELS, BCE, MSE = 1, 2, 3
OPT_SGD, OPT_ADAM = 1, 2

_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


# =========================================================================== optimisers
@numba.njit(**_JIT)
def adam(p, g, m, v, decay, c1, b2, c2, eps_hat, step, below):  # pragma: no cover - compiled
    """Adam on flat arrays, as ``optimizers.Adam._update`` then the flush (``below`` = 0: none):

        W <- W decay                      (AdamW; decay = 1 for Adam)
        m <- m + c1 (g - m)               c1 = 1 - beta1
        v <- b2 v + c2 g^2                b2 = beta2, c2 = 1 - beta2
        W <- W - step m / (sqrt(v) + eps_hat)   (step, eps_hat: ``Adam.scaled_step``)
    """
    zero = m.dtype.type(0)
    for i in range(p.size):
        pi = p[i]
        if decay != 1:
            pi = pi * decay
        gi = g[i]
        s = gi - m[i]
        s = s * c1
        mi = m[i] + s
        m[i] = zero if abs(mi) < below else mi  # the flush of tiny entries (optimizers.py)
        vi = v[i] * b2
        s = gi * gi
        s = s * c2
        vi = vi + s
        v[i] = zero if abs(vi) < below else vi
        s = math.sqrt(vi)
        s = s + eps_hat
        s = mi / s
        s = s * step
        p[i] = pi - s


@numba.njit(**_JIT)
def sgd(p, g, v, lr, mu, nesterov, below):  # pragma: no cover - compiled
    """SGD on flat arrays, as ``optimizers.SGD._update`` then the flush (``below`` = 0: none):

        plain (mu = 0):  W <- W - lr g
        momentum:        v <- mu v + g;   W <- W - lr v
        Nesterov:        v <- mu v + g;   W <- W - lr (g + mu v)
    """
    zero = p.dtype.type(0)
    if mu == 0:
        for i in range(p.size):
            s = g[i] * lr
            p[i] = p[i] - s
        return
    for i in range(p.size):
        vi = v[i] * mu
        vi = vi + g[i]
        if nesterov:
            s = vi * mu
            s = s + g[i]
            s = s * lr
        else:
            s = vi * lr
        p[i] = p[i] - s
        v[i] = zero if abs(vi) < below else vi


@numba.njit(**_JIT)
def update_many(kind, ps, gs, ms, vs, decays, a, b, c, d, e, below):  # pragma: no cover
    """One optimiser step over tuples of flat arrays (one entry into compiled code per step).
    Adam: (a, b, c, d, e) = (c1, b2, c2, eps_hat, step); SGD: (lr, mu, nesterov, -, -)."""
    for k in range(len(ps)):
        if kind == OPT_ADAM:
            adam(ps[k], gs[k], ms[k], vs[k], decays[k], a, b, c, d, e, below)
        else:
            sgd(ps[k], gs[k], ms[k], a, b, c != 0, below)


@numba.njit(**_JIT)
def penalise(W, g, wd, l1):  # pragma: no cover - compiled
    """g <- g + wd W, then g <- g + l1 sign(W) (``Optimizer.add_penalty``; flat arrays)."""
    zero = W.dtype.type(0)
    one = W.dtype.type(1)
    for i in range(W.size):
        if wd != 0:
            s = W[i] * wd
            g[i] = g[i] + s
        if l1 != 0:
            w = W[i]
            sign = one if w > zero else (-one if w < zero else w)  # sign(0) = 0, NaN stays
            s = sign * l1
            g[i] = g[i] + s


# =========================================================================== exp
@intrinsic
def _int32_as_float32(typingctx, i):
    """The float32 whose bits are the int32 i (an LLVM bitcast: vectorisable)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@numba.njit(**_JIT, inline="always")
def exp32(x):  # pragma: no cover - compiled
    """exp(x) for float32 without a call into the math library, so that a loop of it
    vectorises (Cephes' expf: x = n ln 2 + r, |r| <= ln 2 / 2, a degree-6 polynomial in r,
    times 2^n built from its bits; measured within 0.54 ulp of the true value).  inf above
    88.72, 0 below -87.33 (where float32's exp is inf, or 1 + exp is 1), NaN stays NaN."""
    hi = np.float32(88.72283)
    lo = np.float32(-87.33654)
    xc = min(max(x, lo), hi)
    fx = math.floor(xc * np.float32(1.442695040888963) + np.float32(0.5))
    r = xc - fx * np.float32(0.693359375)
    r = r - fx * np.float32(-2.12194440e-4)
    z = r * r
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * z + r + np.float32(1.0)
    n = np.int32(fx)
    # 2^n in two halves: n = 128 (x near 88.72) would not fit one exponent field
    h = n >> np.int32(1)
    e = p * _int32_as_float32((h + np.int32(127)) << np.int32(23))
    e = e * _int32_as_float32((n - h + np.int32(127)) << np.int32(23))
    if x > hi:
        e = np.float32(np.inf)
    elif x < lo:
        e = np.float32(0.0)
    elif x != x:
        e = x
    return e


# =========================================================================== layers
@numba.njit(**_JIT)
def bias_act(Z, b, kind, alpha):  # pragma: no cover - compiled
    """In place: A = f(Z + b), Dense's bias and then the activation in one pass.

    ReLU keeps a NaN (as np.maximum does: an overflowing network must reach the loss as NaN);
    sigmoid is 1 / (1 + exp(-z)) as ``functional.sigmoid``; LeakyReLU z if z > 0 else alpha z.
    One loop per activation, so that the compiler vectorises each.
    """
    n, k = Z.shape
    zero = Z.dtype.type(0)
    one = Z.dtype.type(1)
    if kind == RELU:
        for i in range(n):
            for j in range(k):
                z = Z[i, j] + b[j]
                Z[i, j] = zero if z <= zero else z
    elif kind == SIGMOID:
        if Z.itemsize == 4:  # float32: the vectorised exp (within 1 ulp of the true exp)
            for i in range(n):
                for j in range(k):
                    z = Z[i, j] + b[j]
                    Z[i, j] = one / (one + exp32(-z))
        else:
            for i in range(n):
                for j in range(k):
                    z = Z[i, j] + b[j]
                    Z[i, j] = one / (one + math.exp(-z))
    elif kind == TANH:
        for i in range(n):
            for j in range(k):
                Z[i, j] = math.tanh(Z[i, j] + b[j])
    elif kind == LEAKY_RELU:
        for i in range(n):
            for j in range(k):
                z = Z[i, j] + b[j]
                Z[i, j] = z if z > zero else z * alpha
    else:
        for i in range(n):
            for j in range(k):
                Z[i, j] = Z[i, j] + b[j]


@numba.njit(**_JIT)
def neg_bias(Z, b):  # pragma: no cover - compiled
    """In place: Z <- -(Z + b), the argument of the sigmoid's exp (``functional.sigmoid``)."""
    n, k = Z.shape
    for i in range(n):
        for j in range(k):
            Z[i, j] = -(Z[i, j] + b[j])


@numba.njit(**_JIT)
def one_over_one_plus(E):  # pragma: no cover - compiled
    """In place: E <- 1 / (1 + E), the sigmoid from E = exp(-z) (``functional.sigmoid``)."""
    n, k = E.shape
    one = E.dtype.type(1)
    for i in range(n):
        for j in range(k):
            E[i, j] = one / (E[i, j] + one)


@numba.njit(**_JIT)
def outer(dZ, w, dX):  # pragma: no cover - compiled
    """dX = dZ w^T for dZ (n, 1): dX[i, j] = dZ[i, 0] w[j] (Dense's dX = dZ W^T when D_out = 1;
    one product per entry, as the matrix product computes it)."""
    n, k = dX.shape
    for i in range(n):
        d = dZ[i, 0]
        for j in range(k):
            dX[i, j] = d * w[j]


@numba.njit(**_JIT)
def dropout_forward(A, U, p, scale, D):  # pragma: no cover - compiled
    """D = A * M,  M = scale 1{U >= p}  (``Dropout.forward`` with the uniforms U it drew)."""
    n, k = A.shape
    zero = A.dtype.type(0)
    for i in range(n):
        for j in range(k):
            D[i, j] = A[i, j] * (scale if U[i, j] >= p else zero)


@numba.njit(**_JIT)
def act_backward(dA, A, U, p, scale, masked, kind, alpha, dZ, db):  # pragma: no cover
    """dZ = (dA * M) * f'(Z) (``act_mask``) and db = sum over the batch of dZ (the bias
    gradient of the Dense layer below)."""
    act_mask(dA, A, U, p, scale, masked, kind, alpha, dZ)
    column_sums(dZ, db)


@numba.njit(**_JIT)
def act_mask(dA, A, U, p, scale, masked, kind, alpha, dZ):  # pragma: no cover - compiled
    """dZ = (dA * M) * f'(Z) from the activation's output A.

    M is dropout's mask scale 1{U >= p} when ``masked`` (else 1); f'(Z) is 1{A > 0} (ReLU),
    A (1 - A) (sigmoid), 1 - A^2 (tanh), 1 or alpha (LeakyReLU: A > 0 <=> Z > 0), 1
    (identity).  dZ may be dA itself.  Every loop nest either reads one array and writes
    another known to be distinct, or reads and writes the one array, so the compiler
    vectorises it: a loop from dA to a dZ that may be the same memory runs element by
    element, and ReLU's select then costs a mispredicted branch per entry (30x slower).
    """
    n, k = dA.shape
    zero = dA.dtype.type(0)
    same = dA.ctypes.data == dZ.ctypes.data
    if masked and same:  # dZ = dA * M, then the derivative in place
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dZ[i, j] * (scale if U[i, j] >= p else zero)
    elif masked:
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dA[i, j] * (scale if U[i, j] >= p else zero)
    if masked or same:
        _derivative_in_place(dZ, A, kind, alpha)
    else:
        _derivative(dA, A, kind, alpha, dZ)


@numba.njit(**_JIT)
def _derivative(dA, A, kind, alpha, dZ):  # pragma: no cover - compiled
    """dZ = dA * f'(Z) (``act_mask``), dZ and dA distinct."""
    n, k = dA.shape
    zero = dA.dtype.type(0)
    one = dA.dtype.type(1)
    if kind == RELU:
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dA[i, j] if A[i, j] > zero else zero
    elif kind == SIGMOID:
        for i in range(n):
            for j in range(k):
                t = one - A[i, j]
                t = t * A[i, j]
                dZ[i, j] = t * dA[i, j]
    elif kind == TANH:
        for i in range(n):
            for j in range(k):
                t = A[i, j] * A[i, j]
                t = one - t
                dZ[i, j] = dA[i, j] * t
    elif kind == LEAKY_RELU:
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dA[i, j] * (one if A[i, j] > zero else alpha)
    else:
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dA[i, j]


@numba.njit(**_JIT)
def _derivative_in_place(dZ, A, kind, alpha):  # pragma: no cover - compiled
    """dZ <- dZ * f'(Z) (``act_mask``), the one array read and written."""
    n, k = dZ.shape
    zero = dZ.dtype.type(0)
    one = dZ.dtype.type(1)
    if kind == RELU:
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dZ[i, j] if A[i, j] > zero else zero
    elif kind == SIGMOID:
        for i in range(n):
            for j in range(k):
                t = one - A[i, j]
                t = t * A[i, j]
                dZ[i, j] = t * dZ[i, j]
    elif kind == TANH:
        for i in range(n):
            for j in range(k):
                t = A[i, j] * A[i, j]
                t = one - t
                dZ[i, j] = dZ[i, j] * t
    elif kind == LEAKY_RELU:
        for i in range(n):
            for j in range(k):
                dZ[i, j] = dZ[i, j] * (one if A[i, j] > zero else alpha)


@numba.njit(**_JIT)
def column_sums(dZ, db):  # pragma: no cover - compiled
    """db = sum over the batch (rows) of dZ, row after row as NumPy's sum(axis=0) adds them."""
    column_sums_part(dZ, dZ.shape[0], 0, dZ.shape[1], db)


@numba.njit(**_JIT)
def column_sums_part(dZ, n, c0, c1, db):  # pragma: no cover - compiled
    """db = sum over rows [0, n) of dZ[:, c0:c1], row after row (as NumPy's sum(axis=0));
    dZ whole (contiguous), so that the loop vectorises (a column slice would not)."""
    for j in range(c1 - c0):
        db[j] = dZ.dtype.type(0)
    for i in range(n):
        for j in range(c0, c1):
            db[j - c0] = db[j - c0] + dZ[i, j]


# =========================================================================== losses
@numba.njit(**_JIT)
def softmax_cross_entropy_rows(Z, y, dZ, inv_n):  # pragma: no cover - compiled
    """Softmax cross-entropy on logits Z (n, C) with integer labels y (n,), one pass per row.

    Returns (sum_n [logsumexp(Z[n]) - Z[n, y[n]]] in float64, the caller divides by N; the
    number of rows whose first largest logit is at y[n]) and writes dZ = (softmax(Z) - Y) inv_n,
    inv_n = 1 / N of the whole batch (a worker may take some of its rows).  Each row is
    shifted by its maximum, as in ``functional``.
    """
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


@numba.njit(**_JIT)
def softmax_cross_entropy_onehot(Z, T, dZ, inv_n):  # pragma: no cover - compiled
    """Softmax cross-entropy with one-hot (or probability) rows T (n, C): returns
    sum_n sum_c T[n, c] (logsumexp(Z[n]) - Z[n, c]) in float64 and writes
    dZ = (softmax(Z) - T) inv_n."""
    n, c = Z.shape
    total = 0.0
    for i in range(n):
        m = Z[i, 0]
        for j in range(1, c):
            if Z[i, j] > m:
                m = Z[i, j]
        s = Z.dtype.type(0)
        for j in range(c):
            e = math.exp(Z[i, j] - m)
            dZ[i, j] = e
            s = s + e
        lse = float(m) + math.log(float(s))
        for j in range(c):
            total += float(T[i, j]) * (lse - float(Z[i, j]))
            q = dZ[i, j] / s
            q = q - T[i, j]
            dZ[i, j] = q * inv_n
    return total


@numba.njit(**_JIT)
def sigmoid_cross_entropy_rows(Z, Y, dZ, inv):  # pragma: no cover - compiled
    """Sigmoid binary cross-entropy on logits Z (n, K), targets Y (n, K) in [0, 1].

    Returns (sum of softplus(z) - y z in float64, the caller divides by N K; the number of
    entries with (z > 0) == (y >= 0.5)) and writes dZ = (sigma(Z) - Y) inv, inv = 1 / (N K).
    softplus(z) = max(z, 0) + log1p(exp(-|z|)) and sigma via exp(-|z|): nothing overflows.
    """
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


@numba.njit(**_JIT)
def squared_error_rows(Z, Y, dZ, scale):  # pragma: no cover - compiled
    """MSE: returns sum (z - y)^2 in float64 (the caller divides by N K) and writes
    dZ = (Z - Y) scale, scale = 2 / (N K) (``losses.MSE``)."""
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        for j in range(k):
            d = Z[i, j] - Y[i, j]
            total += float(d * d)
            dZ[i, j] = d * scale
    return total


@numba.njit(**_JIT)
def loss_rows(kind, Z, labels, Y, dZ, scale):  # pragma: no cover - compiled
    """(loss sum, number right) of one of the losses above (0 right for MSE)."""
    if kind == CE_LABELS:
        return softmax_cross_entropy_rows(Z, labels, dZ, scale)
    if kind == BCE:
        return sigmoid_cross_entropy_rows(Z, Y, dZ, scale)
    return squared_error_rows(Z, Y, dZ, scale), 0


# =========================================================================== parallel step
# The compiled part of ``parallel.ParallelStep`` (read its docstring): atomics, a BLAS call,
# the workers.


def _item_pointer(context, builder, aryty, ary, index):
    array = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, array, [index])


@intrinsic
def _pointer_at(typingctx, addr, like):
    """A pointer to elements of ``like``'s dtype at the address ``addr`` (for numba.carray)."""
    sig = types.CPointer(like.dtype)(types.int64, like)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return sig, codegen


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


@numba.njit(**_JIT)
def gemm(blas, ta, tb, m, n, k, one, a, lda, b, ldb, c, ldc):  # pragma: no cover - compiled
    """Row-major C (m, n) = op(A) op(B) at addresses a, b, c with row strides lda, ldb, ldc
    (op = transpose when ta / tb); blas = [address, 1 if 64-bit integers]."""
    ta_, tb_ = 112 if ta else 111, 112 if tb else 111  # CblasTrans / CblasNoTrans
    if blas[1]:
        _cblas64(blas[0], ta_, tb_, m, n, k, one, a, lda, b, ldb, c, ldc)
    else:
        _cblas32(blas[0], ta_, tb_, m, n, k, one, a, lda, b, ldb, c, ldc)


#: spins (~5 ms) before a waiting worker starts yielding its core (sched_yield) at every
#: check: on a machine where other processes take cores, a spinning thread could otherwise
#: keep the worker it waits for off the CPU for whole time slices.  Not sooner: yielding
#: at every wait of an ordinary step made MNIST epochs ~10% slower on this VM
SPINS_BEFORE_YIELD = 100_000
_sched_yield = types.ExternalFunction("sched_yield", types.int32())
#: clock_gettime(clock, struct timespec *) with the pointer passed as an integer
_clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.intp))
_CLOCK_MONOTONIC = 6 if sys.platform == "darwin" else 1  # (a wrong id: times 0, no balance)


@numba.njit(**_JIT)
def _wait(ctl, index, below):  # pragma: no cover - compiled
    """Spin (then yield) until ctl[index] >= below."""
    spins = 0
    while _atomic_load(ctl, index) < below:
        if spins < SPINS_BEFORE_YIELD:
            spins += 1
            _spin_pause()
        else:
            _sched_yield()


# ctl (int64): counters threads spin on, each on its own 64-byte line, and the batch
ARRIVED, POSTED, STOP, READY, X_ADDR, N_ROWS, SRC_ADDR, ROUNDS = 0, 8, 9, 10, 11, 12, 13, 16
# cf (float64), written by the main thread before each step: the optimiser's scalars
CF_A, CF_B, CF_C, CF_D, CF_E, CF_BELOW, CF_WD, CF_L1, CF_LOSS_SCALE = range(9)


@numba.njit(**_JIT)
def _barrier(ctl, t, T):  # pragma: no cover - compiled
    """Wait until all T workers arrived here (round r: the counter reaches T r)."""
    r = ctl[ROUNDS + 8 * t] + 1
    ctl[ROUNDS + 8 * t] = r
    _atomic_add(ctl, ARRIVED, 1)
    _wait(ctl, ARRIVED, T * r)


@numba.njit(**_JIT)
def _part(n, t, T):  # pragma: no cover - compiled
    """Worker t's share [lo, hi) of range(n)."""
    return (n * t) // T, (n * (t + 1)) // T


@numba.njit(**_JIT)
def _ready(T):  # pragma: no cover - compiled
    """ctl index of layer 0's dZ-ready counter (layer l's: + 8 l), past the workers' rounds."""
    return ROUNDS + 8 * T


@numba.njit(**_JIT)
def _now(ctl, t):  # pragma: no cover - compiled
    """Monotonic time in ns (the timespec goes to worker t's own line of ctl)."""
    i = ROUNDS + 8 * t + 2
    _clock_gettime(_CLOCK_MONOTONIC, ctl.ctypes.data + i * 8)
    return ctl[i] * 1_000_000_000 + ctl[i + 1]


#: the weight of the last step's timings in the workers' shares (``balance``): a step's
#: timings are noisy (each cut then jumps by 8 rows), a busy core stays busy for many steps.
#: Interleaved MNIST epochs: 0.2 took 7% off 0.5; 0.1 was 1.5% slower than 0.2
BALANCE_GAIN = 0.2

# res (float64), worker t's line: loss sum, number right, and its timings of the last step
RES_ROWS_NS, RES_PARAM_NS, RES_PARAM_ENTRIES = 2, 3, 4


@numba.njit(**_JIT)
def _cut8(x, top, n):  # pragma: no cover - compiled
    """The cut nearest x among the multiples of 8 up to ``top``, and n."""
    b = int(x / 8.0 + 0.5) * 8
    if b > top:
        b = top if x - top < n - x else n
    return b


@numba.njit(**_JIT)
def balance(res, share, bounds, rowcut, sizes, n, adapt_rows, adapt_params,
            T):  # pragma: no cover - compiled
    """The split of the next step between the workers, from the last step's timings.

    Parameters: worker t takes rows [bounds[l, t], bounds[l, t + 1]) of each W_l.  It was
    free for them after a_t ns and updated r_t entries per ns; the shares s_t that make
    a_t + s_t S / r_t equal for all workers (S entries in all) enter ``share[:T]`` with the
    weight ``BALANCE_GAIN``.  With ``adapt_params`` (``parallel.split_invariant``: this
    BLAS gives each entry of dW the value it has in one whole product, whoever computes it,
    when W's rows are cut at multiples of 8 with 8 rows or none on each side) the cuts
    follow these shares so; otherwise, and for a W of fewer than 8 columns, they are fixed.

    The batch's n rows: worker t takes rows [rowcut[t], rowcut[t + 1]), cut at multiples of
    8 (the loss is summed per 8-row block).  With ``adapt_rows`` (``split_invariant``: no
    such cut changes a product of the rows phase of this network's full batch) the shares
    ``share[T:]`` follow the workers' speeds at their rows (rows per ns); otherwise the cuts
    are fixed."""
    ok = True
    for t in range(T):
        ok = ok and res[8 * t + RES_PARAM_NS] > 0 and res[8 * t + RES_PARAM_ENTRIES] > 0 \
            and res[8 * t + RES_ROWS_NS] > 0
    if ok and T > 1:
        S = 0.0
        for l in range(sizes.shape[0]):
            S += sizes[l, 0] * sizes[l, 1]
        sum_r = 0.0
        sum_ra = 0.0
        for t in range(T):
            r = res[8 * t + RES_PARAM_ENTRIES] / res[8 * t + RES_PARAM_NS]
            sum_r += r
            sum_ra += r * res[8 * t + RES_ROWS_NS]
        finish = (S + sum_ra) / sum_r
        total = 0.0
        for t in range(T):
            r = res[8 * t + RES_PARAM_ENTRIES] / res[8 * t + RES_PARAM_NS]
            target = max(r * (finish - res[8 * t + RES_ROWS_NS]) / S, 0.05)
            share[t] = (1 - BALANCE_GAIN) * share[t] + BALANCE_GAIN * target
            total += share[t]
        for t in range(T):
            share[t] /= total
        if adapt_rows:
            speed = 0.0
            for t in range(T):  # rows per ns of the last step
                speed += (rowcut[t + 1] - rowcut[t]) / res[8 * t + RES_ROWS_NS]
            total = 0.0
            for t in range(T):
                target = max((rowcut[t + 1] - rowcut[t]) / res[8 * t + RES_ROWS_NS] / speed, 0.05)
                share[T + t] = (1 - BALANCE_GAIN) * share[T + t] + BALANCE_GAIN * target
                total += share[T + t]
            for t in range(T):
                share[T + t] /= total
    for l in range(sizes.shape[0]):
        fi, fo = sizes[l, 0], sizes[l, 1]
        bounds[l, 0] = 0
        top = max(((fi - 8) // 8) * 8, 0)  # the last cut leaves 8 rows or none
        acc = 0.0
        for t in range(1, T):
            if fo < 8 or not adapt_params:  # fixed (a W of few columns: BLAS's sums change)
                bounds[l, t] = (fi * t) // T
                continue
            acc += share[t - 1]
            bounds[l, t] = min(max(_cut8(acc * fi, top, fi), bounds[l, t - 1]), fi)
        bounds[l, T] = fi
    rowcut[0] = 0
    acc = 0.0
    for t in range(1, T):
        acc += share[T + t - 1] if adapt_rows else 1.0 / T
        rowcut[t] = min(max(_cut8(acc * n, (n // 8) * 8, n), rowcut[t - 1]), n)
    rowcut[T] = n


# the per-layer arrays of the shared step, as addresses: the columns of ``tab`` (L, 12)
TZ, TD, TU, TDZ, TW, TB, TGW, TGB, TMW, TVW, TMB, TVB = range(12)


@numba.njit(**_JIT)
def _mat(tab, l, k, r, c, like):  # pragma: no cover - compiled
    """The C-contiguous r x c array (``like``'s dtype) at address tab[l, k]."""
    return numba.carray(_pointer_at(tab[l, k], like), (r, c))


@numba.njit(**_JIT)
def _vec(tab, l, k, c, like):  # pragma: no cover - compiled
    """The c entries (``like``'s dtype) at address tab[l, k]."""
    return numba.carray(_pointer_at(tab[l, k], like), c)


@numba.njit(**_JIT)
def worker_step(t, T, blas, ctl, cf, res, labels, targets, rows, xbuf, tab, sizes, acts, alphas,
                drop_p, drop_scale, dropped, bounds, rowcut, lossblk, decW, decb, loss_kind,
                opt_kind):  # pragma: no cover - compiled
    """Worker t's share of one training step on the batch at address ctl[X_ADDR] (n rows).
    Layer l's arrays are at the addresses tab[l] (``TZ``: Z_l, ``TD``: dropout's output,
    ``TU``: its uniforms, ``TDZ``: dZ_l, ``TW``, ``TB``: W_l, b_l, ``TGW``, ``TGB``: their
    gradients, ``TMW``, ``TVW``, ``TMB``, ``TVB``: the optimiser's state), W_l is
    sizes[l, 0] x sizes[l, 1], the batch arrays have xbuf's rows: one int64 array instead of
    twelve typed lists, which cost ~40 us per step to pass from Python.

    0. with ctl[SRC_ADDR] set: rows [lo, hi) = [rowcut[t], rowcut[t + 1]) of the batch gathered
    into xbuf (``main_step``);  1. rows [lo, hi): forward, loss (the sums of its 8-row blocks
    to ``lossblk``) and backward down to every dZ_l, counting each dZ_l done;  2. rows
    [bounds[l, t], bounds[l, t + 1]) of every W_l and a share of every b_l, last layer
    first: dW, db, penalties and the update, each layer once every worker has counted
    dZ_{l-1} done (so dZ_l is complete and no one reads W_l any more); the times of 1. and 2.
    go to ``res`` for ``balance``;  3. wait for every worker.  (``parallel`` module docstring.)"""
    n = ctl[N_ROWS]
    L = sizes.shape[0]
    B = xbuf.shape[0]
    ft = xbuf.dtype.type
    one = ft(1)
    size = xbuf.itemsize
    x_addr = ctl[X_ADDR]
    d = xbuf.shape[1]
    ready = _ready(T)
    start = _now(ctl, t)
    lo, hi = rowcut[t], rowcut[t + 1]
    h = hi - lo
    if ctl[SRC_ADDR] != 0:  # 0. this worker's rows of the batch, gathered: X_b[i] = X[rows[i]]
        src = ctl[SRC_ADDR]
        for i in range(lo, hi):
            row = numba.carray(_pointer_at(src + rows[i] * d * size, xbuf), d)
            for j in range(d):
                xbuf[i, j] = row[j]
    # 1. this worker's rows: forward, loss, and every dZ
    for l in range(L):
        fi, fo = sizes[l, 0], sizes[l, 1]
        if l == 0:
            a = x_addr + lo * d * size
        elif dropped[l - 1]:
            a = tab[l - 1, TD] + lo * fi * size
        else:
            a = tab[l - 1, TZ] + lo * fi * size
        gemm(blas, False, False, h, fo, fi, one, a, fi, tab[l, TW], fo,
             tab[l, TZ] + lo * fo * size, fo)  # Z = A W
        Z = _mat(tab, l, TZ, B, fo, xbuf)[lo:hi]
        bias_act(Z, _vec(tab, l, TB, fo, xbuf), acts[l], alphas[l])  # A = f(Z + b)
        if dropped[l]:
            dropout_forward(Z, _mat(tab, l, TU, B, fo, xbuf)[lo:hi], drop_p[l], drop_scale[l],
                            _mat(tab, l, TD, B, fo, xbuf)[lo:hi])
    k_out = sizes[L - 1, 1]
    Z = _mat(tab, L - 1, TZ, B, k_out, xbuf)
    dZ = _mat(tab, L - 1, TDZ, B, k_out, xbuf)
    total = 0.0
    correct = 0
    for i in range(lo, hi, 8):  # (lo is a multiple of 8: ``balance``)
        j = min(i + 8, hi)
        s, c = loss_rows(loss_kind, Z[i:j], labels[i:j], targets[i:j], dZ[i:j],
                         ft(cf[CF_LOSS_SCALE]))
        lossblk[i // 8] = s
        total += s
        correct += c
    res[8 * t], res[8 * t + 1] = total, correct
    _atomic_add(ctl, ready + 8 * (L - 1), 1)  # my rows of dZ_L (and my loss) are written
    for l in range(L - 1, 0, -1):
        fi, fo = sizes[l, 0], sizes[l, 1]
        gemm(blas, False, True, h, fi, fo, one, tab[l, TDZ] + lo * fo * size, fo,
             tab[l, TW], fo, tab[l - 1, TDZ] + lo * fi * size, fi)  # dZ W^T
        dprev = _mat(tab, l - 1, TDZ, B, fi, xbuf)[lo:hi]
        act_mask(dprev, _mat(tab, l - 1, TZ, B, fi, xbuf)[lo:hi],
                 _mat(tab, l - 1, TU, B, fi, xbuf)[lo:hi], drop_p[l - 1], drop_scale[l - 1],
                 dropped[l - 1], acts[l - 1], alphas[l - 1], dprev)  # in place
        _atomic_add(ctl, ready + 8 * (l - 1), 1)
    free = _now(ctl, t)
    res[8 * t + RES_ROWS_NS] = free - start
    res[8 * t + RES_PARAM_NS] = 0.0
    # a non-finite loss: no update (every worker sees the same sum and skips)
    _wait(ctl, ready + 8 * (L - 1), T)  # every worker's loss is written
    total = 0.0
    for i in range(T):
        total += res[8 * i]
    if math.isfinite(total):
        # 2. rows [r0, r1) of every W_l (``balance``), share of every b_l, last layer first:
        # dW_l[r0:r1] = A^T[r0:r1] dZ_l, db_l, penalties, the update
        ca, cb, cc = ft(cf[CF_A]), ft(cf[CF_B]), ft(cf[CF_C])
        cd, ce, below = ft(cf[CF_D]), ft(cf[CF_E]), ft(cf[CF_BELOW])
        wd, l1 = ft(cf[CF_WD]), ft(cf[CF_L1])
        busy = 0
        entries = 0
        for l in range(L - 1, -1, -1):
            # every row of dZ_l written, and W_l no longer read (backward: dZ_l W_l^T)
            c = _now(ctl, t)
            _wait(ctl, ready + 8 * max(l - 1, 0), T)
            c = _now(ctl, t) - c
            busy -= c
            fi, fo = sizes[l, 0], sizes[l, 1]
            r0, r1 = bounds[l, t], bounds[l, t + 1]
            entries += (r1 - r0) * fo
            if l == 0:
                a = x_addr
            elif dropped[l - 1]:
                a = tab[l - 1, TD]
            else:
                a = tab[l - 1, TZ]
            if r1 > r0:
                gemm(blas, True, False, r1 - r0, fo, n, one, a + r0 * size, fi,
                     tab[l, TDZ], fo, tab[l, TGW] + r0 * fo * size, fo)  # A^T dZ
            e0, e1 = r0 * fo, r1 * fo
            W = _vec(tab, l, TW, fi * fo, xbuf)[e0:e1]
            gW = _vec(tab, l, TGW, fi * fo, xbuf)[e0:e1]
            if wd != 0 or l1 != 0:
                penalise(W, gW, wd, l1)
            c0, c1 = _part(fo, t, T)
            db = _vec(tab, l, TGB, fo, xbuf)[c0:c1]
            column_sums_part(_mat(tab, l, TDZ, B, fo, xbuf), n, c0, c1, db)  # db = sum_n dZ
            b = _vec(tab, l, TB, fo, xbuf)[c0:c1]
            mW = _vec(tab, l, TMW, fi * fo, xbuf)[e0:e1]
            mb = _vec(tab, l, TMB, fo, xbuf)[c0:c1]
            if opt_kind == OPT_ADAM:
                adam(W, gW, mW, _vec(tab, l, TVW, fi * fo, xbuf)[e0:e1], decW[l],
                     ca, cb, cc, cd, ce, below)
                adam(b, db, mb, _vec(tab, l, TVB, fo, xbuf)[c0:c1], decb[l],
                     ca, cb, cc, cd, ce, below)
            else:
                sgd(W, gW, mW, ca, cb, cc != 0, below)
                sgd(b, db, mb, ca, cb, cc != 0, below)
        busy += _now(ctl, t) - free
        res[8 * t + RES_PARAM_NS] = busy
        res[8 * t + RES_PARAM_ENTRIES] = entries
    _barrier(ctl, t, T)


@numba.njit(**_JIT)
def main_step(x_addr, n, y_labels, y_targets, scalars, src_addr, src_rows, index, share,
              adapt, T, blas, ctl, cf, res, labels, targets, rows, xbuf, tab, sizes, acts,
              alphas, drop_p, drop_scale, dropped, bounds, rowcut, lossblk, decW, decb,
              loss_kind, opt_kind):  # pragma: no cover - compiled
    """The main thread's one call per batch: copy the batch's targets, write the step's
    scalars (``CF_*``), post the step to the helpers, run worker 0's share; returns (loss
    sum, number right); first the split of the parameters between the workers (``balance``).
    One compiled call, because after a step has streamed the parameters
    through the caches every small NumPy call from Python costs tens of microseconds.

    The batch is the n rows at ``x_addr`` or, when ``src_addr`` is not 0, the rows ``index``
    of the C-contiguous (``src_rows``, D) array at ``src_addr``, which the workers gather into
    ``xbuf`` (each its own rows)."""
    if src_addr != 0:
        for i in range(n):
            r = index[i]
            if r < 0 or r >= src_rows:
                raise IndexError("a row index of the batch lies outside X")
            rows[i] = r
        ctl[SRC_ADDR] = src_addr
        x_addr = xbuf.ctypes.data
    else:
        ctl[SRC_ADDR] = 0
    if loss_kind == CE_LABELS:
        for i in range(n):
            labels[i] = y_labels[i]
    else:
        for i in range(n):
            for j in range(targets.shape[1]):
                targets[i, j] = y_targets[i, j]
    for i in range(len(scalars)):
        cf[i] = scalars[i]
    ready = _ready(T)
    for l in range(sizes.shape[0]):  # every worker passed the last step's final wait: none reads
        ctl[ready + 8 * l] = 0
    full = n == xbuf.shape[0]  # (the checks of ``split_invariant`` were of a full batch)
    balance(res, share, bounds, rowcut, sizes, n, adapt[0] != 0 and full,
            adapt[1] != 0 and full, T)
    ctl[X_ADDR] = x_addr
    ctl[N_ROWS] = n
    post(ctl)
    worker_step(0, T, blas, ctl, cf, res, labels, targets, rows, xbuf, tab, sizes, acts, alphas,
                drop_p, drop_scale, dropped, bounds, rowcut, lossblk, decW, decb, loss_kind,
                opt_kind)
    total = 0.0  # in the order of the rows, whoever computed them
    for i in range((n + 7) // 8):
        total += lossblk[i]
    correct = 0
    for i in range(T):
        correct += int(res[8 * i + 1])
    return total, correct


@numba.njit(**_JIT)
def helper(t, T, seen, blas, ctl, cf, res, labels, targets, rows, xbuf, tab, sizes, acts,
           alphas, drop_p, drop_scale, dropped, bounds, rowcut, lossblk, decW, decb, loss_kind,
           opt_kind):  # pragma: no cover - compiled
    """A helper thread: say it runs, then run worker t's share of every posted step until
    told to stop."""
    _atomic_add(ctl, READY, 1)
    while True:
        _wait(ctl, POSTED, seen + 1)
        seen += 1
        if ctl[STOP]:
            return
        worker_step(t, T, blas, ctl, cf, res, labels, targets, rows, xbuf, tab, sizes, acts,
                    alphas, drop_p, drop_scale, dropped, bounds, rowcut, lossblk, decW, decb,
                    loss_kind, opt_kind)


@numba.njit(**_JIT)
def post(ctl):  # pragma: no cover - compiled
    """Tell the helpers a step (or the stop) is posted."""
    _atomic_add(ctl, POSTED, 1)


def flat(a: np.ndarray) -> np.ndarray:
    """A flat view of a contiguous array (what the update kernels take)."""
    return a.reshape(-1)
