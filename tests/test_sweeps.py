"""ffnn sweep (issue 21): sweep files, trials as run directories, local processes and Dask.

The Dask tests start one LocalCluster of two worker processes on loopback for the module;
the 12-trial sweep on it must equal the same sweep run one trial after another in this
process, trial by trial (metrics and weights), also when a worker is killed mid-sweep.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ffnn
from ffnn.sweeps import SweepError, load_spec, read_results, sweep

distributed = pytest.importorskip("distributed")
pytest.importorskip("pydantic")

TRAIN = {"dataset": "moons", "n_samples": 200, "hidden": [8], "activation": "tanh",
         "optimizer": "sgd", "epochs": 40, "validation_split": 0.0, "batch_size": 64}
GRID12 = {"train": TRAIN, "sweep": {"lr": [0.05, 0.2, 1.0], "seed": {"range": [0, 4]}}}
#: what must agree between two runs of the same trial
COMPARED = ("status", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "epochs",
            "best_loss")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The reference: the 12 trials one after another in this process."""
    out = tmp_path_factory.mktemp("sequential")
    result = sweep(GRID12, out, workers=1, plots=False)
    assert result.backend == "sequential" and len(result.rows) == 12
    return out, result


def same_trials(out_a: Path, rows_a: list[dict], out_b: Path, rows_b: list[dict]) -> None:
    """Trial by trial: the same ids, metrics and final weights (bit for bit)."""
    assert [r["trial"] for r in rows_a] == [r["trial"] for r in rows_b]
    for a, b in zip(rows_a, rows_b, strict=True):
        assert {k: a.get(k) for k in COMPARED} == {k: b.get(k) for k in COMPARED}, a["trial"]
        net_a = ffnn.load(out_a / a["run_dir"] / "model.npz")
        net_b = ffnn.load(out_b / b["run_dir"] / "model.npz")
        for name, value in net_a.parameters().items():
            np.testing.assert_array_equal(value, net_b.parameters()[name])


def trial_dirs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "trials").iterdir())


# --------------------------------------------------------------------------- Dask
def test_dask_sweep_equals_the_sequential_run(client, sequential, tmp_path):
    seq_out, seq = sequential
    result = sweep(GRID12, tmp_path, client=client, plots=False)
    assert result.backend.startswith("dask") and result.ran == 12
    same_trials(seq_out, seq.rows, tmp_path, result.rows)
    # results.csv has the same rows, in the sweep file's order
    csv_rows = read_results(tmp_path / "results.csv")
    assert [r["trial"] for r in csv_rows] == [r["trial"] for r in seq.rows]
    assert [r["lr"] for r in csv_rows] == [0.05] * 4 + [0.2] * 4 + [1.0] * 4


def test_a_worker_killed_mid_sweep_loses_and_duplicates_nothing(client, sequential, tmp_path):
    seq_out, seq = sequential
    pids = client.run(os.getpid)
    killed: list[str] = []  # the trials the killed worker was running or holding

    def kill_one_worker(row, done, total):
        if killed:
            return
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if busy:  # a worker in the middle of a trial: SIGKILL, no goodbye
            worker, keys = sorted(busy.items())[0]
            os.kill(pids[worker], signal.SIGKILL)
            killed.extend(str(k).removeprefix("ffnn-trial-") for k in keys)

    result = sweep(GRID12, tmp_path, client=client, plots=False, progress=kill_one_worker)
    assert killed, "no worker was busy after the first trial: nothing was tested"
    ids = [r["trial"] for r in result.rows]
    assert set(killed) <= set(ids)  # its trials were run again elsewhere, once each
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {r["status"] for r in result.rows} == {"ok"}
    assert trial_dirs(tmp_path) == sorted(ids)  # no half-written or extra directory
    assert len(read_results(tmp_path / "results.csv")) == 12
    same_trials(seq_out, seq.rows, tmp_path, result.rows)
    client.wait_for_workers(2, timeout=30)  # the nanny restarted it (for the next tests)


def test_a_rerun_skips_the_finished_trials(client, sequential, tmp_path):
    first = sweep(GRID12, tmp_path, client=client, plots=False)
    before = (tmp_path / "results.csv").read_text()
    again = sweep(GRID12, tmp_path, client=client, plots=False)
    assert (again.ran, again.skipped) == (0, 12)
    assert (tmp_path / "results.csv").read_text() == before
    # one trial lost (deleted): only that one runs again, the others keep their rows
    lost = first.rows[5]
    import shutil

    shutil.rmtree(tmp_path / lost["run_dir"])
    third = sweep(GRID12, tmp_path, client=client, plots=False)
    assert (third.ran, third.skipped) == (1, 11)
    assert [r["trial"] for r in third.rows] == [r["trial"] for r in first.rows]


def test_sklearn_grid_search_on_the_cluster_through_joblib(client):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV

    from ffnn.datasets import moons
    from ffnn.sklearn import MLPClassifier

    X, y = moons(200, noise=0.2, seed=0)
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                          {"learning_rate_init": [0.01, 0.1]}, cv=2)
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    local = GridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                         {"learning_rate_init": [0.01, 0.1]}, cv=2).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_


# --------------------------------------------------------------------------- local backends
def test_local_processes_equal_the_sequential_run(sequential, tmp_path):
    seq_out, seq = sequential
    result = sweep(GRID12, tmp_path, workers=2, plots=False)
    assert result.backend == "processes" and result.ran == 12
    same_trials(seq_out, seq.rows, tmp_path, result.rows)


def test_ctrl_c_keeps_the_finished_trials_and_a_rerun_continues(tmp_path):
    spec = {"train": {**TRAIN, "epochs": 5}, "sweep": {"seed": {"range": [0, 6]}}}
    seen = []

    def interrupt(row, done, total):
        seen.append(row["trial"])
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(spec, tmp_path, workers=2, plots=False, progress=interrupt)
    rows = read_results(tmp_path / "results.csv")
    assert [r["trial"] for r in rows] == [t.id for t in load_spec(spec).trials
                                          if t.id in seen[:2]]
    assert not list((tmp_path / "trials").glob(".tmp-*"))
    rest = sweep(spec, tmp_path, workers=2, plots=False)
    assert (rest.skipped, rest.ran) == (2, 4) and len(rest.rows) == 6


def test_failed_and_diverged_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    spec = {"train": {"dataset": "blobs", "n_samples": 150, "hidden": [8], "epochs": 10,
                      "optimizer": "sgd", "validation_split": 0.0},
            "sweep": {"loss": ["bce", "ce"], "lr": [0.1, 1e6]}}
    result = sweep(spec, tmp_path, workers=2, plots=False)
    status = {(r["loss"], r["lr"]): r["status"] for r in result.rows}
    assert status == {("bce", 0.1): "failed", ("bce", 1e6): "failed", ("ce", 0.1): "ok",
                      ("ce", 1e6): "diverged"}
    rows = {r["trial"]: r for r in read_results(tmp_path / "results.csv")}
    failed = next(r for r in rows.values() if r["loss"] == "bce")
    assert "bce" in failed["error"] and "3 classes" in failed["error"]
    diverged = next(r for r in rows.values() if r["status"] == "diverged")
    assert "NaN or infinite" in diverged["error"]
    # a diverged run keeps its run directory, marked failed by ffnn train itself
    manifest = json.loads((tmp_path / diverged["run_dir"] / "manifest.json").read_text())
    assert manifest["status"].startswith("failed: training diverged")
    # finished (whatever their status): a rerun runs nothing; --retry-failed only the failed
    assert sweep(spec, tmp_path, workers=1, plots=False).ran == 0
    assert sweep(spec, tmp_path, workers=1, plots=False, retry_failed=True).ran == 2


# --------------------------------------------------------------------------- the sweep file
def test_grid_ids_are_deterministic_and_name_the_settings():
    a, b = load_spec(GRID12), load_spec(GRID12)
    assert [t.id for t in a.trials] == [t.id for t in b.trials]
    assert a.trials[0].id.startswith("lr=0.05_seed=0-") and len(a.trials) == 12
    changed = load_spec({"train": {**TRAIN, "epochs": 41}, "sweep": GRID12["sweep"]})
    assert not {t.id for t in a.trials} & {t.id for t in changed.trials}


def test_random_mode_is_reproducible_and_draws_from_the_distributions():
    spec = {"train": TRAIN, "sweep": {
        "mode": "random", "n_trials": 30, "sample_seed": 7,
        "lr": {"log_uniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.0, 0.9]},
        "epochs": {"int_uniform": [5, 10]}, "hidden": {"choice": [[16], [32, 32]]},
        "seed": [0, 1]}}
    a, b = load_spec(spec), load_spec(spec)
    assert [t.settings for t in a.trials] == [t.settings for t in b.trials]
    other = load_spec({**spec, "sweep": {**spec["sweep"], "sample_seed": 8}})
    assert [t.settings for t in a.trials] != [t.settings for t in other.trials]
    lrs = np.array([t.settings["lr"] for t in a.trials])
    assert np.all((lrs >= 1e-4) & (lrs <= 1e-1))
    assert (np.log10(lrs) < -2.5).any() and (np.log10(lrs) > -2.5).any()  # both halves
    assert {t.settings["epochs"] for t in a.trials} <= set(range(5, 11))
    assert {json.dumps(t.settings["hidden"]) for t in a.trials} <= {"[16]", "[32, 32]"}
    assert all(0.0 <= t.settings["momentum"] <= 0.9 for t in a.trials)
    # the drawn settings are training settings: the config carries them
    assert all(t.config["lr"] == t.settings["lr"] for t in a.trials)


@pytest.mark.parametrize("sweep_table, train_extra, named", [
    ('lrr = [0.1, 1.0]', "", "[sweep] lrr: unknown setting"),
    ('lr = [0.1, -1.0]', "", "[sweep] lr = -1.0: lr: Input should be greater than 0"),
    ('lr = {log_uniform = [1e-4, 1e-1]}', "", "[sweep] lr: log_uniform is a distribution for "
                                              "mode = \"random\""),
    ('lr = [0.1]', 'epoch = 5', "[train] epoch: unknown setting"),
    ('mode = "random"\nlr = [0.1]', "", "[sweep] n_trials: random mode needs"),
    ('mode = "random"\nn_trials = 3\nlr = {normal = [0, 1]}', "",
     "[sweep] lr: unknown distribution 'normal'"),
    ('activation = ["relu", "swish"]', "", "[sweep] activation = 'swish'"),
])
def test_a_bad_sweep_file_names_the_file_and_the_key(tmp_path, sweep_table, train_extra, named):
    path = tmp_path / "bad.toml"
    path.write_text(f"[train]\nepochs = 5\n{train_extra}\n\n[sweep]\n{sweep_table}\n")
    with pytest.raises(SweepError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and named in str(info.value), str(info.value)


# --------------------------------------------------------------------------- the command line
def test_cli_end_to_end(tmp_path, capsys):
    from ffnn.cli import main

    sweep_file = tmp_path / "grid.toml"
    sweep_file.write_text(textwrap.dedent("""\
        [train]
        dataset = "moons"
        n_samples = 200
        hidden = [8]
        epochs = 10
        validation_split = 0.0

        [sweep]
        lr = [0.01, 0.1]
        seed = [0, 1]
        """))
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "4 trials (4 ok): 4 run on processes" in printed
    rows = read_results(out / "results.csv")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    for row in rows:  # each trial is an ordinary run directory of ffnn train
        run = out / row["run_dir"]
        assert {"manifest.json", "metrics.json", "model.npz", "history.csv"} <= \
            {p.name for p in run.iterdir()}
        assert main(["evaluate", str(run / "model.npz"), "--json"]) == 0
    assert (out / "plots" / "test_accuracy_vs_lr.png").is_file()
    assert (out / "plots" / "test_accuracy_over_seeds.png").is_file()
    assert (out / "sweep.toml").read_text() == sweep_file.read_text()
    capsys.readouterr()
    assert main(["sweep", str(sweep_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0 run in" in printed and "4 already finished" in printed
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nlearning_rate = [0.1]\n")
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "learning_rate: unknown setting" in err


def test_variants_sweep_settings_together():
    spec = load_spec({"train": TRAIN, "sweep": {
        "seed": [0, 1],
        "variants": [{"optimizer": "sgd", "lr": 1.0},
                     {"optimizer": "sgd", "lr": 0.5, "momentum": 0.9},
                     {"optimizer": "adam", "lr": 0.01}]}})
    assert spec.swept == ["seed", "optimizer", "lr", "momentum"]
    assert len(spec.trials) == 6
    got = [(t.settings["optimizer"], t.settings["lr"], t.settings["momentum"])
           for t in spec.trials[:3]]
    assert got == [("sgd", 1.0, 0.0), ("sgd", 0.5, 0.9), ("adam", 0.01, 0.0)]
    with pytest.raises(SweepError, match=r"\[sweep\] lr: swept twice"):
        load_spec({"train": TRAIN, "sweep": {"lr": [0.1], "variants": [{"lr": 1.0}]}})
    with pytest.raises(SweepError, match=r"variants: lrate: unknown setting"):
        load_spec({"train": TRAIN, "sweep": {"variants": [{"lrate": 1.0}]}})


def test_a_trial_whose_data_cannot_be_loaded_is_recorded_failed(tmp_path):
    spec = {"train": {**TRAIN, "epochs": 3},
            "sweep": {"dataset": ["moons", str(tmp_path / "missing.csv")]}}
    result = sweep(spec, tmp_path / "out", workers=2, plots=False)
    status = {r["dataset"]: (r["status"], r["error"]) for r in result.rows}
    assert status["moons"] == ("ok", "")
    assert status[str(tmp_path / "missing.csv")][0] == "failed"
    assert "missing.csv" in status[str(tmp_path / "missing.csv")][1]


def _loaded_before_the_task() -> dict:
    import sys

    return {"preload": "ffnn.sweeps.preload" in sys.modules,
            "kernels_run": "ffnn.fast.kernels" in sys.modules}


def test_local_workers_are_forked_from_a_server_that_loaded_ffnn_once():
    from concurrent.futures import ProcessPoolExecutor

    from ffnn.sweeps.backends import ProcessBackend

    backend = ProcessBackend(2)
    assert backend.context.get_start_method() == "forkserver"
    with ProcessPoolExecutor(1, mp_context=backend.context) as pool:
        loaded = pool.submit(_loaded_before_the_task).result(timeout=120)
    # the worker did not import ffnn's trial code itself: the fork server had, before forking
    assert loaded["preload"]
    pytest.importorskip("numba")
    assert loaded["kernels_run"]
