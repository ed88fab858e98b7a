"""Command-line interface: ``ffnn <command>`` (also ``python -m ffnn``).

``ffnn demo`` (the default) trains seed 001's moons network and prints its accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _moons(n_samples: int, noise: float, seed: int):
    try:
        from .datasets import moons
    except ImportError:  # datasets not available: fall back to scikit-learn directly
        from sklearn.datasets import make_moons

        return make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return moons(n_samples=n_samples, noise=noise, seed=seed)


def cmd_demo(args: argparse.Namespace) -> int:
    """Seed 001: moons (1000, noise 0.2, seed 42), 2-16-32-1 sigmoid, BCE, GD lr 1.0, 2000 ep."""
    import ffnn

    X, y = _moons(1000, 0.2, 42)
    net = ffnn.mlp([2, 16, 32, 1], activation="sigmoid", seed=args.seed)
    print(net.summary())
    history = ffnn.fit(net, X, y, "bce", ffnn.SGD(1.0), epochs=args.epochs, verbose=args.verbose)
    accuracy = float(np.mean(net.classify(X) == y))
    print(f"final cost J = {history['loss'][-1]:.4f}   training accuracy = {accuracy:.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ffnn.save(net, out / "model.npz")
    try:
        from .plots import plot_decision_boundary
    except ImportError:
        print("(install ffnn[plots] for the decision-boundary picture)")
    else:
        png = out / "decision_boundary.png"
        plot_decision_boundary(net, X, y, title="seed 001: moons, 2-16-32-1 sigmoid",
                               save=png)
        print(f"decision boundary written to {png}")
    print(f"model written to {out / 'model.npz'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="train seed 001's moons network (the default)")
    demo.add_argument("--epochs", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=5, help="initialisation seed")
    demo.add_argument("--out", default="ffnn-demo", help="output directory")
    demo.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo", *(argv or sys.argv[1:])])
    return args.func(args)
