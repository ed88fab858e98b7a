"""The fast steps of ``ffnn.fast`` against ``ffnn.steps.ReferenceStep``, step by step.

Each case builds the same network three times, runs the same batches through the reference
step, the fused step and the step shared between cores, and compares the losses, the weights
and the optimiser's state (its step count exactly) after several steps.  float32 results agree
to float rounding (rtol ~1e-5), float64 ones to ~1e-12: the fast steps do the same operations,
with exp/log/tanh from another math library and sums in another order.
"""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn.steps import ReferenceStep, StepResult

pytest.importorskip("numba")
from ffnn import fast  # noqa: E402
from ffnn.fast import FusedStep, ParallelStep, fused, parallel  # noqa: E402

SHARE = parallel.usable_cores() >= 2 and fast.find_blas() is not None
STEPS = ["fused", "parallel"] if SHARE else ["fused"]
TOL = {np.float32: (3e-5, 3e-6), np.float64: (1e-11, 1e-13)}


def _data(n=96, d=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return X, y


def _targets(loss: str, y: np.ndarray, dtype) -> np.ndarray:
    if loss == "ce":
        return y.astype(np.int64)
    if loss == "ce-onehot":
        return np.eye(3, dtype=dtype)[y]
    if loss == "bce":
        return np.stack([y == 0, y == 2], axis=1).astype(dtype)
    return np.stack([y * 0.5, np.sin(y)], axis=1).astype(dtype)  # mse


def _make(kind: str, net: ffnn.Sequential, loss, opt, batch: int):
    if kind == "reference":
        return ReferenceStep(net, loss, opt)
    if kind == "fused":
        return FusedStep(net, loss, opt, batch)
    ops = fused.plan(list(net.layers))
    kind_ = fused.loss_kind(loss, ops[-1], 1 if loss.name == "ce" else 2)
    return ParallelStep(net, ops, loss, kind_, opt, 2, batch, fast.find_blas()[0])


def _run(kind, build, loss_name, make_opt, dtype, *, steps=4, batch=32, prepare=None):
    """(losses, net, optimiser) after ``steps`` batches (the last one shorter) of 96 rows."""
    X, y = _data()
    X = X.astype(dtype)
    net = build().astype(dtype)
    for i, layer in enumerate(net.layers):  # as fit seeds them each epoch
        if isinstance(layer, ffnn.Dropout):
            layer.rng = np.random.default_rng([3, i])
    loss = ffnn.get_loss("ce" if loss_name == "ce-onehot" else loss_name)
    Y = _targets(loss_name, y, dtype)
    opt = make_opt()
    if prepare is not None:
        prepare(net, opt)
    step = _make(kind, net, loss, opt, batch)
    losses = []
    with step.running():
        for s in range(steps):
            lo = (s * batch) % 96
            hi = min(lo + batch - (s == steps - 1) * 7, 96)  # the last batch is shorter
            r = step(np.ascontiguousarray(X[lo:hi]), np.ascontiguousarray(Y[lo:hi]))
            assert isinstance(r, StepResult) and r.out.shape == (hi - lo, net.n_outputs)
            losses.append(r.loss)
    return losses, net, opt


def _assert_same(ref, other, dtype, what=""):
    rtol, atol = TOL[dtype]
    (l_ref, net_ref, opt_ref), (l_oth, net_oth, opt_oth) = ref, other
    np.testing.assert_allclose(l_oth, l_ref, rtol=rtol, atol=atol, err_msg=f"{what} loss")
    for k, w in net_ref.parameters().items():
        np.testing.assert_allclose(net_oth.parameters()[k], w, rtol=10 * rtol, atol=10 * atol,
                                   err_msg=f"{what} {k}")
    assert opt_oth.iterations == opt_ref.iterations
    assert opt_oth.state.keys() == opt_ref.state.keys()
    for k, slots in opt_ref.state.items():
        assert opt_oth.state[k].keys() == slots.keys()
        for slot, arr in slots.items():
            np.testing.assert_allclose(opt_oth.state[k][slot], arr, rtol=100 * rtol,
                                       atol=10 * atol, err_msg=f"{what} {k}/{slot}")
            assert opt_oth.state[k][slot].dtype == arr.dtype


def _compare(build, loss_name, make_opt, dtype, kinds=None, **kw):
    ref = _run("reference", build, loss_name, make_opt, dtype, **kw)
    for kind in kinds or STEPS:
        _assert_same(ref, _run(kind, build, loss_name, make_opt, dtype, **kw), dtype, kind)


ACTIVATIONS = ["relu", "sigmoid", "tanh", "leaky_relu"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_with_and_without_dropout(activation, dropout, dtype):
    _compare(lambda: ffnn.mlp([12, 24, 16, 3], activation=activation, seed=1,
                              dropout=dropout), "ce", lambda: ffnn.Adam(1e-2), dtype)


OPTIMISERS = {
    "sgd": lambda: ffnn.SGD(0.1),
    "momentum": lambda: ffnn.SGD(0.1, momentum=0.9),
    "nesterov": lambda: ffnn.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: ffnn.Adam(1e-2),
    "adamw": lambda: ffnn.AdamW(1e-2, weight_decay=0.1),
    "adam, l2 and l1": lambda: ffnn.Adam(1e-2, weight_decay=1e-2, l1=1e-3),
    "momentum, l2": lambda: ffnn.SGD(0.1, momentum=0.9, weight_decay=1e-2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_every_compiled_optimiser(name, dtype):
    _compare(lambda: ffnn.mlp([12, 24, 3], activation="relu", seed=1, dropout=0.2), "ce",
             OPTIMISERS[name], dtype)


@pytest.mark.parametrize("name", ["rmsprop", "adagrad", "adam, clipped"])
def test_other_optimisers_and_clipping_on_the_fused_step(name):
    make = {"rmsprop": lambda: ffnn.RMSProp(1e-2), "adagrad": lambda: ffnn.Adagrad(1e-2),
            "adam, clipped": lambda: ffnn.Adam(1e-2, clip_norm=0.05)}[name]
    for dtype in (np.float32, np.float64):
        _compare(lambda: ffnn.mlp([12, 24, 3], seed=1), "ce", make, dtype, kinds=["fused"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["ce", "ce-onehot", "bce", "mse"])
def test_every_loss(loss, dtype):
    kinds = ["fused"] if loss == "ce-onehot" else None
    n_out = 3 if loss.startswith("ce") else 2
    _compare(lambda: ffnn.mlp([12, 16, n_out], activation="tanh", seed=1), loss,
             lambda: ffnn.SGD(0.05, momentum=0.5), dtype, kinds=kinds)


class Square(ffnn.Layer):
    """A learner's own layer: out = x^2, dx = 2 x dout."""

    def forward(self, x, *, training=False):
        self.x = x
        return x * x

    def backward(self, dout):
        return 2 * self.x * dout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_it_does_not_fuse_run_through_their_own_forward_and_backward(dtype):
    def build():
        return ffnn.Sequential(ffnn.Dropout(0.1, rng=0), ffnn.Dense(12, 16, rng=1), ffnn.ELU(),
                               ffnn.Dense(16, 8, rng=2), Square(), ffnn.Dense(8, 3, rng=3),
                               ffnn.Sigmoid())
    # a sigmoid output with MSE: the loss's own forward / backward; Dropout first, ELU and
    # Square after their Dense layers run as themselves
    ref = _run_generic("reference", build, dtype)
    _assert_same(ref, _run_generic("fused", build, dtype), dtype, "fused")


def _run_generic(kind, build, dtype):
    X, y = _data()
    X = X.astype(dtype)
    net = build().astype(dtype)
    net.layers[0].rng = np.random.default_rng(5)
    Y = np.eye(3, dtype=dtype)[y]
    loss, opt = ffnn.get_loss("mse"), ffnn.Adam(1e-2)
    step = _make(kind, net, loss, opt, 32)
    losses = []
    with step.running():
        for s in range(3):
            losses.append(step(X[32 * s:32 * s + 32], Y[32 * s:32 * s + 32]).loss)
    return losses, net, opt


def test_full_batch_and_batches_longer_than_planned():
    X, y = _data()
    for kind in ("reference", "fused"):
        net = ffnn.mlp([12, 8, 3], seed=0)
        step = _make(kind, net, ffnn.get_loss("ce"), ffnn.SGD(0.1), 10)
        results = [step(X.astype(np.float32), y).loss for _ in range(2)]  # 96 rows > 10
        if kind == "reference":
            expect = results
    np.testing.assert_allclose(results, expect, rtol=1e-5)


def _crossing_the_flush(net, opt):
    """Start at t = 48 with tiny moments, so that step 50 (the 2nd of 4) flushes them."""
    opt.iterations = 48
    for name, p in net.parameters().items():
        state = opt.state_for(name, p)
        for arr in state.values():
            arr.reshape(-1)[:3] = [1e-31, -1e-32, 1e-29]


@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_the_flush_of_tiny_state_entries_happens_on_the_same_step(name):
    for dtype in (np.float32, np.float64):
        _compare(lambda: ffnn.mlp([12, 16, 3], seed=1), "ce", OPTIMISERS[name], dtype,
                 prepare=_crossing_the_flush)
    for kind in STEPS:
        _, net, opt = _run(kind, lambda: ffnn.mlp([12, 16, 3], seed=1), "ce",
                           OPTIMISERS[name], np.float32, prepare=_crossing_the_flush)
        first = next(iter(opt.state["2.W"].values())).reshape(-1)
        assert opt.iterations == 52
        assert first[1] == 0 or abs(first[1]) > 1e-20  # -1e-32 was flushed, then updated


@pytest.mark.parametrize("kind", ["reference"] + STEPS)
def test_a_nan_loss_leaves_weights_and_state_unchanged(kind):
    X, y = _data()
    X = X.astype(np.float32)
    net = ffnn.mlp([12, 16, 3], seed=0, dropout=0.1)
    opt = ffnn.Adam(1e-2)
    step = _make(kind, net, ffnn.get_loss("ce"), opt, 32)
    with step.running():
        step(X[:32], y[:32])
        before = net.get_weights()
        state = {k: {s: a.copy() for s, a in v.items()} for k, v in opt.state.items()}
        bad = X[32:64].copy()
        bad[3, 0] = np.nan
        r = step(bad, y[32:64])
        assert not np.isfinite(r.loss)
    assert opt.iterations == 1
    for k, w in net.parameters().items():
        np.testing.assert_array_equal(w, before[k], err_msg=k)
        for s, a in opt.state[k].items():
            np.testing.assert_array_equal(a, state[k][s])


# the huge inputs are the point here: overflow is expected
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kind", STEPS)
def test_an_overflowing_hidden_layer_reaches_the_loss_as_nan(kind):
    """inf - inf in a hidden ReLU layer is NaN: it must reach the loss, not become a 0."""
    X, y = _data()
    X = X.astype(np.float32)
    X[5] = 3e38
    net = ffnn.mlp([12, 32, 16, 3], activation="relu", seed=1)
    step = _make(kind, net, ffnn.get_loss("ce"), ffnn.Adam(1e-2), 32)
    with step.running():
        assert not np.isfinite(step(X[:32], y[:32]).loss)


def test_right_answers_are_counted_as_fit_counts_them():
    X, y = _data()
    X = X.astype(np.float32)
    for loss_name in ("ce", "bce"):
        for kind in STEPS:
            net = ffnn.mlp([12, 16, 3 if loss_name == "ce" else 2], seed=0)
            Y = _targets(loss_name, y, np.float32)
            step = _make(kind, net, ffnn.get_loss(loss_name), ffnn.SGD(0.0 + 1e-9), 96)
            out = net.forward(X).copy()
            with step.running():
                r = step(X, Y)
            np.testing.assert_allclose(r.out, out, rtol=1e-5, atol=1e-6)
            if loss_name == "ce":
                assert r.correct == int(np.sum(np.argmax(out, 1) == y))
            else:
                assert r.correct == int(np.sum((out > 0) == (Y >= 0.5)))


# --------------------------------------------------------------------------- the choice
def _choose(net, loss="ce", opt=None, batch=128, target_ndim=1, **kw):
    return fast.fastest_step(net, ffnn.get_loss(loss), opt or ffnn.Adam(1e-3), batch=batch,
                             n_samples=60000, target_ndim=target_ndim, **kw)


MNIST = [784, 512, 256, 128, 10]


@pytest.mark.skipif(not SHARE, reason="needs 2 cores and a CBLAS gemm in NumPy's BLAS")
def test_the_mnist_recipes_get_the_shared_step_with_no_reasons(monkeypatch):
    monkeypatch.delenv("FFNN_NUM_THREADS", raising=False)
    for net, opt in ((ffnn.mlp(MNIST, seed=0), ffnn.Adam(1e-3)),
                     (ffnn.mlp(MNIST, seed=0, dropout=0.2), ffnn.AdamW(1e-3)),
                     (ffnn.mlp([784, 256, 128, 10], "sigmoid", seed=0), ffnn.Adam(1e-3)),
                     (ffnn.mlp(MNIST, "tanh", seed=0), ffnn.SGD(0.1, momentum=0.9))):
        step, reasons = _choose(net, opt=opt)
        assert (step.name, reasons) == ("parallel", [])


@pytest.mark.parametrize("why, expect", [
    ("clip_norm", "parallel: clip_norm is set"),
    ("rmsprop", "parallel: RMSProp is not shared"),
    ("elu", "parallel: ELU layers are not shared"),
    ("one-hot", "parallel: SoftmaxCrossEntropy with targets of ndim 2"),
    ("small", "parallel: the network is too small to share (B x params = 691,000 < 4M)"),
    ("threads=1", "parallel: one core to run on"),
])
def test_the_reasons_a_faster_step_was_not_taken(why, expect, monkeypatch):
    monkeypatch.delenv("FFNN_NUM_THREADS", raising=False)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 4)
    monkeypatch.setattr(fast, "usable_cores", lambda: 4)
    net, opt, target_ndim, batch = ffnn.mlp(MNIST, seed=0), ffnn.Adam(1e-3), 1, 128
    if why == "clip_norm":
        opt = ffnn.Adam(1e-3, clip_norm=1.0)
    elif why == "rmsprop":
        opt = ffnn.RMSProp(1e-3)
    elif why == "elu":
        net = ffnn.mlp(MNIST, "elu", seed=0)
    elif why == "one-hot":
        target_ndim = 2
    elif why == "small":
        net, batch = ffnn.mlp([2, 16, 32, 3], "sigmoid", seed=0), 1000
    elif why == "threads=1":
        opt = ffnn.Adam(1e-3, threads=1)
    step, reasons = _choose(net, opt=opt, target_ndim=target_ndim, batch=batch)
    assert step.name == "fused"
    assert len(reasons) == 1 and reasons[0].startswith(expect), reasons


@pytest.mark.skipif(not SHARE, reason="needs 2 cores and a CBLAS gemm in NumPy's BLAS")
def test_a_blas_limited_to_one_thread_keeps_the_fused_step(monkeypatch):
    from threadpoolctl import threadpool_limits

    monkeypatch.delenv("FFNN_NUM_THREADS", raising=False)
    with threadpool_limits(limits=1, user_api="blas"):  # e.g. in joblib's workers
        step, reasons = _choose(ffnn.mlp(MNIST, seed=0))
    assert step.name == "fused"
    assert reasons == ["parallel: BLAS is limited to 1 thread (threadpoolctl, "
                       "OPENBLAS_NUM_THREADS or joblib)"]


def test_a_first_compile_is_announced(monkeypatch):
    told = []
    monkeypatch.setattr(fast, "cache_is_cold", lambda: True)
    _choose(ffnn.mlp([4, 3], seed=0), announce=told.append)
    assert told == [fast.COMPILE_MESSAGE]
    told.clear()
    monkeypatch.setattr(fast, "cache_is_cold", lambda: False)
    _choose(ffnn.mlp([4, 3], seed=0), announce=told.append)
    assert told == []


def test_choose_step_takes_the_fast_step_unless_told_not_to(monkeypatch):
    from ffnn.steps import choose_step

    net, loss, opt = ffnn.mlp([4, 8, 3], seed=0), ffnn.get_loss("ce"), ffnn.Adam(1e-2)
    step, choice = choose_step(net, loss, opt, fused="auto", batch=8, n_samples=40,
                               target_ndim=1)
    assert isinstance(step, FusedStep) and choice.name == "fused"
    step, choice = choose_step(net, loss, opt, fused=False, batch=8, n_samples=40,
                               target_ndim=1)
    assert isinstance(step, ReferenceStep) and choice.reasons == ["fused=False"]


# --------------------------------------------------------------------------- through fit
@pytest.mark.parametrize("share", [False, True] if SHARE else [False])
def test_fit_with_no_flag_takes_a_fast_step_and_trains_like_the_reference(share, monkeypatch):
    """Dropout, SGD with momentum, mini-batches with a shorter last one, two epochs (fit
    re-seeds dropout's rng each epoch): the same run on the fast step and on fused=False."""
    monkeypatch.delenv("FFNN_NUM_THREADS", raising=False)
    if share:  # share even this small network
        monkeypatch.setattr(fast, "SMALL_WORK", 0)
        monkeypatch.setattr(fast, "usable_cores", lambda: 2)
    X, y = _data(n=90)
    runs = {}
    for fused_ in ("auto", False):
        net = ffnn.mlp([12, 24, 16, 3], seed=1, dropout=0.25)
        h = ffnn.fit(net, X, y, "ce", ffnn.SGD(0.05, momentum=0.9), epochs=2, batch_size=32,
                     seed=4, verbose=0, fused=fused_)
        runs[fused_] = (net, h)
    (net, h), (ref, h_ref) = runs["auto"], runs[False]
    assert h.meta["step"]["name"] == ("parallel" if share else "fused")
    assert h_ref.meta["step"]["name"] == "reference"
    np.testing.assert_allclose(h["loss"], h_ref["loss"], rtol=1e-5)
    np.testing.assert_allclose(h["accuracy"], h_ref["accuracy"])
    for k, w in ref.parameters().items():
        np.testing.assert_allclose(net.parameters()[k], w, rtol=1e-4, atol=1e-6, err_msg=k)
