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


def test_rows_gathered_by_the_workers_equal_the_batch_gathered_before():
    """step(Rows(X, index), y[index]) (each worker copies its own rows) trains exactly as
    step(X[index], y[index]); the last batch of an epoch may be short."""
    from ffnn.step_api import Rows

    X, y = _data(n=70)
    order = np.random.default_rng(4).permutation(70)
    results = {}
    for gather in (False, True):
        net = ffnn.mlp([12, 32, 16, 3], seed=1, dropout=0.1)
        for i, layer in enumerate(net.layers):
            if isinstance(layer, ffnn.Dropout):
                layer.rng = np.random.default_rng([5, 0, i])
        step = _step(net, 2)
        losses = []
        with step.running():
            for b in range(0, 70, 16):
                idx = order[b:b + 16]
                Xb = Rows(X, idx) if gather else X[idx]
                losses.append(step(Xb, y[idx]).loss)
        results[gather] = (losses, net.parameters())
    assert results[True][0] == results[False][0]
    for k, w in results[False][1].items():
        np.testing.assert_array_equal(results[True][1][k], w, err_msg=k)


def test_a_row_index_outside_X_is_an_error_and_changes_nothing():
    from ffnn.step_api import Rows

    X, y = _data()
    net = ffnn.mlp([12, 32, 16, 3], seed=1)
    before = {k: v.copy() for k, v in net.parameters().items()}
    step = _step(net, 2)
    idx = np.array([0, 1, 2, 64], dtype=np.int64)  # X has 64 rows
    with pytest.raises(IndexError, match="outside X"):
        step(Rows(X, idx), y[:4])
    for k, w in before.items():
        np.testing.assert_array_equal(net.parameters()[k], w, err_msg=k)
    assert not _workers_alive()


def test_fit_hands_the_parallel_step_rows_and_the_others_arrays():
    from ffnn.step_api import Rows
    from ffnn.steps import batches

    X, y = _data()
    order = np.arange(64)[::-1].copy()
    for b, (Xb, yb) in enumerate(batches(X, y, 16, order, rows=True)):  # (buffers reused)
        assert isinstance(Xb, Rows)
        np.testing.assert_array_equal(np.asarray(Xb), X[order[16 * b:16 * b + 16]])
        np.testing.assert_array_equal(yb, y[order[16 * b:16 * b + 16]])
    assert not any(isinstance(Xb, Rows) for Xb, _ in batches(X, y, 16, order))
    # not C-contiguous: gathered here, as for any step
    assert not any(isinstance(Xb, Rows) for Xb, _ in batches(np.asfortranarray(X), y, 16,
                                                              order, rows=True))
    assert ParallelStep.gathers and not fast.FusedStep.gathers
