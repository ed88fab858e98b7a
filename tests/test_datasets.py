"""Generators, splits, the Standardizer, load_table and the registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ffnn
from ffnn import datasets

CLASSIFIERS = {
    # name: (call, n_samples, n_features, n_classes)
    "moons": (lambda s: datasets.moons(201, seed=s), 201, 2, 2),
    "circles": (lambda s: datasets.circles(200, seed=s), 200, 2, 2),
    "blobs": (lambda s: datasets.blobs(301, centers=4, n_features=3, seed=s), 301, 3, 4),
    "spiral": (lambda s: datasets.spiral(302, n_classes=5, seed=s), 302, 2, 5),
    "xor": (lambda s: datasets.xor(402, seed=s), 402, 2, 2),
    "gaussian_quantiles": (lambda s: datasets.gaussian_quantiles(300, 3, 3, seed=s), 300, 3, 3),
    "four_class_3d": (lambda s: datasets.four_class_3d(seed=s), 99, 3, 4),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classification_generator_contract(name):
    make, n, d, c = CLASSIFIERS[name]
    X, y = make(0)
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.isfinite(X).all()
    counts = np.bincount(y, minlength=c)
    assert len(counts) == c
    assert counts.max() - counts.min() <= 1, f"unbalanced classes {counts}"
    X2, y2 = make(0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(1)
    assert not np.array_equal(X, X3), "a different seed must give different data"


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_generators_never_touch_the_global_rng(name):
    # The legacy global generator is exactly what must stay untouched, so it is inspected here.
    make = CLASSIFIERS[name][0]
    _, key, pos, *_ = np.random.get_state()  # noqa: NPY002
    make(None)
    make(0)
    _, key_after, pos_after, *_ = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(key_after, key)
    assert pos_after == pos  # nothing was drawn from the global generator


def test_seed_none_gives_fresh_data_and_bad_seed_is_rejected():
    assert not np.array_equal(datasets.moons(50)[0], datasets.moons(50)[0])
    with pytest.raises(TypeError, match="seed must be an int or None"):
        datasets.moons(50, seed=1.5)


def test_geometry_of_noise_free_sets():
    X, y = datasets.circles(200, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(*X.T)
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)
    X, y = datasets.xor(400, seed=0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    X, y = datasets.moons(100, noise=0.0, seed=0)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0)
    X, y = datasets.gaussian_quantiles(300, n_classes=3, seed=0)
    radius = np.hypot(*X.T)
    assert radius[y == 0].max() <= radius[y == 1].min()
    assert radius[y == 1].max() <= radius[y == 2].min()


def test_blobs_with_explicit_centres():
    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    X, y = datasets.blobs(400, centers=centres, cluster_std=0.5, seed=0)
    for k in range(2):
        np.testing.assert_allclose(X[y == k].mean(0), centres[k], atol=0.15)
    with pytest.raises(ValueError, match=r"shape \(C, D\)"):
        datasets.blobs(10, centers=np.zeros(3))


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        datasets.moons(0)
    with pytest.raises(ValueError, match="fewer than the 5 classes"):
        datasets.spiral(3, n_classes=5)
    with pytest.raises(ValueError, match="noise must be a non-negative"):
        datasets.moons(10, noise=-1.0)
    with pytest.raises(ValueError, match="factor"):
        datasets.circles(10, factor=1.5)
    with pytest.raises(ValueError, match="at most 8 features"):
        datasets.housing(n_features=20)


def test_four_class_3d_is_learned_perfectly_by_a_3_10_4_sigmoid_net():
    X, y = datasets.four_class_3d(seed=0)
    assert X.shape == (99, 3)
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    ffnn.fit(net, X, y, "ce", ffnn.Adam(0.05), epochs=300, verbose=0, seed=0)
    assert np.mean(net.classify(X) == y) == 1.0


def test_regression_1d_and_the_extrapolation_split():
    X, y = datasets.regression_1d()
    assert X.shape == (100, 1) and y.shape == (100,)
    assert X.dtype == y.dtype == np.float64
    assert np.all(np.diff(X[:, 0]) >= 0), "X must be sorted"
    np.testing.assert_allclose(y, np.sin(1.5 * X[:, 0]) + 0.3 * X[:, 0], atol=0.5)
    Xtr, ytr, Xte, yte = datasets.extrapolation_split(X[::-1], y[::-1], 0.7)  # order-free
    assert len(Xtr) == 70 and len(Xte) == 30
    assert Xte[:, 0].min() >= Xtr[:, 0].max(), "the test part must lie right of training"
    np.testing.assert_array_equal(np.sort(np.concatenate([ytr, yte])), np.sort(y))
    with pytest.raises(ValueError, match="train_fraction"):
        datasets.extrapolation_split(X, y, 1.5)


def test_housing_is_normalised_linear_and_deterministic():
    X, y = datasets.housing(4000, n_features=5, noise=0.1, seed=0)
    assert X.shape == (4000, 5) and y.shape == (4000,)
    np.testing.assert_allclose(X.mean(0), 0.0, atol=0.06)
    np.testing.assert_allclose(X.std(0), 1.0, atol=0.05)
    assert abs(y.mean()) < 0.06 and abs(y.std() - 1.0) < 0.05
    A = np.column_stack([X, np.ones(len(X))])
    w, *_ = np.linalg.lstsq(A, y, rcond=None)
    residual = y - A @ w
    # noise / sqrt(1 + noise^2) of the target's standard deviation is noise
    assert residual.std() == pytest.approx(0.1 / np.sqrt(1.01), rel=0.05)
    np.testing.assert_array_equal(datasets.housing(50)[0], datasets.housing(50)[0])


def test_digits_is_sklearns_bundled_set():
    pytest.importorskip("sklearn")
    X, y = datasets.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert X.min() == 0.0 and X.max() == 1.0


def test_importing_datasets_needs_only_numpy():
    code = ("import sys, ffnn.datasets; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('sklearn', 'scipy', 'matplotlib', 'tqdm', 'pandas')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- splits
def test_stratified_split_keeps_class_shares_and_partitions_the_data():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100, dtype=np.float64).reshape(-1, 1)
    Xtr, ytr, Xte, yte = datasets.train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(np.bincount(yte), [10, 6, 4])
    np.testing.assert_array_equal(np.sort(np.concatenate([Xtr, Xte])[:, 0]), X[:, 0])
    np.testing.assert_array_equal(ytr, y[Xtr[:, 0].astype(int)])  # rows stay paired
    again = datasets.train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[2], Xte)


def test_split_total_is_exact_with_awkward_class_sizes():
    y = np.repeat([0, 1, 2], [7, 7, 7])
    _, _, _, yte = datasets.train_test_split(np.zeros((21, 1)), y, test_size=0.5, seed=3)
    assert len(yte) == round(0.5 * 21)
    assert np.bincount(yte).max() - np.bincount(yte).min() <= 1


def test_regression_targets_get_a_random_split_and_stratify_true_refuses_them():
    X, y = datasets.housing(100)
    Xtr, ytr, Xte, yte = datasets.train_test_split(X, y, test_size=25, seed=0)
    assert len(Xte) == 25 and len(Xtr) == 75
    with pytest.raises(ValueError, match="stratify=True needs class labels"):
        datasets.train_test_split(X, y, stratify=True)


def test_split_errors_name_the_problem():
    with pytest.raises(ValueError, match="X has 5 samples .* but y has 4"):
        datasets.train_test_split(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="test_size"):
        datasets.train_test_split(np.zeros((5, 2)), np.zeros(5), test_size=1.0)


def test_train_val_test_split_sizes_and_disjointness():
    X = np.arange(200, dtype=np.float64).reshape(-1, 1)
    y = np.repeat([0, 1], 100)
    Xtr, ytr, Xva, yva, Xte, yte = datasets.train_val_test_split(X, y, val_size=0.1,
                                                                  test_size=0.2, seed=0)
    assert (len(Xtr), len(Xva), len(Xte)) == (140, 20, 40)
    assert np.bincount(yva).tolist() == [10, 10] and np.bincount(yte).tolist() == [20, 20]
    ids = np.concatenate([Xtr, Xva, Xte])[:, 0]
    assert len(np.unique(ids)) == 200


def test_standardizer_fits_on_training_data_only():
    rng = np.random.default_rng(0)
    X_train = rng.normal([5.0, -3.0, 0.0], [2.0, 0.5, 1.0], (500, 3)).astype(np.float32)
    X_train[:, 2] = 7.0  # a constant column
    X_test = X_train[:10] + 100.0
    s = datasets.Standardizer().fit(X_train)
    Z = s.transform(X_train)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, :2].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[:, :2].std(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(Z[:, 2], 0.0)
    # the test data are shifted by the training statistics, not re-centred on themselves
    np.testing.assert_allclose(s.transform(X_test)[:, 0], Z[:10, 0] + 100.0 / s.scale_[0],
                               rtol=1e-5)
    np.testing.assert_allclose(s.inverse_transform(Z), X_train, rtol=1e-5, atol=1e-4)
    y = np.linspace(10.0, 20.0, 11)
    t = datasets.Standardizer()
    np.testing.assert_allclose(t.inverse_transform(t.fit_transform(y)), y)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        s.transform(np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="not fitted"):
        datasets.Standardizer().transform(X_train)


def test_one_hot_is_the_functional_one():
    assert datasets.one_hot is ffnn.functional.one_hot
    np.testing.assert_array_equal(datasets.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


# ----------------------------------------------------------------------------- load_table
def test_load_table_csv_numeric_and_text_targets(tmp_path):
    path = tmp_path / "houses.csv"
    path.write_text("area,rooms,price\n100,3,250.5\n80,2,199\n120,4,300\n")
    X, y, info = datasets.load_table(path, target="price", return_info=True)
    np.testing.assert_array_equal(X, [[100, 3], [80, 2], [120, 4]])
    assert X.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(y, [250.5, 199, 300])
    assert info["feature_names"] == ["area", "rooms"]
    labels = tmp_path / "iris.csv"
    labels.write_text("a,species,b\n1,setosa,2\n3,virginica,4\n5,setosa,6\n")
    X, y, info = datasets.load_table(labels, "species", return_info=True)
    np.testing.assert_array_equal(y, [0, 1, 0])
    assert y.dtype == np.int64 and info["classes"] == ["setosa", "virginica"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])


def test_load_table_csv_errors_are_clear(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(ValueError, match="not found.*columns are: a, b, label"):
        datasets.load_table(path, target="price")
    with pytest.raises(ValueError, match=r"line 3: column 'b' holds 'oops', not a number"):
        datasets.load_table(path, target="label")
    path.write_text("a,label\n1,0\n,1\n")
    with pytest.raises(ValueError, match="line 3: column 'a' is empty"):
        datasets.load_table(path, target="label")


def test_load_table_numpy_files_never_unpickle(tmp_path):
    table = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]])
    np.save(tmp_path / "t.npy", table)
    X, y = datasets.load_table(tmp_path / "t.npy", target=-1)
    np.testing.assert_array_equal(X, table[:, :2])
    assert y.dtype == np.int64
    np.savez(tmp_path / "t.npz", X=table[:, :2], y=table[:, 2])
    X, y = datasets.load_table(tmp_path / "t.npz", target="y")
    np.testing.assert_array_equal(X, table[:, :2])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        datasets.load_table(tmp_path / "obj.npy", target=0)


# ----------------------------------------------------------------------------- registry
def test_registry_lists_and_loads_every_offline_dataset():
    entries = datasets.list_datasets()
    names = [e["name"] for e in entries]
    assert {"moons", "spiral", "regression_1d", "housing", "mnist", "fashion_mnist"} <= set(names)
    assert all(e["task"] in {"binary", "multiclass", "regression"} and e["description"]
               for e in entries)
    for entry in entries:
        if entry["name"] in ("mnist", "fashion_mnist"):
            continue
        if entry["name"] == "digits":
            pytest.importorskip("sklearn")
        ds = datasets.load(entry["name"], seed=0)
        assert ds.task == entry["task"] and ds.name == entry["name"]
        assert ds.X_train.ndim == 2 and ds.X_train.shape[1] == ds.X_test.shape[1]
        assert len(ds.X_train) == len(ds.y_train) and len(ds.X_test) == len(ds.y_test)
        n = len(ds.X_train) + len(ds.X_test)
        assert len(ds.X_test) == pytest.approx(0.2 * n, abs=1)
        if ds.task == "regression":
            assert ds.n_classes is None
        else:
            assert ds.n_classes == len(np.unique(np.concatenate([ds.y_train, ds.y_test])))
            assert (ds.n_classes == 2) == (ds.task == "binary")


def test_registry_splits_and_options():
    ds = datasets.load("regression_1d", test_size=0.3)
    assert ds.X_test[:, 0].min() >= ds.X_train[:, 0].max()
    ds = datasets.load("moons", n_samples=100, seed=1)
    assert len(ds.X_train) + len(ds.X_test) == 100
    assert np.bincount(ds.y_test).tolist() == [10, 10]
    a, b = datasets.load("spiral", seed=3), datasets.load("spiral", seed=3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    with pytest.raises(ValueError, match="unknown data set 'mnits'.*moons.*mnist"):
        datasets.load("mnits")
