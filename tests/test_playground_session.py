"""The playground without a web server: data sets, CSVs, settings, sessions, frames, exports."""

from __future__ import annotations

import contextlib
import io
import json
import runpy

import numpy as np
import pytest

import ffnn
from ffnn.playground import data as D
from ffnn.playground import protocol as P
from ffnn.playground.session import GRID, NEURON_GRID, Session
from ffnn.playground.settings import LIMITS, Settings, SettingsError, normalize


# --------------------------------------------------------------------------- protocol
def test_encode_decode_round_trip_with_aligned_arrays():
    arrays = {"a": np.arange(7, dtype=np.uint8), "b": np.linspace(0, 1, 6, dtype=np.float32)
              .reshape(2, 3), "c": np.array([-1, 5], dtype=np.int32)}
    msg = P.encode("frame", {"epoch": 3, "note": "é"}, arrays)
    header, back = P.decode(msg)
    assert header["type"] == "frame" and header["v"] == P.VERSION and header["epoch"] == 3
    assert header["note"] == "é"
    for name, a in arrays.items():
        np.testing.assert_array_equal(back[name], a)
    for spec in header["arrays"]:
        assert spec["offset"] % 8 == 0  # the page views the bytes in place as typed arrays
        assert spec["offset"] + spec["nbytes"] <= len(msg)


def test_encode_refuses_float64_and_nan_in_header():
    with pytest.raises(TypeError, match="float64"):
        P.encode("frame", {}, {"x": np.zeros(2)})
    with pytest.raises(ValueError):
        P.encode("frame", {"loss": float("nan")})


@pytest.mark.parametrize("raw, match", [
    ("{", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "fly"}', "unknown message type 'fly'"),
    ('{"type": "ack"}', "needs the field 'seq'"),
    ('{"type": "ack", "seq": "3"}', "must be int"),
    ('{"type": "ack", "seq": true}', "must be int"),
    ('{"type": "config", "config": [1]}', "must be dict"),
    ('{"type": "upload", "name": "a.csv"}', "needs the field 'text'"),
])
def test_bad_client_messages_are_named(raw, match):
    with pytest.raises(P.ProtocolError, match=match):
        P.parse_client_message(raw)


def test_quantize_maps_the_range_onto_0_255():
    q = P.quantize(np.array([-1.0, 0.0, 1.0, 5.0]), -1.0, 1.0)
    assert q.dtype == np.uint8 and q.tolist() == [0, 128, 255, 255]


# --------------------------------------------------------------------------- data
@pytest.mark.parametrize("name", D.CLASSIFICATION)
def test_classification_sets_are_balanced_and_in_the_plane(name):
    classes = 3 if name in D.MULTICLASS else 2
    X, y = D.make_dataset(name, 300, noise=0.1, classes=classes, seed=1)
    assert X.shape == (300, 2) and y.dtype == np.int64
    assert np.all(np.abs(X) < 9)
    counts = np.bincount(y, minlength=classes)
    assert len(counts) == classes and counts.min() >= 300 // classes * 0.8


@pytest.mark.parametrize("name", D.REGRESSION)
def test_regression_sets_have_targets_about_minus_one_one(name):
    X, y = D.make_dataset(name, 400, noise=0.0, seed=2)
    assert X.shape == (400, 2) and y.dtype == np.float64
    assert -1.25 <= y.min() < 0 < y.max() <= 1.25


def test_plane_target_is_tf_playgrounds_x1_plus_x2_over_10():
    X, y = D.make_dataset("reg-plane", 50, noise=0.0, seed=0)
    np.testing.assert_allclose(y, (X[:, 0] + X[:, 1]) / 10)


def test_same_seed_same_points():
    a = D.make_dataset("spiral", 100, 0.2, 4, seed=7)
    b = D.make_dataset("spiral", 100, 0.2, 4, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], D.make_dataset("spiral", 100, 0.2, 4, seed=8)[0])


def test_features_follow_their_formulas():
    X = np.array([[1.0, 2.0], [-0.5, 3.0]])
    F = D.feature_matrix(X, ["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"])
    np.testing.assert_allclose(F, np.column_stack([X[:, 0], X[:, 1], X[:, 0] ** 2, X[:, 1] ** 2,
                                                   X[:, 0] * X[:, 1], np.sin(X[:, 0]),
                                                   np.sin(X[:, 1])]))


def test_grid_cell_centres_row_zero_at_the_top():
    g = D.grid((-6, 6, -6, 6), 4)
    assert g.shape == (16, 2)
    np.testing.assert_allclose(g[0], [-4.5, 4.5])  # top-left cell centre
    np.testing.assert_allclose(g[-1], [4.5, -4.5])


# --------------------------------------------------------------------------- CSV
def test_csv_with_header_and_text_labels():
    X, y, problem, names = D.parse_csv("a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n")
    assert problem == "classification" and names == ["cat", "dog"]
    np.testing.assert_array_equal(y, [0, 1, 0])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])


def test_csv_without_header_integer_labels_and_regression():
    _, y, problem, names = D.parse_csv("0.5,1,3\n1,2,7\n2,2,3\n")
    assert problem == "classification" and names == ["3", "7"] and y.tolist() == [0, 1, 0]
    _, y, problem, _ = D.parse_csv("0.5,1,0.25\n1,2,-1.5\n2,2,3\n")
    assert problem == "regression" and y.tolist() == [0.25, -1.5, 3.0]


def test_csv_target_column_found_by_name():
    X, y, _, _ = D.parse_csv("target,x,y2\n1,0.5,0.25\n0,1,2\n")
    np.testing.assert_array_equal(X, [[0.5, 0.25], [1, 2]])
    assert y.tolist() == [1, 0]


@pytest.mark.parametrize("text, match, line, column", [
    ("", "empty", None, None),
    ("x1,x2,label\n1,2,0\n3,abc,1\n", "'abc' is not a finite number", 3, "x2"),
    ("x1,x2,label\n1,2,0\n3,4\n", "2 values, but the header has 3", 3, None),
    ("1,2\n3,4\n", "needs three", 1, None),
    ("x1,x2,label\n1,nan,0\n", "not a finite number", 2, "x2"),
    ("x1,x2,label\n1,2,0\n1,3,0\n", "at least two classes", None, None),
    ("x1,x2,label\n", "no data rows", None, None),
    ("x1,x2,label\n1,,0\n", "is empty", 2, "x2"),
])
def test_bad_csv_errors_name_line_and_column(text, match, line, column):
    with pytest.raises(D.CSVError, match=match) as info:
        D.parse_csv(text)
    assert info.value.line == line and info.value.column == column


def test_csv_row_cap():
    text = "x1,x2,label\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(30))
    with pytest.raises(D.CSVError, match="at most 20"):
        D.parse_csv(text, max_rows=20)


def test_csv_with_too_many_text_classes():
    text = "x1,x2,label\n" + "".join(f"{i},{i},c{i}\n" for i in range(9))
    with pytest.raises(D.CSVError, match="9 different labels"):
        D.parse_csv(text)


# --------------------------------------------------------------------------- settings
def test_defaults_are_tf_playgrounds():
    s = Settings()
    assert (s.dataset, s.activation, s.lr, s.hidden, s.batch_size, s.train_ratio) == \
        ("circle", "tanh", 0.03, (4, 2), 10, 50)


@pytest.mark.parametrize("changes, match", [
    ({"hidden": [8] * 100}, "at most 8 hidden layers, got 100"),
    ({"hidden": [4, 400]}, r"hidden layer 2 must lie in \[1, 16\], got 400"),
    ({"hidden": [0]}, "hidden layer 1"),
    ({"lr": -1}, "lr must lie"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"lr": float("inf")}, "finite"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"dataset": "mnist"}, "dataset must be one of"),
    ({"features": []}, "at least one"),
    ({"features": ["x3"]}, "unknown feature 'x3'"),
    ({"colour": "red"}, "unknown setting 'colour'"),
    ({"classes": 9}, r"classes must lie in \[2, 6\]"),
    ({"n_samples": 10**7}, "n_samples must lie"),
    ({"dataset": "custom"}, "needs points"),
])
def test_bad_settings_are_named(changes, match):
    with pytest.raises(SettingsError, match=match):
        normalize(changes)


def test_dataset_and_problem_follow_each_other():
    s, _ = normalize({"dataset": "reg-gauss"})
    assert s.problem == "regression"
    s, _ = normalize({"problem": "regression"}, s)
    assert s.dataset == "reg-gauss"
    s, _ = normalize({"problem": "classification"}, s)
    assert s.dataset in D.CLASSIFICATION
    s, notices = normalize({"dataset": "xor", "classes": 3})
    assert s.classes == 2 and "two classes" in notices[0]


def test_url_style_values_are_accepted():
    s, _ = normalize({"hidden": "8,8", "features": "x1,x2,x1_x2", "lr": "0.1", "seed": "3"})
    assert s.hidden == (8, 8) and s.features == ("x1", "x2", "x1_x2") and s.lr == 0.1
    s, _ = normalize({"hidden": ""})
    assert s.hidden == ()


# --------------------------------------------------------------------------- sessions
def _frame(session: Session):
    return P.decode(session.frame())


def test_frame_holds_every_picture_and_weight():
    s = Session({"dataset": "circle", "hidden": [5, 3]})
    header, arrays = _frame(s)
    assert header["epoch"] == 0 and header["type"] == "frame"
    assert arrays["output"].shape == (GRID, GRID) and arrays["output"].dtype == np.uint8
    assert arrays["neurons"].shape == (8, NEURON_GRID, NEURON_GRID)
    assert arrays["neuron_range"].shape == (8, 2)
    assert [arrays[f"W{l}"].shape for l in (1, 2, 3)] == [(2, 5), (5, 3), (3, 1)]
    np.testing.assert_array_equal(arrays["W2"], s.net.parameters()["2.W"])
    assert set(header) >= {"train_loss", "test_loss", "train_accuracy", "test_accuracy",
                           "confusion_train", "confusion_test", "seq", "steps"}


def test_output_picture_is_the_networks_probability_on_the_grid():
    s = Session({"dataset": "xor", "hidden": [4]})
    s.train(5)
    _, arrays = _frame(s)
    P1 = s.net.predict_proba(D.feature_matrix(D.grid(s.domain, GRID), s.settings.features))
    np.testing.assert_allclose(arrays["output"].reshape(-1) / 255, P1[:, 0], atol=0.5 / 255 + 1e-6)


def test_neuron_picture_is_that_units_activation():
    s = Session({"dataset": "circle", "hidden": [3, 2], "activation": "relu"})
    s.train(3)
    _, arrays = _frame(s)
    G = D.feature_matrix(D.grid(s.domain, NEURON_GRID), s.settings.features).astype(np.float32)
    A1 = np.maximum(G @ s.net.parameters()["0.W"] + s.net.parameters()["0.b"], 0)
    lo, hi = arrays["neuron_range"][1]
    np.testing.assert_allclose(lo + arrays["neurons"][1].reshape(-1) * (hi - lo) / 255, A1[:, 1],
                               atol=(hi - lo) / 255)


def test_multiclass_frame_has_the_argmax_class():
    s = Session({"dataset": "blobs", "classes": 4, "hidden": [6]})
    s.train(3)
    header, arrays = _frame(s)
    assert s.task == "multiclass" and s.net.n_outputs == 4
    pred = s.net.classify(D.feature_matrix(D.grid(s.domain, GRID), s.settings.features))
    np.testing.assert_array_equal(arrays["output_class"].reshape(-1), pred)
    assert np.array(header["confusion_test"]).shape == (4, 4)


def test_three_class_blobs_trains_past_90_percent():
    s = Session({"dataset": "blobs", "classes": 3, "hidden": [4]})
    s.train(30)
    header, _ = _frame(s)
    assert header["train_accuracy"] > 0.9 and header["test_accuracy"] > 0.9


def test_regression_session_reports_r2():
    s = Session({"dataset": "reg-plane", "hidden": [3]})
    s.train(20)
    header, arrays = _frame(s)
    assert header["train_r2"] > 0.9 and "train_accuracy" not in header
    assert arrays["output_range"].tolist() == [-1.0, 1.0]


def test_live_settings_keep_the_weights_and_others_reset():
    s = Session()
    s.train(3)
    W = s.net.parameters()["0.W"].copy()
    assert s.configure({"lr": 0.1}) == {"data": False, "network": False}
    assert s.epoch == 3 and s.optimizer.lr == 0.1
    np.testing.assert_array_equal(W, s.net.parameters()["0.W"])
    assert s.configure({"activation": "relu"})["network"]
    assert s.epoch == 0


def test_bad_settings_change_nothing():
    s = Session({"hidden": [3]})
    with pytest.raises(SettingsError):
        s.configure({"hidden": [2, 2], "lr": "fast"})
    assert s.settings.hidden == (3,)


def test_l1_and_l2_penalties_reach_the_optimiser():
    s = Session({"regularization": "l1", "reg_rate": 0.01})
    assert s.optimizer.l1 == 0.01 and s.optimizer.weight_decay == 0
    s.configure({"regularization": "l2"})
    assert s.optimizer.weight_decay == 0.01 and s.optimizer.l1 == 0


def test_l1_penalty_makes_weights_exactly_sparse_direction():
    """One SGD step with l1 moves each weight by lr * (g + l1 sign(W)) (ffnn.optimizers)."""
    opt = ffnn.SGD(0.1, l1=0.5)
    W = np.array([[1.0, -2.0], [0.0, 3.0]])
    g = np.zeros_like(W)
    opt.step({"0.W": W, "0.b": np.zeros(2)}, {"0.W": g, "0.b": np.zeros(2)})
    np.testing.assert_allclose(W, [[0.95, -1.95], [0.0, 2.95]])


def test_trace_of_a_step_has_every_quantity():
    s = Session({"hidden": [3]})
    arrays = s.step_traced()
    assert s.epoch == 1
    for name in ("X", "Z1", "A1", "Z2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1",
                 "update_W1", "loss"):
        assert name in arrays, name
    header, back = P.decode(s.trace_message(arrays))
    assert header["names"] == list(arrays) and back["Z1"].shape == (header["batch"], 3)
    # the last batch of 250 points in batches of 10 has 10 rows
    assert header["batch"] == 10


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "gelu"])
def test_gradient_check_of_a_session_passes(activation):
    s = Session({"hidden": [4, 3], "activation": activation, "dataset": "spiral", "classes": 3})
    s.train(2)
    report = s.gradcheck()
    assert report["passed"], report["text"]
    assert [c["label"] for c in report["checks"]] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    json.dumps(report, allow_nan=False)


def test_divergence_stops_with_a_clear_message_and_finite_weights():
    s = Session({"dataset": "reg-plane", "activation": "linear", "hidden": [8, 8, 8],
                 "lr": 10, "batch_size": 30})
    with pytest.raises(ffnn.TrainingDiverged, match="learning rate 10x lower"):
        s.train(50)
    assert all(np.isfinite(p).all() for p in s.net.parameters().values())
    assert not s.playing
    P.decode(s.frame())  # still drawable


def test_upload_and_placed_points_become_the_custom_data_set():
    s = Session()
    text = "x,y,kind\n" + "".join(f"{i / 10},{(i * 7 % 13) / 3},{'ab'[i % 2]}\n"
                                  for i in range(40))
    s.upload("mine.csv", text)
    assert s.settings.dataset == "custom" and s.class_names == ["a", "b"]
    assert len(s.y_train) + len(s.y_test) == 40
    s.train(2)
    assert s.epoch == 2 and s.net.n_features == 2


def test_placed_points_for_classification_and_regression():
    s = Session()
    s.place_points([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 0, 1]])
    assert s.settings.dataset == "custom" and s.n_classes == 3
    s2 = Session({"dataset": "reg-plane"})
    s2.place_points([[0, 0, 0.5], [1, 1, -2.0], [2, 2, 1.0]])
    assert s2.task == "regression" and s2.target_range == (-2.0, 1.0)
    with pytest.raises(SettingsError, match="three finite"):
        s2.place_points([[0, 0], [1, 1, 1]])
    with pytest.raises(SettingsError, match="two classes"):
        Session().place_points([[0, 0, 1], [1, 1, 1]])


def test_oversized_upload_is_refused_before_parsing():
    s = Session()
    with pytest.raises(D.CSVError, match="at most"):
        s.upload("big.csv", "1,2,0\n" * (LIMITS["max_upload_bytes"] // 5))
    assert s.settings.dataset == "circle"


def test_exported_model_predicts_what_the_page_shows(tmp_path):
    s = Session({"dataset": "spiral", "classes": 3, "hidden": [8, 8]})
    s.train(10)
    header, arrays = _frame(s)
    path = tmp_path / "m.npz"
    path.write_bytes(s.model_bytes())
    net = ffnn.load(path)
    meta = ffnn.io.read_metadata(path)["extra"]
    assert meta["features"] == ["x1", "x2"] and meta["epoch"] == 10
    F = D.feature_matrix(D.grid(s.domain, GRID), meta["features"])
    np.testing.assert_array_equal(net.classify(F), arrays["output_class"].reshape(-1))
    Ft = D.feature_matrix(s.X_test, meta["features"])
    acc = float(np.mean(net.classify(Ft) == s.y_test))
    assert acc == pytest.approx(header["test_accuracy"])
    assert ffnn.evaluate(net, Ft, s.y_test, "ce")["loss"] == pytest.approx(header["test_loss"])


@pytest.mark.parametrize("cfg", [
    {"dataset": "spiral", "classes": 3, "hidden": [6, 6], "optimizer": "adam", "lr": 0.01,
     "regularization": "l1", "reg_rate": 0.001},
    {"dataset": "reg-gauss", "hidden": [5], "features": ["x1", "x2", "sin_x1"],
     "optimizer": "momentum", "regularization": "l2", "reg_rate": 0.01},
    {"dataset": "xor", "batch_size": 2000, "optimizer": "rmsprop", "lr": 0.01},  # full batch
])
def test_exported_script_reproduces_the_weights(cfg, tmp_path, monkeypatch):
    s = Session(cfg)
    s.train(4)
    s.step_traced()
    s.train(2)
    path = tmp_path / "run.py"
    path.write_text(s.script())
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        g = runpy.run_path(str(path))
    for k, v in s.net.parameters().items():
        np.testing.assert_array_equal(g["net"].parameters()[k], v)
    assert (tmp_path / "playground-model.npz").exists() and "train" in out.getvalue()


def test_script_of_custom_points_embeds_them(tmp_path, monkeypatch):
    s = Session()
    s.upload("pts.csv", "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(30)))
    s.train(3)
    path = tmp_path / "run.py"
    path.write_text(s.script())
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        g = runpy.run_path(str(path))
    np.testing.assert_array_equal(g["net"].parameters()["0.W"], s.net.parameters()["0.W"])


def test_script_says_when_the_learning_rate_changed_midway():
    s = Session()
    s.train(2)
    s.configure({"lr": 0.1})
    assert "lr changed to 0.1 at epoch 2" in s.script()


def test_data_csv_lists_every_point_with_its_split():
    s = Session({"dataset": "spiral", "classes": 3, "train_ratio": 30})
    lines = s.data_csv().splitlines()
    assert lines[0] == "x1,x2,label,split" and len(lines) == 501
    assert sum(line.endswith(",train") for line in lines) == 150


def test_another_data_set_starts_from_other_weights_and_the_same_setup_from_the_same():
    a, b = Session({"dataset": "xor"}), Session({"dataset": "circle"})
    assert not np.array_equal(a.net.parameters()["0.W"], b.net.parameters()["0.W"])
    c = Session({"dataset": "xor"})
    np.testing.assert_array_equal(a.net.parameters()["0.W"], c.net.parameters()["0.W"])
    a.train(2)
    a.reset()
    np.testing.assert_array_equal(a.net.parameters()["0.W"], c.net.parameters()["0.W"])
