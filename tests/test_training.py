"""fit: batching, validation, history, callbacks, divergence, reproducibility, resume, Ctrl-C."""

import math
import os
import signal

import numpy as np
import pytest

import ffnn
from ffnn.callbacks import (
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from ffnn.schedules import ConstantLR, CosineLR, ExponentialLR, StepLR


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y]
    return X, y


def same_weights(a, b):
    return all(np.array_equal(a.parameters()[k], b.parameters()[k]) for k in a.parameters())


@pytest.mark.parametrize("batch_size,steps", [(None, 1), (64, 5), (1, 300), (1000, 1)])
def test_batching_modes(batch_size, steps):
    X, y = blobs()
    net = ffnn.mlp([4, 8, 3], seed=0)
    opt = ffnn.SGD(0.05)
    ffnn.fit(net, X, y, "ce", opt, epochs=2, batch_size=batch_size, seed=0, verbose=0)
    assert opt.iterations == 2 * steps


def test_minibatch_training_learns_and_records_metrics():
    X, y = blobs()
    net = ffnn.mlp([4, 16, 3], seed=0)
    h = ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=20, batch_size=32, seed=0, verbose=0,
                 validation_split=0.2)
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.85
    assert set(h.keys()) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert h["epoch"] == list(range(1, 21))


def test_validation_split_is_stratified():
    X, y = blobs(n=1000)
    seen = {}

    class Peek(ffnn.Callback):
        def on_train_begin(self, logs=None):
            seen["n"] = True

    h = ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", ffnn.SGD(0.1), epochs=1, seed=3,
                 verbose=0, validation_split=0.1, callbacks=[Peek()])
    from ffnn.training import _split_validation

    _, ytr, _, yv = _split_validation(X, y, 0.1, 3, stratify=True)
    assert len(yv) == pytest.approx(100, abs=2)
    for c in range(3):
        assert np.mean(yv == c) == pytest.approx(np.mean(y == c), abs=0.01)
    assert seen["n"] and "val_loss" in h


def test_regression_reports_r2_and_evaluate_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    Y = np.stack([X[:, 0] ** 2, X[:, 0] - X[:, 1]], axis=1)
    net = ffnn.mlp([2, 16, 2], activation="tanh", seed=0, dtype=np.float64)
    h = ffnn.fit(net, X, Y, "mse", ffnn.Adam(0.02), epochs=50, batch_size=32, seed=0, verbose=0)
    assert "r2" in h and h["r2"][-1] > 0.8
    res = ffnn.evaluate(net, X, Y, "mse")
    pred = net.predict(X)
    assert res["r2"] == pytest.approx(metrics.r2_score(Y, pred), rel=1e-9)
    assert res["loss"] == pytest.approx(metrics.mean_squared_error(Y, pred), rel=1e-9)


def test_history_rows_columns_and_csv(tmp_path):
    X, y = blobs()
    h = ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", ffnn.SGD(0.1), epochs=3, verbose=0)
    assert len(h.rows()) == 3 and h.columns()["loss"] == h["loss"]
    h.to_csv(tmp_path / "h.csv")
    back = ffnn.History.from_csv(tmp_path / "h.csv")
    assert back["epoch"] == [1, 2, 3]
    np.testing.assert_allclose(back["loss"], h["loss"])
    with pytest.raises(KeyError, match="available"):
        h["val_loss"]


def test_same_seed_gives_bit_identical_weights_and_history():
    X, y = blobs()
    runs = []
    for _ in range(2):
        net = ffnn.Sequential(ffnn.Dense(4, 16, rng=1), ffnn.ReLU(), ffnn.Dropout(0.3),
                              ffnn.Dense(16, 3, rng=2))
        h = ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=4, batch_size=16, seed=7,
                     verbose=0)
        runs.append((net, h))
    assert same_weights(runs[0][0], runs[1][0])
    assert runs[0][1]["loss"] == runs[1][1]["loss"]
    other = runs[0][0].copy()
    ffnn.fit(other, X, y, "ce", ffnn.Adam(0.01), epochs=1, batch_size=16, seed=8, verbose=0)
    assert not same_weights(other, runs[0][0])


def test_dropout_is_inverted_and_off_at_inference():
    d = ffnn.Dropout(0.25, rng=0)
    x = np.ones((2000, 50), dtype=np.float32)
    out = d.forward(x, training=True)
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    assert np.mean(out == 0) == pytest.approx(0.25, abs=0.01)
    assert d.forward(x, training=False) is x
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), d.forward(x, training=False))


def test_resume_six_straight_equals_three_plus_three(tmp_path):
    X, y = blobs()
    straight = ffnn.mlp([4, 16, 3], seed=0, dtype=np.float64)
    twin = straight.copy()
    ffnn.fit(straight, X, y, "ce", ffnn.Adam(0.01), epochs=6, batch_size=32, seed=5, verbose=0)
    path = tmp_path / "ckpt.npz"
    ffnn.fit(twin, X, y, "ce", ffnn.Adam(0.01), epochs=3, batch_size=32, seed=5, verbose=0,
             checkpoint=path)
    ckpt = ffnn.load_checkpoint(path)
    assert (ckpt.epoch, ckpt.batch, len(ckpt.history)) == (3, 0, 3)
    h = ffnn.resume(ckpt, X, y, epochs=6)
    assert len(h) == 6 and h["epoch"] == [1, 2, 3, 4, 5, 6]
    assert same_weights(straight, ckpt.net)


def test_ctrl_c_stops_after_the_batch_keeps_weights_and_resumes_exactly(tmp_path):
    """SIGINT mid-epoch: fit returns cleanly, writes a mid-epoch checkpoint; resuming from it
    gives the same final weights as a run that was never interrupted."""
    X, y = blobs()
    straight = ffnn.Sequential(ffnn.Dense(4, 16, rng=1, dtype=np.float64), ffnn.ReLU(),
                               ffnn.Dropout(0.2), ffnn.Dense(16, 3, rng=2, dtype=np.float64))
    twin = straight.copy()
    ffnn.fit(straight, X, y, "ce", ffnn.Adam(0.01), epochs=3, batch_size=32, seed=5, verbose=0)

    def interrupt(batch, logs):
        if twin_ctx["epoch"] == 1 and batch == 4:
            os.kill(os.getpid(), signal.SIGINT)

    twin_ctx = {"epoch": 0}
    cb = LambdaCallback(on_batch_end=interrupt,
                        on_epoch_begin=lambda e, logs=None: twin_ctx.update(epoch=e))
    path = tmp_path / "ckpt.npz"
    h = ffnn.fit(twin, X, y, "ce", ffnn.Adam(0.01), epochs=3, batch_size=32, seed=5, verbose=0,
                 callbacks=[cb], checkpoint=path)
    assert h.interrupted and len(h) == 1
    assert all(np.isfinite(p).all() for p in twin.parameters().values())
    ckpt = ffnn.load_checkpoint(path)
    assert (ckpt.epoch, ckpt.batch) == (1, 5)
    assert same_weights(ckpt.net, twin)
    h2 = ffnn.resume(ckpt, X, y)
    assert len(h2) == 3
    assert same_weights(ckpt.net, straight)


def test_early_stopping_restores_best_validation_weights():
    """Contrived overfitting: 20 noisy training points, a wide net, many epochs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5))
    y = (X[:, 0] > 0).astype(int)
    y[:6] = 1 - y[:6]  # label noise the net will memorise
    Xv = rng.normal(size=(400, 5))
    yv = (Xv[:, 0] > 0).astype(int)
    net = ffnn.mlp([5, 128, 128, 2], seed=0)
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(net.get_weights()))
    stop = EarlyStopping(monitor="val_loss", patience=5)
    h = ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=300, seed=0, verbose=0,
                 validation_data=(Xv, yv), callbacks=[keep, stop])
    val = h["val_loss"]
    best = int(np.argmin(val))
    assert stop.stopped_epoch is not None and len(h) < 300  # it did stop early
    assert len(h) == best + 1 + 5
    assert val[-1] > val[best]  # it was overfitting when it stopped
    assert stop.best_epoch == best
    for k, w in net.parameters().items():
        np.testing.assert_array_equal(w, snapshots[best][k])
    assert ffnn.evaluate(net, Xv, yv, "ce")["loss"] == pytest.approx(val[best], rel=1e-5)


def test_a_huge_learning_rate_raises_the_divergence_error():
    X, y = blobs()
    net = ffnn.mlp([4, 16, 3], seed=0)
    with pytest.raises(ffnn.TrainingDiverged) as info:
        ffnn.fit(net, X, y, "ce", ffnn.SGD(1e6), epochs=50, batch_size=32, seed=0, verbose=0)
    msg = str(info.value)
    assert "epoch" in msg and "batch" in msg and "last finite loss" in msg
    assert "learning rate" in msg and "lr=1e+06" in msg
    assert all(np.isfinite(p).all() for p in net.parameters().values())


def test_schedules_values():
    assert ConstantLR(0.1)(7) == 0.1
    assert [StepLR(1.0, 2, 0.5)(e) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert ExponentialLR(1.0, 0.9)(2) == pytest.approx(0.81)
    cos = CosineLR(1.0, total_epochs=12, min_lr=0.0, warmup_epochs=2)
    assert [cos(0), cos(1)] == [0.5, 1.0]
    assert cos(2) == pytest.approx(1.0) and cos(7) == pytest.approx(0.5)
    assert cos(12) == pytest.approx(0.0, abs=1e-12)


def test_learning_rate_scheduler_and_plateau():
    X, y = blobs()
    opt = ffnn.SGD(1.0)
    h = ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", opt, epochs=4, verbose=0,
                 callbacks=[LearningRateScheduler(StepLR(0.1, 2, 0.1))])
    np.testing.assert_allclose(h["lr"], [0.1, 0.1, 0.01, 0.01])
    opt = ffnn.SGD(1e-12)  # no progress at all: the plateau callback must cut the lr
    h = ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", opt, epochs=6, verbose=0,
                 callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2)])
    assert h["lr"][-1] < 1e-12


def test_model_checkpoint_best_only(tmp_path):
    X, y = blobs()
    cb = ModelCheckpoint(tmp_path / "best.npz", monitor="loss", save_best_only=True)
    ffnn.fit(ffnn.mlp([4, 8, 3], seed=0), X, y, "ce", ffnn.Adam(0.01), epochs=3, verbose=0,
             callbacks=[cb])
    ckpt = ffnn.load_checkpoint(tmp_path / "best.npz")
    assert ckpt.epoch == 3 and isinstance(ckpt.optimizer, ffnn.Adam)
    assert ckpt.optimizer.iterations == 3


def test_model_checkpoint_min_interval_defers_writes_to_the_end(tmp_path):
    """At most one write per min_interval: epoch 1 is written, epochs 2-4 are deferred, and
    the last (5) is written when training ends; resuming from it equals the run without a
    stop."""
    X, y = blobs()
    cb = ModelCheckpoint(tmp_path / "ck-{epoch}.npz", min_interval=1e9)
    net = ffnn.mlp([4, 8, 3], seed=0)
    ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=5, batch_size=16, seed=1, verbose=0,
             callbacks=[cb])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-1.npz", "ck-5.npz"]
    ckpt = ffnn.load_checkpoint(tmp_path / "ck-5.npz")
    assert ckpt.epoch == 5
    for k, w in net.parameters().items():
        np.testing.assert_array_equal(ckpt.net.parameters()[k], w, err_msg=k)
    straight = ffnn.mlp([4, 8, 3], seed=0)
    ffnn.fit(straight, X, y, "ce", ffnn.Adam(0.01), epochs=7, batch_size=16, seed=1, verbose=0)
    ffnn.resume(ckpt, X, y, epochs=7)
    for k, w in straight.parameters().items():
        np.testing.assert_array_equal(ckpt.net.parameters()[k], w, err_msg=k)


def test_model_checkpoint_keeps_the_last_written_file_when_training_fails(tmp_path):
    X, y = blobs()

    class Boom(ffnn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if self.context.epoch == 3:
                raise RuntimeError("boom")

    cb = ModelCheckpoint(tmp_path / "ck-{epoch}.npz", min_interval=1e9)
    with pytest.raises(RuntimeError, match="boom"):
        ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", ffnn.SGD(0.1), epochs=5, verbose=0,
                 callbacks=[cb, Boom()])
    # epochs 2 and 3 were deferred; the failure inside epoch 4 writes no half state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-1.npz"]
    with pytest.raises(ValueError, match="save_best_only"):
        ModelCheckpoint(tmp_path / "x.npz", save_best_only=True, min_interval=2)


def test_monitoring_a_missing_metric_names_the_available_ones():
    X, y = blobs()
    with pytest.raises(KeyError, match="validation_data"):
        ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", ffnn.SGD(0.1), epochs=1, verbose=0,
                 callbacks=[EarlyStopping(monitor="val_loss")])


def test_progress_line_per_epoch(capsys):
    X, y = blobs()
    ffnn.fit(ffnn.mlp([4, 3], seed=0), X, y, "ce", ffnn.SGD(0.1), epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "accuracy=" in out


def test_train_step_is_one_update():
    X, y = blobs(n=10)
    net = ffnn.mlp([4, 3], seed=0, dtype=np.float64)
    before = net.get_weights()
    value = ffnn.train_step(net, ffnn.get_loss("ce"), ffnn.SGD(0.1), X, y)
    assert math.isfinite(value)
    net2 = ffnn.mlp([4, 3], seed=0, dtype=np.float64)
    net2.loss_and_gradients(X, y, "ce")
    for k, w in net.parameters().items():
        np.testing.assert_allclose(w, before[k] - 0.1 * net2.gradients()[k])
