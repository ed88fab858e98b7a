"""What does tracing cost when it is off?  (A benchmark, not a test: timings are noisy.)

Trains an MNIST-sized network (784-512-256-128-10, float32, batch 128) on random data, in
alternating rounds so that machine noise hits every variant alike:

* ``no hooks``            net.hooks is empty: fit's plain loop
* ``trace(steps=1)``      a trace that records step 0 only, then leaves net.hooks
* ``idle observer``       a trace selecting a step that never comes: the observer stays in
                          net.hooks and returns at once on every event (the worst case of
                          "tracing off": what ``steps=[...]`` costs between its steps)
* ``Diagnostics()``       the per-epoch diagnostics callback

and prints, per variant, the CPU time per epoch (``time.process_time``: the work this process
did, which other programs on a busy machine hardly disturb) and the best wall-clock time,
each with its ratio to ``no hooks``.  A second measurement gives the idle observer's cost in
microseconds per step on a tiny network, where any overhead would show most.

    python benchmarks/trace_overhead.py [--samples 6000] [--epochs 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ffnn
from ffnn.diagnostics import Diagnostics
from ffnn.tracing import trace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.samples, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.samples)
    base = ffnn.mlp([784, 512, 256, 128, 10], activation="relu", seed=0)

    def run(variant: str) -> tuple[float, float]:
        net = base.copy()
        opt = ffnn.SGD(0.01, momentum=0.9)
        kwargs = dict(epochs=args.epochs, batch_size=args.batch_size, seed=0, verbose=0)
        t0, c0 = time.perf_counter(), time.process_time()
        if variant == "no hooks":
            ffnn.fit(net, X, y, "ce", opt, **kwargs)
        elif variant == "trace(steps=1)":
            with trace(net, steps=1) as t:
                ffnn.fit(net, X, y, "ce", opt, **kwargs)
            assert len(t) == 1 and not net.hooks
        elif variant == "idle observer":
            with trace(net, steps=[10**9]) as t:
                ffnn.fit(net, X, y, "ce", opt, **kwargs)
            assert len(t) == 0
        elif variant == "Diagnostics()":
            ffnn.fit(net, X, y, "ce", opt, callbacks=[Diagnostics()], **kwargs)
        return ((time.perf_counter() - t0) / args.epochs, (time.process_time() - c0) / args.epochs)

    variants = ["no hooks", "trace(steps=1)", "idle observer", "Diagnostics()"]
    run("no hooks")  # warm-up: BLAS threads, caches
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            w, c = run(v)
            wall[v].append(w)
            cpu[v].append(c)

    steps = -(-args.samples // args.batch_size)
    ref_cpu, ref_wall = statistics.median(cpu["no hooks"]), min(wall["no hooks"])
    print(f"784-512-256-128-10 float32, {args.samples} samples, batch {args.batch_size} "
          f"({steps} steps/epoch), {args.rounds} rounds x {args.epochs} epochs")
    print(f"{'variant':<16} {'CPU s/epoch':>12} {'ratio':>7} {'best wall s/epoch':>18} "
          f"{'ratio':>7}")
    for v in variants:
        c, w = statistics.median(cpu[v]), min(wall[v])
        print(f"{v:<16} {c:12.4f} {c / ref_cpu:7.3f} {w:18.4f} {w / ref_wall:7.3f}")
    micro()


def micro(blocks: int = 30, repeats: int = 2000) -> None:
    """Per-step cost of an idle observer on a 2-16-2 network (a step of a few microseconds).

    Blocks with and without the observer alternate; the fastest block of each is kept, which
    filters out the moments another program had the CPU.
    """
    rng = np.random.default_rng(1)
    X = rng.normal(size=(32, 2)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    net = ffnn.mlp([2, 16, 2], seed=0)
    loss = ffnn.get_loss("ce")
    opt = ffnn.SGD(0.01)
    idle = trace(net, steps=[10**9])

    def block() -> float:
        t0 = time.perf_counter()
        for _ in range(repeats):
            ffnn.train_step(net, loss, opt, X, y)
        return (time.perf_counter() - t0) / repeats

    plain = observed = float("inf")
    for _ in range(blocks):
        plain = min(plain, block())
        with idle:
            observed = min(observed, block())
    print(f"tiny 2-16-2 network, batch 32: {plain * 1e6:.1f} us/step without hooks, "
          f"{observed * 1e6:.1f} us/step with an idle observer "
          f"(+{(observed - plain) * 1e6:.1f} us for 3 forward + 3 backward events, each a "
          "getattr and a call that returns at once)")


if __name__ == "__main__":
    main()
