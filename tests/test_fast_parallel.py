"""The step shared between cores (``ffnn.fast.parallel``): its BLAS binding, its workers, and
the same results on any number of workers.  (Its equality with the reference step, layer by
layer and optimiser by optimiser, is in test_fast_steps.py.)"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ffnn

pytest.importorskip("numba")
pytest.importorskip("threadpoolctl")
from ffnn import fast  # noqa: E402
from ffnn.fast import ParallelStep, fused, parallel  # noqa: E402
from ffnn.fast import kernels as K  # noqa: E402

if fast.find_blas() is None:  # pragma: no cover - NumPy's BLAS without a CBLAS gemm we know
    pytest.skip("no CBLAS gemm found in NumPy's BLAS: the parallel step is not used here",
                allow_module_level=True)


def _data(n=64, d=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = np.argmax(X[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return X, y


def _step(net, workers=2, opt=None, batch=16):
    ops = fused.plan(list(net.layers))
    loss = ffnn.get_loss("ce")
    return ParallelStep(net, ops, loss, K.CE_LABELS, opt or ffnn.Adam(1e-2), workers, batch,
                        fast.find_blas()[0])


def _workers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ffnn-worker")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True)])
def test_gemm_binding(dtype, ta, tb):
    rng = np.random.default_rng(0)
    blas = fast.find_blas()[0][np.dtype(dtype)]
    m, n, k = 7, 5, 9
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = np.full((m, n), np.nan, dtype)
    K.gemm(blas, ta, tb, m, n, k, dtype(1), A.ctypes.data, A.shape[1], B.ctypes.data,
           B.shape[1], C.ctypes.data, n)
    expect = (A.T if ta else A) @ (B.T if tb else B)
    np.testing.assert_allclose(C, expect, rtol=1e-5 if dtype == np.float32 else 1e-12)


def _train(workers, epochs=2, build=None):
    X, y = _data()
    net = (build or (lambda: ffnn.mlp([12, 32, 16, 3], seed=1, dropout=0.1)))()
    step = _step(net, workers)
    losses = []
    for epoch in range(epochs):
        for i, layer in enumerate(net.layers):  # as fit seeds them each epoch
            if isinstance(layer, ffnn.Dropout):
                layer.rng = np.random.default_rng([5, epoch, i])
        with step.running():
            for b in range(0, 64, 16):
                losses.append(step(X[b:b + 16], y[b:b + 16]).loss)
    return net, losses


def test_two_and_three_workers_give_the_one_worker_numbers():
    one_net, one = _train(1)
    for workers in (2, 3):
        net, losses = _train(workers)
        np.testing.assert_allclose(losses, one, rtol=1e-5)
        for k, w in one_net.parameters().items():
            np.testing.assert_allclose(net.parameters()[k], w, rtol=1e-4, atol=1e-6,
                                       err_msg=k)
    assert _workers_alive() == []


def test_a_step_outside_an_epoch_starts_and_stops_its_workers():
    X, y = _data()
    step = _step(ffnn.mlp([12, 16, 3], seed=0))
    r = step(X[:16], y[:16])
    assert np.isfinite(r.loss) and r.out.shape == (16, 3)
    assert _workers_alive() == []
    with pytest.raises(ValueError, match="at most 16 rows"):
        step(X[:17], y[:17])


def test_an_error_inside_an_epoch_stops_the_workers():
    X, y = _data()
    step = _step(ffnn.mlp([12, 16, 3], seed=0))
    with pytest.raises(RuntimeError, match="boom"), step.running():
        step(X[:16], y[:16])
        assert _workers_alive() == ["ffnn-worker-1"]
        raise RuntimeError("boom")
    assert _workers_alive() == []


def test_a_helper_that_fails_to_start_raises_instead_of_hanging(monkeypatch):
    def broken(*args):
        raise TypeError("could not compile")

    monkeypatch.setattr(K, "helper", broken)
    step = _step(ffnn.mlp([12, 16, 3], seed=0))
    with pytest.raises(RuntimeError, match="failed to start") as err, step.running():
        pass  # pragma: no cover - never reached
    assert isinstance(err.value.__cause__, TypeError)
    assert _workers_alive() == []


def test_one_compiled_step_serves_every_depth():
    """The workers take typed lists of arrays: a deeper network does not compile again
    (a compile of the shared step takes ~10 s)."""
    _train(2, epochs=1, build=lambda: ffnn.mlp([12, 16, 3], seed=1))
    compiled = len(K.worker_step.signatures)
    for sizes in ([12, 16, 16, 16, 3], [12, 3]):
        _train(2, epochs=1, build=lambda s=sizes: ffnn.mlp(s, "sigmoid", seed=1))
    assert len(K.worker_step.signatures) == compiled


def test_default_threads_follow_ffnn_num_threads(monkeypatch):
    monkeypatch.setenv("FFNN_NUM_THREADS", "3")
    assert parallel.default_threads() == 3
    monkeypatch.delenv("FFNN_NUM_THREADS")
    assert 1 <= parallel.default_threads() <= 4
