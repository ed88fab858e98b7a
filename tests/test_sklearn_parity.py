"""ffnn.sklearn takes the same steps as scikit-learn's MLP.

The same ``random_state`` gives the same initial weights (both draw them, in the same order,
from the same RandomState: checked first), the same shuffled batches and the same validation
split; then 10 iterations of SGD with momentum, Adam and L-BFGS in float64 must give the same
``coefs_``/``intercepts_`` as scikit-learn's to 1e-6 relative, for binary, multi-class,
multi-label and regression problems.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from ffnn import mlp  # noqa: E402
from ffnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from ffnn.sklearn._objective import loss_and_gradients  # noqa: E402

RTOL = 1e-6


def _problem(kind: str):
    """(X (100, 6) float64, y, ffnn class, scikit-learn class) for a kind of problem."""
    if kind == "multilabel":
        X, y = make_multilabel_classification(n_samples=100, n_features=6, n_classes=3,
                                              random_state=0)
        X = X / X.std(axis=0)
    elif kind in ("binary", "multiclass"):
        X, y = make_classification(n_samples=100, n_features=6, n_informative=4,
                                   n_classes=2 if kind == "binary" else 3, random_state=0)
    else:
        X, y = make_regression(n_samples=100, n_features=6, n_targets=2, noise=0.5,
                               random_state=0)
        y = y / y.std(axis=0)
        if kind == "poisson":
            y = np.random.default_rng(0).poisson(np.exp(0.3 * X[:, :1] + 0.5)).ravel()
    if kind in ("regression", "poisson"):
        return X, y, MLPRegressor, sk.MLPRegressor
    return X, y, MLPClassifier, sk.MLPClassifier


def _fit_both(kind: str, sample_weight=None, **params):
    X, y, Ours, Theirs = _problem(kind)
    if kind == "poisson":
        params["loss"] = "poisson"
    params = {"hidden_layer_sizes": (7, 5), "random_state": 3, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = Ours(**params).fit(X, y, sample_weight=sample_weight)
        theirs = Theirs(**params).fit(X, y, sample_weight=sample_weight)
    return ours, theirs, X


def _assert_same_model(ours, theirs, X, rtol=RTOL):
    assert len(ours.coefs_) == len(theirs.coefs_)
    for a, b in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_],
                    strict=True):
        assert a.dtype == b.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=rtol, atol=1e-12)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=rtol)


KINDS = ["binary", "multiclass", "multilabel", "regression", "poisson"]


@pytest.mark.parametrize("kind", KINDS)
def test_same_random_state_gives_scikit_learns_initial_weights(kind):
    # one SGD step of size 1e-300 leaves every weight as it was initialised
    ours, theirs, X = _fit_both(kind, solver="sgd", learning_rate_init=1e-300, max_iter=1,
                                momentum=0.0)
    for a, b in zip([*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_],
                    strict=True):
        np.testing.assert_array_equal(a, b)


STEPS = {
    "sgd (Nesterov momentum)": {"solver": "sgd", "learning_rate_init": 0.05},
    "sgd (momentum)": {"solver": "sgd", "learning_rate_init": 0.05,
                       "nesterovs_momentum": False},
    "adam": {"solver": "adam", "learning_rate_init": 0.01},
    "lbfgs": {"solver": "lbfgs"},
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", list(STEPS))
def test_ten_iterations_match_scikit_learn(kind, solver):
    params = {**STEPS[solver], "max_iter": 10, "alpha": 0.01, "tol": 0.0}
    if solver != "lbfgs":
        params.update(batch_size=32, shuffle=True)  # four shuffled batches per epoch
    ours, theirs, X = _fit_both(kind, **params)
    _assert_same_model(ours, theirs, X)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression"])
@pytest.mark.parametrize("solver", ["sgd (momentum)", "adam", "lbfgs"])
def test_assigned_initial_weights_give_scikit_learns_ten_iterations(kind, solver):
    """The same, from weights set by hand in both: a warm-started fit of one iteration
    creates scikit-learn's state, then both get the same coefs_/intercepts_ assigned and
    train 10 more iterations from them."""
    X, y, Ours, Theirs = _problem(kind)
    params = {**STEPS[solver], "hidden_layer_sizes": (5,), "alpha": 0.01, "tol": 0.0,
              "warm_start": True, "random_state": 0}
    if solver != "lbfgs":
        params.update(batch_size=32)
    rng = np.random.default_rng(7)
    n_out = y.shape[1] if y.ndim == 2 else (1 if kind in ("binary", "regression") else 3)
    shapes = [(6, 5), (5, n_out)]
    coefs = [rng.normal(scale=0.5, size=s) for s in shapes]
    intercepts = [rng.normal(scale=0.1, size=s[1]) for s in shapes]
    models = []
    for cls in (Ours, Theirs):
        est = cls(max_iter=1, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            est.coefs_ = [W.copy() for W in coefs]
            est.intercepts_ = [b.copy() for b in intercepts]
            est.set_params(max_iter=10).fit(X, y)
        models.append(est)
    _assert_same_model(*models, X)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_sample_weight_schedules_and_early_stopping_match_scikit_learn(kind):
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=100)
    for params in [{"solver": "sgd", "learning_rate": "invscaling", "power_t": 0.3,
                    "learning_rate_init": 0.2},
                   {"solver": "sgd", "learning_rate": "adaptive", "tol": 0.05,
                    "n_iter_no_change": 1, "learning_rate_init": 0.05},
                   {"solver": "adam", "early_stopping": True, "validation_fraction": 0.2,
                    "n_iter_no_change": 3, "learning_rate_init": 0.02},
                   {"solver": "lbfgs"}]:
        ours, theirs, X = _fit_both(kind, sample_weight=w, max_iter=10, batch_size=32,
                                    **params)
        _assert_same_model(ours, theirs, X)
        if params.get("early_stopping"):
            np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                                       rtol=RTOL)
            assert ours.best_validation_score_ == pytest.approx(
                theirs.best_validation_score_, rel=RTOL)
        if params.get("learning_rate") == "adaptive":
            assert ours._optimizer.learning_rate == pytest.approx(
                theirs._optimizer.learning_rate, rel=RTOL)


def test_partial_fit_and_warm_start_match_scikit_learn():
    X, y, Ours, Theirs = _problem("multiclass")
    kw = {"hidden_layer_sizes": (7,), "solver": "sgd", "random_state": 0, "batch_size": 25}
    ours, theirs = Ours(**kw), Theirs(**kw)
    for _ in range(3):
        ours.partial_fit(X, y, classes=[0, 1, 2])
        theirs.partial_fit(X, y, classes=[0, 1, 2])
    _assert_same_model(ours, theirs, X)
    kw.update(warm_start=True, max_iter=4)
    ours, theirs = Ours(**kw), Theirs(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            ours.fit(X, y)
            theirs.fit(X, y)
    _assert_same_model(ours, theirs, X)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)


def test_float32_data_train_and_predict_in_float32():
    X, y, _, _ = _problem("regression")
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(hidden_layer_sizes=(7,), max_iter=10, random_state=0).fit(X32, y)
        theirs = sk.MLPRegressor(hidden_layer_sizes=(7,), max_iter=10,
                                 random_state=0).fit(X32, y)
    assert ours.predict(X32).dtype == np.float32
    assert all(W.dtype == np.float32 for W in [*ours.coefs_, *ours.intercepts_])
    assert ours.net_.dtype == np.float32
    np.testing.assert_allclose(ours.predict(X32), theirs.predict(X32), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(("out_activation", "loss", "K"), [
    ("identity", "squared_error", 1), ("exp", "poisson", 2), ("softmax", "log_loss", 3),
    ("logistic", "log_loss", 1), ("logistic", "log_loss", 3)])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_objective_gradient_matches_finite_differences(out_activation, loss, K, activation):
    """dJ/dtheta from the network's backward pass plus scikit-learn's output gradient and L2
    term equals centred differences of J (weighted samples, alpha > 0)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(5, 4))
    net = mlp([4, 6, K], activation=activation, init="glorot_uniform", seed=1,
              dtype=np.float64)
    for p in net.parameters().values():
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    if out_activation == "softmax":
        Y = np.eye(K, dtype=bool)[rng.integers(K, size=5)]
    elif out_activation == "logistic":
        Y = rng.random((5, K)) > 0.5
    else:
        Y = rng.poisson(2.0, size=(5, K)).astype(float)
    s = rng.uniform(0.5, 2.0, size=5)

    def J() -> float:
        return loss_and_gradients(net, X, Y, s, 0.1, out_activation, loss)

    J()
    analytic = {k: g.copy() for k, g in net.gradients().items()}
    eps = 1e-6
    for k, p in net.parameters().items():
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = J()
            p[i] = old - eps
            down = J()
            p[i] = old
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(analytic[k], numeric, rtol=1e-5, atol=1e-8, err_msg=k)


@pytest.mark.parametrize(("Ours", "Theirs"), [(MLPClassifier, sk.MLPClassifier),
                                              (MLPRegressor, sk.MLPRegressor)])
def test_every_scikit_learn_parameter_with_its_default(Ours, Theirs):
    import inspect

    ours, theirs = Ours().get_params(), Theirs().get_params()
    assert {k: ours[k] for k in theirs} == theirs
    assert set(ours) - set(theirs) == {"dropout", "clip_norm", "init", "dtype", "fused"}
    # the same positional parameters, in the same order
    positional = [[p.name for p in inspect.signature(cls).parameters.values()
                   if p.kind is p.POSITIONAL_OR_KEYWORD] for cls in (Ours, Theirs)]
    assert positional[0] == positional[1]


def test_assigned_coefs_are_what_predict_uses():
    X, y, _, _ = _problem("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(4,), activation="tanh", max_iter=3,
                           random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(size=(6, 4)), rng.normal(size=4)
    W2, b2 = rng.normal(size=(4, 2)), rng.normal(size=2)
    reg.coefs_ = [W1, W2]
    reg.intercepts_ = [b1, b2]
    np.testing.assert_allclose(reg.predict(X), np.tanh(X @ W1 + b1) @ W2 + b2, rtol=1e-12)
    reg.coefs_[1] = 2 * W2  # item assignment too
    np.testing.assert_allclose(reg.predict(X), np.tanh(X @ W1 + b1) @ (2 * W2) + b2,
                               rtol=1e-12)
    assert reg.net_.layers[2].params["W"] is reg.coefs_[1]
