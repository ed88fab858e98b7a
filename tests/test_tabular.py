"""Tables in: every CSV error names the file, the line and the column; predict and evaluate
take the model's own feature and target names."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ffnn
from ffnn.datasets import load_table
from ffnn.datasets.tabular import match_columns, read_features

HEADER = "area,rooms,age,price\n"


def csv_file(tmp_path, text, name="houses.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- load_table
@pytest.mark.parametrize("row,match", [
    ("60,3,5", r"line 4: 3 values but the header names 4 columns; no value for column 'price'"),
    ("60,3", r"line 4: 2 values .* no value for column 'age', 'price'"),
    ("70,3,1,120,9", r"line 4: 5 values but the header names 4 columns; value 5 \('9'\) has no "
                     r"column"),
    ("80,x,1,1", r"line 4: column 'rooms' holds 'x', not a number"),
    ("80,,1,1", r"line 4: column 'rooms' is empty \(missing value\)"),
    ("80,3,inf,1", r"line 4: column 'age' holds 'inf'; feature values must be finite"),
    ("90,3,1,", r"line 4: the target column 'price' is empty"),
])
def test_csv_errors_name_file_line_and_column(tmp_path, row, match):
    # line 2 is blank: the line numbers are the file's, not the row count
    path = csv_file(tmp_path, HEADER + "\n50,2,10,100\n" + row + "\n")
    with pytest.raises(ValueError, match=r"houses\.csv, " + match):
        load_table(path, "price")


def test_csv_header_errors(tmp_path):
    with pytest.raises(ValueError, match=r"line 1: the header names column 'area' twice"):
        load_table(csv_file(tmp_path, "area,area,price\n1,2,3\n"), "price")
    with pytest.raises(ValueError, match=r"line 1: column 2 of the header has no name"):
        load_table(csv_file(tmp_path, "area,,price\n1,2,3\n"), "price")
    with pytest.raises(ValueError, match=r"target column 'cost' not found .* area, rooms"):
        load_table(csv_file(tmp_path, HEADER + "1,2,3,4\n"), "cost")
    with pytest.raises(ValueError, match=r"not UTF-8"):
        (tmp_path / "latin.csv").write_bytes("área,price\n1,2\n".encode("latin-1"))
        load_table(tmp_path / "latin.csv", "price")


def test_a_good_csv_loads(tmp_path):
    X, y, info = load_table(csv_file(tmp_path, HEADER + "50,2,10,100\n\n60,3,5,120\n"),
                            "price", return_info=True)
    np.testing.assert_array_equal(X, [[50, 2, 10], [60, 3, 5]])
    np.testing.assert_array_equal(y, [100, 120])
    assert info["feature_names"] == ["area", "rooms", "age"] and info["target"] == "price"


# --------------------------------------------------------------------------- read_features
MODEL = ["area", "rooms", "age"]


def test_features_are_taken_by_name_in_the_models_order(tmp_path):
    path = csv_file(tmp_path, "age,price,area,rooms\n10,100,50,2\n5,120,60,3\n", "input.csv")
    X, names = read_features(path, MODEL, target="price")
    np.testing.assert_array_equal(X, [[50, 2, 10], [60, 3, 5]])
    assert names == MODEL


def test_unknown_and_missing_columns_are_named(tmp_path):
    path = csv_file(tmp_path, "area,rooms,age,zip\n50,2,10,12345\n", "input.csv")
    with pytest.raises(ValueError) as err:
        read_features(path, MODEL)
    assert str(err.value) == ("input.csv has column not seen in training: 'zip'; the model "
                              "takes: area, rooms, age")
    path = csv_file(tmp_path, "rooms,area\n2,50\n", "input.csv")
    with pytest.raises(ValueError, match=r"^input.csv lacks the model's feature column 'age'; "
                                         r"the model takes: area, rooms, age$"):
        read_features(path, MODEL)
    # a model that did not record its target: unknown columns are dropped with a warning
    path = csv_file(tmp_path, "area,rooms,age,zip\n50,2,10,12345\n", "input.csv")
    with pytest.warns(UserWarning, match="ignoring columns not seen in training: 'zip'"):
        X, _ = read_features(path, MODEL, extra_columns="warn")
    np.testing.assert_array_equal(X, [[50, 2, 10]])


def test_rows_of_the_wrong_width_name_the_line(tmp_path):
    path = csv_file(tmp_path, "area,rooms,age\n50,2,10\n60,3\n", "input.csv")
    with pytest.raises(ValueError, match=r"input.csv, line 3: 2 values .* no value for column "
                                         r"'age'"):
        read_features(path, MODEL)
    path = csv_file(tmp_path, "50,2,10\n60,3,5,7\n", "input.csv")  # no header row
    with pytest.raises(ValueError, match=r"input.csv, line 2: 4 values but the model takes 3 "
                                         r"features \(area, rooms, age\)"):
        read_features(path, MODEL, n_features=3)
    X, names = read_features(csv_file(tmp_path, "50,2,10\n60,3,5\n"), MODEL, n_features=3)
    assert X.shape == (2, 3) and names is None
    with pytest.raises(ValueError, match=r"line 2: column 'rooms' holds 'two'"):
        read_features(csv_file(tmp_path, "area,rooms,age\n50,two,10\n"), MODEL)


def test_match_columns_allows_the_target():
    assert match_columns(["price", "age", "area", "rooms"], MODEL, "f.csv",
                         target="price") == [2, 3, 1]
    with pytest.raises(ValueError, match="not seen in training: 'price'"):
        match_columns(["price", "age", "area", "rooms"], MODEL, "f.csv")


# --------------------------------------------------------------------------- the CLI
needs_cli = pytest.mark.skipif(importlib.util.find_spec("pydantic") is None or
                               importlib.util.find_spec("matplotlib") is None,
                               reason="the command line needs pydantic and matplotlib")


def run_cli(*args):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "ffnn", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def write_houses(path, n=120, seed=0, columns=("area", "rooms", "age", "kind")):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    kind = np.where(X[:, 0] - X[:, 2] > 0, "big", "small")
    values = {"area": X[:, 0], "rooms": X[:, 1], "age": X[:, 2], "kind": kind,
              "zip": rng.integers(10000, 99999, size=n)}
    with open(path, "w") as fh:
        fh.write(",".join(columns) + "\n")
        for i in range(n):
            fh.write(",".join(str(values[c][i]) for c in columns) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("houses")
    write_houses(tmp / "houses.csv")
    run = tmp / "run"
    r = run_cli("train", "--dataset", str(tmp / "houses.csv"), "--target", "kind", "--hidden",
                "8", "--epochs", "30", "--lr", "0.02", "--verbose", "0", "--out", str(run))
    assert r.returncode == 0, r.stderr
    return tmp, run / "model.npz"


@needs_cli
def test_the_model_records_its_target_and_features(trained):
    _, model = trained
    extra = ffnn.io.read_metadata(model)["extra"]
    assert extra["target"] == "kind" and extra["feature_names"] == ["area", "rooms", "age"]
    assert extra["split"] == {"seed": 0, "test_size": 0.2, "n_samples": None}


@needs_cli
def test_evaluate_needs_no_target_and_matches_columns_by_name(trained):
    tmp, model = trained
    r = run_cli("evaluate", str(model), "--json")
    assert r.returncode == 0, r.stderr
    plain = json.loads(r.stdout)
    # the same table with its columns shuffled: the same metrics
    write_houses(tmp / "shuffled.csv", columns=("kind", "age", "area", "rooms"))
    r = run_cli("evaluate", str(model), "--dataset", str(tmp / "shuffled.csv"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == plain
    # a file with a class the model never saw
    text = (tmp / "houses.csv").read_text().replace(",big\n", ",huge\n", 1)
    (tmp / "huge.csv").write_text(text)
    r = run_cli("evaluate", str(model), "--dataset", str(tmp / "huge.csv"), "--split", "train")
    assert r.returncode == 1 and "labels the model never saw in training: 'huge'" in r.stderr


@needs_cli
def test_predict_refuses_unknown_columns_and_uses_names(trained):
    tmp, model = trained
    write_houses(tmp / "zip.csv", n=5, columns=("area", "rooms", "age", "zip"))
    r = run_cli("predict", str(model), str(tmp / "zip.csv"))
    assert r.returncode == 1
    assert r.stderr.strip() == ("ffnn: error: zip.csv has column not seen in training: 'zip'; "
                                "the model takes: area, rooms, age (and the target 'kind' may "
                                "be present)")
    write_houses(tmp / "a.csv", n=20, seed=3)
    write_houses(tmp / "b.csv", n=20, seed=3, columns=("age", "rooms", "area"))
    outs = []
    for name in ("a.csv", "b.csv"):
        r = run_cli("predict", str(model), str(tmp / name), "--proba")
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1]
    (tmp / "short.csv").write_text("area,rooms,age\n1,2,3\n1,2\n")
    r = run_cli("predict", str(model), str(tmp / "short.csv"))
    assert r.returncode == 1
    assert "short.csv, line 3: 2 values but the header names 3 columns; no value for column " \
           "'age'" in r.stderr


@needs_cli
def test_predict_with_a_model_that_did_not_record_its_target(tmp_path, capsys):
    from ffnn.cli import main

    net = ffnn.mlp([2, 3, 1], seed=0)
    ffnn.save(net, tmp_path / "old.npz", extra={"task": "binary", "loss": "bce",
                                                "classes": [0, 1], "feature_names": ["a", "b"]})
    (tmp_path / "in.csv").write_text("b,label,a\n1,0,2\n")
    assert main(["predict", str(tmp_path / "old.npz"), str(tmp_path / "in.csv")]) == 0
    err = capsys.readouterr().err
    assert "ffnn: warning: in.csv: ignoring columns not seen in training: 'label'" in err
