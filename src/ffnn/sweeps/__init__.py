"""Many trainings at once: a grid or random search over the settings of ``ffnn train``, run
in local worker processes or on a Dask cluster (``ffnn sweep``, ``ffnn.sweep``).

    >>> import ffnn
    >>> result = ffnn.sweep("examples/sweeps/lr_grid.toml", "sweeps/lr", workers=2)
    >>> result.rows[0]["test_accuracy"]

Each trial is an ordinary run directory (``DIR/trials/<trial id>/``, the files of
``ffnn train``); ``DIR/results.csv`` has one row per trial: its settings, final and best
metrics, times and status (``ok``, ``diverged``, ``failed`` with the error).  Running the
same sweep again skips the trials already finished.  The sweep file is described in
``ffnn.sweeps.spec``; the backends in ``ffnn.sweeps.backends``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .results import (
    commit_trial,
    finished,
    read_results,
    remove_leftovers,
    trial_dir,
    write_results,
)
from .spec import SweepError, SweepSpec, Trial, load_spec

__all__ = ["SweepError", "SweepResult", "SweepSpec", "Trial", "load_spec", "read_results",
           "sweep"]


@dataclass
class SweepResult:
    """What a sweep did: ``rows`` (as in results.csv, the sweep file's order), the counts."""

    out: Path
    rows: list[dict]
    swept: list[str]
    ran: int
    skipped: int
    backend: str
    seconds: float
    interrupted: bool = False
    plots: list[Path] = field(default_factory=list)

    def counts(self) -> dict:
        """Trials per status."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row["status"]] = out.get(row["status"], 0) + 1
        return out


def sweep(spec: str | Path | dict | SweepSpec, out: str | Path, *, workers: int | None = None,
          local_cluster: int | None = None, scheduler: str | None = None, client=None,
          retry_failed: bool = False, plots: bool = True,
          progress: Callable[[dict, int, int], None] | None = None) -> SweepResult:
    """Run every trial of ``spec`` (a sweep file) not yet finished in ``out``.

    Backends: ``workers=N`` local processes (default: the cores; ``workers=1`` runs the
    trials in this process), ``local_cluster=N`` a Dask ``LocalCluster`` of N processes,
    ``scheduler="tcp://host:8786"`` a running Dask cluster (``client``: an existing
    ``distributed.Client``).  ``progress(row, done, total)`` is called after each trial.
    Ctrl-C stops the sweep: the finished trials are in results.csv, and the next run of the
    same sweep starts from there.
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    if sum(x is not None for x in (local_cluster, scheduler, client)) > 1 or (
            workers is not None and (local_cluster or scheduler or client)):
        raise ValueError("choose one backend: workers, local_cluster, scheduler or client")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from .._runlock import RunInUse, acquire

    try:
        lock = acquire(out, "sweep", advice="wait for it or choose another --out")
    except RunInUse as exc:
        raise SweepError(str(exc)) from None
    try:
        return _sweep_locked(spec, out, workers, local_cluster, scheduler, client,
                             retry_failed, plots, progress)
    finally:
        lock.release()


def _sweep_locked(spec: SweepSpec, out: Path, workers, local_cluster, scheduler, client,
                  retry_failed: bool, plots: bool, progress) -> SweepResult:
    start = time.perf_counter()
    remove_leftovers(out)
    if spec.text:
        (out / "sweep.toml").write_text(spec.text, encoding="utf-8")
    rows: dict[str, dict] = {}
    todo: list[dict] = []
    for trial in spec.trials:
        row = finished(out, trial.id)
        if row is not None and retry_failed and row.get("status") == "failed":
            shutil.rmtree(trial_dir(out, trial.id))
            row = None
        if row is not None:
            rows[trial.id] = _full_row(row, trial, out)
        else:
            todo.append({"id": trial.id, "index": trial.index, "settings": trial.settings,
                         "config": trial.config, "data_key": trial.data_key})
    skipped = len(rows)
    backend = _backend(workers, local_cluster, scheduler, client, len(todo))
    interrupted = False
    done = len(rows)
    try:
        if todo:
            data, no_data = _load_data(spec, todo)
            runnable = [t for t in todo if t["data_key"] in data]
            results = backend.run(runnable, data) if runnable else iter(())
            for trial, result in _chain(no_data, results):
                commit_trial(out, trial, result)
                # a duplicate (already committed) keeps the first record: read it back
                row = finished(out, trial["id"]) or result["row"]
                rows[trial["id"]] = _full_row(row, spec.trials[trial["index"]], out)
                done += 1
                _write(out, spec, rows)
                if progress is not None:
                    progress(rows[trial["id"]], done, len(spec.trials))
    except KeyboardInterrupt:
        interrupted = True
        backend.close(abandon=True)
    except BaseException:
        backend.close(abandon=True)
        raise
    else:
        backend.close()
    finally:
        _write(out, spec, rows)
        remove_leftovers(out)
    ordered = [rows[t.id] for t in spec.trials if t.id in rows]
    result = SweepResult(out, ordered, spec.swept, len(rows) - skipped, skipped, backend.name,
                         time.perf_counter() - start, interrupted)
    if interrupted:
        print(f"ffnn sweep: interrupted: {len(rows)} of {len(spec.trials)} trials finished "
              f"and written to {out / 'results.csv'}; run the same command again to continue",
              file=sys.stderr)
        raise KeyboardInterrupt
    if plots and ordered:
        from .plots import plot_sweep

        result.plots = plot_sweep(ordered, spec, out)
    return result


def _backend(workers, local_cluster, scheduler, client, n_todo: int):
    from .backends import DaskBackend, ProcessBackend, SequentialBackend

    if client is not None or scheduler is not None or local_cluster is not None:
        if n_todo == 0:
            return SequentialBackend()  # nothing to run: no cluster to start
        return DaskBackend(n_workers=local_cluster, address=scheduler, client=client)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n == 1 or n_todo <= 1:
        return SequentialBackend()
    return ProcessBackend(n)


def _load_data(spec: SweepSpec, todo: list[dict]) -> tuple[dict, list]:
    """Every distinct data set of the trials, loaded once here (as ``ffnn train`` would);
    and, as failed results, the trials whose data could not be loaded."""
    from ..cli import load_config, load_data

    data, errors, failed = {}, {}, []
    for trial in todo:
        key = trial["data_key"]
        if key not in data and key not in errors:
            try:
                data[key] = load_data(load_config(None, _resolve(trial["config"], spec)))
            except Exception as exc:  # this trial's data: the other trials go on
                errors[key] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if key in errors:
            failed.append((trial, {"row": {"trial": trial["id"], "index": trial["index"],
                                           "status": "failed", "error": errors[key]},
                                   "files": {}}))
    return data, failed


def _chain(first: list, then):
    yield from first
    yield from then


def _resolve(config: dict, spec: SweepSpec) -> dict:
    """A relative data file path is relative to the sweep file's folder (if it is there)."""
    path = Path(config["dataset"])
    if spec.path is not None and not path.is_absolute():
        beside = spec.path.parent / path
        if beside.is_file():
            return {**config, "dataset": str(beside)}
    return config


def _full_row(row: dict, trial: Trial, out: Path) -> dict:
    full = {**row, **trial.settings}
    full["run_dir"] = str(trial_dir(out, trial.id).relative_to(out))
    return full


def _write(out: Path, spec: SweepSpec, rows: dict) -> None:
    ordered = [rows[t.id] for t in spec.trials if t.id in rows]
    write_results(out, ordered, spec.swept)
