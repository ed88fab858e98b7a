"""ffnn.metrics against scikit-learn on random inputs (hypothesis) and hand-counted examples."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ffnn import metrics

skm = pytest.importorskip("sklearn.metrics")

FAST = settings(max_examples=60, deadline=None)
# scikit-learn warns about single-label inputs; the comparison is what matters here.
pytestmark = pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")


@st.composite
def label_pairs(draw, max_classes: int = 6):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, max_classes))
    labels = st.integers(0, k - 1)
    y_true = draw(hnp.arrays(np.int64, n, elements=labels))
    y_pred = draw(hnp.arrays(np.int64, n, elements=labels))
    return y_true, y_pred


def test_metrics_module_imports_only_numpy():
    code = ("import sys, ffnn.metrics; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('sklearn', 'scipy', 'matplotlib', 'pandas')]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ----------------------------------------------------------------------------- classification
def test_worked_example_counts_by_hand():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    # class 0: tp 1, fp 0, fn 1; class 1: tp 2, fp 1, fn 1; class 2: tp 1, fp 1, fn 0
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred),
                                  [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    p, r, f1, support = metrics.precision_recall_f1(y_true, y_pred)
    np.testing.assert_allclose(p, [1.0, 2 / 3, 1 / 2])
    np.testing.assert_allclose(r, [1 / 2, 2 / 3, 1.0])
    np.testing.assert_allclose(f1, [2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(support, [2, 3, 1])
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)


@FAST
@given(label_pairs())
def test_accuracy_and_confusion_matrix_equal_sklearn(pair):
    y_true, y_pred = pair
    assert metrics.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred),
                                  skm.confusion_matrix(y_true, y_pred))
    labels = [3, 0, 5]  # a chosen order, including classes that may be absent
    if np.isin(labels, y_true).any():
        np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, labels=labels),
                                      skm.confusion_matrix(y_true, y_pred, labels=labels))
    else:  # scikit-learn refuses this too
        with pytest.raises(ValueError, match="occurs in y_true"):
            metrics.confusion_matrix(y_true, y_pred, labels=labels)


@FAST
@given(label_pairs(), st.sampled_from([0.0, 1.0, np.nan]))
def test_precision_recall_f1_equal_sklearn(pair, zero_division):
    y_true, y_pred = pair
    for average in (None, "macro", "micro", "weighted"):
        ours = metrics.precision_recall_f1(y_true, y_pred, average=average,
                                           zero_division=zero_division)
        theirs = skm.precision_recall_fscore_support(y_true, y_pred, average=average,
                                                     zero_division=zero_division)
        for a, b in zip(ours[:3], theirs[:3], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True,
                                       err_msg=f"average={average}")
        if average is None:
            np.testing.assert_array_equal(ours[3], theirs[3])
        else:
            assert ours[3] is None


@FAST
@given(label_pairs(max_classes=2))
def test_binary_average_equals_sklearn(pair):
    y_true, y_pred = pair
    ours = metrics.precision_recall_f1(y_true, y_pred, average="binary")
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, average="binary",
                                                 zero_division=0.0)
    np.testing.assert_allclose(ours[:3], theirs[:3], rtol=1e-12)


def test_explicit_labels_subset_equals_sklearn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    for average in (None, "macro", "micro", "weighted"):
        ours = metrics.precision_recall_f1(y_true, y_pred, average=average, labels=[4, 1])
        theirs = skm.precision_recall_fscore_support(y_true, y_pred, average=average,
                                                     labels=[4, 1], zero_division=0.0)
        for a, b in zip(ours[:3], theirs[:3], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_string_labels_work_like_sklearn():
    y_true = np.array(["cat", "dog", "dog", "bird"])
    y_pred = np.array(["cat", "cat", "dog", "bird"])
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred),
                                  skm.confusion_matrix(y_true, y_pred))
    assert metrics.accuracy(y_true, y_pred) == 0.75


@FAST
@given(st.integers(2, 5), st.integers(2, 30), st.integers(0, 2**32 - 1))
def test_log_loss_equals_sklearn(n_classes, n, seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    logits = rng.normal(0, 3, (n, n_classes))
    P = np.exp(logits - logits.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    labels = list(range(n_classes))
    assert metrics.log_loss(y_true, P, labels=labels) == pytest.approx(
        skm.log_loss(y_true, P, labels=labels), rel=1e-12)


def test_log_loss_binary_column_and_clipping_equal_sklearn():
    y_true = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.8, 1.0, 0.0, 0.0])  # the last one is a certain mistake: clipped
    assert metrics.log_loss(y_true, p) == pytest.approx(skm.log_loss(y_true, p), rel=1e-12)
    assert np.isfinite(metrics.log_loss(y_true, p))


def test_log_loss_rejects_logits_and_unnormalised_rows():
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        metrics.log_loss([0, 1], [[2.0, -1.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.log_loss([0, 1], [[0.2, 0.2], [0.5, 0.5]])


def test_classification_input_errors_name_the_shape():
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*argmax"):
        metrics.accuracy([0, 1, 1], np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 samples but y_pred has 2"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="average must be one of"):
        metrics.precision_recall_f1([0, 1], [0, 1], average="samples")


# ----------------------------------------------------------------------------- regression
regression_pairs = st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.sampled_from([(n,), (n, 1), (n, 3)]), st.integers(0, 2**32 - 1)))


@FAST
@given(regression_pairs)
def test_regression_metrics_equal_sklearn(spec):
    shape, seed = spec
    rng = np.random.default_rng(seed)
    y_true = rng.normal(0, 2, shape)
    y_pred = y_true + rng.normal(0, 1, shape)
    assert metrics.mean_squared_error(y_true, y_pred) == pytest.approx(
        skm.mean_squared_error(y_true, y_pred), rel=1e-12)
    assert metrics.mean_absolute_error(y_true, y_pred) == pytest.approx(
        skm.mean_absolute_error(y_true, y_pred), rel=1e-12)
    assert metrics.r2_score(y_true, y_pred) == pytest.approx(
        skm.r2_score(y_true, y_pred), rel=1e-10, abs=1e-12)


def test_r2_constant_target_follows_sklearn():
    y = np.full(5, 3.0)
    assert metrics.r2_score(y, y) == skm.r2_score(y, y) == 1.0
    assert metrics.r2_score(y, y + 1) == skm.r2_score(y, y + 1) == 0.0


def test_r2_of_the_mean_is_zero_and_of_perfect_fit_is_one():
    y = np.array([1.0, 2.0, 4.0, 7.0])
    assert metrics.r2_score(y, np.full(4, y.mean())) == pytest.approx(0.0)
    assert metrics.r2_score(y, y) == 1.0


def test_regression_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"\(4,\) and \(3,\)"):
        metrics.mean_squared_error(np.zeros(4), np.zeros(3))
