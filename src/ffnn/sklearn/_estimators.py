"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's parameters, state and training rules."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import BaseMLP


def _first_partial_fit_call(clf, classes) -> bool:
    """True (and ``classes_`` set) on the first call; ``classes`` must then be given, and
    later ones must repeat it exactly (scikit-learn's rule)."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {clf.classes_!r}")
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by ffnn.

    Binary labels: one logistic output and binary log-loss; more classes: softmax and
    log-loss; a 2-D 0/1 indicator ``y``: one logistic output per label.  The parameters,
    their defaults, the fitted attributes and the training rules are scikit-learn 1.9's (see
    ``ffnn.sklearn``); ``dropout``, ``clip_norm``, ``init``, ``dtype`` and ``fused`` are ffnn
    extras whose defaults leave scikit-learn's behaviour unchanged.
    """

    _is_classifier = True
    _loss_name = "log_loss"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, clip_norm=None, init=None, dtype=None, fused=False) -> None:
        self._set_params(locals())

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=self._input_dtype(), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        # bool, so that float32 data are not upcast by the targets
        return X, self._label_binarizer.transform(y).astype(bool)

    def fit(self, X, y, sample_weight=None):
        """Train on X (N, D_in) and labels y (N,) or a 0/1 indicator (N, n_labels).

        ``sample_weight`` (N,) weights each sample's loss: the weighted mean over the batch.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), keeping the weights and the optimiser state.

        ``classes`` (every label that will ever appear) is required on the first call.
        """
        if _first_partial_fit_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Class labels (N,), or a 0/1 indicator matrix (N, n_labels) for multi-label."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input: bool = True):
        P = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            P = P.ravel()
        return self._label_binarizer.inverse_transform(P)

    def _score(self, X, y, sample_weight=None) -> float:
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (N, n_classes) in the order of ``classes_``: [1 − p, p] for binary
        labels, the softmax for several classes, one sigmoid per label for multi-label."""
        check_is_fitted(self)
        P = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            p = P.ravel()
            return np.vstack([1 - p, p]).T
        return P

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X)), as scikit-learn computes it."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by ffnn.

    ``loss="squared_error"``: identity outputs; ``loss="poisson"``: exponential outputs
    (log link) and half the Poisson deviance.  A 2-D ``y`` gives one output per column.
    Extras as in ``MLPClassifier``.
    """

    _is_classifier = False

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, clip_norm=None, init=None, dtype=None, fused=False) -> None:
        self._set_params(locals())

    @property
    def _loss_name(self) -> str:
        return self.loss

    def _check_params(self) -> None:
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"The 'loss' parameter must be 'squared_error' or 'poisson', "
                             f"got {self.loss!r}.")
        super()._check_params()

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=self._input_dtype(), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y (counts or rates); "
                             f"the smallest is {y.min()}")
        return X, y.astype(X.dtype, copy=False)

    def fit(self, X, y, sample_weight=None):
        """Train on X (N, D_in) and targets y (N,) or (N, n_outputs).

        ``sample_weight`` (N,) weights each sample's loss: the weighted mean over the batch.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), keeping the weights and the optimiser state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions (N,) for one target, (N, n_outputs) for several, in the model's dtype."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        P = self._forward_pass_fast(X, check_input=check_input)
        return P.ravel() if P.shape[1] == 1 else P

    def _score(self, X, y, sample_weight=None) -> float:
        return self._score_with_function(X, y, sample_weight, r2_score)


__all__ = ["MLPClassifier", "MLPRegressor"]
