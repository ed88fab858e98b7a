"""One playground session (one browser tab): its data, its network, its training, its pictures.

Nothing here knows about the web: the server turns messages into calls of ``Session`` and
sends back what they return (JSON-ready dicts and binary frames, see ``protocol``).  Tests and
the benchmark drive a ``Session`` directly.

Training is ffnn's own ``train_step`` (forward, loss, backward, optimiser step), one epoch
(or ``speed`` epochs) per frame, on the batches ``fit`` draws for the same seed and epoch, so
n epochs here are exactly ``fit(..., epochs=n, seed=s)``: the exported script, which calls
``fit``, ends with the page's weights (a test checks it).  The penalties are the optimisers'
``weight_decay`` (L2) and ``l1`` (L1); the losses shown are the data loss without the penalty,
as in TF Playground.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from .. import functional as F
from ..activations import Activation
from ..gradcheck import check_network
from ..io import save
from ..layers import Dense
from ..losses import get_loss
from ..network import mlp
from ..optimizers import SGD, Adam, RMSProp
from ..tracing import trace
from ..training import TrainingDiverged, evaluate, train_step
from . import data as D
from . import protocol as P
from .settings import DATA, LIMITS, LIVE, Settings, SettingsError, normalize, options

GRID = 100  # the decision picture: GRID x GRID cells
NEURON_GRID = 50  # every neuron's picture (every other cell of the same grid)
#: activations whose outputs are bounded: their pictures use the fixed range [-1, 1]
_BOUNDED = ("tanh", "sigmoid")
_LOSSES = {"binary": "bce", "multiclass": "ce", "regression": "mse"}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class Session:
    """The state of one tab: settings, points, network, optimiser, epoch.

    Methods that change the state take the session's lock, so an export (another thread)
    always sees the network between two epochs.
    """

    def __init__(self, settings: dict | None = None) -> None:
        self.lock = threading.RLock()
        self.settings = Settings()
        self.custom: dict | None = None  # {"X", "y", "problem", "class_names", "source"}
        self.playing = False
        self.seq = 0  # number of the last frame made
        self.notices: list[str] = []
        self.changed_midway: list[str] = []  # live settings changed after epoch 0
        self._build_data()
        self._build_network()
        if settings:
            self.configure(settings)

    # ------------------------------------------------------------------ settings
    def configure(self, changes: dict) -> dict:
        """Apply settings from the page; returns what changed: {"data": bool, "network": bool}.

        Raises SettingsError (nothing changes) for a bad value."""
        with self.lock:
            problem = self.custom["problem"] if self.custom else None
            new, notices = normalize(changes, self.settings, problem)
            old = self.settings
            before, after = old.to_json(), new.to_json()
            changed = {k for k in after if after[k] != before[k]}
            self.settings = new
            self.notices = notices
            data = bool(changed & set(DATA))
            network = bool(changed - set(LIVE)) or data
            if data:
                self._build_data()
            if network:
                self._build_network()
            else:
                for key in changed & set(LIVE):
                    if key == "lr":
                        self.optimizer.lr = new.lr
                    if self.epoch:
                        self.changed_midway.append(f"{key} changed to {getattr(new, key)} at "
                                                   f"epoch {self.epoch}")
            return {"data": data, "network": network}

    def set_custom(self, X: np.ndarray, y: np.ndarray, problem: str, class_names: list[str],
                   source: str) -> None:
        """Use these points (uploaded or placed by clicks) as the data set "custom"."""
        with self.lock:
            if len(y) > LIMITS["max_points"]:
                raise SettingsError(f"too many points ({len(y)}); at most {LIMITS['max_points']}")
            self.custom = {"X": np.asarray(X, dtype=np.float64), "y": y, "problem": problem,
                           "class_names": list(class_names), "source": source}
            classes = len(class_names) if problem == "classification" else self.settings.classes
            new, notices = normalize({"dataset": "custom", "problem": problem,
                                      "classes": max(classes, 2)}, self.settings, problem)
            self.settings = new
            self.notices = notices
            self._build_data()
            self._build_network()

    def upload(self, name: str, text: str) -> None:
        """A CSV from the page (untrusted): size and rows capped, parse errors name the line."""
        size = len(text.encode("utf-8", errors="replace"))
        if size > LIMITS["max_upload_bytes"]:
            raise D.CSVError(f"{name}: {size:,} bytes; the playground takes CSV files of at most "
                             f"{LIMITS['max_upload_bytes']:,} bytes")
        X, y, problem, class_names = D.parse_csv(text, max_rows=LIMITS["max_points"])
        self.set_custom(X, y, problem, class_names, source=name or "upload.csv")

    def place_points(self, points: list) -> None:
        """Points placed by clicking: [[x1, x2, label or target], ...]."""
        if len(points) > LIMITS["max_points"]:
            raise SettingsError(f"too many points ({len(points)}); at most {LIMITS['max_points']}")
        arr = np.empty((len(points), 3))
        for i, p in enumerate(points):
            if not isinstance(p, (list, tuple)) or len(p) != 3 or not all(
                    isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
                    for c in p):
                raise SettingsError(f"point {i + 1} must be [x1, x2, label] with three finite "
                                    f"numbers, got {str(p)[:60]}")
            arr[i] = p
        if len(arr) < 2:
            raise SettingsError("place at least two points")
        problem = self.settings.problem
        if problem == "classification":
            labels = arr[:, 2]
            if not np.all(labels == np.round(labels)) or labels.min() < 0 or \
                    labels.max() >= D.MAX_CLASSES:
                raise SettingsError(f"class labels of placed points must be whole numbers in "
                                    f"[0, {D.MAX_CLASSES - 1}]")
            distinct = np.unique(labels).astype(int)
            if len(distinct) < 2:
                raise SettingsError("place points of at least two classes")
            y = np.searchsorted(distinct, labels).astype(np.int64)
            names = [str(c) for c in distinct]
        else:
            y, names = arr[:, 2], []
        self.set_custom(arr[:, :2], y, problem, names, source="placed points")

    # ------------------------------------------------------------------ building
    @property
    def task(self) -> str:
        if self.settings.problem == "regression":
            return "regression"
        return "binary" if self.n_classes == 2 else "multiclass"

    def _build_data(self) -> None:
        s = self.settings
        if s.dataset == "custom":
            X, y = self.custom["X"], self.custom["y"]
            rng = np.random.default_rng(s.seed)
            order = rng.permutation(len(y))
            X, y = X[order], y[order]
            self.domain = D.domain_of(X)
            self.class_names = self.custom["class_names"]
        else:
            classes = s.classes if s.problem == "classification" else 0
            X, y = D.make_dataset(s.dataset, s.n_samples, s.noise / 100, classes, s.seed)
            self.domain = D.DOMAIN
            self.class_names = [str(c) for c in range(classes)]
        self.n_classes = len(self.class_names) if s.problem == "classification" else 0
        self.X_train, self.y_train, self.X_test, self.y_test = D.split(X, y, s.train_ratio / 100)
        self.grid_points = D.grid(self.domain, GRID)
        self.target_range = (-1.0, 1.0) if s.problem == "regression" else (0.0, 1.0)
        if s.problem == "regression" and s.dataset == "custom":
            lo, hi = float(np.min(y)), float(np.max(y))
            self.target_range = (lo, hi if hi > lo else lo + 1.0)

    def _build_network(self) -> None:
        s = self.settings
        self.loss = _LOSSES[self.task]
        n_out = self.n_classes if self.task == "multiclass" else 1
        self.net = mlp([len(s.features), *s.hidden, n_out], activation=s.activation,
                       seed=self.init_seed, output={"bce": "sigmoid", "ce": "softmax",
                                            "mse": "identity"}[self.loss])
        self.loss_fn = get_loss(self.loss)
        self.optimizer = self._make_optimizer()
        self.epoch = 0
        self.playing = False
        self.changed_midway = []
        self.F_train = D.feature_matrix(self.X_train, s.features).astype(np.float32)
        self.F_test = D.feature_matrix(self.X_test, s.features).astype(np.float32)
        self.Y_train = self.loss_fn.prepare_targets(self.y_train, n_out, np.float32)
        self.F_grid = D.feature_matrix(self.grid_points, s.features).astype(np.float32)
        self.F_neuron_grid = D.feature_matrix(D.grid(self.domain, NEURON_GRID),
                                              s.features).astype(np.float32)
        self._metrics = self._measure()

    @property
    def init_seed(self) -> int:
        """The seed of the initial weights: the page's seed mixed with the data set's name, so
        another data set starts from other weights (as in TF Playground), and a URL (which
        holds both) still reproduces them."""
        name = zlib.crc32(self.settings.dataset.encode())
        mix = np.random.SeedSequence([self.settings.seed, name])
        return int(mix.generate_state(1)[0])

    def _make_optimizer(self):
        s = self.settings
        penalty = {"weight_decay": s.reg_rate if s.regularization == "l2" else 0.0,
                   "l1": s.reg_rate if s.regularization == "l1" else 0.0}
        if s.optimizer == "sgd":
            return SGD(s.lr, threads=1, **penalty)
        if s.optimizer == "momentum":
            return SGD(s.lr, momentum=0.9, threads=1, **penalty)
        if s.optimizer == "adam":
            return Adam(s.lr, threads=1, **penalty)
        return RMSProp(s.lr, threads=1, **penalty)

    def reset(self) -> None:
        """New weights from the seed, epoch 0 (the points stay)."""
        with self.lock:
            self._build_network()

    # ------------------------------------------------------------------ training
    @property
    def batch_size(self) -> int:
        return min(self.settings.batch_size, len(self.y_train))

    def train(self, epochs: int | None = None) -> None:
        """``epochs`` (default: ``speed``) more epochs.  A NaN or infinite loss restores the
        weights of the epoch's start, stops playing and raises TrainingDiverged."""
        with self.lock:
            for _ in range(self.settings.speed if epochs is None else int(epochs)):
                self._epoch()
            self._metrics = self._measure()

    def _epoch(self) -> None:
        """One epoch of ``train_step`` on fit's batches: epoch e of seed s visits the training
        points in the order ``default_rng([s, e]).permutation(n)`` in batches of B (full-batch
        GD in the stored order), so n epochs here are ``fit(..., epochs=n, seed=s)``."""
        n, B = len(self.y_train), self.batch_size
        start = self.net.get_weights()
        if B == n:
            batches = [slice(None)]
        else:
            order = np.random.default_rng([self.settings.seed, self.epoch]).permutation(n)
            batches = [order[i:i + B] for i in range(0, n, B)]
        with np.errstate(over="ignore", invalid="ignore"):
            for k, idx in enumerate(batches):
                value = train_step(self.net, self.loss_fn, self.optimizer, self.F_train[idx],
                                   self.Y_train[idx])
                if not math.isfinite(value):
                    self.net.set_weights(start)
                    self.playing = False
                    self._metrics = self._measure()
                    raise TrainingDiverged(
                        f"training diverged at epoch {self.epoch + 1}, batch {k + 1}: the loss "
                        f"became NaN or infinite. The weights are back at the start of the "
                        f"epoch. Try a learning rate 10x lower (now {self.settings.lr:g}).")
        self.epoch += 1

    def step_traced(self) -> dict:
        """One epoch, recording every quantity of its last mini-batch step; returns the step's
        arrays by name (ffnn.tracing's names)."""
        with self.lock:
            steps = math.ceil(len(self.y_train) / self.batch_size)
            with trace(self.net, steps=[steps - 1]) as t:
                self.train(1)
            return dict(t[0]) if len(t) else {}

    def _measure(self) -> dict:
        """Losses, accuracy or R^2 and confusion matrices on the training and test points."""
        out: dict = {}
        for part, Fx, y in (("train", self.F_train, self.y_train),
                            ("test", self.F_test, self.y_test)):
            if len(y) == 0:
                out[f"{part}_loss"] = None
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                m = evaluate(self.net, Fx, y, self.loss)
            out[f"{part}_loss"] = _finite(m["loss"])
            if self.task == "regression":
                out[f"{part}_r2"] = _finite(m.get("r2"))
                continue
            out[f"{part}_accuracy"] = _finite(m.get("accuracy"))
            pred = self.net.classify(Fx)
            C = self.n_classes
            cm = np.zeros((C, C), dtype=np.int64)
            np.add.at(cm, (y.astype(np.int64), pred.astype(np.int64)), 1)
            out[f"confusion_{part}"] = cm.tolist()
        return out

    # ------------------------------------------------------------------ pictures
    def _forward_grid(self, F: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(output, [A_1, ..., A_L-1]): the network on the grid's features, keeping every
        hidden layer's activation (layer by layer with each layer's own forward)."""
        A = F
        hidden = []
        with np.errstate(over="ignore", invalid="ignore"):
            for i, layer in enumerate(self.net.layers):
                A = layer.forward(A)
                if isinstance(layer, Activation) and i < len(self.net.layers) - 1:
                    hidden.append(A)
        return A, hidden

    def pictures(self) -> dict[str, np.ndarray]:
        """The output over the plane (GRID x GRID) and every hidden unit's output (NEURON_GRID
        x NEURON_GRID), as uint8 pictures, and the weights."""
        s = self.settings
        out, _ = self._forward_grid(self.F_grid)
        arrays: dict[str, np.ndarray] = {}
        if self.task == "binary":
            arrays["output"] = P.quantize(F.sigmoid(out[:, 0]).reshape(GRID, GRID), 0.0, 1.0)
            arrays["output_range"] = np.array([0.0, 1.0], dtype=np.float32)
        elif self.task == "multiclass":
            proba = F.softmax(out, axis=1)
            arrays["output"] = P.quantize(proba.max(axis=1).reshape(GRID, GRID), 0.0, 1.0)
            arrays["output_class"] = np.argmax(proba, axis=1).astype(np.uint8).reshape(GRID, GRID)
            arrays["output_range"] = np.array([0.0, 1.0], dtype=np.float32)
        else:
            lo, hi = self.target_range
            arrays["output"] = P.quantize(np.nan_to_num(out[:, 0]).reshape(GRID, GRID), lo, hi)
            arrays["output_range"] = np.array([lo, hi], dtype=np.float32)
        _, hidden = self._forward_grid(self.F_neuron_grid)
        units, ranges = [], []
        for A in hidden:
            for m in np.nan_to_num(A.T):  # one row per unit
                if s.activation in _BOUNDED:
                    lo, hi = -1.0, 1.0
                else:
                    top = float(np.max(np.abs(m))) or 1.0
                    lo, hi = -top, top
                units.append(P.quantize(m, lo, hi).reshape(NEURON_GRID, NEURON_GRID))
                ranges.append((lo, hi))
        arrays["neurons"] = (np.stack(units) if units else
                             np.zeros((0, NEURON_GRID, NEURON_GRID), dtype=np.uint8))
        arrays["neuron_range"] = np.array(ranges, dtype=np.float32).reshape(-1, 2)
        l = 0
        for layer in self.net.layers:
            if isinstance(layer, Dense):
                l += 1
                arrays[f"W{l}"] = layer.params["W"].astype(np.float32)
                arrays[f"b{l}"] = layer.params["b"].astype(np.float32)
        return arrays

    # ------------------------------------------------------------------ messages
    def hello(self, session_id: str) -> dict:
        return {"session": session_id, "version": P.VERSION, "defaults": Settings().to_json(),
                "options": options(),
                "limits": {k: LIMITS[k] for k in ("max_layers", "max_neurons", "max_samples",
                                                  "max_points", "max_upload_bytes", "max_batch",
                                                  "max_speed")},
                "grid": GRID, "neuron_grid": NEURON_GRID}

    def state(self) -> dict:
        s = self.settings
        sizes = [len(s.features), *s.hidden, self.net.n_outputs]
        return {
            "config": s.to_json(),
            "playing": self.playing,
            "epoch": self.epoch,
            "network": {"sizes": sizes, "features": list(s.features),
                        "activation": s.activation, "loss": self.loss,
                        "output": self.net.output_kind(), "n_params": self.net.n_params(),
                        "params": [{"name": k, "shape": list(v.shape)}
                                   for k, v in self.net.parameters().items()]},
            "explain": str(self.net.explain(loss=self.loss)),
            "summary": self.net.summary(),
            "notices": list(self.notices),
            "custom": None if self.custom is None else {
                "source": self.custom["source"], "n": int(len(self.custom["y"])),
                "problem": self.custom["problem"]},
        }

    def data_message(self) -> bytes:
        s = self.settings
        maps = D.feature_matrix(D.grid(self.domain, NEURON_GRID), s.features)
        pictures, ranges = [], []
        for f in range(maps.shape[1]):
            top = float(np.max(np.abs(maps[:, f]))) or 1.0
            pictures.append(P.quantize(maps[:, f].reshape(NEURON_GRID, NEURON_GRID), -top, top))
            ranges.append((-top, top))
        header = {"problem": s.problem, "classes": self.n_classes,
                  "class_names": self.class_names, "domain": list(self.domain), "grid": GRID,
                  "neuron_grid": NEURON_GRID, "features": list(s.features),
                  "feature_labels": [D.FEATURES[f][0] for f in s.features],
                  "n_train": int(len(self.y_train)), "n_test": int(len(self.y_test)),
                  "target_range": list(self.target_range), "dataset": s.dataset}
        arrays = {"train_x": self.X_train.astype(np.float32),
                  "train_y": self.y_train.astype(np.float32),
                  "test_x": self.X_test.astype(np.float32).reshape(-1, 2),
                  "test_y": self.y_test.astype(np.float32),
                  "features": np.stack(pictures),
                  "feature_range": np.array(ranges, dtype=np.float32)}
        return P.encode("data", header, arrays)

    def frame(self, ms: float = 0.0) -> bytes:
        """The next frame: metrics and pictures of the network as it is now."""
        with self.lock:
            t0 = time.perf_counter()
            arrays = self.pictures()
            self.seq += 1
            header = {"seq": self.seq, "epoch": self.epoch,
                      "steps": int(self.optimizer.iterations), "playing": self.playing,
                      **self._metrics}
            header["ms"] = round(ms + (time.perf_counter() - t0) * 1e3, 3)
            return P.encode("frame", header, arrays)

    def advance(self) -> bytes:
        """Train ``speed`` epochs and return the frame (what a playing session does)."""
        t0 = time.perf_counter()
        self.train()
        return self.frame((time.perf_counter() - t0) * 1e3)

    def trace_message(self, arrays: dict[str, np.ndarray]) -> bytes:
        names = list(arrays)
        batch = int(arrays["X"].shape[0]) if "X" in arrays else 0
        header = {"epoch": self.epoch, "step": int(self.optimizer.iterations), "batch": batch,
                  "names": names}
        return P.encode("trace", header, {k: np.asarray(v, dtype=np.float32)
                                          for k, v in arrays.items()})

    def gradcheck(self, max_samples: int = 32, max_checks: int = 200) -> dict:
        """ffnn's gradient check on this network and up to ``max_samples`` training points."""
        with self.lock:
            n = min(max_samples, len(self.y_train))
            report = check_network(self.net, self.F_train[:n], self.y_train[:n], self.loss,
                                   max_checks=max_checks)
            labels = {}
            l = 0
            for i, layer in enumerate(self.net.layers):
                if isinstance(layer, Dense):
                    l += 1
                    labels[f"{i}.W"], labels[f"{i}.b"] = f"W{l}", f"b{l}"
            checks = [{"name": c.name, "label": labels.get(c.name, c.name),
                       "shape": list(c.shape), "n_checked": int(c.n_checked),
                       "max_rel_error": _finite(c.max_rel_error), "passed": bool(c.passed),
                       "n_kinks": int(c.n_kinks)} for c in report.checks]
            return {"passed": bool(report.passed), "tol": report.tol, "method": report.method,
                    "batch": n, "checks": checks, "text": str(report)}

    # ------------------------------------------------------------------ export
    def model_extra(self) -> dict:
        s = self.settings
        return {"playground": s.to_json(), "task": self.task, "loss": self.loss,
                "features": list(s.features), "classes": self.class_names,
                "epoch": self.epoch, "domain": list(self.domain),
                "dataset": s.dataset if s.dataset != "custom" else self.custom["source"]}

    def model_bytes(self) -> bytes:
        """The network as an ffnn model file (``ffnn.load`` reads it)."""
        with self.lock, tempfile.TemporaryDirectory(prefix="ffnn-playground-") as tmp:
            path = Path(tmp) / "model.npz"
            save(self.net, path, extra=self.model_extra())
            return path.read_bytes()

    def data_csv(self) -> str:
        with self.lock:
            target = "label" if self.settings.problem == "classification" else "target"
            lines = [f"x1,x2,{target},split"]
            for part, X, y in (("train", self.X_train, self.y_train),
                               ("test", self.X_test, self.y_test)):
                for (a, b), t in zip(X, y, strict=True):
                    value = (self.class_names[int(t)] if target == "label" else f"{t:.17g}")
                    lines.append(f"{a:.17g},{b:.17g},{value},{part}")
            return "\n".join(lines) + "\n"

    def script(self) -> str:
        """A Python script that reproduces this run with ffnn (see ``export.script``)."""
        from .export import script

        with self.lock:
            return script(self)
