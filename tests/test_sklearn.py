"""ffnn.sklearn: scikit-learn's own estimator checks plus the behaviour the checks do not cover."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import ffnn  # noqa: E402
from ffnn.sklearn import EXPECTED_FAILED_CHECKS, MLPClassifier, MLPRegressor  # noqa: E402

# Small networks and few epochs keep the ~100 checks per estimator fast; the checks that need a
# good fit (training accuracy > 0.83, R^2 > 0.5) still reach it with these settings.  Adam
# (the default), L-BFGS, SGD with momentum, and ffnn extras.  (early_stopping=True is left out:
# scikit-learn's own MLP fails four of these checks with it, because partial_fit refuses early
# stopping and a few samples leave no validation set; it is tested below.  So is dropout,
# whose random masks depend on the batches, so that repeating a sample is not the same as
# weighting it by 2.)
_CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                  random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                 random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=30, random_state=0),
    MLPRegressor(hidden_layer_sizes=(16, 8), activation="tanh", solver="sgd",
                 learning_rate_init=0.02, max_iter=60, random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), activation="gelu", solver="rmsprop",
                  learning_rate_init=0.01, init="he_normal", clip_norm=5.0, dtype="float64",
                  max_iter=60, random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    _CHECKED,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failed_checks_is_empty():
    assert EXPECTED_FAILED_CHECKS == {"MLPClassifier": {}, "MLPRegressor": {}}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", [
    MLPClassifier(solver="lbfgs"),  # the settings scikit-learn's own suite checks this with
    MLPRegressor(solver="sgd", tol=1e-2, random_state=42),
])
def test_sample_weight_equivalence_with_scikit_learns_settings(estimator):
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# --------------------------------------------------------------------------- data
def _blobs(n=300, scales=(1.0, 1.0, 1.0, 1.0), seed=0):
    X, y = make_classification(n_samples=n, n_features=len(scales), n_informative=3,
                               n_redundant=0, n_classes=3, class_sep=2.0, random_state=seed)
    return X * np.asarray(scales), y


def _small(cls, **kw):
    params = {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "max_iter": 80,
              "random_state": 0}
    params.update(kw)
    return cls(**params)


def _fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


# --------------------------------------------------------------------------- packaging
def test_import_ffnn_does_not_import_sklearn():
    code = "import sys, ffnn; assert 'sklearn' not in sys.modules, 'sklearn was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sklearn_submodule_is_reachable_lazily():
    assert ffnn.sklearn.MLPClassifier is MLPClassifier


# --------------------------------------------------------------------------- acceptance 2
def test_pipeline_with_standard_scaler_handles_badly_scaled_features():
    X, y = _blobs(n=400, scales=(1e3, 1e-3, 1.0, 50.0))
    pipe = make_pipeline(StandardScaler(), _small(MLPClassifier))
    _fit_quiet(pipe, X[:300], y[:300])
    assert pipe.score(X[300:], y[300:]) > 0.85
    assert pipe[-1].n_features_in_ == 4
    assert pipe.predict_proba(X[300:]).shape == (100, 3)


def test_grid_search_with_two_jobs_picks_from_the_grid():
    X, y = _blobs(n=240)
    pipe = make_pipeline(StandardScaler(), _small(MLPClassifier, max_iter=40))
    grid = {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
            "mlpclassifier__alpha": [1e-4, 1e-1]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_ in search.cv_results_["params"]
    assert search.best_score_ > 0.8
    best = search.best_estimator_[-1]
    assert isinstance(best.net_, ffnn.Sequential)
    assert best.hidden_layer_sizes == search.best_params_["mlpclassifier__hidden_layer_sizes"]


def test_cross_val_score_regressor_in_pipeline():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    pipe = make_pipeline(StandardScaler(), _small(MLPRegressor, max_iter=150))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y / y.std(), cv=3)
    assert scores.min() > 0.8


# --------------------------------------------------------------------------- targets
def test_string_labels_multiclass():
    iris = load_iris()
    X = StandardScaler().fit_transform(iris.data)
    y = iris.target_names[iris.target]  # 'setosa', 'versicolor', 'virginica'
    clf = _fit_quiet(_small(MLPClassifier), X, y)
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    pred = clf.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= set(clf.classes_)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), atol=1e-12)


def test_binary_labels_use_one_sigmoid_output():
    X, y = _blobs()
    X = StandardScaler().fit_transform(X)
    labels = np.where(y == 0, "no", "yes").astype(object)  # object dtype, like pandas
    clf = _fit_quiet(_small(MLPClassifier), X, labels)
    assert clf.net_.n_outputs == 1 and clf.out_activation_ == "logistic"
    logit = clf.net_.astype(np.float64).predict(X)[:, 0]
    p_yes = 1 / (1 + np.exp(-logit))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba[:, 1], p_yes, rtol=1e-9)
    np.testing.assert_allclose(proba[:, 0], 1 - p_yes, rtol=1e-9, atol=1e-15)
    assert np.array_equal(clf.predict(X), np.where(p_yes > 0.5, "yes", "no"))
    assert clf.score(X, labels) > 0.9


def test_arbitrary_numeric_labels_round_trip():
    X, y = _blobs()
    X = StandardScaler().fit_transform(X)
    labels = np.array([100, -7, 2])[y]
    clf = _fit_quiet(_small(MLPClassifier), X, labels)
    assert clf.classes_.tolist() == [-7, 2, 100]
    assert clf.predict(X).dtype == labels.dtype
    assert clf.score(X, labels) > 0.9


def test_multilabel_indicator_targets():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=300, n_features=8, n_classes=4,
                                          random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = _fit_quiet(_small(MLPClassifier, max_iter=150), X[:240], Y[:240])
    assert clf.classes_.tolist() == [0, 1, 2, 3]
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    proba = clf.predict_proba(X[240:])
    pred = clf.predict(X[240:])
    assert proba.shape == pred.shape == (60, 4)
    assert pred.dtype == Y.dtype
    assert np.array_equal(pred, (proba > 0.5).astype(Y.dtype))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent labels, not a distribution
    label_accuracy = np.mean(pred == Y[240:])
    majority = np.mean(Y[240:] == (Y[:240].mean(axis=0) > 0.5))
    assert label_accuracy > majority + 0.1  # scikit-learn's MLP: 0.81 with these settings
    assert np.mean(clf.predict(X[:240]) == Y[:240]) > 0.8


def test_classifier_rejects_regression_targets_and_learns_a_single_class():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, 20))
    # one class: scikit-learn trains (one logistic output, every target 0) and predicts it
    one = _fit_quiet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0), X,
                     np.full(20, 7))
    assert one.classes_.tolist() == [7] and np.all(one.predict(X) == 7)


def test_multioutput_regression():
    X, Y = make_regression(n_samples=300, n_features=6, n_targets=3, noise=1.0,
                           random_state=0)
    Y = Y / Y.std(axis=0)
    reg = _fit_quiet(_small(MLPRegressor, max_iter=200), X[:240], Y[:240])
    assert reg.n_outputs_ == 3 and reg.out_activation_ == "identity"
    pred = reg.predict(X[240:])
    assert pred.shape == (60, 3) and pred.dtype == np.float64
    assert reg.score(X[240:], Y[240:]) > 0.9
    single = _fit_quiet(_small(MLPRegressor, max_iter=200), X[:240], Y[:240, 0])
    assert single.predict(X[240:]).shape == (60,)


# --------------------------------------------------------------------------- partial_fit
def test_partial_fit_needs_classes_first_then_streams():
    X, y = _blobs()
    X = StandardScaler().fit_transform(X)
    clf = _small(MLPClassifier)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X[:50], y[:50])
    first = X[:100][y[:100] != 2]  # a first batch that lacks class 2 entirely
    clf.partial_fit(first, y[:100][y[:100] != 2], classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2] and clf.n_outputs_ == 3
    for _ in range(20):
        for i in range(0, 300, 100):
            clf.partial_fit(X[i:i + 100], y[i:i + 100])
    assert clf.n_iter_ == 1  # scikit-learn: the epochs of the last call
    assert len(clf.loss_curve_) == 61 and clf.t_ == 61 * 100 - 100 + len(first)
    assert clf.loss_curve_[-1] < clf.loss_curve_[1]
    assert clf.score(X, y) > 0.85
    with pytest.raises(ValueError, match="has classes not in"):
        clf.partial_fit(X[:10], np.full(10, 5))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:10, :3], y[:10])
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X[:10], y[:10], classes=[0, 1])


def test_partial_fit_repeated_equals_fit_with_as_many_epochs():
    """The optimiser state carries over.  (Without shuffling: like scikit-learn, every call
    starts again from random_state, so shuffled calls would all see the same order.)"""
    X, y = make_regression(n_samples=120, n_features=4, noise=0.5, random_state=1)
    y = y / y.std()
    k = 7
    kw = {"tol": 0.0, "n_iter_no_change": 100, "max_iter": k, "batch_size": 32,
          "shuffle": False}
    whole = _fit_quiet(_small(MLPRegressor, **kw), X, y)
    stepwise = _small(MLPRegressor, **kw)
    for _ in range(k):
        stepwise.partial_fit(X, y)
    assert whole.n_iter_ == k and stepwise.n_iter_ == 1 and stepwise.t_ == whole.t_ == k * 120
    np.testing.assert_array_equal(stepwise.predict(X), whole.predict(X))
    np.testing.assert_allclose(stepwise.loss_curve_, whole.loss_curve_, rtol=1e-12)


def test_warm_start_continues_from_the_current_weights():
    X, y = _blobs()
    X = StandardScaler().fit_transform(X)
    clf = _small(MLPClassifier, warm_start=True, max_iter=5)
    _fit_quiet(clf, X, y)
    net = clf.net_
    _fit_quiet(clf, X, y)
    assert clf.net_ is net
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10  # n_iter_: this fit's epochs
    assert clf.loss_curve_[5] < clf.loss_curve_[0]
    cold = _fit_quiet(clone(clf).set_params(warm_start=False), X, y)
    assert cold.n_iter_ == 5


# --------------------------------------------------------------------------- stopping
def test_tol_stopping_matches_scikit_learn():
    """Without early_stopping, training stops after more than n_iter_no_change epochs whose
    loss is not below the best so far by tol, exactly as scikit-learn's MLP does."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = _blobs(n=120)
    ours = MLPClassifier(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=3,
                         random_state=0).fit(X, y)
    theirs = SkMLP(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=3,
                   random_state=0).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    # a loss that keeps falling, but by less than tol per epoch, stops too (by epoch 12)
    slow = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=1e-5, tol=0.05,
                         n_iter_no_change=10, random_state=0).fit(X, y)
    assert np.all(np.diff(slow.loss_curve_) < 0) and slow.n_iter_ == 12


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = _blobs(n=300, seed=3)
    X = StandardScaler().fit_transform(X)
    flip = np.random.default_rng(0).random(300) < 0.3  # noisy labels: overfitting sets in
    y = np.where(flip, (y + 1) % 3, y)
    clf = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.02, max_iter=300,
                        early_stopping=True, validation_fraction=0.2, n_iter_no_change=5,
                        tol=1e-3, random_state=0).fit(X, y)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(scores)
    # scikit-learn's rule: an epoch not better than the best so far by more than tol counts,
    # an epoch that is resets the count; stop once the count exceeds n_iter_no_change
    best, count, stopped = -np.inf, 0, None
    for epoch, score in enumerate(scores, start=1):
        count = count + 1 if score < best + clf.tol else 0
        best = max(best, score)
        if count > clf.n_iter_no_change:
            stopped = epoch
            break
    assert clf.n_iter_ == stopped
    assert clf.best_loss_ is None


def test_max_iter_reached_warns_like_scikit_learn():
    X, y = _blobs(n=60)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)


# --------------------------------------------------------------------------- parameters
def test_alpha_is_scikit_learns_penalty():
    """One full-batch SGD step (no momentum) from the same weights: the L2 term adds
    alpha W / N to dJ/dW and nothing to dJ/db, so the steps differ by -lr alpha W / N."""
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    kw = {"solver": "sgd", "momentum": 0.0, "learning_rate_init": 1e-3, "max_iter": 1,
          "batch_size": 50, "shuffle": False, "random_state": 0, "hidden_layer_sizes": (4,)}
    plain = _fit_quiet(MLPRegressor(alpha=0.0, **kw), X, y / y.std())
    ridge = _fit_quiet(MLPRegressor(alpha=0.3, **kw), X, y / y.std())
    W0 = _fit_quiet(MLPRegressor(alpha=0.0, **{**kw, "learning_rate_init": 1e-300}), X,
                    y / y.std()).coefs_
    for W_plain, W_ridge, W in zip(plain.coefs_, ridge.coefs_, W0, strict=True):
        np.testing.assert_allclose(W_ridge - W_plain, -1e-3 * 0.3 * W / 50, rtol=1e-6,
                                   atol=1e-15)
    np.testing.assert_array_equal(ridge.intercepts_[1], plain.intercepts_[1])
    # and its loss includes alpha / (2 N) sum ||W||^2 at the step's starting weights
    penalty = 0.3 / (2 * 50) * sum(float(np.sum(W * W)) for W in W0)
    assert ridge.loss_ - plain.loss_ == pytest.approx(penalty, rel=1e-9)
    big = _fit_quiet(_small(MLPRegressor, alpha=50.0, max_iter=50), X, y / y.std())
    small = _fit_quiet(_small(MLPRegressor, alpha=0.0, max_iter=50), X, y / y.std())
    assert np.linalg.norm(big.coefs_[0]) < 0.7 * np.linalg.norm(small.coefs_[0])


def test_network_follows_the_parameters():
    X, y = _blobs(n=60)
    clf = _fit_quiet(MLPClassifier(hidden_layer_sizes=[7, 5], activation="tanh", dropout=0.25,
                                   solver="rmsprop", dtype="float64", max_iter=3,
                                   random_state=0), X, y)
    kinds = [type(layer).__name__ for layer in clf.net_.layers]
    assert kinds == ["Dense", "Tanh", "Dropout", "Dense", "Tanh", "Dropout", "Dense"]
    assert clf.net_.dtype == np.float64
    assert [W.shape for W in clf.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    assert type(clf._optimizer.optimizer).__name__ == "RMSProp"  # ffnn's, an extra
    # initial weights (an epoch at lr 1e-9 leaves them as they were): scikit-learn's, within
    # +-sqrt(6 / (fan_in + fan_out)), unless init names an ffnn initialiser
    a = np.sqrt(6 / (4 + 7))
    untrained = {"hidden_layer_sizes": (7,), "max_iter": 1, "learning_rate_init": 1e-9,
                 "random_state": 0}
    glorot = _fit_quiet(MLPClassifier(**untrained), X, y)
    assert np.abs(glorot.coefs_[0]).max() <= a + 1e-6
    assert np.abs(glorot.coefs_[0]).max() > 0.8 * a
    he = _fit_quiet(MLPClassifier(init="he_normal", **untrained), X, y)
    assert np.abs(he.coefs_[0]).max() > a  # N(0, 2/fan_in): wider, unbounded
    assert clf.hidden_layer_sizes == [7, 5]  # parameters are never modified


def test_random_state_makes_fits_reproducible():
    X, y = _blobs(n=100)
    a = _fit_quiet(_small(MLPClassifier, max_iter=5, dropout=0.2), X, y).predict_proba(X)
    b = _fit_quiet(_small(MLPClassifier, max_iter=5, dropout=0.2), X, y).predict_proba(X)
    c = _fit_quiet(_small(MLPClassifier, max_iter=5, dropout=0.2, random_state=1), X,
                   y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    rs = np.random.RandomState(0)
    d = _fit_quiet(_small(MLPClassifier, max_iter=5, random_state=rs), X, y).predict_proba(X)
    e = _fit_quiet(_small(MLPClassifier, max_iter=5, random_state=rs), X, y).predict_proba(X)
    assert not np.allclose(d, e)  # a RandomState instance advances, as in scikit-learn


@pytest.mark.parametrize(("params", "match"), [
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ({"max_fun": 0}, "max_fun"),
    ({"solver": "lbfgs", "dropout": 0.5}, "dropout"),
    ({"solver": "lbfgs", "fused": True}, "fused"),
    ({"solver": "sgd", "learning_rate": "adaptive", "fused": True}, "learning_rate"),
    ({"solver": "nope"}, "solver"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
    ({"activation": "swishy"}, "activation"),
    ({"batch_size": 0}, "batch_size"),
    ({"learning_rate_init": -1.0}, "learning_rate_init"),
    ({"max_iter": 0}, "max_iter"),
    ({"dropout": 1.0}, "dropout"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"dtype": "float16"}, "dtype"),
    ({"init": "magic"}, "init"),
    ({"random_state": "seed"}, "random_state"),
    ({"fused": "yes"}, "fused"),
])
def test_bad_parameters_fail_at_fit_with_the_parameter_named(params, match):
    X, y = _blobs(n=30)
    clf = MLPClassifier(**params)  # constructing never validates (scikit-learn's rule)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_early_stopping_on_too_little_data_says_so():
    X, y = _blobs(n=30)
    with pytest.raises(ValueError, match="validation"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X[:10], y[:10])


# --------------------------------------------------------------------------- the network
def test_pickle_round_trip_predicts_the_same_and_holds_no_batches():
    X, y = _blobs(n=200)
    clf = _fit_quiet(_small(MLPClassifier, max_iter=5), X, y)
    clf.predict(X)
    blob = pickle.dumps(clf)
    assert all(getattr(layer, "x", None) is None for layer in clf.net_.layers)
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params() == clf.get_params()
    assert not hasattr(clone(clf), "net_")


def test_net_is_a_plain_ffnn_network(tmp_path):
    X, y = make_regression(n_samples=80, n_features=4, random_state=0)
    reg = _fit_quiet(_small(MLPRegressor, max_iter=5), X, y / y.std())
    assert isinstance(reg.net_, ffnn.Sequential)
    assert len(reg.loss_curve_) == reg.n_iter_
    assert reg.history_["loss"] == reg.loss_curve_  # ffnn's History of the same numbers
    assert reg.net_.layers[0].params["W"] is reg.coefs_[0]  # the network holds coefs_
    np.testing.assert_allclose(reg.net_.predict(X)[:, 0], reg.predict(X), rtol=1e-4, atol=1e-5)
    path = tmp_path / "model"
    saved = ffnn.save(reg.net_, path)
    loaded = ffnn.load(saved)
    np.testing.assert_allclose(loaded.predict(X)[:, 0], reg.predict(X), rtol=1e-4, atol=1e-5)


def test_feature_names_are_recorded_and_checked():
    pd = pytest.importorskip("pandas")
    X, y = _blobs(n=60)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = _fit_quiet(_small(MLPClassifier, max_iter=3), frame, y)
    assert clf.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["b", "a", "c", "d"]])


def test_a_diverging_first_fit_leaves_the_estimator_unfitted():
    from sklearn.exceptions import NotFittedError

    X = np.finfo(np.float64).max * np.random.default_rng(0).uniform(size=(10, 2))
    reg = MLPRegressor(max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow, and the ConvergenceWarning
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            reg.fit(X, np.ones(10))  # scikit-learn's error
    with pytest.raises(NotFittedError):
        reg.predict(X)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_fused_trains_the_same_model_and_pickles(Est, solver):
    """The fused path (an ffnn extra) trains the same network up to float rounding where
    ffnn's losses and optimisers agree with scikit-learn's."""
    pytest.importorskip("numba")
    if Est is MLPClassifier:
        X, y = _blobs(n=200)
    else:
        X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
        y = y / np.std(y)
    X = X.astype(np.float32)
    plain = _fit_quiet(_small(Est, max_iter=5, solver=solver), X, y)
    fused = _fit_quiet(_small(Est, max_iter=5, solver=solver, fused=True), X, y)
    if Est is MLPRegressor and solver == "sgd":
        # ffnn's MSE has no 1/2 and averages over targets: its SGD step is 2/K times
        # scikit-learn's (documented); Adam's step does not depend on the gradient's scale
        assert fused.loss_curve_[-1] < 0.7 * fused.loss_curve_[0]
    else:
        for k, w in plain.net_.parameters().items():
            np.testing.assert_allclose(w, fused.net_.parameters()[k], rtol=1e-3, atol=1e-5)
    again = pickle.loads(pickle.dumps(fused))
    np.testing.assert_array_equal(again.predict(X), fused.predict(X))
    _fit_quiet(again, X, y)  # and it trains on after the round trip


def test_warm_start_across_solvers_and_early_stopping_keeps_the_weights():
    """Where scikit-learn fails on a record the previous fit did not keep (L-BFGS keeps no
    loss_curve_; early stopping switched on or off), ffnn starts the records afresh."""
    X, y = load_iris(return_X_y=True)
    clf = _fit_quiet(MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", warm_start=True,
                                   max_iter=30, random_state=0), X, y)
    assert not hasattr(clf, "loss_curve_") and clf.score(X, y) > 0.9
    for params in ({"solver": "sgd", "learning_rate_init": 1e-6},
                   {"early_stopping": True}, {"early_stopping": False}):
        before = [W.copy() for W in clf.coefs_]
        _fit_quiet(clf.set_params(max_iter=2, **params), X, y)
        assert len(clf.loss_curve_) == clf.n_iter_  # a fresh record
        assert clf.score(X, y) > 0.9  # from the warm weights, not from a new start
        if "learning_rate_init" in params:
            np.testing.assert_allclose(clf.coefs_[0], before[0], atol=1e-4)


def test_adamw_extra_decays_the_weights_by_alpha():
    """solver="adamw" (an ffnn extra): alpha is AdamW's decoupled decay of the weight
    matrices; the biases are not decayed."""
    X, y = load_iris(return_X_y=True)
    fits = [_fit_quiet(MLPClassifier(hidden_layer_sizes=(8,), solver="adamw", alpha=alpha,
                                     learning_rate_init=0.01, max_iter=60, random_state=0),
                       X, y) for alpha in (0.0, 1.0)]
    assert np.abs(fits[1].coefs_[0]).sum() < 0.7 * np.abs(fits[0].coefs_[0]).sum()
    assert fits[1].score(X, y) > 0.6  # it still learns (without the decay: 0.79)
