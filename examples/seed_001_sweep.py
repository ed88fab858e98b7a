"""Seed 001, asked of 100 seeds: the share of initialisations that reach 0.97 accuracy.

The write-up warns that unlucky initialisations of its moons network stall on a plateau.
``examples/sweeps/seed001_moons.toml`` runs its recipe (2-16-32-1 sigmoid, binary
cross-entropy, full-batch gradient descent with learning rate 1.0, 2000 epochs) for initial
seeds 0..99, and the same network with momentum (SGD 0.5, momentum 0.9) and with Adam (0.01):
300 trials with ``ffnn.sweep`` on local worker processes.  This script prints the share per
optimiser and plots the final training accuracy of every seed.

Run:  python examples/seed_001_sweep.py   (FFNN_FAST=1: 4 seeds and 300 epochs, for CI)
      --workers N, or --local-cluster N (Dask); rerunning skips the finished trials.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import ffnn

HERE = Path(__file__).resolve().parent
SWEEP_FILE = HERE / "sweeps" / "seed001_moons.toml"
TARGET = 0.97


def label(row: dict) -> str:
    if row["optimizer"] == "adam":
        return f"Adam {row['lr']:g}"
    if row["momentum"]:
        return f"SGD {row['lr']:g}, momentum {row['momentum']:g}"
    return f"GD {row['lr']:g} (write-up)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="small run (also: FFNN_FAST=1)")
    parser.add_argument("--output-dir", type=Path, default=HERE / "output")
    parser.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    parser.add_argument("--local-cluster", type=int, help="a Dask LocalCluster of N workers")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("FFNN_FAST", "") not in ("", "0")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    spec = SWEEP_FILE
    out = args.output_dir / "seed001_sweep"
    if fast:  # the same sweep file with fewer seeds and epochs (a separate sweep directory)
        print("FFNN_FAST: 4 seeds x 300 epochs; the full study runs without it\n")
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        spec = tomllib.loads(SWEEP_FILE.read_text())
        spec["train"].update(epochs=300, dataset=str(HERE / "sweeps" / "seed001_moons.csv"))
        spec["sweep"]["seed"] = {"range": [0, 4]}
        out = args.output_dir / "seed001_sweep_fast"
    result = ffnn.sweep(spec, out, workers=args.workers, local_cluster=args.local_cluster,
                        progress=lambda row, done, total: print(
                            f"\r{done}/{total} trials", end="", flush=True))
    print(f"\n{len(result.rows)} trials, {result.ran} run on {result.backend} in "
          f"{result.seconds:.0f} s ({result.skipped} already finished): {out / 'results.csv'}")

    groups: dict[str, list[dict]] = {}
    for row in result.rows:
        groups.setdefault(label(row), []).append(row)
    print(f"\n{'optimiser':<28} {'seeds':>5} {'>= 0.97':>8} {'share':>6} {'worst':>6} "
          f"{'median':>7}  below 0.97 (seed: accuracy)")
    for name, rows in groups.items():
        acc = np.array([r["train_accuracy"] for r in rows])
        reached = int(np.sum(acc >= TARGET))
        below = ", ".join(f"{int(r['seed'])}: {r['train_accuracy']:.3f}" for r in rows
                          if r["train_accuracy"] < TARGET)
        print(f"{name:<28} {len(acc):>5} {reached:>8} {reached / len(acc):>6.0%} "
              f"{acc.min():>6.3f} {np.median(acc):>7.3f}  {below or '-'}")
        print(f"headline: {name}: {reached} of {len(acc)} seeds reach training accuracy "
              f">= {TARGET} ({reached / len(acc):.0%})", flush=True)

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for i, rows in enumerate(groups.values()):
        acc = np.array([r["train_accuracy"] for r in rows])
        jitter = np.random.default_rng(i).uniform(-0.18, 0.18, len(acc))
        colors = np.where(acc >= TARGET, f"C{i}", "k")
        ax.scatter(i + jitter, acc, s=12, c=colors, alpha=0.7)
        reached = np.mean(acc >= TARGET)
        ax.annotate(f"{reached:.0%} reach {TARGET}", (i, 1.0), ha="center", va="bottom",
                    fontsize=9)
    ax.axhline(TARGET, color="k", ls="--", lw=1)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel("final training accuracy (800 points)")
    ax.set_ylim(top=1.02)
    n = len(next(iter(groups.values())))
    ax.set_title(f"seed 001 on moons: {n} initial seeds per optimiser, 2-16-32-1 sigmoid, "
                 "full batch", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    path = args.output_dir / "seed001_sweep_share.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"  plot: {path}")


if __name__ == "__main__":
    main()
