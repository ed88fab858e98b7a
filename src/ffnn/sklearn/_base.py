"""The shared estimator: parameters, the ffnn network behind ``coefs_``, and the three solvers.

State follows scikit-learn's MLP: ``coefs_[l]`` (D_in, D_out) and ``intercepts_[l]`` (D_out,)
are the model, and the ffnn network (``net_``) is built around those very arrays (its Dense
layers hold them), so assigning ``coefs_`` changes what the network computes and an optimiser
step on the network's parameters is a step on ``coefs_``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.optimize
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches, shuffle
from sklearn.utils.validation import check_is_fitted, validate_data

from ..activations import get_activation
from ..init import get_initializer
from ..network import Sequential, mlp
from ..optimizers import OPTIMIZERS, get_optimizer
from ..training import History, TrainingDiverged
from ..training import fit as ffnn_fit
from ._objective import NETWORK_OUTPUT, OUTPUT_ACTIVATIONS, dense_layers, loss_and_gradients
from ._optimizers import AdamOptimizer, FfnnOptimizer, SGDOptimizer

_STOCHASTIC = ("sgd", "adam")
#: ffnn optimisers offered as extra solvers (ffnn's update rule on scikit-learn's gradient)
_FFNN_SOLVERS = tuple(sorted(set(OPTIMIZERS) - {"sgd", "adam"}))
_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


# --------------------------------------------------------------------------- helpers
def _param_error(name: str, want: str, value) -> ValueError:
    return ValueError(f"The {name!r} parameter must be {want}, got {value!r}.")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) \
        and not np.isnan(value)


def _check_real(name: str, value, low: float, high: float = np.inf, *,
                low_open: bool = False, high_open: bool = False) -> None:
    ok = _is_real(value) and (value > low if low_open else value >= low) \
        and (value < high if high_open else value <= high) and np.isfinite(value)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open or high == np.inf else "]"
        raise _param_error(name, f"a finite number in {lo}{low:g}, {high:g}{hi}", value)


def _check_int(name: str, value, low: int) -> None:
    if not _is_int(value) or value < low:
        raise _param_error(name, f"an integer >= {low}", value)


def _check_random_state(random_state) -> np.random.RandomState:
    """scikit-learn's ``check_random_state``, except that None gives a freshly seeded
    RandomState (fresh OS entropy) instead of NumPy's global one: ffnn never uses global RNG."""
    if random_state is None:
        return np.random.RandomState(np.random.SeedSequence().generate_state(1)[0])
    if _is_int(random_state):
        return np.random.RandomState(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return random_state
    raise _param_error("random_state", "None, an int or a numpy RandomState", random_state)


def _check_sample_weight(sample_weight, X: np.ndarray) -> np.ndarray:
    """Sample weights s (N,) in X's dtype: a scalar is repeated; a wrong shape is an error."""
    s = np.asarray(sample_weight)
    if s.ndim == 0:
        s = np.full(X.shape[0], s, dtype=X.dtype)
    if s.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {s.ndim}D array. "
                         f"Expected either a scalar value or a 1D array of length {X.shape[0]}.")
    if s.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight.shape == {s.shape}, expected ({X.shape[0]},)!")
    if s.dtype.kind not in "fiub":
        raise ValueError(f"sample_weight must be numeric, got dtype {s.dtype}")
    s = s.astype(X.dtype)  # a copy: the caller's array is never modified
    if not np.all(np.isfinite(s)):
        raise ValueError("sample_weight contains NaN or infinity")
    if np.all(s == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return s


def _dense(X):
    """ffnn's Dense layer multiplies dense arrays: sparse input is densified (row batches)."""
    return X.toarray() if sparse.issparse(X) else X


_NONFINITE = ("Solver produced non-finite parameter weights. The input data may contain large "
              "values and need to be preprocessed.")


# --------------------------------------------------------------------------- the base
class BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share (see the package docstring)."""

    _is_classifier: bool
    _loss_name: str

    def _set_params(self, params: dict) -> None:
        for name, value in params.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # ------------------------------------------------------------ parameter validation
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if not all(_is_int(s) for s in sizes):
            raise _param_error("hidden_layer_sizes", "an int or a sequence of ints",
                               self.hidden_layer_sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        """Every hyperparameter, at fit time (never in __init__ or set_params)."""
        self._hidden_sizes()
        if not isinstance(self.activation, str):
            raise _param_error("activation", f"one of {_SKLEARN_ACTIVATIONS} or an ffnn "
                               "activation name", self.activation)
        try:
            get_activation(self.activation)
        except ValueError as exc:
            raise ValueError(f"The 'activation' parameter: {exc}") from None
        solvers = ("lbfgs", *_STOCHASTIC, *_FFNN_SOLVERS)
        if self.solver not in solvers:
            raise _param_error("solver", f"one of {solvers}", self.solver)
        _check_real("alpha", self.alpha, 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _check_int("batch_size", self.batch_size, 1)
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise _param_error("learning_rate", "'constant', 'invscaling' or 'adaptive'",
                               self.learning_rate)
        _check_real("learning_rate_init", self.learning_rate_init, 0.0, low_open=True)
        _check_real("power_t", self.power_t, 0.0)
        _check_int("max_iter", self.max_iter, 1)
        _check_real("tol", self.tol, 0.0)
        if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))) \
                or self.verbose < 0:
            raise _param_error("verbose", "a bool or an int >= 0", self.verbose)
        _check_real("momentum", self.momentum, 0.0, 1.0)
        _check_real("validation_fraction", self.validation_fraction, 0.0, 1.0, high_open=True)
        _check_real("beta_1", self.beta_1, 0.0, 1.0, high_open=True)
        _check_real("beta_2", self.beta_2, 0.0, 1.0, high_open=True)
        _check_real("epsilon", self.epsilon, 0.0, low_open=True)
        if not (self.n_iter_no_change == np.inf and _is_real(self.n_iter_no_change)):
            _check_int("n_iter_no_change", self.n_iter_no_change, 1)
        _check_int("max_fun", self.max_fun, 1)
        _check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        if self.clip_norm is not None:
            _check_real("clip_norm", self.clip_norm, 0.0, low_open=True)
        if self.init is not None:
            try:
                get_initializer(self.init)
            except ValueError as exc:
                raise ValueError(f"The 'init' parameter: {exc}") from None
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "fused"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise _param_error(name, "True or False", getattr(self, name))
        if self.dtype is not None and self.dtype not in ("float32", "float64", np.float32,
                                                         np.float64):
            raise _param_error("dtype", "None (follow the input), 'float32' or 'float64'",
                               self.dtype)
        if self.random_state is not None and not _is_int(self.random_state) \
                and not isinstance(self.random_state, np.random.RandomState):
            raise _param_error("random_state", "None, an int or a numpy RandomState",
                               self.random_state)
        if self.solver == "lbfgs" and self.dropout > 0:
            raise ValueError("dropout needs a stochastic solver: L-BFGS minimises one fixed "
                             "function, and dropout makes every evaluation random")
        if self.fused:
            if self.solver not in _STOCHASTIC:
                raise ValueError(f"fused=True trains with ffnn's fused SGD or Adam step; "
                                 f"solver={self.solver!r} has no fused path")
            if self._loss_name == "poisson":
                raise ValueError("fused=True has no Poisson loss; use fused=False")
            if self.solver == "sgd" and self.learning_rate != "constant":
                raise ValueError(f"fused=True has no learning-rate schedule; "
                                 f"learning_rate={self.learning_rate!r} needs fused=False")

    def _input_dtype(self):
        """Accepted dtypes for X: the input's own float dtype (scikit-learn), unless forced."""
        return (np.float64, np.float32) if self.dtype is None else np.dtype(self.dtype)

    # ------------------------------------------------------------ the network
    def _network(self) -> Sequential:
        """The ffnn network whose Dense layers hold ``coefs_``/``intercepts_`` themselves.

        Rebuilt when the architecture or dtype changed (e.g. after ``coefs_`` was assigned);
        otherwise the same network, with its layers pointed at the current arrays.
        """
        coefs, intercepts = self.coefs_, self.intercepts_
        dtype = np.result_type(*coefs, *intercepts)
        if dtype.kind != "f":
            dtype = np.dtype(np.float64)
        for i in range(len(coefs)):
            if not isinstance(coefs[i], np.ndarray) or coefs[i].dtype != dtype:
                coefs[i] = np.asarray(coefs[i], dtype=dtype)
            if not isinstance(intercepts[i], np.ndarray) or intercepts[i].dtype != dtype \
                    or intercepts[i].ndim != 1:
                intercepts[i] = np.asarray(intercepts[i], dtype=dtype).reshape(-1)
        sizes = [coefs[0].shape[0], *(W.shape[1] for W in coefs)]
        key = (tuple(sizes), dtype.name, self.activation, float(self.dropout),
               self.out_activation_)
        net = self.__dict__.get("_net")
        if net is None or self.__dict__.get("_net_key") != key:
            net = mlp(sizes, activation=self.activation, init="glorot_uniform",
                      seed=getattr(self, "_dropout_seed", 0), dtype=dtype,
                      output=NETWORK_OUTPUT[self.out_activation_], dropout=float(self.dropout))
            self._net, self._net_key = net, key
        for layer, W, b in zip(dense_layers(net), coefs, intercepts, strict=True):
            if W.shape != layer.params["W"].shape or b.shape != layer.params["b"].shape:
                raise ValueError(f"coefs_/intercepts_ of shapes {W.shape}/{b.shape} do not "
                                 f"chain into a network of layer sizes {sizes}")
            layer.params["W"], layer.params["b"] = W, b
        return net

    @property
    def net_(self) -> Sequential:
        """The trained ffnn ``Sequential`` (its Dense layers hold ``coefs_``/``intercepts_``)."""
        check_is_fitted(self, "coefs_")
        return self._network()

    @property
    def history_(self) -> History:
        """ffnn's per-epoch ``History`` (for ffnn's plots): ``loss`` is ``loss_curve_`` and,
        with early stopping, ``val_score`` is ``validation_scores_`` (stochastic solvers)."""
        check_is_fitted(self, "coefs_")
        if not hasattr(self, "loss_curve_"):
            raise AttributeError("history_ is recorded by the stochastic solvers; L-BFGS keeps "
                                 "no per-epoch record (scikit-learn has no loss_curve_ for it)")
        scores = self.validation_scores_ or []
        aligned = len(scores) == len(self.loss_curve_)
        return History([{"epoch": i + 1, "loss": float(loss),
                         **({"val_score": float(scores[i])} if aligned else {})}
                        for i, loss in enumerate(self.loss_curve_)])

    def _forward_pass_fast(self, X, check_input: bool = True) -> np.ndarray:
        """P = g(network output) for X (N, D_in), in inference mode; (N, n_outputs_)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        net = self._network()
        chunk = 8192
        Z = np.concatenate([net.predict(_dense(X[i:i + chunk]), batch_size=None)
                            for i in range(0, X.shape[0], chunk)])
        for layer in net.layers:  # forward caches the batch; it is not part of the model
            layer.clear_cache()
        return OUTPUT_ACTIVATIONS[self.out_activation_](Z)

    # ------------------------------------------------------------ fitting
    def _init_coef(self, fan_in: int, fan_out: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's rule: W, b ~ U(−r, r), r = √(6 / (fan_in + fan_out)) (√(2 / ...)
        for logistic), drawn from random_state; or ffnn's ``init`` for W with b = 0."""
        if self.init is None:
            factor = 2.0 if self.activation == "logistic" else 6.0
            bound = np.sqrt(factor / (fan_in + fan_out))
            W = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            b = self._random_state.uniform(-bound, bound, fan_out)
            return W.astype(dtype, copy=False), b.astype(dtype, copy=False)
        rng = np.random.default_rng(self._random_state.randint(np.iinfo(np.int32).max))
        W = get_initializer(self.init)(fan_in, fan_out, rng, dtype)
        return np.ascontiguousarray(W, dtype=dtype), np.zeros(fan_out, dtype=dtype)

    def _initialize(self, y: np.ndarray, layer_units: list[int], dtype) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not self._is_classifier:
            self.out_activation_ = "exp" if self._loss_name == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:], strict=True):
            W, b = self._init_coef(fan_in, fan_out, dtype)
            self.coefs_.append(W)
            self.intercepts_.append(b)
        self._dropout_seed = (int(self._random_state.randint(np.iinfo(np.int32).max))
                              if self.dropout > 0 else 0)
        self._net = None
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        if self.solver != "lbfgs":
            self._start_records()

    def _start_records(self) -> None:
        """The stochastic solvers' per-epoch records, empty."""
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental: bool = False):
        self._check_params()
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        layer_units = [X.shape[1], *hidden, y.shape[1]]
        if not first_pass:
            have = [np.shape(self.coefs_[0])[0], *(np.shape(W)[1] for W in self.coefs_)]
            if have != layer_units:
                raise ValueError(f"the data and hidden_layer_sizes need layer sizes "
                                 f"{layer_units}, but the fitted network has {have}; refit "
                                 "without warm_start (or partial_fit) to start afresh")
        self.n_outputs_ = y.shape[1]
        self._random_state = _check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, y, sample_weight)
        else:
            self._fit_stochastic(X, y, sample_weight, incremental)
        if not all(np.isfinite(w).all() for w in (*self.coefs_, *self.intercepts_)):
            if first_pass:  # ffnn keeps a failed first fit unfitted (scikit-learn keeps it)
                for name in [k for k in vars(self) if k.endswith("_") and not
                             k.startswith("__")]:
                    delattr(self, name)
            raise ValueError(_NONFINITE)
        return self

    def _alpha_l2(self) -> float:
        """The α of the L2 term in the gradient (AdamW's decay is decoupled instead)."""
        return 0.0 if self.solver == "adamw" else float(self.alpha)

    def _loss_and_gradients(self, net: Sequential, X, Y, sample_weight) -> float:
        return loss_and_gradients(net, _dense(X), Y, sample_weight, self._alpha_l2(),
                                  self.out_activation_, self._loss_name)

    def _gradients(self, net: Sequential) -> list[np.ndarray]:
        """[dW_1, ..., dW_L, db_1, ..., db_L], in the order of ``coefs_ + intercepts_``."""
        layers = dense_layers(net)
        return [d.grads["W"] for d in layers] + [d.grads["b"] for d in layers]

    def _clip(self, grads: list[np.ndarray]) -> None:
        """ffnn extra: g ← g · min(1, c / ‖g‖), ‖g‖ the norm over every gradient array."""
        if self.clip_norm is None:
            return
        norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
        if norm > self.clip_norm:
            for g in grads:
                g *= self.clip_norm / norm

    # ------------------------------------------------------------ L-BFGS
    def _fit_lbfgs(self, X, y, sample_weight) -> None:
        """scipy's L-BFGS-B on θ = [vec W_1, ..., vec W_L, b_1, ..., b_L] and ∂J/∂θ."""
        net = self._network()
        X = _dense(X)
        params = [*self.coefs_, *self.intercepts_]
        bounds = np.cumsum([0, *(p.size for p in params)])

        def unpack(theta: np.ndarray) -> None:
            for p, start, end in zip(params, bounds[:-1], bounds[1:], strict=True):
                p[...] = theta[start:end].reshape(p.shape)

        def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
            unpack(theta)
            value = self._loss_and_gradients(net, X, y, sample_weight)
            return value, np.concatenate([g.ravel() for g in self._gradients(net)])

        result = scipy.optimize.minimize(
            fun, np.concatenate([p.ravel() for p in params]), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = min(int(result.nit), self.max_iter)
        if result.status != 0:
            msg = (f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                   f"(status={result.status}):\n{result.message}\n")
            if self.n_iter_ == self.max_iter:
                msg += ("\nIncrease the number of iterations to improve the convergence "
                        f"(max_iter={self.max_iter}).")
            msg += ("\nYou might also want to scale the data as shown in:\n"
                    "    https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        self.loss_ = float(result.fun)
        unpack(result.x)
        for layer in net.layers:
            layer.clear_cache()

    # ------------------------------------------------------------ SGD / Adam
    def _make_optimizer(self, params: list[np.ndarray], batch_size: int):
        if self.fused:  # ffnn's fused optimiser, with alpha as ffnn's coupled weight decay
            kwargs: dict = {"lr": float(self.learning_rate_init),
                            "weight_decay": float(self.alpha) * self._fused_scale() / batch_size,
                            "clip_norm": None if self.clip_norm is None else float(self.clip_norm),
                            "fused": True}
            if self.solver == "sgd":
                kwargs.pop("fused")  # fit's fused step drives ffnn's plain SGD
                kwargs.update(momentum=float(self.momentum),
                              nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
            else:
                kwargs.update(beta1=float(self.beta_1), beta2=float(self.beta_2),
                              eps=float(self.epsilon))
            return FfnnOptimizer(get_optimizer(self.solver, **kwargs))
        if self.solver == "sgd":
            return SGDOptimizer(params, self.learning_rate_init, self.learning_rate,
                                self.momentum, self.nesterovs_momentum, self.power_t)
        if self.solver == "adam":
            return AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2,
                                 self.epsilon)
        kwargs = {"lr": float(self.learning_rate_init)}
        if self.solver == "adamw":
            kwargs.update(weight_decay=float(self.alpha), beta1=float(self.beta_1),
                          beta2=float(self.beta_2), eps=float(self.epsilon))
        return FfnnOptimizer(get_optimizer(self.solver, **kwargs))

    def _fit_stochastic(self, X, y, sample_weight, incremental: bool) -> None:
        net = self._network()
        params = [*self.coefs_, *self.intercepts_]
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.fused and sample_weight is not None:
            raise ValueError("fused=True trains with ffnn's unweighted losses; sample_weight "
                             "needs fused=False")
        early_stopping = self.early_stopping
        if early_stopping:
            # stratified for one output (binary labels); not for multi-class/-label (sklearn)
            stratify = y if self._is_classifier and self.n_outputs_ == 1 else None
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            parts = train_test_split(*arrays, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, y_train, y_val = parts[:4]
            sw_train, sw_val = (None, None) if sample_weight is None else parts[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            if self._is_classifier:
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sw_train = X, y, sample_weight
            X_val = y_val = sw_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=4)
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        if not hasattr(self, "loss_curve_") or (
                self.early_stopping and self.validation_scores_ is None) or (
                not self.early_stopping and self.best_loss_ is None):
            # a warm start from L-BFGS, or early_stopping switched: where scikit-learn fails
            # on a missing record, start the records afresh (the weights are kept)
            self._start_records()
        fused_state = isinstance(getattr(self, "_optimizer", None), FfnnOptimizer) \
            and self.solver in _STOCHASTIC
        if not incremental or not hasattr(self, "_optimizer") or fused_state != self.fused:
            self._optimizer = self._make_optimizer(params, batch_size)

        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = shuffle(sample_idx, random_state=self._random_state)
                if self.fused:
                    self.loss_ = self._fused_epoch(net, X_train, y_train, sample_idx,
                                                   batch_size)
                else:
                    accumulated_loss = 0.0
                    for batch in gen_batches(n_samples, batch_size):
                        idx = sample_idx[batch] if self.shuffle else batch
                        batch_loss = self._loss_and_gradients(
                            net, X_train[idx], y_train[idx],
                            None if sw_train is None else sw_train[idx])
                        accumulated_loss += batch_loss * (batch.stop - batch.start)
                        grads = self._gradients(net)
                        self._clip(grads)
                        self._optimizer.update_params(params, grads)
                    self.loss_ = accumulated_loss / n_samples

                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                self._optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if early_stopping else "Training loss"
                    msg = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning, stacklevel=4)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        finally:
            for layer in net.layers:
                layer.clear_cache()

        if early_stopping:  # the best epoch's weights (scikit-learn keeps these lists)
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _update_no_improvement_count(self, early_stopping: bool, X_val, y_val, sw_val) -> None:
        """scikit-learn's rule: an epoch that does not beat the best so far by tol counts;
        one that does resets the count.  With early stopping the best weights are kept."""
        if early_stopping:
            score = self._score(X_val, y_val, sample_weight=sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_with_function(self, X, y, sample_weight, score_function) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(score_function(y, y_pred, sample_weight=sample_weight))

    # ------------------------------------------------------------ the fused path (extra)
    def _fused_scale(self) -> float:
        """ffnn's loss gradient / scikit-learn's: 2/K for MSE (no ½, mean over K targets),
        1/K for multi-label BCE (mean over labels), 1 otherwise."""
        K = self.n_outputs_
        if not self._is_classifier:
            return 2.0 / K
        return 1.0 / K if self.out_activation_ == "logistic" else 1.0

    def _fused_epoch(self, net: Sequential, X, y, order: np.ndarray, batch_size: int) -> float:
        """One epoch of ``ffnn.fit(..., fused=True)`` over the rows in ``order``, with ffnn's
        own mean losses; returns the epoch loss in scikit-learn's convention (approximately:
        the L2 term uses the weights at the end of the epoch)."""
        X = _dense(X[order])
        y = y[order]
        if self.out_activation_ == "softmax":
            loss, Y = "ce", np.argmax(y, axis=1)
        elif self.out_activation_ == "logistic":
            loss, Y = "bce", y.astype(X.dtype)
        else:
            loss, Y = "mse", y.astype(X.dtype)
        try:
            history = ffnn_fit(net, X, Y, loss, self._optimizer.optimizer, epochs=1,
                               batch_size=batch_size, shuffle=False, verbose=0, fused=True)
            value = float(history["loss"][-1])
        except TrainingDiverged:
            return float("nan")
        K = self.n_outputs_
        if loss == "mse":
            value *= 0.5
        elif loss == "bce":
            value *= K
        penalty = sum(float(np.vdot(W, W)) for W in self.coefs_)
        return value + 0.5 * float(self.alpha) * penalty / batch_size

    def _check_solver(self) -> bool:
        if self.solver not in (*_STOCHASTIC, *_FFNN_SOLVERS):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_net", None)  # rebuilt around coefs_ on demand; never holds a batch
        state.pop("_net_key", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
