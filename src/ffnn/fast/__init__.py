"""The fast path: compiled (numba) implementations of the training step of ``ffnn.steps``.

Steps, fastest first:

* ``ParallelStep`` (``parallel``): the fused step with its work shared between cores, for
  networks of Dense layers with ReLU, Sigmoid, Tanh or LeakyReLU and Dropout, a last Dense
  layer with softmax-CE (integer labels), sigmoid-BCE or MSE, and SGD (any momentum), Adam or
  AdamW without clipping; taken on >= 2 usable cores when BLAS may use >= 2 threads and the
  batch is big enough (batch x parameters >= ``SMALL_WORK``).
* ``FusedStep`` (``fused``): one thread between the products; any network (layers it does
  not fuse run through their own forward / backward), any loss, any optimiser (SGD, Adam and
  AdamW compiled, the others through their ``step``).

``fastest_step(net, loss, optimizer, batch=..., n_samples=..., target_ndim=...)`` returns the
fastest step that supports the case and, for each faster step not taken, a short reason.
Both equal ``ffnn.steps.ReferenceStep`` up to float rounding (the updates bit for bit); the
tests compare them layer by layer, loss by loss and optimiser by optimiser.

This package imports numba; ``ffnn.steps.choose_step`` imports it only when a fast step may
run, so ``import ffnn`` needs only NumPy.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable

from ..losses import Loss
from ..network import Sequential
from ..optimizers import Optimizer
from ..step_api import SMALL_WORK
from . import kernels
from .fused import CompiledUpdate, DenseOp, FusedStep, loss_kind, plan
from .parallel import ParallelStep, blas_threads, default_threads, find_blas, usable_cores

COMPILE_MESSAGE = "compiling ffnn's kernels once (cached for later runs)"


def parallel_reasons(net: Sequential, loss: Loss, optimizer: Optimizer, *, batch: int,
                     target_ndim: int) -> tuple[list[str], dict]:
    """Why the step shared between cores cannot run here (empty: it can), and what it needs
    when it can (``ops``, ``loss_kind``, ``workers``, ``blas``)."""
    why: list[str] = []
    ops = plan(list(net.layers))
    others = sorted({type(op.layer).__name__ for op in ops if not isinstance(op, DenseOp)})
    if others:
        why.append(f"parallel: {', '.join(others)} layers are not shared (Dense with ReLU, "
                   "Sigmoid, Tanh, LeakyReLU and Dropout are)")
    kind = loss_kind(loss, ops[-1], target_ndim) if ops else None
    if kind in (None, 0):
        why.append(f"parallel: {type(loss).__name__} with targets of ndim {target_ndim} on "
                   "this output is not shared (softmax-CE with integer labels, BCE and MSE "
                   "on a last Dense layer are)")
    if not CompiledUpdate.supports(optimizer):
        why.append(f"parallel: {type(optimizer).__name__} is not shared (SGD, Adam and "
                   "AdamW are)")
    elif optimizer.clip_norm is not None:
        why.append("parallel: clip_norm is set (the global norm needs every gradient first)")
    params, grads = net.parameters(), net.gradients()
    if not CompiledUpdate.usable(params, grads):
        why.append("parallel: the parameters are not contiguous arrays of one float dtype")
    work = batch * net.n_params()
    if work < SMALL_WORK:
        why.append(f"parallel: the network is too small to share (B x params = {work:,} < "
                   f"{SMALL_WORK // 1_000_000}M)")
    wanted = optimizer.threads if optimizer.threads is not None else default_threads()
    cores = min(wanted, usable_cores())
    if cores < 2:
        why.append(f"parallel: one core to run on (usable cores {usable_cores()}, "
                   f"threads {wanted})")
    if why:
        return why, {}
    found = find_blas()
    if found is None:  # pragma: no cover - NumPy's BLAS without a CBLAS gemm we know
        return ["parallel: NumPy's BLAS has no CBLAS gemm ffnn can call"], {}
    blas, library = found
    workers = min(cores, blas_threads(library))
    if workers < 2:
        return ["parallel: BLAS is limited to 1 thread (threadpoolctl, OPENBLAS_NUM_THREADS or "
                "joblib)"], {}
    return [], {"ops": ops, "loss_kind": kind, "workers": workers, "blas": blas}


def cache_is_cold() -> bool:
    """True when numba's on-disk cache holds no compiled kernels newer than ``kernels.py``
    (the next calls compile, for several seconds)."""
    import numba

    source = kernels.__file__
    stamp = os.path.getmtime(source)
    dirs = [os.path.join(os.path.dirname(source), "__pycache__")]
    if numba.config.CACHE_DIR:
        dirs.append(numba.config.CACHE_DIR)
    for d in dirs:
        for index in glob.glob(os.path.join(d, "**", "kernels.*.nbi"), recursive=True):
            if os.path.getmtime(index) >= stamp:
                return False
    return True


def fastest_step(net: Sequential, loss: Loss, optimizer: Optimizer, *, batch: int,
                 n_samples: int, target_ndim: int,
                 announce: Callable[[str], None] | None = None
                 ) -> tuple[ParallelStep | FusedStep | None, list[str]]:
    """The fastest step for this network, loss, optimiser and batches, and a reason for each
    faster step not taken.  ``batch`` is the batch size (``n_samples`` for full batch);
    ``target_ndim`` the ndim of the prepared targets (1: integer labels).  ``announce(text)``
    is told before a first-time compile.  None: no fast step applies (reasons say why)."""
    if not net.layers or not net.parameters():
        return None, ["fused: the network has no parameters"]
    batch = max(1, min(int(batch), int(n_samples)))
    if announce is not None and cache_is_cold():
        announce(COMPILE_MESSAGE)
    reasons, need = parallel_reasons(net, loss, optimizer, batch=batch, target_ndim=target_ndim)
    if not reasons:
        return ParallelStep(net, need["ops"], loss, need["loss_kind"], optimizer,
                            need["workers"], batch, need["blas"]), []
    return FusedStep(net, loss, optimizer, batch), reasons


__all__ = ["COMPILE_MESSAGE", "SMALL_WORK", "CompiledUpdate", "FusedStep", "ParallelStep",
           "cache_is_cold", "fastest_step", "find_blas", "parallel_reasons"]
