"""Shared by the seed examples: fast mode, the output folder and the headline line.

``FFNN_FAST=1`` (or ``--fast``) makes every example small enough for CI: fewer epochs and a
small MNIST subset.  Without it each example runs the full experiment of its write-up.
Plots go to ``--output-dir`` (default ``examples/output/``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(description: str) -> argparse.Namespace:
    """``--fast`` and ``--output-dir``; FFNN_FAST=1 in the environment also means fast."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true",
                        help="small run for CI (also: FFNN_FAST=1)")
    parser.add_argument("--output-dir", type=Path, default=HERE / "output",
                        help="where the plots are written (default: examples/output)")
    args = parser.parse_args()
    args.fast = args.fast or os.environ.get("FFNN_FAST", "") not in ("", "0")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if args.fast:
        print("FFNN_FAST: a small run for CI; the full experiment runs without it\n")
    return args


def headline(text: str) -> None:
    """The number the write-up reports, printed on one line that tests look for."""
    print(f"headline: {text}", flush=True)


def saved(fig, path: Path) -> None:
    """Report where a figure was written, then free it (scripts make many figures)."""
    import matplotlib.pyplot as plt

    print(f"  plot: {path}")
    plt.close(fig)
