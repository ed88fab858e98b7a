"""scikit-learn estimators backed by ffnn: ``MLPClassifier`` and ``MLPRegressor``.

A drop-in for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (scikit-learn 1.9):
the same parameters with the same defaults and meaning, the same fitted attributes, warnings
and errors, and the same training rules, so that the same initial weights and data give the
same steps (scikit-learn's own ``test_mlp.py`` runs against these classes in ffnn's test suite).
The forward and backward passes are ffnn's network (``ffnn.mlp``); the estimator adds only
scikit-learn's output gradient, its L2 term and its optimisers:

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from ffnn.sklearn import MLPClassifier

    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), random_state=0))
    clf.fit(X_train, y_train).score(X_test, y_test)

scikit-learn is an optional extra (``pip install ffnn[sklearn]``): ``import ffnn`` never loads
it.

Training, as in scikit-learn
----------------------------
``solver="sgd" | "adam"`` take mini-batches of ``batch_size`` ("auto" = min(200, N)) in an
order shuffled by ``random_state`` and minimise, per batch,

    J = loss(Y, g(Z); s) + α / (2 Σₙ sₙ) Σ_l ‖W_l‖²

(``ffnn.sklearn._objective`` has the losses and the gradient; ``_optimizers`` the update
rules, ``learning_rate`` schedules with ``power_t``, momentum and Nesterov).  Training stops
when the training loss (or, with ``early_stopping``, the validation score on a
``validation_fraction`` split) has not improved by ``tol`` for more than ``n_iter_no_change``
epochs (``np.inf``: never), or after ``max_iter`` epochs with a ``ConvergenceWarning``.
``solver="lbfgs"`` runs ``scipy.optimize.minimize(method="L-BFGS-B")`` on the flat vector
[vec W_1, ..., vec W_L, b_1, ..., b_L] with ``maxiter=max_iter``, ``maxfun=max_fun``,
``gtol=tol``.  ``sample_weight`` s weights each sample in the loss and its gradient.  The
data's float dtype (float32 or float64) is the training and prediction dtype.

ffnn extras (the defaults leave scikit-learn's behaviour unchanged)
-------------------------------------------------------------------
``activation``
:   also any ffnn activation name ("gelu", "elu", "leaky_relu", "softplus", ...)

``solver``
:   also "adamw" (``alpha`` is then AdamW's decoupled weight decay), "rmsprop", "adagrad":
    ffnn's optimiser on scikit-learn's gradient

``dropout=0.0``
:   ``ffnn.mlp(..., dropout=p)``: Dropout after every hidden activation (stochastic solvers)

``clip_norm=None``
:   clip the global gradient norm before each step

``init=None``
:   None is scikit-learn's initialisation (W and b uniform in ±√(6 / (fan_in + fan_out)),
    ±√(2 / ...) for logistic, drawn from ``random_state``); an ffnn initialiser name
    ("he_normal", "glorot_uniform", ...) initialises W with it and b with zeros

``dtype=None``
:   None follows the input; "float32" or "float64" forces it

``fused=False``
:   train on ffnn's fused path (numba; ``solver`` "sgd" or "adam"): ffnn's own mean losses
    and optimisers, with ``alpha`` as a coupled weight decay of the same strength.  Not the
    same steps as scikit-learn (see docs/sklearn.md); faster on large data.

After fitting
-------------
scikit-learn's attributes: ``coefs_``, ``intercepts_`` (assignable; predictions use them),
``loss_``, ``best_loss_``, ``loss_curve_``, ``validation_scores_``,
``best_validation_score_``, ``n_iter_``, ``t_``, ``n_layers_``, ``n_outputs_``,
``out_activation_``, ``classes_``, ``n_features_in_``, ``feature_names_in_``; ffnn's
``history_`` (an ``ffnn.History`` of ``loss_curve_`` and ``validation_scores_``); and ``net_``:
the ffnn ``Sequential`` whose Dense layers hold ``coefs_``/``intercepts_``, for tracing,
explanations, plots and ``ffnn.save(est.net_, path)`` (ffnn's safe model file; pickling is
only what joblib does to ship estimators to worker processes).
"""

from ._estimators import MLPClassifier, MLPRegressor

#: scikit-learn estimator checks that cannot be met, with the reason; passed by the test suite
#: to ``parametrize_with_checks(expected_failed_checks=...)``.  Empty: every check passes.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "MLPClassifier": {},
    "MLPRegressor": {},
}

__all__ = ["EXPECTED_FAILED_CHECKS", "MLPClassifier", "MLPRegressor"]
