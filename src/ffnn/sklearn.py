"""scikit-learn estimators backed by ffnn: ``MLPClassifier`` and ``MLPRegressor``.

They follow the estimator contract (``fit``, ``partial_fit``, ``predict``, ``predict_proba``,
``score``, ``get_params``/``set_params``), so an ffnn network can sit in a ``Pipeline``, a
``GridSearchCV`` or ``cross_val_score`` like any scikit-learn model.  Constructor parameters use
scikit-learn's MLP names, so swapping ``sklearn.neural_network.MLPClassifier`` for
``ffnn.sklearn.MLPClassifier`` is a one-line change:

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from ffnn.sklearn import MLPClassifier

    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), random_state=0))
    clf.fit(X_train, y_train).score(X_test, y_test)

scikit-learn is an optional extra (``pip install ffnn[sklearn]``): it is imported by this module
only, and ``import ffnn`` never loads it.

How the parameters map onto ffnn
--------------------------------
``hidden_layer_sizes``
:   ``mlp([n_features, *hidden_layer_sizes, n_outputs])``

``activation``
:   hidden activation: scikit-learn's "identity", "logistic", "tanh", "relu", or any ffnn name
    ("gelu", "elu", ...)

``solver``
:   ffnn optimiser: "adam" (default), "sgd" (with ``momentum`` and ``nesterovs_momentum``),
    "adamw", "rmsprop", "adagrad"

``learning_rate_init``
:   the optimiser's ``lr``

``beta_1, beta_2, epsilon``
:   Adam/AdamW's ``beta1, beta2, eps``

``batch_size``
:   mini-batch size; "auto" = min(200, n_samples) as in scikit-learn

``max_iter``
:   number of epochs

``alpha``
:   L2 penalty with scikit-learn's meaning (see below)

``dropout``
:   ffnn extra: ``Dropout(p)`` after every hidden activation

``early_stopping``
:   hold out ``validation_fraction`` (stratified for classes) and stop when the validation score
    (accuracy / R^2) has not beaten its best by ``tol`` for more than ``n_iter_no_change``
    epochs; the best epoch's weights are kept

``tol, n_iter_no_change``
:   without ``early_stopping``: the same rule on the training loss (scikit-learn's, penalty
    included), as scikit-learn does it

``clip_norm``
:   ffnn extra: clip the global gradient norm

``init``
:   ffnn extra: weight initialiser; "glorot_uniform" (default) is scikit-learn's, "he_normal" is
    ffnn's own choice for ReLU nets

``dtype``
:   ffnn extra: "float32" (default, fast) or "float64"

``fused``
:   ffnn extra: train on the fused path (numba: compiled Adam and training step; the same math
    up to float rounding)

``random_state``
:   seeds the initial weights, the shuffling and dropout

``warm_start``
:   ``fit`` continues from the current weights (new optimiser state)

Both estimators build ``mlp(..., output=...)`` with a fused loss: binary targets get one
sigmoid output + "bce", several classes softmax outputs + "ce", a 2-D 0/1 indicator ``y``
(multi-label) one sigmoid output per label + "bce", and regression identity outputs + "mse"
(one per target column).  ``alpha`` is scikit-learn's: its objective is
``loss + alpha / (2 n_batch) * sum ||W||^2`` per mini-batch, so ffnn gets the coupled L2
``weight_decay = alpha * s / batch_size``, where ``s`` is the ratio of ffnn's loss gradient to
scikit-learn's (2 / n_targets for regression: scikit-learn halves the squared error and sums
its gradient over targets; 1 / n_labels for multi-label BCE, which scikit-learn sums over
labels; 1 otherwise).  Both then minimise the same function.  For
``solver="adamw"`` ``alpha`` is AdamW's decoupled decay rate itself.

Not supported: ``solver="lbfgs"``, learning-rate schedules (``learning_rate``, ``power_t``),
``sample_weight``, sparse input (densify it first).

After ``fit``
-------------
``classes_``, ``n_features_in_``, ``feature_names_in_`` (when X has string column names),
``n_outputs_``, ``out_activation_``, ``loss_curve_`` (scikit-learn's training loss per epoch:
the mean data loss in its convention plus the L2 penalty; ffnn's own loss is in
``history_["loss"]``), ``best_loss_``, ``validation_scores_`` and
``best_validation_score_`` (with ``early_stopping``), ``n_iter_`` (epochs run, over all calls),
``history_`` (the ffnn ``History``), ``coefs_``/``intercepts_`` (views of the weights) and
``net_``: the underlying ffnn ``Sequential``, for everything else (``ffnn.save(est.net_,
path)``, tracing, explanations, plots).  Pickling the estimator (which joblib does to send it
to worker processes) is scikit-learn's mechanism; ``ffnn.save`` is the model file format.

Parallel and distributed search
-------------------------------
There is no ffnn code for parallelism: scikit-learn's ``n_jobs`` runs the candidate fits
through joblib, e.g. ``GridSearchCV(MLPClassifier(), grid, n_jobs=-1)``.  The same search runs
on a cluster by switching joblib's backend; the estimators are pickled to the workers, which
need ffnn and scikit-learn installed:

    import joblib
    from dask.distributed import Client            # pip install "dask[distributed]"
    client = Client("tcp://scheduler:8786")        # or Client() for a local cluster
    with joblib.parallel_backend("dask"):
        search.fit(X, y)

    import ray                                     # pip install "ray[default]"
    from ray.util.joblib import register_ray
    ray.init(address="auto")
    register_ray()
    with joblib.parallel_backend("ray"):
        search.fit(X, y)

Each fit is single-process NumPy; to avoid oversubscribing cores when many fits run at once,
limit BLAS threads per worker (``OMP_NUM_THREADS=1`` or ``threadpoolctl``).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import functional as F
from .activations import Activation, get_activation
from .init import get_initializer
from .layers import Dense, Dropout, Layer
from .network import Sequential, mlp
from .optimizers import OPTIMIZERS, Optimizer, get_optimizer
from .training import Callback, History
from .training import fit as ffnn_fit

__all__ = ["EXPECTED_FAILED_CHECKS", "MLPClassifier", "MLPRegressor"]

#: scikit-learn estimator checks that cannot be met, with the reason; passed by the test suite
#: to ``parametrize_with_checks(expected_failed_checks=...)``.  Empty: every check passes.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "MLPClassifier": {},
    "MLPRegressor": {},
}


# --------------------------------------------------------------------------- helpers
def _seeds(random_state) -> tuple[int, int]:
    """(initialisation seed, training seed) from ``random_state``, never from the global RNG.

    None draws fresh OS entropy; an int is used as a seed; a ``RandomState`` or ``Generator``
    is asked for one number (so repeated fits with the same instance differ, as in sklearn).
    """
    if random_state is None:
        seq = np.random.SeedSequence()
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seq = np.random.SeedSequence(int(random_state))
    elif isinstance(random_state, np.random.RandomState):
        seq = np.random.SeedSequence(int(random_state.randint(np.iinfo(np.int32).max)))
    elif isinstance(random_state, np.random.Generator):
        seq = np.random.SeedSequence(int(random_state.integers(2**63 - 1)))
    else:
        raise ValueError(f"random_state must be None, an int, a numpy RandomState or Generator, "
                         f"got {random_state!r}")
    init_seed, fit_seed = seq.generate_state(2)
    return int(init_seed), int(fit_seed)


def _param_error(name: str, want: str, value) -> ValueError:
    return ValueError(f"{name} must be {want}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


def _check_real(name: str, value, low: float, high: float = np.inf, *,
                low_open: bool = False, high_open: bool = False) -> float:
    ok = _is_real(value) and (value > low if low_open else value >= low) \
        and (value < high if high_open else value <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open or high == np.inf else "]"
        raise _param_error(name, f"a number in {lo}{low:g}, {high:g}{hi}", value)
    return float(value)


def _check_int(name: str, value, low: int) -> int:
    if not _is_int(value) or value < low:
        raise _param_error(name, f"an integer >= {low}", value)
    return int(value)


class _SklearnObjective(Callback):
    """Adds ``logs["objective"]``: scikit-learn's loss for the epoch, penalty included.

    objective = loss / s + (alpha / (2 n_batch)) sum_l ||W_l||^2
    with ``s`` the ratio of ffnn's loss to scikit-learn's, so ``tol`` and ``loss_curve_``
    mean what they mean in scikit-learn (its training loss includes the L2 penalty).
    """

    def __init__(self, loss_scale: float, penalty: float) -> None:
        self.loss_scale = loss_scale
        self.penalty = penalty  # alpha / (2 n_batch); 0 when there is no coupled L2

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = logs["loss"] / self.loss_scale
        if self.penalty:
            weights = [p for k, p in self.context.net.parameters().items() if k.endswith("W")]
            value += self.penalty * sum(float(np.vdot(W, W)) for W in weights)
        logs["objective"] = value


class _NoImprovementStop(Callback):
    """scikit-learn's MLP stopping rule on one logged metric (higher is better if mode="max").

    Every epoch is compared with the best value so far: one that does not beat it by more
    than ``tol`` counts as an epoch without improvement (yet any gain still updates the best),
    and training stops after more than ``n_iter_no_change`` such epochs in a row.  This differs
    from Keras-style ``ffnn.callbacks.EarlyStopping``, which measures ``min_delta`` from the
    value at the last counted improvement: there a loss that falls steadily by less than tol
    per epoch never stops, here (and in scikit-learn) it does, so both libraries run the same
    number of epochs.  With ``keep_best`` the weights of the best epoch are restored at the end.
    """

    def __init__(self, monitor: str, mode: str, tol: float, n_iter_no_change: int,
                 keep_best: bool) -> None:
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.keep_best = keep_best

    def on_train_begin(self, logs=None) -> None:
        self._best = -np.inf  # best of sign * value
        self.count = 0
        self.best_weights = None

    @property
    def best(self) -> float:
        return self.sign * self._best

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = self.sign * float(logs[self.monitor])
        self.count = self.count + 1 if value < self._best + self.tol else 0
        if value > self._best:
            self._best = value
            if self.keep_best:
                self.best_weights = self.context.net.get_weights()
        if self.count > self.n_iter_no_change:
            self.context.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.keep_best and self.best_weights is not None:
            self.context.net.set_weights(self.best_weights)


# --------------------------------------------------------------------------- the base
class _BaseMLP(BaseEstimator):
    """Shared parameters, validation, network building and the training call."""

    _loss_name: str  # set per problem by the subclasses

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=0,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        dropout=0.0,
        clip_norm=None,
        init="glorot_uniform",
        dtype="float32",
        fused=False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.clip_norm = clip_norm
        self.init = init
        self.dtype = dtype
        self.fused = fused

    # ------------------------------------------------------------ parameter validation
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if _is_int(sizes):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise _param_error("hidden_layer_sizes", "an int or a sequence of positive ints",
                               self.hidden_layer_sizes) from None
        if not all(_is_int(s) and s >= 1 for s in sizes):
            raise _param_error("hidden_layer_sizes", "an int or a sequence of positive ints",
                               self.hidden_layer_sizes)
        return [int(s) for s in sizes]

    def _validate_params(self) -> None:
        """Check every hyperparameter at fit time (never in __init__ or set_params)."""
        self._hidden_sizes()
        try:
            get_activation(self.activation)
        except ValueError as exc:
            raise ValueError(f"activation: {exc}") from None
        if isinstance(self.solver, str) and self.solver.lower() == "lbfgs":
            raise ValueError("solver='lbfgs' is not available: ffnn trains by mini-batch "
                             f"gradient steps; use one of {sorted(OPTIMIZERS)}")
        if not isinstance(self.solver, str) or self.solver.lower() not in OPTIMIZERS:
            raise _param_error("solver", f"one of {sorted(OPTIMIZERS)}", self.solver)
        _check_real("alpha", self.alpha, 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _check_int("batch_size", self.batch_size, 1)
        _check_real("learning_rate_init", self.learning_rate_init, 0.0, low_open=True)
        _check_int("max_iter", self.max_iter, 1)
        _check_real("tol", self.tol, 0.0)
        if not _is_int(self.verbose) or self.verbose < 0:
            raise _param_error("verbose", "a bool or an int >= 0", self.verbose)
        _check_real("momentum", self.momentum, 0.0, 1.0)
        _check_real("validation_fraction", self.validation_fraction, 0.0, 1.0,
                    low_open=True, high_open=True)
        _check_real("beta_1", self.beta_1, 0.0, 1.0, high_open=True)
        _check_real("beta_2", self.beta_2, 0.0, 1.0, high_open=True)
        _check_real("epsilon", self.epsilon, 0.0, low_open=True)
        _check_int("n_iter_no_change", self.n_iter_no_change, 1)
        _check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        if self.clip_norm is not None:
            _check_real("clip_norm", self.clip_norm, 0.0, low_open=True)
        try:
            get_initializer(self.init)
        except ValueError as exc:
            raise ValueError(f"init: {exc}") from None
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "fused"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise _param_error(name, "True or False", getattr(self, name))
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            dt = None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise _param_error("dtype", '"float32" or "float64"', self.dtype)

    # ------------------------------------------------------------ building blocks
    def _build_network(self, n_features: int, n_outputs: int, output: str,
                       seed: int) -> Sequential:
        """mlp([D_in, *hidden, D_out]) with Dropout after each hidden activation if asked."""
        net = mlp([n_features, *self._hidden_sizes(), n_outputs], activation=self.activation,
                  init=self.init, seed=seed, dtype=np.dtype(self.dtype), output=output)
        if self.dropout > 0:
            layers: list[Layer] = []
            for layer in net.layers:
                layers.append(layer)
                if isinstance(layer, Activation):
                    layers.append(Dropout(float(self.dropout), rng=seed))
            net = Sequential(*layers, output=output)
        return net

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        return min(int(self.batch_size), n)

    def _make_optimizer(self, batch: int, grad_scale: float) -> Optimizer:
        """The ffnn optimiser for ``solver``; scikit-learn's alpha as ffnn's weight_decay."""
        name = self.solver.lower()
        kwargs: dict = {"lr": float(self.learning_rate_init),
                        "clip_norm": None if self.clip_norm is None else float(self.clip_norm)}
        if name == "adamw":
            kwargs["weight_decay"] = float(self.alpha)
        else:
            # sklearn adds alpha/(2 n_batch) ||W||^2 to the loss whose gradient it follows;
            # ffnn's gradient is grad_scale times that loss's, so the same minimiser needs
            # weight_decay = grad_scale * alpha / n_batch.
            kwargs["weight_decay"] = float(self.alpha) * grad_scale / batch
        if name == "sgd":
            kwargs["momentum"] = float(self.momentum)
            kwargs["nesterov"] = bool(self.nesterovs_momentum) and self.momentum > 0
        elif name in ("adam", "adamw"):
            kwargs.update(beta1=float(self.beta_1), beta2=float(self.beta_2),
                          eps=float(self.epsilon), fused=bool(self.fused))
        return get_optimizer(name, **kwargs)

    # ------------------------------------------------------------ training
    def _fit(self, X, y, *, incremental: bool, classes=None):
        self._validate_params()
        first = not hasattr(self, "net_") or not (incremental or self.warm_start)
        X, y = validate_data(self, X, y, reset=first, multi_output=True,
                             dtype=np.dtype(self.dtype), y_numeric=not self._is_classifier)
        use_early_stopping = bool(self.early_stopping) and not incremental
        n_train = X.shape[0]
        if use_early_stopping:
            n_val = int(round(X.shape[0] * self.validation_fraction))
            if not 0 < n_val < X.shape[0]:
                raise ValueError(
                    f"early_stopping with validation_fraction={self.validation_fraction} "
                    f"leaves no samples for validation or training ({X.shape[0]} samples); "
                    "use more data, another validation_fraction, or early_stopping=False")
            n_train -= n_val
        Y, loss, n_outputs, output, loss_scale, grad_scale = self._encode_targets(
            y, first, classes)
        if first:
            init_seed, fit_seed = _seeds(self.random_state)
            self.net_ = self._build_network(X.shape[1], n_outputs, output, init_seed)
            self.history_ = History(seed=fit_seed)
            self.n_outputs_ = n_outputs
            self.out_activation_ = {"sigmoid": "logistic"}.get(output, output)
            self._loss = loss
            self._loss_scale = loss_scale
            self._grad_scale = grad_scale
        batch = self._batch_size(n_train)
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(batch, self._grad_scale)

        penalty = 0.0 if self.solver.lower() == "adamw" else float(self.alpha) / (2 * batch)
        callbacks: list[Callback] = [_SklearnObjective(self._loss_scale, penalty)]
        if use_early_stopping:
            score = "val_accuracy" if self._is_classifier else "val_r2"
            stopper = _NoImprovementStop(score, "max", float(self.tol), self.n_iter_no_change,
                                         keep_best=True)
            callbacks.append(stopper)
        elif not incremental:
            callbacks.append(_NoImprovementStop("objective", "min", float(self.tol),
                                                self.n_iter_no_change, keep_best=False))

        epochs = 1 if incremental else int(self.max_iter)
        before = len(self.history_)
        try:
            ffnn_fit(self.net_, X, Y, self._loss, self._optimizer, epochs=epochs,
                     batch_size=batch, seed=self.history_.seed,
                     verbose=min(int(self.verbose), 2),
                     validation_split=float(self.validation_fraction) if use_early_stopping
                     else 0.0, callbacks=callbacks, shuffle=bool(self.shuffle),
                     history=self.history_, fused=bool(self.fused))
        except BaseException:
            if first:  # a failed first fit (e.g. TrainingDiverged) leaves the estimator unfitted
                del self.net_, self.history_, self._optimizer
            raise
        for layer in self.net_.layers:  # the last batch cached by forward is not the model
            layer._clear_cache()

        self.n_iter_ = len(self.history_)
        self.loss_curve_ = [float(v) for v in self.history_["objective"]]
        self.best_loss_ = None if use_early_stopping else min(self.loss_curve_)
        if use_early_stopping:
            self.validation_scores_ = [float(r[score]) for r in self.history_.records
                                       if score in r]
            self.best_validation_score_ = float(stopper.best)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        if not incremental and len(self.history_) - before == epochs:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self

    def fit(self, X, y):
        """Train on (X, y) for up to ``max_iter`` epochs; returns self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._fit(X, y, incremental=False)

    # ------------------------------------------------------------ prediction
    def _logits(self, X) -> np.ndarray:
        """Raw network output (N, n_outputs_), computed in float64 from the trained weights.

        Why float64 even for a float32 model: BLAS rounds a float32 product differently for
        different batch shapes, so a row's prediction would change (by ~1e-7) with the other
        rows predicted alongside it.  In float64 the same rounding is far below any tolerance,
        and predictions do not depend on batching (scikit-learn checks this).  The weights are
        cast per call, not cached, so edits to ``net_`` are always seen.
        """
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        out = np.empty((X.shape[0], self.n_outputs_))
        chunk = 8192
        layers = [(layer, layer.params["W"].astype(np.float64), layer.params["b"].astype(
            np.float64)) if isinstance(layer, Dense) else (layer, None, None)
            for layer in self.net_.layers]
        for start in range(0, X.shape[0], chunk):
            A = X[start:start + chunk]
            for layer, W, b in layers:
                if W is not None:
                    A = A @ W + b  # Dense: Z = X W + b
                else:
                    A = layer.forward(A, training=False)
            out[start:start + chunk] = A
        for layer in self.net_.layers:  # do not keep (possibly large) inputs in the model
            layer._clear_cache()
        return out

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices W (D_in, D_out) of the Dense layers (live arrays)."""
        check_is_fitted(self, "net_")
        return [layer.params["W"] for layer in self.net_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors b (D_out,) of the Dense layers (live arrays)."""
        check_is_fitted(self, "net_")
        return [layer.params["b"] for layer in self.net_.layers if isinstance(layer, Dense)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


# --------------------------------------------------------------------------- classifier
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by ffnn (scikit-learn API).

    Binary targets train one sigmoid output with binary cross-entropy; more classes a softmax
    output with cross-entropy; a 2-D 0/1 indicator ``y`` is multi-label (one sigmoid output per
    label).  Class labels may be any sortable values (ints, strings, ...).  See the module
    docstring for the parameters and fitted attributes.
    """

    _is_classifier = True

    def _encode_targets(self, y, first: bool, classes):
        """(targets for ffnn, loss name, n_outputs, output kind, s_loss, s_grad).

        s_loss = ffnn's loss / scikit-learn's reported loss; s_grad = the same ratio for the
        loss whose gradient each library follows (they differ for multi-output regression).
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"MLPClassifier supports binary, multi-class and multi-label "
                             f"(0/1 indicator matrix) targets, got {kind!r} y of shape {y.shape}")
        multilabel = kind == "multilabel-indicator"
        if first:
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
                self._indicator_dtype = y.dtype
            else:
                labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
                if len(labels) < 2:
                    raise ValueError(f"MLPClassifier needs samples of at least 2 classes; the "
                                     f"data contain only one class: {labels[0]!r}")
                self.classes_ = labels
            self._multilabel = multilabel
        elif multilabel != self._multilabel or (multilabel and y.shape[1] != len(self.classes_)):
            raise ValueError(f"y has the form {kind!r} with shape {y.shape}, but the model was "
                             f"trained on {'multi-label' if self._multilabel else 'class'} "
                             f"targets with classes {self.classes_.tolist()}")

        dtype = np.dtype(self.dtype)
        if multilabel:
            K = y.shape[1]
            return y.astype(dtype), "bce", K, "sigmoid", 1.0 / K, 1.0 / K
        idx = np.searchsorted(self.classes_, y)
        unknown = (idx >= len(self.classes_)) | (self.classes_[np.minimum(
            idx, len(self.classes_) - 1)] != y)
        if np.any(unknown):
            raise ValueError(f"y contains labels that are not among the classes "
                             f"{self.classes_.tolist()}: {np.unique(y[unknown]).tolist()[:5]}")
        if len(self.classes_) == 2:
            return (idx == 1).astype(dtype).reshape(-1, 1), "bce", 1, "sigmoid", 1.0, 1.0
        return idx.astype(np.int64), "ce", len(self.classes_), "softmax", 1.0, 1.0

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), keeping the weights and optimiser state; returns self.

        ``classes`` (all labels that will ever appear) is required on the first call, as in
        scikit-learn, except for a multi-label indicator ``y``.
        """
        if not hasattr(self, "net_"):
            is_indicator = np.ndim(y) == 2 and np.shape(y)[1] > 1
            if classes is None and not is_indicator:
                raise ValueError("classes must be passed on the first call to partial_fit "
                                 "(all labels that will appear in any call)")
        elif classes is not None and not self._multilabel and not np.array_equal(
                np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={np.unique(classes).tolist()} is not the same as on the "
                             f"first call to partial_fit: {self.classes_.tolist()}")
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (N, n_classes), columns in the order of ``classes_``.

        Binary: [1 - p, p] from the sigmoid output; multi-class: softmax; multi-label: one
        independent sigmoid probability per label.
        """
        Z = self._logits(X)
        if self._multilabel:
            return F.sigmoid(Z)
        if len(self.classes_) == 2:
            p = F.sigmoid(Z[:, 0])
            return np.column_stack([1.0 - p, p])
        return F.softmax(Z, axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        """log of ``predict_proba``, computed from the logits (never log(0))."""
        Z = self._logits(X)
        if self._multilabel:
            return F.log_sigmoid(Z)
        if len(self.classes_) == 2:
            return np.column_stack([F.log_sigmoid(-Z[:, 0]), F.log_sigmoid(Z[:, 0])])
        return F.log_softmax(Z, axis=1)

    def predict(self, X) -> np.ndarray:
        """Class labels (N,), or a 0/1 indicator matrix (N, n_labels) for multi-label."""
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(self._indicator_dtype)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# --------------------------------------------------------------------------- regressor
class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by ffnn (scikit-learn API).

    Identity outputs and mean squared error; a 2-D ``y`` gives one output per column
    (multi-output regression).  See the module docstring for parameters and attributes.
    """

    _is_classifier = False

    def _encode_targets(self, y, first: bool, classes):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if not first and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} target column(s) but the model was trained "
                             f"with {self.n_outputs_}")
        Y = y.astype(np.dtype(self.dtype)).reshape(y.shape[0], n_outputs)
        # ffnn: mean over N K of (out - y)^2.  sklearn reports half that, but its gradient
        # (out - y) / N belongs to (1 / 2N) sum_{n,k} (out - y)^2, K times the reported loss.
        return Y, "mse", n_outputs, "identity", 2.0, 2.0 / n_outputs

    def partial_fit(self, X, y):
        """One epoch over (X, y), keeping the weights and optimiser state; returns self."""
        return self._fit(X, y, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions (N,) for one target, (N, n_outputs) for several, as float64."""
        out = self._logits(X)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
