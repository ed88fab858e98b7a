"""Issue 21: how much faster a sweep runs on worker processes than one trial after another,
and what Dask costs per trial.

40 small trials (moons, 600 points, 2-32-32-1 ReLU, Adam, 600 epochs of batch 32; a grid of 4
learning rates x 10 seeds; about 0.8 s each on the fast step), each way timed as the user
runs it, the command ``ffnn sweep SWEEP.toml --out DIR --no-plots`` in a new process on a
fresh directory (Python's start, imports and the workers' start included):

* sequential:   ``--workers 1``, the trials one after another in the command's process
* local:        the default, one worker process per core (forked from the fork server that
                the command starts)
* dask:         ``--scheduler ADDRESS`` of a cluster started before (``dask scheduler`` and
                ``dask worker --nworkers N --nthreads 1``, loopback), its start timed apart

This process only waits for the commands, so nothing of its own (no scheduler, no client)
competes with them.  The rounds are interleaved (sequential, local, dask, sequential, ...) and
the median of each is reported, so the ratios come from the same minutes of the same machine.
Target: local is at least 1.7x faster than sequential on a 2-core machine.  The results of
the three must be equal, trial by trial.

    python benchmarks/sweep_bench.py                  # 40 trials, 5 rounds
    python benchmarks/sweep_bench.py --epochs 150     # 40 trials of ~0.2 s

The trials were sized at about 0.8 s when this benchmark was written; the fast step (issue 17)
made the same 150 epochs take 0.2 s, and then a command's fixed start (~1.6 s: Python, NumPy,
numba's compiler; in the sweep's process or in the workers' fork server) is a third of the
local run.  600 epochs bring the trials back to ~0.8 s; ``--epochs 150`` shows the short case.
    python benchmarks/sweep_bench.py --json out.json
    FFNN_BENCH_SMOKE=1 python benchmarks/sweep_bench.py   # 6 tiny trials, 1 round (CI)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import ffnn
from ffnn.sweeps import load_spec, read_results

TARGET = 1.7


def _compute(units: int) -> float:
    """A fixed amount of single-threaded NumPy work (the calibration's unit): every unit the
    same products and tanh of the same matrix (no drift towards slow subnormal numbers)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((192, 192)).astype(np.float32)
    c = np.empty_like(a)
    t0 = time.perf_counter()
    with threadpool_limits(1):
        for _ in range(units * 300):
            np.matmul(a, a, out=c)
            np.tanh(c, out=c)
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


def run_command(toml: Path, out: Path, extra: list[str]) -> float:
    """Seconds that ``ffnn sweep TOML --out OUT --no-plots EXTRA`` takes, in a new process."""
    cmd = [sys.executable, "-m", "ffnn", "sweep", str(toml), "--out", str(out), "--no-plots",
           "--verbose", "0", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


@contextlib.contextmanager
def dask_cluster(tmp: Path, workers: int):
    """A Dask scheduler and ``workers`` one-thread worker processes on loopback, in their own
    processes (as ``dask scheduler`` / ``dask worker`` run them); yields (address, seconds to
    start)."""
    from distributed import Client

    bin_dir = Path(sys.executable).parent
    file = tmp / "scheduler.json"
    t0 = time.perf_counter()
    procs = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        while not file.exists():
            time.sleep(0.05)
        procs.append(subprocess.Popen(
            [str(bin_dir / "dask"), "worker", "--scheduler-file", str(file), "--host",
             "127.0.0.1", "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(scheduler_file=str(file), timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            address = client.scheduler.address
        yield address, time.perf_counter() - t0
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def as_toml(spec: dict) -> str:
    """The benchmark's sweep as a SWEEP.toml (its values are numbers, strings and lists)."""
    def value(v) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    return "".join(f"[{table}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in items.items())
                   + "\n" for table, items in spec.items())


def spec_for(smoke: bool, epochs: int = 600) -> dict:
    train = {"dataset": "moons", "n_samples": 600, "hidden": [32, 32], "activation": "relu",
             "optimizer": "adam", "epochs": epochs, "batch_size": 32, "validation_split": 0.1}
    seeds = 10
    if smoke:
        train.update(epochs=3, n_samples=200)
        seeds = 2
    return {"train": train, "sweep": {"lr": [1e-3, 3e-3, 1e-2, 3e-2] if not smoke
                                      else [1e-3, 1e-2, 3e-2],
                                      "seed": {"range": [0, seeds]}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=600, help="epochs per trial")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    smoke = os.environ.get("FFNN_BENCH_SMOKE") == "1"
    rounds = 1 if smoke else args.rounds
    spec = spec_for(smoke, args.epochs)
    n = len(load_spec(spec).trials)
    print(f"== sweep benchmark (issue 21){' [smoke]' if smoke else ''}: {n} trials of "
          f"{spec['train']['epochs']} epochs, "
          f"{args.workers} workers, {rounds} round(s), {os.cpu_count()} cores, "
          f"{platform.python_version()}, ffnn {ffnn.__version__} ==")

    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"sequential": [], "local": [], "dask": []}
    capacity: list[float] = []
    rows: dict[str, list[dict]] = {}
    calibration = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with tempfile.TemporaryDirectory(prefix="ffnn-sweep-bench-") as tmp:
        toml = Path(tmp) / "sweep.toml"
        toml.write_text(as_toml(spec), encoding="utf-8")
        with dask_cluster(Path(tmp), args.workers) as (address, cluster_start):
            try:
                for r in range(rounds):
                    capacity.append(machine_parallelism(calibration))
                    print(f"  round {r + 1}: two processes do NumPy work {capacity[-1]:.2f}x "
                          "as fast as one (the machine's parallelism now)", flush=True)
                    for name, extra in (("sequential", ["--workers", "1"]),
                                        ("local", ["--workers", str(args.workers)]),
                                        ("dask", ["--scheduler", address])):
                        out = Path(tmp) / f"{name}-{r}"
                        times[name].append(run_command(toml, out, extra))
                        rows[name] = read_results(out / "results.csv")
                        counts = {row["status"] for row in rows[name]}
                        assert len(rows[name]) == n and counts == {"ok"}, (name, counts)
                        print(f"  round {r + 1}: {name:<10} {times[name][-1]:7.2f} s",
                              flush=True)
            finally:
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
    print(f"| sequential (`--workers 1`) | {med['sequential']:.2f} | "
          f"{per_trial['sequential'] * 1000:.0f} ms | 1.00x |")
    print(f"| local (default: {args.workers} worker processes) | {med['local']:.2f} | "
          f"{per_trial['local'] * 1000:.0f} ms | {speedup:.2f}x |")
    print(f"| Dask (`--scheduler`, {args.workers} workers x 1 thread, started before) | "
          f"{med['dask']:.2f} | {per_trial['dask'] * 1000:.0f} ms | {dask_speedup:.2f}x |")
    print()
    print("each time is one `ffnn sweep` command in a new process: Python's start, the imports "
          "and the local workers' start included")
    print(f"Dask cluster start (scheduler + {args.workers} workers): {cluster_start:.2f} s "
          "(once, before the rounds)")
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
            "trials": n, "epochs": spec["train"]["epochs"], "workers": args.workers,
            "rounds": rounds, "smoke": smoke,
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
