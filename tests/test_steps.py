"""The step interface: the reference step is the algorithm, fit chooses a step once and says
which and why, resume is a training function, one checkpoint writer, no import cycles."""

from __future__ import annotations

import ast
import pathlib
import sys

import numpy as np
import pytest

import ffnn
from ffnn.steps import ReferenceStep, StepChoice, choose_step


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    return X, y


def test_reference_step_is_forward_loss_backward_update_written_out():
    X, y = _data(16)
    net = ffnn.mlp([3, 4, 2], seed=0)
    twin = ffnn.mlp([3, 4, 2], seed=0)
    loss = ffnn.get_loss("ce")
    result = ReferenceStep(net, loss, ffnn.SGD(0.1))(X, y)
    # by hand: forward, loss, backward, W <- W - lr dW
    out = twin.forward(X, training=True)
    value = loss.forward(out, y)
    twin.backward(loss.backward())
    for k, W in twin.parameters().items():
        np.testing.assert_allclose(net.parameters()[k], W - 0.1 * twin.gradients()[k],
                                   rtol=1e-6, atol=1e-7)
    assert result.loss == pytest.approx(value)
    np.testing.assert_array_equal(result.out, out)
    assert result.correct is None


def test_a_nan_loss_is_reported_and_never_applied():
    X, y = _data(8)
    X[0, 0] = np.nan
    net = ffnn.mlp([3, 4, 2], seed=0)
    before = {k: v.copy() for k, v in net.parameters().items()}
    opt = ffnn.Adam(0.1)
    assert np.isnan(ffnn.train_step(net, ffnn.get_loss("ce"), opt, X, y))
    for k, v in net.parameters().items():
        np.testing.assert_array_equal(v, before[k])
    assert opt.iterations == 0


def test_fit_records_the_step_it_ran_and_why_no_faster_one(capsys):
    X, y = _data()
    net = ffnn.mlp([3, 4, 2], seed=0)
    h = ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, batch_size=16, seed=0,
                 verbose=2, fused=False)
    assert h.meta["step"] == {"name": "reference", "reasons": ["fused=False"]}
    assert "training step: reference (fused=False)" in capsys.readouterr().err
    ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, batch_size=16, seed=0, verbose=0,
             fused=False)
    assert "training step" not in capsys.readouterr().err  # verbose=0: silent


def test_without_numba_auto_takes_the_reference_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "ffnn.fast", None)  # "import ffnn.fast" fails
    monkeypatch.delattr(ffnn, "fast", raising=False)  # (also when an earlier test imported it)
    X, y = _data()
    net = ffnn.mlp([3, 4, 2], seed=0)
    h = ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, seed=0, verbose=0)
    assert h.meta["step"]["name"] == "reference"
    assert "numba is not installed" in h.meta["step"]["reasons"][0]
    with pytest.raises(ImportError, match="numba"):
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, seed=0, verbose=0, fused=True)
    with pytest.raises(ImportError, match="numba"):  # the optimiser asking counts as asking
        ffnn.fit(net, X, y, "ce", ffnn.Adam(0.1, fused=True), epochs=1, seed=0, verbose=0)


def test_observers_get_the_reference_step_and_the_fallback_is_announced():
    pytest.importorskip("numba")
    X, y = _data()
    net = ffnn.mlp([3, 4, 2], seed=0)
    diagnostics = ffnn.diagnostics.Diagnostics()
    h = ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=1, batch_size=16, seed=0,
                 verbose=0, callbacks=[diagnostics])
    assert h.meta["step"]["name"] == "reference"
    assert "observers" in h.meta["step"]["reasons"][0]
    plain = ffnn.fit(ffnn.mlp([3, 4, 2], seed=0), X, y, "ce", ffnn.Adam(0.01), epochs=1,
                     batch_size=16, seed=0, verbose=0)
    assert plain.meta["step"]["name"] in ("fused", "parallel")


def test_choose_step_rejects_an_unknown_setting():
    net = ffnn.mlp([3, 2], seed=0)
    with pytest.raises(ValueError, match="fused must be"):
        choose_step(net, ffnn.get_loss("ce"), ffnn.SGD(0.1), fused="yes", batch=4,
                    n_samples=8, target_ndim=1)
    assert StepChoice("fused", ["parallel: x"]).describe() == "training step: fused (parallel: x)"


def test_resume_from_a_path_after_ctrl_c_mid_epoch_equals_the_straight_run(tmp_path):
    """fit(checkpoint=) writes through ModelCheckpoint, also when stopped inside an epoch;
    ffnn.resume(load_checkpoint(path), X, y) continues from that batch with the same numbers."""
    X, y = _data(96)
    straight = ffnn.mlp([3, 5, 2], seed=1, dropout=0.2)
    ffnn.fit(straight, X, y, "ce", ffnn.Adam(0.01), epochs=3, batch_size=16, seed=4, verbose=0,
             fused=False)
    net = ffnn.mlp([3, 5, 2], seed=1, dropout=0.2)
    path = tmp_path / "run.npz"

    class StopAtBatch(ffnn.Callback):
        def on_batch_end(self, batch, logs=None):
            if self.context.epoch == 1 and batch == 2:
                import os
                import signal

                os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: fit stops after this batch

    h = ffnn.fit(net, X, y, "ce", ffnn.Adam(0.01), epochs=3, batch_size=16, seed=4, verbose=0,
                 checkpoint=path, callbacks=[StopAtBatch()], fused=False)
    assert h.interrupted and len(h) == 1
    ckpt = ffnn.load_checkpoint(path)
    assert (ckpt.epoch, ckpt.batch) == (1, 3)
    h2 = ffnn.resume(ckpt, X, y, fused=False)
    assert len(h2) == 3 and not h2.interrupted
    for k, W in straight.parameters().items():
        np.testing.assert_array_equal(ckpt.net.parameters()[k], W)
    with pytest.raises(TypeError, match="load_checkpoint"):
        ffnn.resume(str(path), X, y)


def test_resume_needs_a_target_when_the_checkpoint_has_none(tmp_path):
    X, y = _data()
    net = ffnn.mlp([3, 4, 2], seed=0)
    path = tmp_path / "c.npz"
    ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, seed=0, verbose=0, checkpoint=path)
    ckpt = ffnn.load_checkpoint(path)
    ckpt.fit_settings.pop("target_epochs")
    with pytest.raises(ValueError, match="epochs="):
        ffnn.resume(ckpt, X, y)


def _import_graph() -> dict[str, set[str]]:
    """Every import between ffnn's modules, at module level or inside functions."""
    root = pathlib.Path(ffnn.__file__).parent
    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        package = m if p.name == "__init__.py" else m.rpartition(".")[0]
        tree = ast.parse(p.read_text())
        typing_only = {id(n) for guard in ast.walk(tree) if isinstance(guard, ast.If)
                       and getattr(guard.test, "id", "") == "TYPE_CHECKING"
                       for n in ast.walk(guard)}  # annotations only: not an import at run time
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.level or id(node) in typing_only:
                continue
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
            for dep in subs if len(subs) == len(node.names) else [*subs, target]:
                if dep in mods and dep != m:
                    graph[m].add(dep)
    return graph


def test_the_core_has_no_import_cycles():
    graph = _import_graph()
    core = {"ffnn.training", "ffnn.io", "ffnn.steps", "ffnn.step_api", "ffnn.callbacks",
            "ffnn.history", "ffnn.optimizers", "ffnn.network", "ffnn.layers", "ffnn.losses",
            "ffnn.activations", "ffnn.running_metrics", "ffnn.explain", "ffnn.tracing",
            "ffnn.naming", "ffnn.fast", "ffnn.gradcheck", "ffnn.diagnostics"}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for d in graph.get(m, ()):
                if d == goal:
                    return True
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return False

    cycles = sorted(m for m in core if m in graph and reaches(m, m))
    assert cycles == [], f"modules on an import cycle: {cycles}"
    assert "ffnn.training" not in graph["ffnn.io"]
