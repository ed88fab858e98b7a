"""The command line, in-process (ffnn.cli.main) and as a real subprocess (python -m ffnn)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ffnn
from ffnn.cli import main

pytest.importorskip("pydantic")
pytest.importorskip("matplotlib")

RUN_FILES = {"model.npz", "checkpoint.npz", "history.csv", "metrics.json", "manifest.json",
             "curves.png"}


def run_cli(*args, cwd=None, timeout=300):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "ffnn", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def files(path):
    return {p.name for p in path.iterdir()}


def test_train_moons_writes_the_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "moons", "--epochs", "20", "--hidden", "8,8",
                 "--lr", "0.01", "--verbose", "0", "--out", str(run)]) == 0
    assert RUN_FILES | {"decision_boundary.png", "confusion_matrix.png"} <= files(run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["status"] == "completed"
    assert manifest["config"]["hidden"] == [8, 8] and manifest["config"]["lr"] == 0.01
    assert len(manifest["data"]["sha256"]) == 64
    env = manifest["environment"]
    assert env["numpy"] == np.__version__ and env["ffnn"] == ffnn.__version__
    assert "python" in env and "blas" in env
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.5 < metrics["test"]["accuracy"] <= 1.0
    assert metrics["epochs"] == 20
    history = ffnn.History.from_csv(run / "history.csv")
    assert len(history) == 20 and "val_loss" in history
    out = capsys.readouterr().out
    assert "accuracy" in out and str(run) in out
    for png in ("curves.png", "decision_boundary.png", "confusion_matrix.png"):
        assert (run / png).stat().st_size > 5000


def test_train_regression_as_subprocess(tmp_path):
    run = tmp_path / "reg"
    r = run_cli("train", "--dataset", "regression_1d", "--hidden", "10", "--activation",
                "sigmoid", "--epochs", "30", "--lr", "0.01", "--verbose", "0", "--out", str(run))
    assert r.returncode == 0, r.stderr
    assert RUN_FILES | {"regression_fit.png"} <= files(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "r2" in metrics["train"] and "mse" in metrics["test"]
    assert "r2" in r.stdout


def write_csv(path, n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    label = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    with open(path, "w") as fh:
        fh.write("height,weight,age,label\n")
        for x, lab in zip(X, label, strict=True):
            fh.write(f"{x[0]:.5f},{x[1]:.5f},{x[2]:.5f},{lab}\n")
    return X, label


def test_train_on_a_csv_then_predict_and_evaluate(tmp_path):
    data = tmp_path / "people.csv"
    write_csv(data)
    run = tmp_path / "csvrun"
    r = run_cli("train", "--dataset", str(data), "--target", "label", "--epochs", "40",
                "--lr", "0.02", "--verbose", "0", "--out", str(run))
    assert r.returncode == 0, r.stderr
    assert RUN_FILES | {"confusion_matrix.png"} <= files(run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data"]["task"] == "binary"
    # predict: columns found by name (the target column is ignored), labels mapped back
    new = tmp_path / "new.csv"
    X, label = write_csv(new, n=50, seed=1)
    out = tmp_path / "pred.csv"
    r = run_cli("predict", str(run / "model.npz"), str(new), "--output", str(out), "--proba")
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction,p_no,p_yes"
    pred = [line.split(",")[0] for line in lines[1:]]
    assert len(pred) == 50 and set(pred) <= {"yes", "no"}
    assert np.mean(np.array(pred) == label) > 0.85
    r = run_cli("evaluate", str(run / "model.npz"), "--dataset", str(data), "--target", "label",
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] > 0.85


def test_config_file_and_its_errors(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(textwrap.dedent("""
        dataset = "blobs"
        hidden = [12]
        activation = "tanh"
        optimizer = "sgd"
        lr = 0.1
        momentum = 0.9
        epochs = 5
        seed = 3
    """))
    run = tmp_path / "cfgrun"
    assert main(["train", "--config", str(cfg), "--epochs", "4", "--verbose", "0",
                 "--out", str(run)]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["activation"] == "tanh" and manifest["config"]["epochs"] == 4
    assert manifest["config"]["momentum"] == 0.9 and manifest["seed"] == 3
    capsys.readouterr()

    cfg.write_text('dataset = "blobs"\nlearning_rate = 0.1\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "learning_rate: unknown setting" in err
    assert "known settings:" in err and "lr" in err

    cfg.write_text('activation = "swish"\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "y")]) == 1
    err = capsys.readouterr().err
    assert "activation" in err and "one of relu, leaky_relu" in err and "Traceback" not in err


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    r = run_cli("train", "--dataset", "nope", "--out", str(tmp_path / "a"))
    assert r.returncode == 1
    assert r.stderr.startswith("ffnn: error: unknown data set 'nope'")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("evaluate", str(tmp_path / "missing.npz"))
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    r = run_cli("predict", str(bad), str(bad))
    assert r.returncode == 1 and "corrupt" in r.stderr
    r = run_cli("--debug", "train", "--dataset", "nope", "--out", str(tmp_path / "b"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    common = ["--dataset", "blobs", "--hidden", "8", "--batch-size", "16", "--verbose", "0",
              "--lr", "0.01", "--seed", "2"]
    assert main(["train", *common, "--epochs", "6", "--out", str(tmp_path / "straight")]) == 0
    assert main(["train", *common, "--epochs", "3", "--out", str(tmp_path / "split")]) == 0
    assert main(["resume", str(tmp_path / "split"), "--epochs", "6", "--verbose", "0"]) == 0
    a = ffnn.load(tmp_path / "straight" / "model.npz")
    b = ffnn.load(tmp_path / "split" / "model.npz")
    for k, w in a.parameters().items():
        np.testing.assert_array_equal(w, b.parameters()[k])
    assert len(ffnn.History.from_csv(tmp_path / "split" / "history.csv")) == 6


def test_gradcheck_datasets_and_explain_commands(capsys):
    assert main(["gradcheck", "--dataset", "blobs", "--hidden", "5,4", "--activation",
                 "tanh"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "0.W" in out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "moons" in out and "mnist" in out and "regression" in out


def test_help_on_every_command():
    r = run_cli("--help")
    assert r.returncode == 0 and "train" in r.stdout and "resume" in r.stdout
    for cmd in ("train", "evaluate", "predict", "resume", "gradcheck", "explain", "datasets",
                "demo"):
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "usage: ffnn " + cmd in r.stdout, cmd


def test_demo_as_subprocess_writes_the_decision_boundary(tmp_path):
    r = run_cli("demo", "--epochs", "300", "--verbose", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "training accuracy" in r.stdout
    png = tmp_path / "ffnn-demo" / "decision_boundary.png"
    assert png.stat().st_size > 10000


KILL_SCRIPT = """
import sys, time, numpy as np, ffnn
from ffnn.training import TrainingContext, History
net = ffnn.mlp([4, 64, 3], seed=0)
ctx = TrainingContext(net, ffnn.get_loss("ce"), ffnn.Adam(), History(), seed=0)
path = sys.argv[1]
ffnn.io.save_checkpoint(path, ctx)           # the last good checkpoint
print("saved", flush=True)
real = np.savez
def slow_savez(fh, **arrays):                # write half a file, then hang until killed
    fh.write(b"PK\\x03\\x04 half a zip")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
np.savez = slow_savez
ctx.epoch = 5
ffnn.io.save_checkpoint(path, ctx)
"""


def test_sigkill_during_a_checkpoint_write_leaves_the_last_good_one(tmp_path):
    path = tmp_path / "checkpoint.npz"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "saved"
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    ckpt = ffnn.load_checkpoint(path)
    assert ckpt.epoch == 1  # the good one, not the half-written epoch-6 one


def test_sigkill_at_random_moments_of_real_training(tmp_path):
    """Kill `ffnn train` (checkpointing every epoch) at several moments; each time the
    checkpoint on disk loads and resuming finishes the run."""
    run = tmp_path / "run"
    args = ["train", "--dataset", "blobs", "--n-samples", "4000", "--hidden", "256,256",
            "--epochs", "400", "--batch-size", "4000", "--verbose", "0", "--out", str(run)]
    rng = np.random.default_rng(0)
    loaded = 0
    for attempt in range(4):
        cmd = [sys.executable, "-m", "ffnn", *args] if attempt == 0 else \
            [sys.executable, "-m", "ffnn", "resume", str(run), "--verbose", "0"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not (run / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.2, 1.0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ckpt = ffnn.load_checkpoint(run / "checkpoint.npz")
        assert ckpt.epoch >= 1
        loaded += 1
    assert loaded == 4


def test_fused_flag_trains_the_same_weights(tmp_path):
    pytest.importorskip("numba")
    common = ["--dataset", "blobs", "--hidden", "16", "--epochs", "3", "--verbose", "0"]
    assert main(["train", *common, "--out", str(tmp_path / "plain")]) == 0
    assert main(["train", *common, "--fused", "--out", str(tmp_path / "fused")]) == 0
    a = ffnn.load(tmp_path / "plain" / "model.npz")
    b = ffnn.load(tmp_path / "fused" / "model.npz")
    for k, w in a.parameters().items():  # the fused step's exp/log round differently
        np.testing.assert_allclose(w, b.parameters()[k], rtol=1e-4, atol=1e-6)
    assert ffnn.load_checkpoint(tmp_path / "fused" / "checkpoint.npz").optimizer.fused
    # any optimiser: the fused step with SGD's NumPy update
    assert main(["train", *common, "--optimizer", "sgd", "--out", str(tmp_path / "sgd")]) == 0
    assert main(["train", *common, "--fused", "--optimizer", "sgd",
                 "--out", str(tmp_path / "sgd-fused")]) == 0
    a, b = (ffnn.load(tmp_path / d / "model.npz") for d in ("sgd", "sgd-fused"))
    for k, w in a.parameters().items():
        np.testing.assert_allclose(w, b.parameters()[k], rtol=1e-4, atol=1e-6)
