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
    """The workers take a table of the arrays' addresses: a deeper network does not compile again
    (a compile of the shared step takes ~10 s)."""
    _train(2, epochs=1, build=lambda: ffnn.mlp([12, 16, 3], seed=1))
    compiled = len(K.worker_step.signatures)
    for sizes in ([12, 16, 16, 16, 3], [12, 3]):
        _train(2, epochs=1, build=lambda s=sizes: ffnn.mlp(s, "sigmoid", seed=1))
    assert len(K.worker_step.signatures) == compiled


def _res(rows_ns, param_ns, entries):
    res = np.zeros(8 * len(rows_ns))
    for t, (a, b, e) in enumerate(zip(rows_ns, param_ns, entries, strict=True)):
        res[8 * t + K.RES_ROWS_NS], res[8 * t + K.RES_PARAM_NS] = a, b
        res[8 * t + K.RES_PARAM_ENTRIES] = e
    return res


def test_balance_gives_the_slower_worker_fewer_rows_on_multiples_of_8():
    sizes = np.array([[784, 512], [20, 10], [12, 3]], np.int64)
    S = float(np.prod(sizes, axis=1).sum())
    share, bounds, rowcut = np.full(4, 0.5), np.zeros((3, 3), np.int64), np.zeros(3, np.int64)
    # worker 1 updates entries twice as fast; both were free at the same time
    res = _res([1e6, 1e6], [S / 2, S / 4], [S / 2, S / 2])
    shares = []
    for _ in range(30):
        K.balance(res, share, bounds, rowcut, sizes, 128, False, True, 2)
        shares.append(share[0])
    assert shares[0] < 0.5 and abs(shares[-1] - 1 / 3) < 1e-3  # moves part of the way, then settles
    assert bounds.tolist() == [[0, 264, 784],  # 784 / 3 = 261.3 -> 264
                               [0, 8, 20],  # 6.7 -> 8 (12 rows left: >= 8)
                               [0, 6, 12]]  # 3 columns: the fixed split
    assert rowcut.tolist() == [0, 64, 128]  # rows fixed (adapt_rows is False)
    # the same speeds but worker 0 free 1 ms later: it gets less
    later = share.copy()
    K.balance(_res([2e6, 1e6], [S / 3, S / 3], [S / 3, 2 * S / 3]), later, bounds, rowcut,
              sizes, 128, False, True, 2)
    assert later[0] < share[0]
    # no timings (a skipped step, or no clock): the shares stay
    kept = share.copy()
    K.balance(np.zeros(16), kept, bounds, rowcut, sizes, 128, True, True, 2)
    assert np.array_equal(kept, share)
    # a cut never leaves a worker fewer than 8 rows of W (BLAS sums 1 row differently)
    for first in np.linspace(0, 1, 41):
        K.balance(np.zeros(16), np.array([first, 1 - first, 0.5, 0.5]), bounds, rowcut, sizes,
                  128, False, True, 2)
        parts = np.diff(bounds[:2], axis=1)
        cut = bounds[:2, 1]
        assert ((parts == 0) | (parts >= 8)).all()
        assert ((cut % 8 == 0) | (cut == sizes[:2, 0])).all()


def test_balance_follows_the_speed_at_the_rows_only_when_allowed():
    sizes = np.array([[784, 512], [512, 10]], np.int64)
    rowcut = np.array([0, 64, 128], np.int64)
    bounds = np.zeros((2, 3), np.int64)
    # worker 0 took 2 ms for its 64 rows, worker 1 1 ms: worker 1 is twice as fast
    res = _res([2e6, 1e6], [1e6, 1e6], [1e5, 1e5])
    share = np.full(4, 0.5)
    for _ in range(20):
        rows = np.diff(rowcut)
        res[K.RES_ROWS_NS], res[8 + K.RES_ROWS_NS] = rows[0] * 2e6 / 64, rows[1] * 1e6 / 64
        K.balance(res, share, bounds, rowcut, sizes, 128, True, True, 2)
    assert abs(share[2] - 1 / 3) < 1e-2 and rowcut.tolist() == [0, 40, 128]  # 42.7 -> 40
    fixed = rowcut.copy()
    K.balance(res, share, bounds, fixed, sizes, 100, False, False, 2)  # short batch: fixed
    assert bounds[:, 1].tolist() == [392, 256]  # W's rows: fixed too
    assert fixed.tolist() == [0, 48, 100]  # at a multiple of 8 (the loss's 8-row blocks)


def _split_runs(sizes, loss_name, Y_of, firsts, d):
    """Train ``sizes`` three times, each with the workers' shares pushed elsewhere before every
    step; (net, losses, cuts) per run."""
    X, y = _data(n=256, d=d)
    Y = Y_of(y)
    loss = ffnn.get_loss(loss_name)
    runs = []
    for first in firsts:
        net = ffnn.mlp(sizes, seed=2)
        ops = fused.plan(list(net.layers))
        kind = fused.loss_kind(loss, ops[-1], Y.ndim)
        step = ParallelStep(net, ops, loss, kind, ffnn.Adam(1e-2), 2, 128, fast.find_blas()[0])
        cuts, losses = [], []
        with step.running():
            for _ in range(3):
                for b in range(0, 256, 128):
                    step.share[:] = first, 1 - first, first, 1 - first  # (balance() moves them)
                    losses.append(step(X[b:b + 128], Y[b:b + 128]).loss)
                    cuts.append((step.bounds[:, 1].tolist(), step.rowcut.tolist()))
        runs.append((net, losses, cuts, step.adapt.tolist()))
    return runs


def _same_numbers(runs):
    assert runs[1][2] != runs[2][2]  # the splits did differ
    for net, losses, _, _ in runs[1:]:
        assert losses == runs[0][1]
        for k, w in runs[0][0].parameters().items():
            np.testing.assert_array_equal(net.parameters()[k], w, err_msg=k)


def test_the_split_of_the_parameters_changes_no_number():
    """Whichever rows of W each worker updates (the split follows timings), every parameter
    and every loss comes out the same, bit for bit (cuts on multiples of 8 rows, 8 rows or
    none each; the one-column output layer, where BLAS's sums do depend on the rows, keeps a
    fixed split)."""
    runs = _split_runs([40, 64, 100, 1], "bce", lambda y: (y == 1).astype(np.float32)[:, None],
                       (0.5, 0.1, 0.9), 40)
    assert not runs[0][3][0]  # this network's rows stay fixed (split_invariant: no)
    assert all(c[1] == [0, 64, 128] for c in runs[1][2])
    if not runs[0][3][1]:
        pytest.skip("this BLAS sums dW's rows differently when W is cut")
    _same_numbers(runs)


def test_the_split_of_the_batch_changes_no_number_where_the_blas_allows_it():
    """A network whose row products ``split_invariant`` passes: the batch's rows follow the
    workers' speeds too, and still every number is the same bit for bit (the loss is summed
    over 8-row blocks in order, whoever computed them)."""
    runs = _split_runs([128, 128, 10], "ce", lambda y: y, (0.5, 0.2, 0.8), 128)
    if runs[0][3] != [1, 1]:
        pytest.skip("this BLAS sums a product's rows differently when the batch is cut")
    assert {c[1][1] for c in runs[1][2]} != {c[1][1] for c in runs[2][2]}
    _same_numbers(runs)


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
