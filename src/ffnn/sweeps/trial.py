"""One trial, on whichever process runs it: ``ffnn train``'s code in a private temporary
directory, returned as a result row plus the run directory's files (bytes).

The worker never writes into the sweep's directory: the process that collects the results
commits each trial once (``results.commit_trial``), so a trial that a dying worker had
half-done, or that a cluster ran twice, cannot leave a half or a double entry behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np

#: run-directory files carried back to the sweep.  Not written for trials: the plots, and the
#: checkpoint (ffnn train rewrites it after every epoch, with fsync, so `ffnn resume` can go
#: on; a sweep reruns an unfinished trial whole instead)
RUN_FILES = ("manifest.json", "metrics.json", "model.npz", "history.csv")


def run_trial(trial: dict, data) -> dict:
    """Train ``trial`` (``{"id", "index", "settings", "config"}``) on ``data`` (a loaded
    ``ffnn.datasets.Dataset``); never raises for a training failure.

    Returns ``{"row": {...}, "files": {name: bytes}}``; ``row["status"]`` is ``ok``,
    ``diverged`` (the loss became NaN or infinite) or ``failed`` (with ``row["error"]``).
    """
    from ..cli import load_config, train_run
    from ..training import TrainingDiverged

    start, cpu_start = time.perf_counter(), time.process_time()
    row = {"trial": trial["id"], "index": trial["index"], "status": "ok", "error": ""}
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="ffnn-trial-") as tmp:
        run = Path(tmp) / "run"
        try:
            cfg = load_config(None, trial["config"])
            # one BLAS thread per trial: the workers are the parallelism (and results do not
            # depend on how many threads a machine's BLAS would have used)
            # (what ffnn train prints, and its notes about the temporary directory, would
            # only confuse here: results.csv has the outcome)
            with _one_blas_thread(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                train_run(cfg, run, verbose=0, data=data, plots=False, checkpoint=False)
        except TrainingDiverged as exc:
            row.update(status="diverged", error=_one_line(exc))
        except Exception as exc:  # recorded in results.csv; the sweep goes on
            row.update(status="failed", error=f"{type(exc).__name__}: {_one_line(exc)}")
        for name in RUN_FILES:
            if (run / name).is_file():
                files[name] = (run / name).read_bytes()
        row.update(summarize(files))
    row["wall_seconds"] = round(time.perf_counter() - start, 4)
    # less CPU time than wall time: the worker waited for a core (a busy machine)
    row["cpu_seconds"] = round(time.process_time() - cpu_start, 4)
    return {"row": row, "files": files}


def summarize(files: dict[str, bytes]) -> dict:
    """Final metrics (``train_*``, ``test_*`` from metrics.json) and the best value of each
    per-epoch curve (``best_loss``, ``best_val_accuracy``, ... from history.csv)."""
    out: dict = {}
    if "metrics.json" in files:
        metrics = json.loads(files["metrics.json"])
        for split in ("train", "test"):
            for key, value in metrics.get(split, {}).items():
                if key != "n_samples":
                    out[f"{split}_{key}"] = value
        out["epochs"] = metrics.get("epochs")
        out["train_seconds"] = round(float(metrics.get("seconds", 0.0)), 4)
    if "history.csv" in files:
        out.update(_best(files["history.csv"].decode()))
    return out


def _best(text: str) -> dict:
    import csv

    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return {}
    best = {}
    for column in rows[0]:
        name = column.removeprefix("val_")
        if name.endswith("loss") or name in ("mse", "mae"):
            pick = np.nanmin
        elif name in ("accuracy", "r2"):
            pick = np.nanmax
        else:
            continue
        values = np.array([float(r[column]) for r in rows if r[column] not in ("", None)])
        if values.size:
            best[f"best_{column}"] = float(pick(values))
    return best


@contextlib.contextmanager
def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the worker's environment (OMP/OPENBLAS_NUM_THREADS) decides
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or type(exc).__name__).split())
