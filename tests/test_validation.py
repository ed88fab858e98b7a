"""Bad input gets a clear ValueError/TypeError from ffnn's own validation, naming the problem."""

import numpy as np
import pytest

import ffnn


@pytest.fixture
def net():
    return ffnn.mlp([3, 4, 2], seed=0)


def test_wrong_feature_count(net):
    with pytest.raises(ValueError, match=r"5 features.*\(2, 5\).*expects 3"):
        net.predict(np.zeros((2, 5)))


def test_one_d_input_says_reshape(net):
    with pytest.raises(ValueError, match=r"1-D.*reshape\(-1, 1\)"):
        net.predict(np.zeros(3))
    with pytest.raises(ValueError, match="reshape"):
        ffnn.Dense(3, 2).forward(np.zeros(3))


def test_dense_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3\), got \(4, 2\)"):
        ffnn.Dense(3, 2).forward(np.zeros((4, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs(net, bad):
    X = np.zeros((4, 3))
    X[2, 1] = bad
    with pytest.raises(ValueError, match=r"NaN.*infinite.*\(2, 1\)"):
        net.predict(X)
    with pytest.raises(ValueError, match="NaN"):
        ffnn.fit(net, X, np.zeros(4, dtype=int), "ce", ffnn.SGD(0.1), verbose=0)


def test_empty_batch(net):
    with pytest.raises(ValueError, match="empty batch"):
        net.predict(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty batch"):
        ffnn.get_loss("ce").forward(np.zeros((0, 2)), np.zeros(0, dtype=int))


def test_non_numeric_arrays(net):
    with pytest.raises(TypeError, match="numeric"):
        net.predict(np.array([["a", "b", "c"]]))
    with pytest.raises(TypeError, match="numeric"):
        net.predict([[1, 2, None]])


def test_ce_labels_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 2\].*got values in \[0, 3\]"):
        ffnn.get_loss("ce").forward(np.zeros((3, 3)), np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array([-1, 1]))


def test_ce_non_integer_labels():
    with pytest.raises(ValueError, match="integers.*0.5"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match="encode string labels"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array(["cat", "dog"]))


def test_bce_targets_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\].*\[0, 2\]"):
        ffnn.get_loss("bce").forward(np.zeros((2, 1)), np.array([0.0, 2.0]))


def test_targets_of_wrong_length_or_shape():
    with pytest.raises(ValueError, match="3 labels for 2 samples"):
        ffnn.get_loss("ce").forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*got \(2, 3\)"):
        ffnn.get_loss("mse").forward(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(2,\) or \(2, 1\)"):
        ffnn.get_loss("bce").forward(np.zeros((2, 1)), np.zeros(3))
    net = ffnn.mlp([3, 2], seed=0)
    with pytest.raises(ValueError, match="3 samples"):
        ffnn.fit(net, np.zeros((3, 3)), np.zeros(4, dtype=int), "ce", ffnn.SGD(0.1), verbose=0)


def test_softmax_ce_needs_two_outputs():
    with pytest.raises(ValueError, match="BinaryCrossEntropy"):
        ffnn.get_loss("ce").forward(np.zeros((2, 1)), np.array([0, 1]))


@pytest.mark.parametrize("factory,match", [
    (lambda: ffnn.mlp([2, 3, 1], activation="relux"), "known activations: .*relu"),
    (lambda: ffnn.get_loss("hinge"), "known losses: .*bce"),
    (lambda: ffnn.mlp([2, 3, 1], init="glorot"), "known initialisers: .*glorot_uniform"),
    (lambda: ffnn.get_optimizer("adamax"), "known optimisers: .*adam"),
    (lambda: ffnn.mlp([2, 0, 1]), "positive integers"),
    (lambda: ffnn.mlp([2, -3, 1]), "positive integers"),
    (lambda: ffnn.mlp([2]), "at least an input and an output"),
    (lambda: ffnn.Dense(0, 3), "in_features must be a positive integer"),
    (lambda: ffnn.Dense(2, 2.5), "out_features must be a positive integer"),
    (lambda: ffnn.SGD(0.0), "learning rate"),
    (lambda: ffnn.SGD(-1.0), "learning rate"),
    (lambda: ffnn.Adam(lr=float("nan")), "learning rate"),
    (lambda: ffnn.Adam(beta1=1.0), "beta1"),
    (lambda: ffnn.Dropout(1.0), "dropout probability"),
    (lambda: ffnn.Dense(2, 2, dtype=np.int32), "float32 or float64"),
])
def test_hyperparameters_validated_at_construction(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_sequential_checks_the_chain():
    with pytest.raises(ValueError, match="expects 5 inputs but the previous layer gives 4"):
        ffnn.Sequential(ffnn.Dense(3, 4), ffnn.ReLU(), ffnn.Dense(5, 1))
    with pytest.raises(TypeError, match="not an ffnn Layer"):
        ffnn.Sequential(ffnn.Dense(3, 4), "relu")


def test_fit_validates_its_arguments(net):
    X, y = np.zeros((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(TypeError, match="Optimizer"):
        ffnn.fit(net, X, y, "ce", "adam", verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=-1, verbose=0)


# --------------------------------------------------------------------------- pandas, scipy
def test_pandas_nullable_dtypes_are_converted(net):
    pd = pytest.importorskip("pandas")
    X = np.array([[1.5, 2, 1], [0.5, -1, 0], [2.0, 3, 1], [-1.0, 0, 0]])
    df = pd.DataFrame({"a": pd.array(X[:, 0], dtype="Float64"),
                       "b": pd.array(X[:, 1].astype(int), dtype="Int64"),
                       "c": pd.array(X[:, 2].astype(bool), dtype="boolean")})
    np.testing.assert_array_equal(net.predict(df), net.predict(X))
    y = pd.Series(pd.array([0, 1, 1, 0], dtype="Int64"), name="label")
    a, b = ffnn.mlp([3, 4, 2], seed=0), ffnn.mlp([3, 4, 2], seed=0)
    ha = ffnn.fit(a, df, y, "ce", ffnn.Adam(), epochs=3, batch_size=2, seed=0, verbose=0)
    hb = ffnn.fit(b, X, np.array([0, 1, 1, 0]), "ce", ffnn.Adam(), epochs=3, batch_size=2,
                  seed=0, verbose=0)
    assert ha["loss"] == hb["loss"]


def test_pandas_missing_values_and_text_columns_are_named(net):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"area": pd.array([1.0, None, 3.0], dtype="Float64"),
                       "rooms": [1, 2, 3], "age": [0.1, 0.2, 0.3]}, index=[10, 11, 12])
    with pytest.raises(ValueError, match=r"X column 'area' has 1 missing value \(NA/NaN\), the "
                                         r"first at row 11; fill or drop them first"):
        net.predict(df)
    with pytest.raises(ValueError, match=r"y has 1 missing value"):
        ffnn.fit(ffnn.mlp([3, 1], seed=0), df.fillna(0.0),
                 pd.Series(pd.array([0, None, 1], dtype="Int64")), "bce", ffnn.SGD(0.1),
                 verbose=0)
    with pytest.raises(TypeError, match=r"X column 'age' must be numeric .* such as 'old'; "
                                        r"encode categories"):
        net.predict(df.fillna(0.0).assign(age=["old", "new", "old"]))


def test_scipy_sparse_input_says_toarray(net):
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.csr_matrix(np.eye(4, 3))
    with pytest.raises(TypeError, match=r"^X is a scipy sparse matrix \(shape \(4, 3\), 3 stored "
                                        r"values\); ffnn needs a dense array: X.toarray\(\) "
                                        r"\(96 bytes as float64\)$"):
        ffnn.fit(net, X, np.zeros(4, dtype=int), "ce", ffnn.SGD(0.1), verbose=0)
    with pytest.raises(TypeError, match="y is a scipy sparse matrix"):
        ffnn.get_loss("mse").forward(np.zeros((4, 3)), sparse.csr_matrix(np.ones((4, 3))))
    np.testing.assert_array_equal(net.predict(X.toarray()), net.predict(np.eye(4, 3)))


# --------------------------------------------------------------------------- the data's scale
def test_values_beyond_float32_are_named_not_called_divergence():
    X = np.ones((8, 4))
    X[3, 2] = 1e39
    y = np.zeros(8, dtype=int)
    with pytest.raises(ValueError, match=r"^X\[:, 2\] has values up to 1e\+39, beyond float32's "
                                         r"range \(±3.4e\+38\): scale your data .* or use "
                                         r"dtype=float64$"):
        ffnn.fit(ffnn.mlp([4, 3, 2], seed=0), X, y, "ce", ffnn.Adam(), verbose=0)
    with pytest.raises(ValueError, match=r"X\[:, 2\] has values up to 1e\+39"):
        ffnn.mlp([4, 3, 2], seed=0).predict(X)
    # a float64 network takes them (and is told they are huge)
    with pytest.warns(ffnn.DataScaleWarning):
        ffnn.fit(ffnn.mlp([4, 3, 2], seed=0, dtype="float64"), X, y, "ce", ffnn.SGD(1e-80),
                 verbose=0)
    X[3, 2] = np.inf  # a real infinity is still called one
    with pytest.raises(ValueError, match=r"infinite values \(first at index \(3, 2\)\)"):
        ffnn.mlp([4, 3, 2], seed=0).predict(X)
    with pytest.raises(ValueError, match=r"y has values down to -1e\+39, beyond float32"):
        ffnn.fit(ffnn.mlp([4, 3, 1], seed=0), np.ones((2, 4)), np.array([1.0, -1e39]), "mse",
                 ffnn.SGD(0.1), verbose=0)


def test_huge_features_warn_to_standardise_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    X[:, 1] *= 1e30
    assert issubclass(ffnn.DataScaleWarning, UserWarning)
    assert not issubclass(ffnn.DataScaleWarning, RuntimeWarning)  # pyproject: RuntimeWarning=error
    with pytest.warns(ffnn.DataScaleWarning) as record:
        ffnn.fit(ffnn.mlp([3, 8, 1], seed=0), X, y, "bce", ffnn.Adam(), epochs=2, verbose=0)
    assert len(record) == 1
    text = str(record[0].message)
    assert "X[:, 1]" in text and "X[:, 0]" not in text and "1e+06" in text
    assert "standardise" in text.lower() and "learning rate" in text  # not a divergence
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ffnn.DataScaleWarning)
        X[:, 1] = (X[:, 1] - X[:, 1].mean()) / X[:, 1].std()
        ffnn.fit(ffnn.mlp([3, 8, 1], seed=0), X, y, "bce", ffnn.Adam(), epochs=2, verbose=0)
        X[:, 1] *= 1e5  # large, yet below the threshold
        ffnn.fit(ffnn.mlp([3, 8, 1], seed=0), X, y, "bce", ffnn.Adam(), epochs=1, verbose=0)


def test_the_cli_names_the_column_and_warns_once(tmp_path, capsys):
    pytest.importorskip("pydantic")
    pytest.importorskip("matplotlib")
    from ffnn.cli import main

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)

    def table(name, scale):
        with open(tmp_path / name, "w") as fh:
            fh.write("a,b,c,label\n")
            for row, t in zip(X * scale, y, strict=True):
                fh.write(",".join(repr(float(v)) for v in row) + f",{t}\n")
        return str(tmp_path / name)

    common = ["--target", "label", "--no-standardize", "--epochs", "2", "--verbose", "0"]
    assert main(["train", "--dataset", table("huge.csv", [1, 1e8, 1]), *common,
                 "--out", str(tmp_path / "huge")]) == 0
    err = capsys.readouterr().err
    assert err.count("ffnn: warning:") == 1 and "huge.csv column 'b'" in err
    assert main(["train", "--dataset", table("f32.csv", [1, 1, 1e39]), *common,
                 "--out", str(tmp_path / "f32")]) == 1
    err = capsys.readouterr().err
    assert "f32.csv column 'c' has values" in err and "beyond float32's range" in err
    assert "diverged" not in err and not (tmp_path / "f32").exists()
    assert main(["train", "--dataset", str(tmp_path / "f32.csv"), *common, "--dtype", "float64",
                 "--out", str(tmp_path / "f64")]) == 0


@pytest.mark.parametrize("threads_from", [1 << 40, 0])
def test_value_range_is_max_and_min_in_blocks(monkeypatch, threads_from):
    """The one-pass range equals NumPy's max and min, NaN and infinities included, whatever
    the block boundaries (small blocks force many) and however many threads read it."""
    from ffnn import _checks

    monkeypatch.setattr(_checks, "RANGE_BLOCK", 64)
    monkeypatch.setattr(_checks, "RANGE_THREADS_FROM", threads_from)
    monkeypatch.setattr(_checks.os, "cpu_count", lambda: 3)
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (7, 3), (100, 5), (33,), (2, 3, 4), (2, 40)]:
        a = rng.standard_normal(shape).astype(np.float32)
        assert _checks.value_range(a) == (float(a.max()), float(a.min()))
        for bad in (np.nan, np.inf, -np.inf):
            b = a.copy()
            b.flat[rng.integers(b.size)] = bad
            hi, lo = _checks.value_range(b)
            if np.isnan(bad):
                assert np.isnan(hi) and np.isnan(lo)
            else:
                assert (hi, lo) == (float(b.max()), float(b.min()))
            with pytest.raises(ValueError, match="NaN and"):
                _checks.check_finite(b, "X")
