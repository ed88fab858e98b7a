"""The fused step shared between cores (``ffnn._parallel``) against the one-thread fused step."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest

import ffnn
from ffnn import _fastpath, training

pytest.importorskip("numba")
pytest.importorskip("threadpoolctl")
from ffnn import _fused as K  # noqa: E402
from ffnn import _parallel as P  # noqa: E402

if _fastpath._blas() is None:  # pragma: no cover - NumPy's BLAS without a CBLAS gemm we know
    pytest.skip("no CBLAS gemm found in NumPy's BLAS: the parallel step is not used here",
                allow_module_level=True)


REAL_BLAS_THREADS = _fastpath._blas_threads


def _data(n=203, d=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = np.argmax(X[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return X, y


@pytest.fixture
def count_steps(monkeypatch):
    """Share every network (not only big ones) and count the shared steps taken."""
    monkeypatch.setattr(training, "SMALL_WORK", 0)
    monkeypatch.setattr(_fastpath, "_usable_cores", lambda: 4)  # as on a 4-core machine
    monkeypatch.setattr(_fastpath, "_blas_threads", lambda library: 4)
    monkeypatch.delenv("FFNN_NUM_THREADS", raising=False)
    calls = {"steps": 0, "workers": set()}
    real = P.ParallelStep.step

    def step(self, b):
        calls["steps"] += 1
        calls["workers"].add(self.T)
        return real(self, b)

    monkeypatch.setattr(P.ParallelStep, "step", step)
    return calls


def _fit(build, X, y, loss, opt, *, threads, monkeypatch, epochs=3, batch_size=16, **kw):
    monkeypatch.setenv("FFNN_NUM_THREADS", str(threads))
    net = build()
    h = ffnn.fit(net, X, y, loss, opt, epochs=epochs, batch_size=batch_size, seed=5,
                 verbose=0, **kw)
    return net, h


def _assert_close(a, b, rtol=1e-4, atol=1e-6):
    (net_a, h_a), (net_b, h_b) = a, b
    for k, w in net_a.parameters().items():
        np.testing.assert_allclose(w, net_b.parameters()[k], rtol=rtol, atol=atol, err_msg=k)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_a[key], h_b[key], rtol=1e-5, atol=1e-6, err_msg=key)


CASES = {
    "ce, 3 layers": (lambda: ffnn.mlp([12, 32, 16, 3], activation="relu", seed=1), "ce",
                     lambda: ffnn.Adam(1e-2, fused=True)),
    "ce, float64": (lambda: ffnn.mlp([12, 24, 3], activation="relu", seed=1).astype(np.float64),
                    "ce", lambda: ffnn.Adam(1e-2, fused=True)),
    "ce, logistic (one layer)": (lambda: ffnn.mlp([12, 3], seed=1), "ce",
                                 lambda: ffnn.Adam(1e-2, fused=True)),
    "bce, multi-label": (lambda: ffnn.mlp([12, 16, 2], activation="relu", seed=1), "bce",
                         lambda: ffnn.Adam(1e-2, fused=True)),
    "adamw": (lambda: ffnn.mlp([12, 32, 3], activation="relu", seed=1), "ce",
              lambda: ffnn.AdamW(1e-2, weight_decay=0.1, fused=True)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batch_size", [16, 15])
def test_shared_step_trains_like_the_one_thread_step(case, batch_size, count_steps,
                                                       monkeypatch):
    build, loss, opt = CASES[case]
    X, y = _data()
    if loss == "bce":
        y = np.stack([y == 0, y == 2], axis=1).astype(np.float32)
    one = _fit(build, X, y, loss, opt(), threads=1, monkeypatch=monkeypatch,
               batch_size=batch_size)
    assert count_steps["steps"] == 0  # one thread: the one-thread fused step
    two = _fit(build, X, y, loss, opt(), threads=2, monkeypatch=monkeypatch,
               batch_size=batch_size)
    steps = 3 * -(-len(X) // batch_size)  # the last batch of each epoch is partial
    assert count_steps == {"steps": steps, "workers": {2}}
    _assert_close(one, two)
    assert two[1]["accuracy"][-1] > 0.6  # and it learned


def test_three_workers(count_steps, monkeypatch):
    build, loss, opt = CASES["ce, 3 layers"]
    X, y = _data(n=90)
    one = _fit(build, X, y, loss, opt(), threads=1, monkeypatch=monkeypatch, epochs=2)
    three = _fit(build, X, y, loss, opt(), threads=3, monkeypatch=monkeypatch, epochs=2)
    assert count_steps["workers"] == {3}
    _assert_close(one, three)


def test_optimiser_state_continues_on_either_path(count_steps, monkeypatch):
    """Adam's moments and step count are the optimiser's: one epoch shared, then one on one
    thread, gives what two one-thread epochs give."""
    build, loss, opt = CASES["ce, 3 layers"]
    X, y = _data()
    ref_net, ref_opt = build(), opt()
    monkeypatch.setenv("FFNN_NUM_THREADS", "1")
    h = ffnn.fit(ref_net, X, y, loss, ref_opt, epochs=1, batch_size=16, seed=5, verbose=0)
    ffnn.fit(ref_net, X, y, loss, ref_opt, epochs=1, batch_size=16, seed=5, verbose=0,
             history=h)
    net, o = build(), opt()
    monkeypatch.setenv("FFNN_NUM_THREADS", "2")
    h2 = ffnn.fit(net, X, y, loss, o, epochs=1, batch_size=16, seed=5, verbose=0)
    monkeypatch.setenv("FFNN_NUM_THREADS", "1")
    ffnn.fit(net, X, y, loss, o, epochs=1, batch_size=16, seed=5, verbose=0, history=h2)
    assert o.iterations == ref_opt.iterations == 2 * 13
    for k, w in ref_net.parameters().items():
        np.testing.assert_allclose(net.parameters()[k], w, rtol=1e-4, atol=1e-6, err_msg=k)
        for slot in ("m", "v"):
            np.testing.assert_allclose(o.state[k][slot], ref_opt.state[k][slot], rtol=1e-3,
                                       atol=1e-9, err_msg=f"{k}/{slot}")


@pytest.mark.parametrize("why", ["sgd", "clip_norm", "l2", "dropout", "tanh", "mse",
                                 "one-hot targets", "one core", "BLAS limited to 1 thread"])
def test_other_cases_take_the_one_thread_step(why, count_steps, monkeypatch):
    build = CASES["ce, 3 layers"][0]
    X, y = _data(n=64)
    loss, opt = "ce", ffnn.Adam(1e-2, fused=True)
    if why == "sgd":
        opt = ffnn.SGD(0.1)
    elif why == "clip_norm":
        opt = ffnn.Adam(1e-2, clip_norm=1.0, fused=True)
    elif why == "l2":
        opt = ffnn.Adam(1e-2, weight_decay=1e-3, fused=True)
    elif why == "dropout":
        def build():
            return ffnn.Sequential(ffnn.Dense(12, 16, rng=1), ffnn.ReLU(), ffnn.Dropout(0.2),
                                   ffnn.Dense(16, 3, rng=2))
    elif why == "tanh":
        def build():
            return ffnn.mlp([12, 16, 3], activation="tanh", seed=1)
    elif why == "mse":
        loss, y = "mse", X[:, :1] * 2.0
        def build():
            return ffnn.mlp([12, 16, 1], activation="relu", seed=1)
    elif why == "one-hot targets":
        y = np.eye(3, dtype=np.float32)[y]
    with contextlib.ExitStack() as stack:
        if why == "BLAS limited to 1 thread":  # e.g. in joblib's workers: use one core
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
            monkeypatch.setattr(_fastpath, "_blas_threads", REAL_BLAS_THREADS)
        net, h = _fit(build, X, y, loss, opt, threads=1 if why == "one core" else 2,
                      monkeypatch=monkeypatch, epochs=1, fused=True)
    assert count_steps["steps"] == 0
    assert np.isfinite(h["loss"][-1])


def _workers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ffnn-worker")]


# the huge inputs are the point here: their scale warning is expected
@pytest.mark.filterwarnings("ignore::ffnn.DataScaleWarning")
def test_divergence_stops_cleanly(count_steps, monkeypatch):
    X, y = _data()
    X[5] = 3e38  # overflows to inf - inf = NaN in the first epoch
    net = CASES["ce, 3 layers"][0]()
    with pytest.raises(ffnn.TrainingDiverged):
        _fit(lambda: net, X, y, "ce", ffnn.Adam(1e-2, fused=True), threads=2,
             monkeypatch=monkeypatch)
    assert count_steps["steps"] > 0
    assert all(np.isfinite(p).all() for p in net.parameters().values())
    assert _workers_alive() == []


def test_an_error_in_a_callback_stops_the_workers(count_steps, monkeypatch):
    class Boom(ffnn.Callback):
        def on_batch_end(self, batch, logs):
            if batch == 3:
                raise RuntimeError("boom")

    X, y = _data()
    with pytest.raises(RuntimeError, match="boom"):
        _fit(CASES["ce, 3 layers"][0], X, y, "ce", ffnn.Adam(1e-2, fused=True), threads=2,
             monkeypatch=monkeypatch, callbacks=[Boom()])
    assert count_steps["steps"] == 4
    assert _workers_alive() == []


def test_observers_get_the_reference_step(count_steps, monkeypatch):
    X, y = _data(n=64)
    net = CASES["ce, 3 layers"][0]()
    monkeypatch.setenv("FFNN_NUM_THREADS", "2")
    with ffnn.trace(net) as t:
        ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-2, fused=True), epochs=1, batch_size=16,
                 seed=5, verbose=0)
    assert count_steps["steps"] == 0
    assert len(t.steps) > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True)])
def test_gemm_binding(dtype, ta, tb):
    rng = np.random.default_rng(0)
    blas = _fastpath._blas()[0][np.dtype(dtype)]
    m, n, k = 7, 5, 9
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = np.full((m, n), np.nan, dtype)
    K._gemm(blas, ta, tb, m, n, k, dtype(1), A.ctypes.data, A.shape[1], B.ctypes.data,
            B.shape[1], C.ctypes.data, n)
    expect = (A.T if ta else A) @ (B.T if tb else B)
    np.testing.assert_allclose(C, expect, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_helper_that_fails_to_start_raises_instead_of_hanging(count_steps, monkeypatch):
    def broken(*args):
        raise TypeError("could not compile")

    monkeypatch.setattr(K, "_helper", broken)
    X, y = _data(n=64)
    with pytest.raises(RuntimeError, match="failed to start") as err:
        _fit(CASES["ce, 3 layers"][0], X, y, "ce", ffnn.Adam(1e-2, fused=True), threads=2,
             monkeypatch=monkeypatch)
    assert isinstance(err.value.__cause__, TypeError)
    assert count_steps["steps"] == 0
    assert _workers_alive() == []


def test_one_compiled_step_serves_every_depth(count_steps, monkeypatch):
    """The workers take typed lists of arrays: a deeper network does not compile again
    (a compile of the shared step takes ~10 s)."""
    X, y = _data(n=64)
    sizes = [12, 16, 3]
    _fit(lambda: ffnn.mlp(sizes, activation="relu", seed=1), X, y, "ce",
         ffnn.Adam(1e-2, fused=True), threads=2, monkeypatch=monkeypatch, epochs=1)
    compiled = len(K._step.signatures)
    for deeper in ([12, 16, 16, 16, 3], [12, 3]):
        _fit(lambda s=deeper: ffnn.mlp(s, activation="relu", seed=1), X, y, "ce",
             ffnn.Adam(1e-2, fused=True), threads=2, monkeypatch=monkeypatch, epochs=1)
    assert count_steps["steps"] == 3 * 4
    assert len(K._step.signatures) == compiled
