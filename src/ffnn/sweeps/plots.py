"""The sweep's pictures (matplotlib, ``pip install 'ffnn[plots]'``): the metric against each
swept setting, and its spread over initial seeds when ``seed`` is swept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def default_metric(rows: list[dict]) -> str:
    """``test_accuracy`` for classification sweeps, else ``test_loss``."""
    return "test_accuracy" if any(r.get("test_accuracy") is not None for r in rows) \
        else "test_loss"


def plot_sweep(rows: list[dict], spec, out: Path, metric: str | None = None) -> list[Path]:
    """Write ``DIR/plots/<metric>_vs_<setting>.png`` for each swept setting (but the seed)
    and ``DIR/plots/<metric>_over_seeds.png`` when the seed is swept; returns the paths."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("(sweep plots skipped: pip install 'ffnn[plots]')")
        return []
    metric = metric or spec.metric or default_metric(rows)
    ok = [r for r in rows if r.get("status") == "ok" and _number(r.get(metric)) is not None]
    if not ok:
        return []
    folder = Path(out) / "plots"
    folder.mkdir(exist_ok=True)
    written = []
    for key in spec.swept:
        if key == "seed":
            continue
        fig = _against(plt, ok, key, metric)
        path = folder / f"{metric}_vs_{key}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if "seed" in spec.swept:
        fig = _over_seeds(plt, ok, [k for k in spec.swept if k != "seed"], metric)
        path = folder / f"{metric}_over_seeds.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _against(plt, rows: list[dict], key: str, metric: str):
    """Every trial as a dot, the mean per value as a line."""
    values = [r[key] for r in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    labels = sorted({_label(v) for v in values}, key=lambda t: _sort_key(t, numeric))
    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    if numeric:
        x = np.array(values, dtype=float)
        positive = np.all(x > 0)
        if positive and x.max() / x.min() > 20:
            ax.set_xscale("log")
        means = sorted({v: None for v in x})
        ax.plot(means, [np.mean([_number(r[metric]) for r in rows if float(r[key]) == v])
                        for v in means], color="C1", label="mean")
        ax.scatter(x, [_number(r[metric]) for r in rows], s=14, alpha=0.6, label="trial")
    else:
        pos = {label: i for i, label in enumerate(labels)}
        x = np.array([pos[_label(v)] for v in values], dtype=float)
        ax.scatter(x, [_number(r[metric]) for r in rows], s=14, alpha=0.6, label="trial")
        ax.plot(range(len(labels)), [np.mean([_number(r[metric]) for r in rows
                                              if _label(r[key]) == lab]) for lab in labels],
                color="C1", marker="o", label="mean")
        ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {key} ({len(rows)} trials)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _over_seeds(plt, rows: list[dict], others: list[str], metric: str):
    """One box per combination of the other settings: the spread over the seeds."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        name = ", ".join(f"{k}={_label(r[k])}" for k in others) or "all trials"
        groups.setdefault(name, []).append(_number(r[metric]))
    names = list(groups)
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(names) + 2), 4), layout="constrained")
    ax.boxplot([groups[n] for n in names], showfliers=False)
    for i, n in enumerate(names, start=1):
        jitter = np.linspace(-0.15, 0.15, len(groups[n])) if len(groups[n]) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), groups[n], s=10, alpha=0.6, color="C0")
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20 if len(names) > 3 else 0)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} over initial seeds ({len(rows)} trials)")
    ax.grid(alpha=0.3, axis="y")
    return fig


def _label(value) -> str:
    return json.dumps(value) if isinstance(value, (list, bool)) else str(value)


def _sort_key(label: str, numeric: bool):
    return float(label) if numeric else label


def _number(value):
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None
