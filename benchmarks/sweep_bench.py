"""Issue 21: how much faster a sweep runs on worker processes than one trial after another,
and what Dask costs per trial.

40 small trials (moons, 600 points, 2-32-32-1 ReLU, Adam, 150 epochs of batch 32; a grid of 4
learning rates x 10 seeds; about 0.8 s each) run
three ways in this one process, each on a fresh sweep directory:

* sequential:   ``ffnn.sweep(..., workers=1)``, the trials one after another here
* local:        ``workers=N`` spawned processes (N = the cores; worker start included)
* dask:         a ``LocalCluster`` of N processes, 1 thread each (its start timed apart)

The rounds are interleaved (sequential, local, dask, sequential, ...) and the median of each
is reported, so the ratios come from the same minutes of the same machine.  Target: local is
at least 1.7x faster than sequential on a 2-core machine.  The results of the three backends
must be equal, trial by trial.

    python benchmarks/sweep_bench.py                  # 40 trials, 3 rounds
    python benchmarks/sweep_bench.py --json out.json
    FFNN_BENCH_SMOKE=1 python benchmarks/sweep_bench.py   # 6 tiny trials, 1 round (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import ffnn
from ffnn.sweeps import sweep

TARGET = 1.7


def _compute(units: int) -> float:
    """A fixed amount of single-threaded NumPy work (the calibration's unit)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((192, 192)).astype(np.float32)
    t0 = time.perf_counter()
    with threadpool_limits(1):
        for _ in range(units * 300):
            a = np.tanh(a @ a.T * 0.01)
    return time.perf_counter() - t0


def _warm() -> None:
    _compute(0)
    time.sleep(0.5)  # (so that the other warm-up task goes to the other worker)


def machine_parallelism(pool) -> float:
    """How much faster two processes do two units of work than one process right now: the
    most any two-worker backend could reach (other programs on the machine lower it)."""
    for f in [pool.submit(_warm) for _ in range(2)]:  # both workers started and loaded
        f.result()
    t0 = time.perf_counter()
    pool.submit(_compute, 2).result()
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    futures = [pool.submit(_compute, 1) for _ in range(2)]
    for f in futures:
        f.result()
    two = time.perf_counter() - t0
    return one / two


def spec_for(smoke: bool) -> dict:
    train = {"dataset": "moons", "n_samples": 600, "hidden": [32, 32], "activation": "relu",
             "optimizer": "adam", "epochs": 150, "batch_size": 32, "validation_split": 0.1}
    seeds = 10
    if smoke:
        train.update(epochs=3, n_samples=200)
        seeds = 2
    return {"train": train, "sweep": {"lr": [1e-3, 3e-3, 1e-2, 3e-2] if not smoke
                                      else [1e-3, 1e-2, 3e-2],
                                      "seed": {"range": [0, seeds]}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    smoke = os.environ.get("FFNN_BENCH_SMOKE") == "1"
    rounds = 1 if smoke else args.rounds
    spec = spec_for(smoke)
    n = len(ffnn.sweeps.load_spec(spec).trials)
    print(f"== sweep benchmark (issue 21){' [smoke]' if smoke else ''}: {n} trials, "
          f"{args.workers} workers, {rounds} round(s), {os.cpu_count()} cores, "
          f"{platform.python_version()}, ffnn {ffnn.__version__} ==")

    from distributed import Client, LocalCluster

    load_before = os.getloadavg()

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    cluster_start = time.perf_counter() - t0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    times: dict[str, list[float]] = {"sequential": [], "local": [], "dask": []}
    capacity: list[float] = []
    calibration = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    rows: dict[str, list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ffnn-sweep-bench-") as tmp:
            for r in range(rounds):
                capacity.append(machine_parallelism(calibration))
                print(f"  round {r + 1}: two processes do NumPy work {capacity[-1]:.2f}x as "
                      "fast as one (the machine's parallelism now)", flush=True)
                for name, kwargs in (("sequential", {"workers": 1}),
                                     ("local", {"workers": args.workers}),
                                     ("dask", {"client": client})):
                    out = Path(tmp) / f"{name}-{r}"
                    t0 = time.perf_counter()
                    result = sweep(spec, out, plots=False, **kwargs)
                    times[name].append(time.perf_counter() - t0)
                    assert result.ran == n and result.counts() == {"ok": n}, result.counts()
                    rows[name] = result.rows
                    print(f"  round {r + 1}: {name:<10} {times[name][-1]:7.2f} s", flush=True)
    finally:
        client.close()
        cluster.close()
        calibration.shutdown()
    same = all([row["train_loss"] for row in rows[name]] ==
               [row["train_loss"] for row in rows["sequential"]] for name in rows)
    med = {k: statistics.median(v) for k, v in times.items()}
    speedup = med["sequential"] / med["local"]
    dask_speedup = med["sequential"] / med["dask"]
    per_trial = {k: v / n for k, v in med.items()}
    overhead = (med["dask"] - med["local"]) / n
    print()
    print("| backend | seconds (median) | per trial | vs sequential |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| sequential (1 process) | {med['sequential']:.2f} | "
          f"{per_trial['sequential'] * 1000:.0f} ms | 1.00x |")
    print(f"| local ({args.workers} processes, spawn; start included) | {med['local']:.2f} | "
          f"{per_trial['local'] * 1000:.0f} ms | {speedup:.2f}x |")
    print(f"| Dask LocalCluster ({args.workers} x 1 thread; started before) | "
          f"{med['dask']:.2f} | {per_trial['dask'] * 1000:.0f} ms | {dask_speedup:.2f}x |")
    print()
    print(f"LocalCluster start: {cluster_start:.2f} s (once per sweep with --local-cluster)")
    print(f"Dask overhead per trial vs local processes: {overhead * 1000:+.1f} ms "
          f"(({med['dask']:.2f} - {med['local']:.2f}) s / {n} trials)")
    print(f"same results on every backend (train loss per trial): {same}")
    share = {k: statistics.median(r["cpu_seconds"] / r["wall_seconds"] for r in v)
             for k, v in rows.items()}
    print("CPU time / wall time per trial (median, last round; below 1: the trial waited for "
          "a core): " + ", ".join(f"{k} {v:.2f}" for k, v in share.items()))
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in load_after)} (on {os.cpu_count()} cores: "
          "other processes take their share from the workers)")
    print(f"the machine's parallelism (median of the rounds): "
          f"{statistics.median(capacity):.2f}x; local reached "
          f"{speedup / statistics.median(capacity):.0%} of it")
    verdict = "PASS" if speedup >= TARGET else "FAIL"
    print(f"target: local >= {TARGET}x sequential: {speedup:.2f}x {verdict}"
          + (" (smoke: trials too small to mean anything)" if smoke else ""))
    if args.json:
        args.json.write_text(json.dumps({
            "trials": n, "workers": args.workers, "rounds": rounds, "smoke": smoke,
            "seconds": times, "median": med, "speedup_local": speedup,
            "speedup_dask": dask_speedup, "cluster_start_s": cluster_start,
            "dask_overhead_per_trial_s": overhead, "same_results": same,
            "load_before": load_before, "load_after": load_after,
            "machine_parallelism": capacity, "cpu_share_per_trial": share,
            "verdict": verdict}, indent=2))
    if not same:
        raise SystemExit("the backends disagree")


if __name__ == "__main__":
    main()
