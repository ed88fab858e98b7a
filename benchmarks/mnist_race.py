#!/usr/bin/env python
"""MNIST race: ffnn vs PyTorch vs scikit-learn, in one run, interleaved epoch by epoch (issue 8).

    .venv/bin/python benchmarks/mnist_race.py                  # 20 epochs, all sections
    .venv/bin/python benchmarks/mnist_race.py --quick          # CI smoke, well under a minute
    .venv/bin/python benchmarks/mnist_race.py --json out.json  # also write every number
    .venv/bin/python benchmarks/mnist_race.py --only17         # issue 17's targets alone

ffnn runs as a user writes it, with no flag: ``ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-3),
epochs=..., batch_size=128)`` takes the fastest training step that applies (issue 17); the
step chosen, and why no faster one, is printed for every recipe.

Every framework trains the *same* recipe (``benchmarks/recipes.py``): same architecture, same
initial weights (ffnn's He-normal draw copied into the peers), same batch order (ffnn's
per-epoch permutation ``default_rng([seed, epoch]).permutation(N)`` replayed for the peers),
same optimiser and hyperparameters, float32, inputs scaled to [0, 1].  The epochs are
interleaved (ffnn 1, torch 1, sklearn 1, matmul bound 1, ffnn 2, ...) so that machine noise
hits everyone alike; only ratios within one run mean anything.

Sections: per-epoch seconds and test accuracy; medians over epochs 2..N and the ratios
ffnn/PyTorch and ffnn/scikit-learn; time to 98.0% test accuracy; the matmul bound; inference
over the 10k test set; the small shapes (moons, 784-64-32-10 batch 32); peak memory (each
framework in its own subprocess); the BLAS in use; and the targets of issue 8 with PASS/FAIL.
Then issue 17's races (the recommended recipe with Dropout 0.2, seed 003's sigmoid network; a
few epochs each, ffnn and PyTorch interleaved) and its targets with PASS/FAIL.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from machine import blas_info, cpu_model  # noqa: E402
from recipes import (  # noqa: E402
    RECIPES,
    Recipe,
    get_recipe,
    recommended_recipe,
    seed003_sigmoid_recipe,
    small_b32_recipe,
)

TARGET_ACC = 0.98
CLEAN_SHARE = 0.10  # a round is "clean" if other processes used < 10% of a core throughout
QUICK_SUBSET = 5000
SUMMARY_HEADER = "== issue 8 targets =="
SUMMARY17_HEADER = "== issue 17 targets (ffnn with no flag) =="


def _log(*args: Any) -> None:
    print(*args, flush=True)


# =========================================================================== data
def default_data_path() -> Path:
    env = os.environ.get("FFNN_DATA_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    return base / "mnist.npz"


def _load_direct(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as d:
        Xtr, ytr, Xte, yte = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
    out = []
    for X in (Xtr, Xte):
        Xf = X.reshape(X.shape[0], -1).astype(np.float32)
        Xf /= np.float32(255.0)
        out.append(Xf)
    return out[0], ytr.astype(np.int64), out[1], yte.astype(np.int64)


def _load_via_ffnn(path: Path):
    """ffnn.datasets.load_mnist if another developer has written it and it gives what we need."""
    try:
        from ffnn.datasets import load_mnist  # type: ignore[import-not-found]
    except Exception:
        return None
    try:
        try:
            res = load_mnist(path)
        except TypeError:
            res = load_mnist()
        if isinstance(res, dict):
            res = (res["X_train"], res["y_train"], res["X_test"], res["y_test"])
        if len(res) == 2:
            (Xtr, ytr), (Xte, yte) = res
        else:
            Xtr, ytr, Xte, yte = res
        Xtr = np.ascontiguousarray(np.asarray(Xtr, np.float32).reshape(len(Xtr), -1))
        Xte = np.ascontiguousarray(np.asarray(Xte, np.float32).reshape(len(Xte), -1))
        ok = (Xtr.shape == (60000, 784) and Xte.shape == (10000, 784)
              and 0.0 <= float(Xtr.min()) and float(Xtr.max()) <= 1.0 and float(Xtr.max()) > 0.5)
        if not ok:
            return None
        return Xtr, np.asarray(ytr).astype(np.int64), Xte, np.asarray(yte).astype(np.int64)
    except Exception:
        return None


def load_data(path: Path, subset: int | None) -> tuple[tuple[np.ndarray, ...], str]:
    res = _load_via_ffnn(path)
    how = "ffnn.datasets.load_mnist"
    if res is None:
        res = _load_direct(path)
        how = f"np.load({path})"
    Xtr, ytr, Xte, yte = res
    if subset:
        Xtr, ytr = np.ascontiguousarray(Xtr[:subset]), ytr[:subset].copy()
    return (Xtr, ytr, Xte, yte), how


def make_moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's make_moons construction), float32."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([np.column_stack([np.cos(t_out), np.sin(t_out)]),
                   np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5])])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    X += rng.normal(scale=noise, size=X.shape)
    perm = rng.permutation(n)
    return X[perm].astype(np.float32), y[perm].astype(np.float32)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """ffnn.fit's shuffle for a 0-based epoch, replayed for the peers."""
    return np.random.default_rng([seed, epoch]).permutation(n)


# =========================================================================== environment
def n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Contention:
    """CPU seconds that *other* processes used while a timed section ran (from /proc/stat).

    busy CPU time of the whole machine minus this process's own CPU time.  With 2 cores and 2
    BLAS threads, any foreign use slows the section (2-3x, says issue 8), so every timed
    section records it: ``foreign / wall`` near 0 means the timing is clean.
    """

    TICK = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01

    @classmethod
    def _busy(cls) -> float:
        try:
            with open("/proc/stat") as fh:
                f = [int(x) for x in fh.readline().split()[1:]]
        except OSError:
            return math.nan
        return (sum(f[:8]) - f[3] - f[4]) * cls.TICK  # all but idle and iowait (no guest)

    def __enter__(self) -> Contention:
        t = os.times()
        self.own0, self.busy0, self.wall0 = t.user + t.system, self._busy(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        t = os.times()
        own = t.user + t.system - self.own0
        self.wall = time.perf_counter() - self.wall0
        self.foreign = max(0.0, self._busy() - self.busy0 - own)
        self.share = self.foreign / self.wall if self.wall > 0 else 0.0


def wait_quiet(max_wait: float, probe: float = 0.5) -> float:
    """Wait (at most ``max_wait`` s) until other processes use < CLEAN_SHARE of a core."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        with Contention() as c:
            time.sleep(probe)
        if c.share < CLEAN_SHARE:
            break
    return time.perf_counter() - t0


def blas_threads(n: int | None):
    """Context limiting NumPy's BLAS to ``n`` threads (None: leave the default alone)."""
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# =========================================================================== trainers
def init_weights(recipe: Recipe, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """ffnn's initial (W, b) per Dense layer: the draw every framework starts from."""
    import ffnn

    net = ffnn.mlp(list(recipe.sizes), activation=recipe.activation, seed=seed)
    p = net.parameters()
    dense = sorted({k.split(".")[0] for k in p}, key=int)
    return [(p[f"{i}.W"].copy(), p[f"{i}.b"].copy()) for i in dense]


def step_choice(recipe: Recipe, X: np.ndarray, y: np.ndarray, threads: int | None = None) -> str:
    """The training step ``fit`` takes for this recipe, and why no faster one (as fit
    decides it: ``ffnn.steps.choose_step``)."""
    import ffnn
    from ffnn.steps import choose_step

    net = ffnn.mlp(list(recipe.sizes), activation=recipe.activation, seed=0,
                   dropout=recipe.dropout or 0.0)
    with blas_threads(threads), ffnn_threads(threads):
        _, choice = choose_step(net, ffnn.get_loss("ce"), ffnn.Adam(recipe.lr), fused="auto",
                                batch=min(recipe.batch_size, len(y)), n_samples=len(y),
                                target_ndim=y.ndim)
    return choice.describe()


@contextlib.contextmanager
def ffnn_threads(threads: int | None):
    """FFNN_NUM_THREADS for the block (None: leave it): with 1, ffnn keeps to the one-thread
    fused step, so "ffnn-1t" is one thread like "torch-1t" and "bound-1t"."""
    if threads is None:
        yield
        return
    old = os.environ.get("FFNN_NUM_THREADS")
    os.environ["FFNN_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        if old is None:
            del os.environ["FFNN_NUM_THREADS"]
        else:
            os.environ["FFNN_NUM_THREADS"] = old


class FfnnTrainer:
    """ffnn.fit with no flag, one call per epoch.  ``threads`` limits NumPy's BLAS and ffnn's
    workers (None: the defaults)."""

    def __init__(self, recipe: Recipe, weights, X: np.ndarray, y: np.ndarray, seed: int,
                 threads: int | None = None, name: str = "ffnn") -> None:
        import ffnn

        self.ffnn = ffnn
        self.name, self.threads = name, threads
        self.recipe, self.X, self.y, self.seed = recipe, X, y, seed
        self.net = ffnn.mlp(list(recipe.sizes), activation=recipe.activation, seed=seed,
                            dropout=recipe.dropout or 0.0)
        params = self.net.parameters()
        dense = sorted({k.split(".")[0] for k in params}, key=int)
        for i, (W, b) in zip(dense, weights, strict=True):
            params[f"{i}.W"][...] = W
            params[f"{i}.b"][...] = b
        self.opt = (ffnn.AdamW(recipe.lr, recipe.beta1, recipe.beta2, recipe.eps,
                               weight_decay=recipe.weight_decay)
                    if recipe.weight_decay else
                    ffnn.Adam(recipe.lr, recipe.beta1, recipe.beta2, recipe.eps))
        self.history = None
        self.loop_seconds: list[float] = []

    def train_epoch(self, epoch: int) -> float:
        with blas_threads(self.threads), ffnn_threads(self.threads):
            return self._train_epoch(epoch)

    def _train_epoch(self, epoch: int) -> float:
        self.opt.lr = self.recipe.lr_at(epoch)
        t0 = time.perf_counter()
        self.history = self.ffnn.fit(self.net, self.X, self.y, "ce", self.opt, epochs=1,
                                     batch_size=self.recipe.batch_size, seed=self.seed,
                                     verbose=0, history=self.history)
        dt = time.perf_counter() - t0
        self.loop_seconds.append(float(self.history.last()["time"]))
        return dt

    def predict(self, X: np.ndarray) -> np.ndarray:
        with blas_threads(self.threads):
            return self.net.predict(X)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.net.predict(X), axis=1) == y))

    def weights(self) -> list[np.ndarray]:
        p = self.net.parameters()
        return [p[k] for k in sorted(p, key=lambda k: (int(k.split(".")[0]), k[-1] != "W"))]


def _torch_act(name: str):
    import torch

    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    if name not in acts:
        raise ValueError(f"activation {name!r} has no PyTorch twin in this harness")
    return acts[name]()


def torch_mlp(sizes, activation: str, weights, dropout: float = 0.0):
    import torch

    layers = []
    for i, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(_torch_act(activation))
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


class TorchTrainer:
    """PyTorch CPU, the plain loop users write: index batches, Adam, ``loss.item()`` per batch.

    ``threads`` is set with ``torch.set_num_threads`` before every epoch (outside the timing):
    the machine's cores for "torch", 1 for "torch-1t".
    """

    def __init__(self, recipe: Recipe, weights, X: np.ndarray, y: np.ndarray, seed: int,
                 threads: int, name: str = "torch") -> None:
        import torch

        self.name = name
        self.threads = threads
        torch.set_num_threads(threads)
        self.torch = torch
        self.recipe, self.seed, self.n = recipe, seed, X.shape[0]
        self.model = torch_mlp(recipe.sizes, recipe.activation, weights, recipe.dropout)
        lins = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        if recipe.weight_decay:
            groups = [{"params": [m.weight for m in lins], "weight_decay": recipe.weight_decay},
                      {"params": [m.bias for m in lins], "weight_decay": 0.0}]
            self.opt = torch.optim.AdamW(groups, lr=recipe.lr, betas=(recipe.beta1, recipe.beta2),
                                         eps=recipe.eps)
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=recipe.lr,
                                        betas=(recipe.beta1, recipe.beta2), eps=recipe.eps)
        self.X = torch.from_numpy(X)  # shares memory with the NumPy array
        self.y = torch.from_numpy(y)

    def train_epoch(self, epoch: int) -> float:
        torch = self.torch
        F = torch.nn.functional
        torch.set_num_threads(self.threads)
        for g in self.opt.param_groups:
            g["lr"] = self.recipe.lr_at(epoch)
        B = self.recipe.batch_size
        model, opt = self.model, self.opt
        model.train()
        t0 = time.perf_counter()
        perm = torch.from_numpy(epoch_order(self.seed, epoch, self.n))
        total = 0.0
        for s in range(0, self.n, B):
            idx = perm[s:s + B]
            xb = self.X.index_select(0, idx)
            yb = self.y.index_select(0, idx)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return time.perf_counter() - t0

    def predict(self, X: np.ndarray) -> np.ndarray:
        torch = self.torch
        torch.set_num_threads(self.threads)
        self.model.eval()
        with torch.no_grad():
            return self.model(torch.from_numpy(X)).numpy()

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.predict(X), axis=1) == y))

    def weights(self) -> list[np.ndarray]:
        out = []
        for m in self.model:
            if isinstance(m, self.torch.nn.Linear):
                out += [m.weight.detach().numpy().T, m.bias.detach().numpy()]
        return out


class SklearnTrainer:
    """MLPClassifier(solver="adam"), one ``partial_fit`` per epoch on the data in ffnn's order.

    scikit-learn cannot take a batch order, so ``shuffle=False`` and each epoch first gathers
    the rows in ffnn's order into one reused buffer; that gather is inside the timed region
    (it replaces the gather scikit-learn does itself when it shuffles).
    """

    name = "sklearn"

    def __init__(self, recipe: Recipe, weights, X: np.ndarray, y: np.ndarray, seed: int) -> None:
        from sklearn.neural_network import MLPClassifier

        acts = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}
        self.recipe, self.seed, self.X, self.y = recipe, seed, X, y
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(recipe.sizes[1:-1]), activation=acts[recipe.activation],
            solver="adam", alpha=0.0, batch_size=recipe.batch_size,
            learning_rate_init=recipe.lr, beta_1=recipe.beta1, beta_2=recipe.beta2,
            epsilon=recipe.eps, shuffle=False, random_state=seed, tol=0.0,
            n_iter_no_change=10**9)
        classes = np.arange(recipe.sizes[-1])
        # one step on a few rows creates every attribute; then install ffnn's initial weights
        # and drop the optimiser so that training starts from step 0 with empty moments
        k = min(len(y), 2 * recipe.batch_size)
        self.clf.partial_fit(X[:k], y[:k], classes=classes)
        for i, (W, b) in enumerate(weights):
            self.clf.coefs_[i][...] = W
            self.clf.intercepts_[i][...] = b
        del self.clf._optimizer
        self.Xbuf = np.empty_like(X)
        self.ybuf = np.empty_like(y)

    def train_epoch(self, epoch: int) -> float:
        lr = self.recipe.lr_at(epoch)
        if hasattr(self.clf, "_optimizer"):
            self.clf._optimizer.learning_rate_init = lr
        else:
            self.clf.learning_rate_init = lr
        t0 = time.perf_counter()
        order = epoch_order(self.seed, epoch, self.X.shape[0])
        np.take(self.X, order, axis=0, out=self.Xbuf)
        np.take(self.y, order, axis=0, out=self.ybuf)
        self.clf.partial_fit(self.Xbuf, self.ybuf)
        return time.perf_counter() - t0

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(X)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.clf.predict(X) == y))


# =========================================================================== matmul bound
class MatmulBound:
    """The matrix products of one training epoch, nothing else, at the network's own shapes.

    Per batch: forward Z_l = A_l W_l (every layer), dW_l = A_l^T dZ_l (every layer) and
    dA_l = dZ_l W_l^T for layers 2..L only (the data gradient of layer 1 is never needed).
    float32, preallocated outputs (``out=``), the same BLAS and threads as ffnn.
    """

    def __init__(self, sizes, n: int, batch: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 999])
        B = min(batch, n)
        self.batches = [B] * (n // B) + ([n % B] if n % B else [])
        L = len(sizes) - 1
        f32 = np.float32
        self.A = [rng.random((B, sizes[i]), dtype=f32) for i in range(L)]
        self.W = [rng.standard_normal((sizes[i], sizes[i + 1]), dtype=f32) * f32(0.05)
                  for i in range(L)]
        self.Z = [np.empty((B, sizes[i + 1]), f32) for i in range(L)]
        self.dZ = [rng.standard_normal((B, sizes[i + 1]), dtype=f32) for i in range(L)]
        self.dW = [np.empty((sizes[i], sizes[i + 1]), f32) for i in range(L)]
        self.dA = [np.empty((B, sizes[i]), f32) for i in range(L)]
        self.flops = sum(2 * nb * sizes[i] * sizes[i + 1] * (3 if i else 2)
                         for nb in self.batches for i in range(L))

    def run_epoch(self, threads: int | None = None) -> float:
        with blas_threads(threads):
            return self._run_epoch()

    def _run_epoch(self) -> float:
        A, W, Z, dZ, dW, dA = self.A, self.W, self.Z, self.dZ, self.dW, self.dA
        L = len(W)
        mm = np.matmul
        t0 = time.perf_counter()
        for nb in self.batches:
            for i in range(L):
                mm(A[i][:nb], W[i], out=Z[i][:nb])
            for i in range(L - 1, -1, -1):
                mm(A[i][:nb].T, dZ[i][:nb], out=dW[i])
                if i:
                    mm(dZ[i][:nb], W[i].T, out=dA[i][:nb])
        return time.perf_counter() - t0


# =========================================================================== race
def median_from_2(xs: list[float]) -> float:
    """Median over epochs 2..N (epoch 1 carries warm-up), or epoch 1 alone if N == 1."""
    return float(statistics.median(xs[1:] if len(xs) > 1 else xs))


def time_to_acc(seconds: list[float], accs: list[float], target: float) -> float | None:
    """Cumulative training seconds up to the first epoch whose test accuracy >= target."""
    total = 0.0
    for s, a in zip(seconds, accs, strict=True):
        total += s
        if a >= target:
            return total
    return None


def build_trainers(recipe: Recipe, X, y, seed: int, frameworks: list[str], threads: int,
                   notes: list[str], one_thread: bool = True) -> list:
    """ffnn (and "ffnn-1t", "torch-1t" on one thread when ``one_thread``) and the peers."""
    weights = init_weights(recipe, seed)
    trainers: list = [FfnnTrainer(recipe, weights, X, y, seed)]
    if threads > 1 and one_thread:
        trainers.append(FfnnTrainer(recipe, weights, X, y, seed, 1, name="ffnn-1t"))
    if "torch" in frameworks:
        trainers.append(TorchTrainer(recipe, weights, X, y, seed, threads))
        if threads > 1 and one_thread:
            trainers.append(TorchTrainer(recipe, weights, X, y, seed, 1, name="torch-1t"))
    if "sklearn" in frameworks:
        if recipe.weight_decay or recipe.dropout:
            notes.append(f"{recipe.name}: scikit-learn skipped (it has no decoupled weight "
                         "decay and no dropout)")
        else:
            trainers.append(SklearnTrainer(recipe, weights, X, y, seed))
    return trainers


def race(recipe: Recipe, data, epochs: int, seed: int, frameworks: list[str], threads: int,
         settle: float, with_bound: bool, notes: list[str], quiet_wait: float = 0.0,
         budget_s: float | None = None, one_thread: bool = True) -> dict:
    """Train every framework on ``recipe``, interleaved epoch by epoch; returns all numbers.

    With ``budget_s``, no new round starts once that many seconds have passed (the report
    then says how many epochs ran).
    """
    t_begin = time.perf_counter()
    Xtr, ytr, Xte, yte = data
    trainers = build_trainers(recipe, Xtr, ytr, seed, frameworks, threads, notes, one_thread)
    bound = MatmulBound(recipe.sizes, Xtr.shape[0], recipe.batch_size, seed) \
        if with_bound else None
    # the bound at the default BLAS threads, and at 1 thread (the like-for-like of ffnn-1t)
    bounds = ([("matmul_bound", "matmul-bound", None)]
              + ([("matmul_bound_1t", "bound-1t", 1)] if threads > 1 and one_thread else [])
              ) if bound else []
    names = [t.name for t in trainers] + [b[1] for b in bounds]
    res: dict[str, Any] = {"recipe": recipe.as_dict(epochs), "n_train": int(Xtr.shape[0]),
                           "ffnn_step": step_choice(recipe, Xtr, ytr),
                           "frameworks": {t.name: {"seconds": [], "test_acc": []}
                                          for t in trainers}}
    for key, _, _ in bounds:
        res[key] = {"seconds": [], "gflop_per_epoch": bound.flops / 1e9}
    tnames = {t.name for t in trainers}
    head = f"{'epoch':>5}" + "".join(f" | {n:>9} s   acc  " if n in tnames
                                     else f" | {n:>12} s" for n in names) + " | busy  load"
    _log(f"  ffnn's {res['ffnn_step']}")
    _log(head)
    res["loadavg"] = []
    res["max_foreign_share"] = []
    res["waited_s"] = []
    for epoch in range(epochs):
        if budget_s is not None and epoch and time.perf_counter() - t_begin > budget_s:
            notes.append(f"{recipe.name}: stopped after {epoch} of {epochs} epochs "
                         f"(--budget-minutes reached)")
            _log(f"  (time budget reached: stopping after {epoch} epochs)")
            epochs = epoch
            break
        row = f"{epoch + 1:>5}"
        shares: list[float] = []
        res["waited_s"].append(wait_quiet(quiet_wait) if quiet_wait else 0.0)
        for t in trainers:
            gc.collect()
            time.sleep(settle)  # let the previous framework's spinning threads go idle
            with Contention() as c:
                secs = t.train_epoch(epoch)
            acc = t.accuracy(Xte, yte)
            r = res["frameworks"][t.name]
            r["seconds"].append(secs)
            r["test_acc"].append(acc)
            r.setdefault("foreign_cpu_share", []).append(c.share)
            row += f" | {secs:9.3f}   {100 * acc:6.2f}"
            shares.append(c.share)
        for key, _, n_threads in bounds:
            time.sleep(settle)
            with Contention() as c:
                secs = bound.run_epoch(n_threads)
            res[key]["seconds"].append(secs)
            res[key].setdefault("foreign_cpu_share", []).append(c.share)
            shares.append(c.share)
            row += f" | {secs:14.3f}"
        res["loadavg"].append(os.getloadavg()[0])
        res["max_foreign_share"].append(max(shares))
        _log(row + f" | {max(shares):4.2f} {res['loadavg'][-1]:5.1f}")
    res["epochs_run"] = epochs
    for t in trainers:
        r = res["frameworks"][t.name]
        if isinstance(t, FfnnTrainer):
            r["loop_seconds"] = t.loop_seconds
    summarise_race(res)
    res["_trainers"] = trainers
    return res


def summarise_race(res: dict) -> None:
    """Medians, clean-round medians and times to 98% from a race's per-epoch numbers."""
    epochs = res["epochs_run"]
    bounds = [k for k in ("matmul_bound", "matmul_bound_1t") if k in res]
    # rounds (epochs 2..N) in which no timed section saw other processes use > 10% of a core
    clean = [e for e in range(1 if epochs > 1 else 0, epochs)
             if res["max_foreign_share"][e] < CLEAN_SHARE]
    res["clean_epochs"] = [e + 1 for e in clean]
    for r in list(res["frameworks"].values()) + [res[k] for k in bounds]:
        r["median_s_per_epoch"] = median_from_2(r["seconds"])
        if clean:
            r["median_clean_s_per_epoch"] = float(statistics.median(r["seconds"][e]
                                                                    for e in clean))
    for r in res["frameworks"].values():
        r["time_to_98"] = time_to_acc(r["seconds"], r["test_acc"], TARGET_ACC)
        # the same, with each contended round's time replaced by the clean median (or the
        # median): a round in which other processes took a core says nothing about speed
        typical = r.get("median_clean_s_per_epoch", r["median_s_per_epoch"])
        secs = [s if res["max_foreign_share"][e] < CLEAN_SHARE else typical
                for e, s in enumerate(r["seconds"])]
        r["time_to_98_robust"] = time_to_acc(secs, r["test_acc"], TARGET_ACC)
        r["epoch_98"] = next((i + 1 for i, a in enumerate(r["test_acc"]) if a >= TARGET_ACC),
                             None)
        r["best_acc"] = max(r["test_acc"])
        r["final_acc"] = r["test_acc"][-1]
        if "loop_seconds" in r:
            r["median_loop_s_per_epoch"] = median_from_2(r["loop_seconds"])


def same_recipe_check(recipe: Recipe, X: np.ndarray, y: np.ndarray, seed: int,
                      threads: int, steps: int = 10) -> float:
    """max |W_ffnn - W_torch| / max |W_ffnn| after ``steps`` batches of epoch 1 on the first
    ``steps * batch`` training rows: float32 noise (~1e-5) if the recipes really are the same.
    (After a whole epoch the two trajectories drift apart chaotically, so look early.)"""
    n = steps * recipe.batch_size
    Xs, ys = np.ascontiguousarray(X[:n]), y[:n].copy()
    weights = init_weights(recipe, seed)
    f = FfnnTrainer(recipe, weights, Xs, ys, seed)
    t = TorchTrainer(recipe, weights, Xs, ys, seed, threads)
    f.train_epoch(0)
    t.train_epoch(0)
    wf, wt = f.weights(), t.weights()
    return float(max(np.max(np.abs(a - b)) for a, b in zip(wf, wt, strict=True))
                 / max(np.max(np.abs(a)) for a in wf))


# =========================================================================== inference
def inference(trainers, X: np.ndarray, repeats: int, settle: float) -> dict:
    """Median seconds of one ``predict`` over X per framework (interleaved repeats)."""
    times: dict[str, list[float]] = {t.name: [] for t in trainers}
    for t in trainers:  # warm-up
        t.predict(X)
    for _ in range(repeats):
        for t in trainers:
            time.sleep(settle / 5)
            t0 = time.perf_counter()
            t.predict(X)
            times[t.name].append(time.perf_counter() - t0)
    return {k: {"median_s": float(statistics.median(v)), "seconds": v} for k, v in times.items()}


# =========================================================================== moons
MOONS_DATA_SEED = 42  # seed 001: moons(1000 points, noise 0.2, seed 42)
MOONS_INIT_SEED = 5  # the initialisation seed of `ffnn demo` and tests/test_seed001.py


def moons_data() -> tuple[np.ndarray, np.ndarray]:
    try:
        from ffnn.datasets import moons

        X, y = moons(1000, 0.2, seed=MOONS_DATA_SEED)
    except ImportError:
        X, y = make_moons(1000, 0.2, MOONS_DATA_SEED)
    return np.asarray(X, np.float32), np.asarray(y, np.float32)


def moons_race(epochs: int, repeats: int, frameworks: list[str], threads: int,
               settle: float, quiet_wait: float = 0.0) -> dict:
    """Seed 001's network: mlp([2, 16, 32, 1], "sigmoid"), BCE, full-batch SGD lr 1.0."""
    import ffnn

    X, y = moons_data()
    seed = MOONS_INIT_SEED
    ref = ffnn.mlp([2, 16, 32, 1], activation="sigmoid", seed=seed)
    p0 = ref.parameters()
    weights = [(p0[f"{i}.W"].copy(), p0[f"{i}.b"].copy()) for i in (0, 2, 4)]

    def run_ffnn() -> tuple[float, float]:
        net = ffnn.mlp([2, 16, 32, 1], activation="sigmoid", seed=seed)
        net.set_weights({k: v.copy() for k, v in p0.items()})
        t0 = time.perf_counter()
        ffnn.fit(net, X, y, "bce", ffnn.SGD(1.0), epochs=epochs, batch_size=None, seed=seed,
                 verbose=0)
        dt = time.perf_counter() - t0
        return dt, float(np.mean(net.classify(X)[:] == y))

    def run_torch(n_threads: int) -> tuple[float, float]:
        import torch

        torch.set_num_threads(n_threads)
        model = torch_mlp((2, 16, 32, 1), "sigmoid", weights)
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        lossf = torch.nn.BCEWithLogitsLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.reshape(-1, 1))
        losses = []
        t0 = time.perf_counter()
        for _ in range(epochs):
            loss = lossf(model(Xt), yt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        dt = time.perf_counter() - t0
        with torch.no_grad():
            acc = float(np.mean((model(Xt).numpy()[:, 0] > 0) == (y == 1)))
        return dt, acc

    def run_sklearn() -> tuple[float, float]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=(16, 32), activation="logistic", solver="sgd",
                            batch_size=len(y), learning_rate="constant", learning_rate_init=1.0,
                            momentum=0.0, nesterovs_momentum=False, alpha=0.0, max_iter=1,
                            shuffle=False, tol=0.0, n_iter_no_change=10**9, warm_start=True,
                            random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)  # creates the attributes; then ffnn's initial weights go in
            for i, (W, b) in enumerate(weights):
                clf.coefs_[i][...] = W
                clf.intercepts_[i][...] = b
            clf.set_params(max_iter=epochs)
            t0 = time.perf_counter()
            clf.fit(X, y)
            dt = time.perf_counter() - t0
        return dt, float(np.mean(clf.predict(X) == y))

    def run_ffnn_1t() -> tuple[float, float]:
        with blas_threads(1), ffnn_threads(1):
            return run_ffnn()

    runners: dict[str, Callable[[], tuple[float, float]]] = {"ffnn": run_ffnn}
    if threads > 1:
        runners["ffnn-1t"] = run_ffnn_1t
    if "torch" in frameworks:
        runners["torch"] = lambda: run_torch(threads)
        if threads > 1:
            runners["torch-1t"] = lambda: run_torch(1)
    if "sklearn" in frameworks:
        runners["sklearn"] = run_sklearn
    out: dict[str, Any] = {"epochs": epochs, "n": len(y), "repeats": repeats,
                           "data_seed": MOONS_DATA_SEED, "init_seed": seed}
    raw: dict[str, list[float]] = {k: [] for k in runners}
    accs: dict[str, float] = {}
    shares: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        if quiet_wait:
            wait_quiet(quiet_wait)
        for k, fn in runners.items():
            gc.collect()
            time.sleep(settle)
            with Contention() as c:
                dt, acc = fn()
            raw[k].append(dt)
            shares[k].append(c.share)
            accs[k] = acc
    out["frameworks"] = {k: {"median_s": float(statistics.median(v)), "seconds": v,
                             "foreign_cpu_share": shares[k],
                             "train_acc": accs[k]} for k, v in raw.items()}
    return out


# =========================================================================== memory
def memory_child(framework: str, recipe: Recipe, epochs: int, data_path: Path,
                 subset: int | None, seed: int, threads: int) -> dict:
    """Runs in its own process: load the data, train ``epochs`` epochs, report peak RSS."""
    (Xtr, ytr, Xte, yte), _ = load_data(data_path, subset)
    before = peak_rss_mb()
    weights = [(np.zeros((a, b), np.float32), np.zeros(b, np.float32))
               for a, b in zip(recipe.sizes[:-1], recipe.sizes[1:], strict=True)]
    if framework == "ffnn":
        weights = init_weights(recipe, seed)
        tr: Any = FfnnTrainer(recipe, weights, Xtr, ytr, seed)
    elif framework == "torch":
        import torch

        torch.manual_seed(seed)
        tr = TorchTrainer(recipe, weights, Xtr, ytr, seed, threads)
        for m in tr.model:  # PyTorch's own init: the values do not matter for memory
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()
    elif framework == "sklearn":
        tr = SklearnTrainer(recipe, weights, Xtr, ytr, seed)
        tr.clf.set_params(shuffle=True)  # sklearn's own shuffling: no second copy of X
        tr.train_epoch = lambda epoch: tr.clf.partial_fit(Xtr, ytr)  # type: ignore[method-assign]
    else:
        raise ValueError(framework)
    acc = 0.0
    for e in range(epochs):
        tr.train_epoch(e)
        acc = tr.accuracy(Xte, yte)
    return {"framework": framework, "peak_rss_mb": peak_rss_mb(),
            "peak_rss_after_data_mb": before, "epochs": epochs, "test_acc": acc}


def measure_memory(frameworks: list[str], args: argparse.Namespace, epochs: int) -> dict:
    out = {}
    for fw in frameworks:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-child", fw,
               "--recipe", args.recipe, "--data", str(args.data), "--seed", str(args.seed),
               "--epochs", str(epochs)]
        if args.quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            out[fw] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        out[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# =========================================================================== report
def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _fmt(x: float | None, spec: str = ".3f", none: str = "n/a") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _target_row(rows: list[dict], tid: str, what: str, value: float | None, limit: float,
                op: str, shown: str) -> None:
    if value is None:
        verdict = "n/a"
    else:
        verdict = "PASS" if (value <= limit if op == "<=" else value < limit) else "FAIL"
    rows.append({"target": tid, "what": what, "measured": value, "limit": f"{op} {limit:g}",
                 "shown": shown, "verdict": verdict})


def targets17_table(res: dict) -> list[dict]:
    """Issue 17's targets (ffnn with no flag; ratios within this run) with PASS/FAIL."""
    rows: list[dict] = []
    main = res["mnist"]["frameworks"]
    f = main["ffnn"]["median_s_per_epoch"]
    t = main.get("torch", {}).get("median_s_per_epoch")
    b = res["mnist"].get("matmul_bound", {}).get("median_s_per_epoch")
    r = _ratio(f, t)
    _target_row(rows, "17.1a", "MNIST plain: ffnn / PyTorch s/epoch", r, 0.6, "<=",
                f"{_fmt(f)} / {_fmt(t)} = {_fmt(r)}")
    r = _ratio(f, b)
    _target_row(rows, "17.1b", "MNIST plain: ffnn / matmul bound", r, 1.15, "<=",
                f"{_fmt(f)} / {_fmt(b)} = {_fmt(r)}")
    for tid, key, what, limit in (("17.2", "recommended", "recommended (Dropout 0.2)", 0.7),
                                  ("17.3b", "seed003-sigmoid", "seed 003 sigmoid MNIST", 0.6)):
        sec = res.get("race17", {}).get(key, {}).get("frameworks", {})
        fv = sec.get("ffnn", {}).get("median_s_per_epoch")
        tv = sec.get("torch", {}).get("median_s_per_epoch")
        r = _ratio(fv, tv)
        _target_row(rows, tid, f"{what}: ffnn / PyTorch", r, limit, "<=",
                    f"{_fmt(fv)} / {_fmt(tv)} = {_fmt(r)}")
    mo = res.get("moons", {}).get("frameworks", {})
    fv = mo.get("ffnn", {}).get("median_s")
    pvs = [mo[k]["median_s"] for k in ("torch", "torch-1t") if k in mo]
    pv = min(pvs) if pvs else None
    r = _ratio(fv, pv)
    _target_row(rows, "17.3a", "seed 001 moons, full batch: ffnn / PyTorch", r, 0.6, "<=",
                f"{_fmt(fv)} / {_fmt(pv)} = {_fmt(r)}")
    rows.sort(key=lambda row: row["target"])
    return rows


def targets_table(res: dict) -> list[dict]:
    """Issue 8's targets with the measured ratio and PASS/FAIL (n/a when a peer was skipped)."""
    main = res["mnist"]["frameworks"]
    f = main["ffnn"]["median_s_per_epoch"]
    t = main.get("torch", {}).get("median_s_per_epoch")
    s = main.get("sklearn", {}).get("median_s_per_epoch")
    rows: list[dict] = []

    def add(tid: str, what: str, value: float | None, limit: float, op: str, shown: str) -> None:
        _target_row(rows, tid, what, value, limit, op, shown)

    r = _ratio(f, t)
    add("1a", "MNIST median s/epoch ffnn / PyTorch", r, 0.8, "<=",
        f"{_fmt(f)} / {_fmt(t)} = {_fmt(r)}")
    r = _ratio(f, s)
    add("1b", "MNIST median s/epoch ffnn / scikit-learn", r, 0.5, "<=",
        f"{_fmt(f)} / {_fmt(s)} = {_fmt(r)}")
    f98 = main["ffnn"].get("time_to_98_robust", main["ffnn"]["time_to_98"])
    t98 = main.get("torch", {}).get("time_to_98_robust", main.get("torch", {}).get("time_to_98"))
    if "torch" not in main:
        r = None
    elif f98 is None:
        r = math.inf
    elif t98 is None:
        r = 0.0  # ffnn got there, PyTorch never did
    else:
        r = f98 / t98
    add("2", "time to 98.0% ffnn / PyTorch (robust)", r, 1.0, "<",
        f"{_fmt(f98, '.1f', 'never')} s / {_fmt(t98, '.1f', 'never')} s")
    b = res["mnist"].get("matmul_bound", {}).get("median_s_per_epoch")
    r = _ratio(f, b)
    add("3", "ffnn s/epoch / matmul bound", r, 1.6, "<=", f"{_fmt(f)} / {_fmt(b)} = {_fmt(r)}")
    for key, label in (("moons", "moons 2000 ep. full batch"), ("small", "784-64-32-10 b32")):
        sec = res.get(key)
        if not sec:
            continue
        fw = sec["frameworks"]
        stat = "median_s" if key == "moons" else "median_s_per_epoch"
        fv = fw["ffnn"][stat]
        for peer, pl in (("torch", "PyTorch"), ("sklearn", "scikit-learn")):
            # PyTorch: the faster of its two thread settings (cores, 1), the stricter bar
            pvs = [fw[k][stat] for k in (peer, peer + "-1t") if k in fw]
            pv = min(pvs) if pvs else None
            r = _ratio(fv, pv)
            add("4", f"{label}: ffnn / {pl}", r, 1.0, "<=", f"{_fmt(fv)} / {_fmt(pv)} = {_fmt(r)}")
    mem = res.get("memory", {})
    fm = mem.get("ffnn", {}).get("peak_rss_mb")
    tm = mem.get("torch", {}).get("peak_rss_mb")
    r = _ratio(fm, tm)
    add("5", "peak RSS of the MNIST run ffnn / PyTorch", r, 1.5, "<=",
        f"{_fmt(fm, '.0f')} MB / {_fmt(tm, '.0f')} MB = {_fmt(r)}")
    return rows


def print_report(res: dict) -> None:
    m = res["mnist"]
    fw = m["frameworks"]
    _log("\n== MNIST: median seconds per epoch over epochs 2..N (epoch 1 if N == 1) ==")
    for k, r in fw.items():
        extra = ""
        if k == "ffnn":
            extra = f"   (inside fit's batch loop: {r['median_loop_s_per_epoch']:.3f} s)"
        _log(f"  {k:8s} {r['median_s_per_epoch']:7.3f} s/epoch   best acc "
             f"{100 * r['best_acc']:.2f}%   final {100 * r['final_acc']:.2f}%{extra}")
    f = fw["ffnn"]["median_s_per_epoch"]
    for a in ("ffnn", "ffnn-1t"):
        if a not in fw:
            continue
        fa = fw[a]["median_s_per_epoch"]
        peers = [(k, fw[k]["median_s_per_epoch"]) for k in ("torch", "torch-1t", "sklearn")
                 if k in fw]
        peers += [(k, m[key]["median_s_per_epoch"]) for k, key in
                  (("bound", "matmul_bound"), ("bound-1t", "matmul_bound_1t")) if key in m]
        _log(f"  ratios {a}: " + ", ".join(f"/{k} {fa / v:.3f}" for k, v in peers))
    clean = m.get("clean_epochs", [])
    if clean and "median_clean_s_per_epoch" in fw["ffnn"]:
        fc = fw["ffnn"]["median_clean_s_per_epoch"]
        txt = ", ".join(f"ffnn/{k} {fc / r['median_clean_s_per_epoch']:.3f}"
                        for k, r in fw.items() if k != "ffnn")
        if "matmul_bound" in m:
            txt += f", ffnn/bound {fc / m['matmul_bound']['median_clean_s_per_epoch']:.3f}"
        _log(f"  clean rounds only ({len(clean)} of epochs 2..N with other processes < "
             f"{100 * CLEAN_SHARE:.0f}% of a core): {txt}")
    else:
        _log("  clean rounds only: none (other processes were busy in every round)")
    if m.get("same_recipe_check") is not None:
        _log(f"  same-recipe check: max|W_ffnn - W_torch| / max|W_ffnn| after 10 identical "
             f"batches = {m['same_recipe_check']:.2e} "
             + ("(dropout: each framework draws its own masks, so not comparable)"
                if m.get("recipe", {}).get("dropout") else "(float32 noise expected: ~1e-5)"))
    _log(f"\n== time to {100 * TARGET_ACC:.1f}% test accuracy (training seconds, eval excluded) ==")
    _log("  (robust: contended rounds counted at the framework's typical s/epoch)")
    for k, r in fw.items():
        t98, rob = r["time_to_98"], r.get("time_to_98_robust")
        _log(f"  {k:8s} " + ("never reached" if t98 is None else
                             f"{t98:7.1f} s as measured, {_fmt(rob, '7.1f')} s robust "
                             f"(epoch {r.get('epoch_98')})"))
    b = m.get("matmul_bound")
    if b:
        mb = b["median_s_per_epoch"]
        _log("\n== matmul bound (NumPy float32, this network's shapes, one epoch of products) ==")
        _log(f"  {mb:.3f} s/epoch = {b['gflop_per_epoch']:.1f} GFLOP at "
             f"{b['gflop_per_epoch'] / mb:.1f} GFLOP/s  (forward X@W x4, dW = X^T dZ x4, "
             "dX = dZ W^T for layers 2-4 only: layer 1's data gradient is not needed)")
        _log(f"  ffnn / bound = {f / mb:.2f}x   (the products are {100 * mb / f:.0f}% of ffnn's "
             "epoch)")
    inf = res.get("inference")
    if inf:
        _log("\n== inference: one predict over the 10k test set (median of repeats) ==")
        for k, r in inf.items():
            _log(f"  {k:8s} {1000 * r['median_s']:8.2f} ms")
        if "torch" in inf:
            _log(f"  ratio ffnn/torch: {inf['ffnn']['median_s'] / inf['torch']['median_s']:.3f}")
    mo = res.get("moons")
    if mo:
        _log(f"\n== moons: mlp([2,16,32,1], sigmoid), BCE, full-batch SGD lr 1.0, "
             f"{mo['epochs']} epochs, {mo['n']} points (median of {mo['repeats']}) ==")
        for k, r in mo["frameworks"].items():
            _log(f"  {k:8s} {r['median_s']:7.3f} s   train acc {100 * r['train_acc']:.1f}%")
    sm = res.get("small")
    if sm:
        _log("\n== 784-64-32-10 ReLU, Adam, batch 32 (median s/epoch over epochs 2..N) ==")
        for k, r in sm["frameworks"].items():
            _log(f"  {k:8s} {r['median_s_per_epoch']:7.3f} s/epoch   final acc "
                 f"{100 * r['final_acc']:.2f}%")
    mem = res.get("memory")
    if mem:
        _log("\n== peak memory: each framework alone in a subprocess (load data, train, eval) ==")
        for k, r in mem.items():
            if "error" in r:
                _log(f"  {k:8s} failed: {r['error']}")
                continue
            _log(f"  {k:8s} peak RSS {r['peak_rss_mb']:7.0f} MB   (after imports + data: "
                 f"{r['peak_rss_after_data_mb']:.0f} MB; training adds "
                 f"{r['peak_rss_mb'] - r['peak_rss_after_data_mb']:.0f} MB)")
    _log("\n== BLAS / thread pools (threadpoolctl) ==")
    for d in res["env"]["blas"]:
        _log("  " + ", ".join(f"{k}={v}" for k, v in d.items() if k != "filepath"))
    e = res["env"]
    _log(f"  OPENBLAS_CORETYPE={e['OPENBLAS_CORETYPE']!r}  torch threads={e.get('torch_threads')}")
    for n in res.get("notes", []):
        _log(f"  note: {n}")
    _log(f"\n{SUMMARY_HEADER}")
    _log(f"  {'#':3s} {'target':45s} {'measured':36s} {'limit':8s} verdict")
    for row in res["targets"]:
        _log(f"  {row['target']:3s} {row['what']:45s} {row['shown']:36s} {row['limit']:8s} "
             f"{row['verdict']}")
    races = res.get("race17", {})
    if races:
        _log("\n== issue 17 races: median s/epoch over epochs 2..N, ffnn and PyTorch "
             "interleaved ==")
        for key, sec in races.items():
            fw = sec["frameworks"]
            _log(f"  {key}: {sec['recipe']['description']}; {sec['epochs_run']} epochs; "
                 f"ffnn's {sec.get('ffnn_step', '?')}")
            for k, r in fw.items():
                _log(f"    {k:8s} {r['median_s_per_epoch']:7.3f} s/epoch   final acc "
                     f"{100 * r['final_acc']:.2f}%")
    _log(f"  MNIST plain: ffnn's {m.get('ffnn_step', '?')}")
    _log(f"\n{SUMMARY17_HEADER}")
    _log(f"  {'#':5s} {'target':43s} {'measured':36s} {'limit':8s} verdict")
    for row in res.get("targets17", []):
        _log(f"  {row['target']:5s} {row['what']:43s} {row['shown']:36s} {row['limit']:8s} "
             f"{row['verdict']}")


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items() if not k.startswith("_")}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def report_from_json(path: Path, out: Path | None) -> int:
    """Re-derive the summaries and targets of a saved run and print its report."""
    res = json.loads(path.read_text())
    for sec in [res.get("mnist"), res.get("small"), *res.get("race17", {}).values()]:
        if sec:
            sec.setdefault("epochs_run", len(sec["frameworks"]["ffnn"]["seconds"]))
            summarise_race(sec)
    res["targets"] = targets_table(res)
    res["targets17"] = targets17_table(res)
    _log(f"report of the run saved in {path} ({res['env']['date']})")
    print_report(res)
    if out:
        out.write_text(json.dumps(_jsonable(res), indent=1))
    return 0


# =========================================================================== main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=None,
                   help="MNIST epochs (default: the recipe's, 20 for plain; 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="CI smoke: 1 epoch on a 5000-image subset, small sections shrunk")
    p.add_argument("--skip-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--only17", action="store_true",
                   help="only what issue 17's targets need: the plain race (ffnn, PyTorch, "
                        "matmul bound; 6 epochs), the recommended and seed-003 races, moons")
    p.add_argument("--race17-epochs", type=int, default=None,
                   help="epochs of the recommended and seed-003 races (default 5; 2 quick)")
    p.add_argument("--skip-sklearn", action="store_true", help="leave scikit-learn out")
    p.add_argument("--recipe", choices=list(RECIPES), default="plain",
                   help="benchmarks/recipes.py: the main race's recipe (default plain)")
    p.add_argument("--json", type=Path, default=None, help="write every number to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=default_data_path(), help="mnist.npz")
    p.add_argument("--small-epochs", type=int, default=None,
                   help="epochs of the 784-64-32-10 b32 race (default 2; 1 with --quick)")
    p.add_argument("--moons-epochs", type=int, default=None,
                   help="moons epochs (default 2000; 200 with --quick)")
    p.add_argument("--skip-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of idle before each timed section (default 0.3; 0.05 quick)")
    p.add_argument("--quiet-wait", type=float, default=None,
                   help="before each round, wait up to this many seconds for other processes "
                        "to leave the CPU (default 10; 0 with --quick)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="start no new MNIST round after this many minutes (shared machines)")
    p.add_argument("--from-json", type=Path, default=None,
                   help="re-print the report (and targets) of a run saved with --json")
    p.add_argument("--_memory-child", dest="memory_child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = n_cores()
    recipe = get_recipe(args.recipe)
    subset = QUICK_SUBSET if args.quick else None
    epochs = args.epochs if args.epochs is not None else (
        1 if args.quick else 6 if args.only17 else recipe.epochs)
    epochs17 = args.race17_epochs or (2 if args.quick else 5)
    if args.memory_child:
        r = memory_child(args.memory_child, recipe, epochs, args.data, subset, args.seed, threads)
        print(json.dumps(r))
        return 0
    if args.from_json:
        return report_from_json(args.from_json, args.json)
    settle = args.settle if args.settle is not None else (0.05 if args.quick else 0.3)
    small_epochs = args.small_epochs or (1 if args.quick else 2)
    moons_epochs = args.moons_epochs or (200 if args.quick else 2000)
    notes: list[str] = []
    frameworks = ["ffnn"]
    if not args.skip_torch:
        if torch_available():
            frameworks.append("torch")
        else:
            notes.append("PyTorch is not installed: its columns are n/a")
    if not args.skip_sklearn and not args.only17:
        try:
            import sklearn  # noqa: F401
            frameworks.append("sklearn")
        except ImportError:
            notes.append("scikit-learn is not installed: its columns are n/a")

    data, how = load_data(args.data, subset)
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    import ffnn

    versions["ffnn"] = ffnn.__version__
    if "torch" in frameworks:
        import torch

        torch.set_num_threads(threads)
        versions["torch"] = torch.__version__
    if "sklearn" in frameworks:
        import sklearn

        versions["sklearn"] = sklearn.__version__
    env = {"cpu": cpu_model(), "cores": threads, "platform": platform.platform(),
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "versions": versions, "data": how, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "blas": blas_info()}
    if "torch" in frameworks:
        env["torch_threads"] = torch.get_num_threads()
    _log(f"mnist_race: {env['cpu']}, {threads} cores, "
         + ", ".join(f"{k} {v}" for k, v in versions.items()))
    _log(f"data: {how}; train {data[0].shape}, test {data[2].shape}; recipe {recipe.name}: "
         f"{recipe.description}; {epochs} epoch(s); frameworks: {', '.join(frameworks)}; "
         "ffnn: fit with no flag (the step it chooses is printed per recipe)")

    res: dict[str, Any] = {"env": env, "notes": notes, "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    t_start = time.perf_counter()
    _log(f"\n== MNIST race, {recipe.name} recipe: seconds per epoch (training only) and test "
         "accuracy (%) ==")
    quiet = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0)
    check = (same_recipe_check(recipe, data[0], data[1], args.seed, threads)
             if "torch" in frameworks else None)
    res["mnist"] = race(recipe, data, epochs, args.seed, frameworks, threads, settle, True, notes,
                        quiet, None if args.budget_minutes is None else 60 * args.budget_minutes,
                        one_thread=not args.only17)
    res["mnist"]["same_recipe_check"] = check
    trainers = res["mnist"].pop("_trainers")
    if quiet:
        wait_quiet(quiet)
    if not args.only17:
        res["inference"] = inference(
            [t for t in trainers if t.name in ("ffnn", "torch", "sklearn")], data[2],
            5 if args.quick else 20, settle)
    del trainers
    gc.collect()

    _log(f"\n== moons: {moons_epochs} full-batch epochs ==")
    res["moons"] = moons_race(moons_epochs, 1 if args.quick else 3, frameworks, threads, settle,
                              quiet)
    if not args.only17:
        _log("\n== 784-64-32-10 batch 32 race ==")
        small = replace(small_b32_recipe(), epochs=small_epochs)
        res["small"] = race(small, data, small_epochs, args.seed, frameworks, threads, settle,
                            False, notes, quiet)
        res["small"].pop("_trainers")
        gc.collect()

    res["race17"] = {}
    for r17 in (recommended_recipe(), seed003_sigmoid_recipe()):
        _log(f"\n== issue 17 race, {r17.name}: {r17.description} ==")
        sec = race(r17, data, epochs17, args.seed, [f for f in frameworks if f != "sklearn"],
                   threads, settle, False, notes, quiet, one_thread=False)
        sec.pop("_trainers")
        res["race17"][r17.name] = sec
        gc.collect()

    if not args.skip_memory and not args.only17:
        mem_epochs = 1 if args.quick else 2
        _log(f"\n== peak memory: one subprocess per framework, {mem_epochs} epoch(s) each ==")
        res["memory"] = measure_memory(frameworks, args, mem_epochs)
    res["env"]["blas"] = blas_info()  # again, now that every framework is loaded
    res["targets"] = targets_table(res)
    res["targets17"] = targets17_table(res)
    res["wall_seconds"] = time.perf_counter() - t_start
    print_report(res)
    _log(f"\n(total {res['wall_seconds']:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(res), indent=1))
        _log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
