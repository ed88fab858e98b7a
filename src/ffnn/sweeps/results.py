"""The sweep directory: one run directory per trial and ``results.csv``.

    DIR/sweep.toml                the sweep file as given
    DIR/trials/<trial id>/        manifest.json metrics.json model.npz history.csv (as
                                  `ffnn train` writes them; no checkpoint) + trial.json
    DIR/results.csv               one row per finished trial, in the sweep file's order

A trial directory appears whole or not at all: it is written under a temporary name and
renamed (atomic on one file system); a trial already present is never written again.  So a
trial retried after a worker died, or run twice by a cluster, is recorded exactly once, and a
rerun of the sweep recognises every finished trial by its ``trial.json``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from pathlib import Path

TRIALS = "trials"
RESULTS = "results.csv"
TRIAL_FILE = "trial.json"
#: the first columns of results.csv; then the swept settings, then the metrics
LEAD = ("trial", "status", "error")
TAIL = ("epochs", "train_seconds", "wall_seconds", "cpu_seconds", "run_dir")


def trial_dir(out: Path, trial_id: str) -> Path:
    return Path(out) / TRIALS / trial_id


def finished(out: Path, trial_id: str) -> dict | None:
    """The recorded row of a finished trial (None if it has not finished)."""
    path = trial_dir(out, trial_id) / TRIAL_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}): delete that trial directory to run "
                         "the trial again") from None
    return record.get("row")


def commit_trial(out: Path, trial: dict, result: dict) -> bool:
    """Write the trial's run directory once; False if it was already there (a duplicate)."""
    final = trial_dir(out, trial["id"])
    if final.exists():
        return False
    tmp = final.parent / f".tmp-{trial['id']}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for name, data in result["files"].items():
            (tmp / name).write_bytes(data)
        record = {"id": trial["id"], "settings": trial["settings"], "config": trial["config"],
                  "row": result["row"]}
        (tmp / TRIAL_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
        try:
            os.rename(tmp, final)  # fails if `final` exists (non-empty): exactly one wins
        except OSError:
            if final.exists():
                return False
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def remove_leftovers(out: Path) -> None:
    """Temporary trial directories of a sweep process that was killed while committing."""
    root = Path(out) / TRIALS
    if root.is_dir():
        for tmp in root.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)


def write_results(out: Path, rows: list[dict], swept: list[str]) -> Path:
    """``results.csv`` (written to a temporary file, then renamed over the old one)."""
    path = Path(out) / RESULTS
    metric_cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in metric_cols and key not in (*LEAD, *TAIL, *swept, "index"):
                metric_cols.append(key)
    columns = [*LEAD, *swept, *sorted(metric_cols, key=_metric_order), *TAIL]
    tmp = path.with_name(f".{RESULTS}.{uuid.uuid4().hex[:8]}")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    os.replace(tmp, path)
    return path


def read_results(path: str | Path) -> list[dict]:
    """results.csv as a list of dicts (numbers as floats, settings as in the file)."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _metric_order(name: str) -> tuple:
    prefix = next((i for i, p in enumerate(("train_", "test_", "best_")) if name.startswith(p)),
                  3)
    return (prefix, name)


def _cell(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else value


def _parse(text: str):
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if text[:1] == "[":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
