"""ffnn.export and ffnn.typed: ONNX Runtime, safetensors/PyTorch and scikit-learn give the
predictions ffnn gives; round trips are exact; bad networks and files are refused naming the
layer or tensor; the model file's metadata validates against the published JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import ffnn
from ffnn.export import (
    ExportError,
    from_safetensors,
    from_sklearn,
    to_onnx,
    to_safetensors,
    to_sklearn,
    torch_source,
)

ROOT = Path(__file__).resolve().parents[1]


def every_activation(dtype=np.float32, d_in=5, d_out=4, output="softmax") -> ffnn.Sequential:
    """Dense layers with each of ffnn's activations (and Dropout) between them."""
    acts = [ffnn.Sigmoid(), ffnn.Tanh(), ffnn.ReLU(), ffnn.Dropout(0.3), ffnn.LeakyReLU(0.1),
            ffnn.ELU(0.7), ffnn.GELU(), ffnn.Softplus(), ffnn.Identity()]
    layers, width, seed = [], d_in, 0
    for act in acts:
        if not isinstance(act, ffnn.Dropout):
            layers.append(ffnn.Dense(width, 12, rng=seed, dtype=dtype))
            width, seed = 12, seed + 1
        layers.append(act)
    layers.append(ffnn.Dense(width, d_out, rng=seed, dtype=dtype))
    return ffnn.Sequential(*layers, output=output)


def data(n, d=5, dtype=np.float32, seed=0):
    return (np.random.default_rng(seed).normal(size=(n, d)) * 2).astype(dtype)


class Square(ffnn.Layer):
    """A learner's own layer: out = x^2 (no ffnn export knows it)."""

    def forward(self, x, *, training=False):
        self.x = x
        return x * x

    def backward(self, dout):
        return 2 * self.x * dout


class MyReLU(ffnn.ReLU):
    """A subclass of a built-in may compute something else: refused like a custom layer."""


def test_every_ffnn_activation_is_in_the_test_network():
    net = every_activation()
    kinds = {type(layer) for layer in net.layers}
    assert set(ffnn.activations.ACTIVATIONS.values()) - {ffnn.Softmax} <= kinds
    assert ffnn.Dropout in kinds  # Softmax: tested as the output (proba) and as a layer below


def test_import_ffnn_export_loads_no_optional_package():
    code = ("import sys, ffnn, ffnn.export; bad = [m for m in ('onnx', 'onnxruntime', "
            "'safetensors', 'pydantic', 'sklearn', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# =========================================================================== ONNX
def _ort_session(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("output", ["logits", "proba"])
def test_onnx_runtime_predicts_what_ffnn_predicts(tmp_path, dtype, tol, output):
    onnx = pytest.importorskip("onnx")
    net = every_activation(dtype)
    path = to_onnx(net, tmp_path / "net.onnx", output=output)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 20
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "X" and out.name == output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", 5]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["N", 4]
    session = _ort_session(path)
    for n in (1, 1000):
        X = data(n, dtype=dtype)
        want = net.predict(X) if output == "logits" else net.predict_proba(X)
        (got,) = session.run(None, {"X": X})
        assert got.dtype == dtype and got.shape == (n, 4)
        assert np.max(np.abs(got - want)) < tol, (n, np.max(np.abs(got - want)))
    if output == "proba":
        np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("last", [None, ffnn.Sigmoid(), ffnn.Softmax()])
def test_onnx_probabilities_of_sigmoid_and_softmax_outputs(tmp_path, last):
    pytest.importorskip("onnx")
    d_out = 1 if last is None else 3
    layers = [ffnn.Dense(3, 6, rng=0), ffnn.Tanh(), ffnn.Dense(6, d_out, rng=1)]
    net = ffnn.Sequential(*layers, *([last] if last is not None else []))
    assert net.output_kind() == ("sigmoid" if last is None else "identity")
    to_onnx(net, tmp_path / "p.onnx", output="proba")
    X = data(50, 3)
    (got,) = _ort_session(tmp_path / "p.onnx").run(None, {"X": X})
    assert np.max(np.abs(got - net.predict_proba(X))) < 1e-6


def test_onnx_standardisation_and_metadata(tmp_path):
    onnx = pytest.importorskip("onnx")
    net = ffnn.mlp([3, 8, 2], "elu", seed=0)
    mean, std = np.array([10.0, -2.0, 0.5]), np.array([3.0, 0.5, 2.0])
    to_onnx(net, tmp_path / "s.onnx", standardize=(mean, std), extra={"classes": ["a", "b"]})
    X = np.random.default_rng(1).normal(mean, std, size=(100, 3)).astype(np.float32)
    (got,) = _ort_session(tmp_path / "s.onnx").run(None, {"X": X})
    assert np.max(np.abs(got - net.predict((X - mean) / std))) < 1e-5
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "s.onnx")).metadata_props}
    assert json.loads(props["ffnn.extra"]) == {"classes": ["a", "b"]}
    assert [s["type"] for s in json.loads(props["ffnn.layers"])] == ["Dense", "ELU", "Dense"]
    with pytest.raises(ExportError, match="standardize mean has 2 values.*3 features"):
        to_onnx(net, tmp_path / "t.onnx", standardize=([0, 0], [1, 1]))


def test_onnx_refuses_what_it_cannot_express(tmp_path):
    pytest.importorskip("onnx")
    for bad, name in ((Square(), "Square"), (MyReLU(), "MyReLU")):
        net = ffnn.Sequential(ffnn.Dense(2, 3), bad, ffnn.Dense(3, 1))
        with pytest.raises(ExportError, match=rf"layer 1 \({name}\) is not one of ffnn's "
                                              "built-in layers"):
            to_onnx(net, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    regression = ffnn.mlp([2, 4, 1], output="identity")
    with pytest.raises(ExportError, match="'identity' .*no probabilities"):
        to_onnx(regression, tmp_path / "r.onnx", output="proba")
    with pytest.raises(ValueError, match="output must be one of 'logits', 'proba'"):
        to_onnx(regression, tmp_path / "r.onnx", output="scores")


# =========================================================================== safetensors
def _read_safetensors(path):
    st = pytest.importorskip("safetensors")
    with st.safe_open(str(path), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_safetensors_round_trip_is_exact(tmp_path, dtype):
    pytest.importorskip("safetensors")
    net = every_activation(dtype)
    to_safetensors(net, tmp_path / "net.safetensors")
    back = from_safetensors(tmp_path / "net.safetensors")
    assert [repr(a) for a in back.layers] == [repr(a) for a in net.layers]
    assert back.output == net.output
    for (k, a), (k2, b) in zip(net.parameters().items(), back.parameters().items(), strict=True):
        assert k == k2 and a.dtype == b.dtype and np.array_equal(a, b)
    X = data(100, dtype=dtype)
    assert np.array_equal(back.predict(X), net.predict(X))


def test_safetensors_names_and_layouts_are_pytorch_sequential(tmp_path):
    """Checked without PyTorch: nn.Sequential numbers every module; an nn.Linear at index i
    stores "<i>.weight" (out, in) = W^T and "<i>.bias" (out,)."""
    net = ffnn.Sequential(ffnn.Dense(3, 5, rng=0), ffnn.ReLU(), ffnn.Dropout(0.1),
                          ffnn.Dense(5, 4, rng=1), ffnn.Tanh(), ffnn.Dense(4, 2, rng=2))
    to_safetensors(net, tmp_path / "n.safetensors")
    tensors, meta = _read_safetensors(tmp_path / "n.safetensors")
    assert {k: v.shape for k, v in tensors.items()} == {
        "0.weight": (5, 3), "0.bias": (5,), "3.weight": (4, 5), "3.bias": (4,),
        "5.weight": (2, 4), "5.bias": (2,)}
    for i in (0, 3, 5):
        assert np.array_equal(tensors[f"{i}.weight"], net[i].params["W"].T)
        assert np.array_equal(tensors[f"{i}.bias"], net[i].params["b"])
    assert meta["format"] == "pt"
    assert torch_source(net) == (
        "nn.Sequential(\n    nn.Linear(3, 5),\n    nn.ReLU(),\n    nn.Dropout(p=0.1),\n"
        "    nn.Linear(5, 4),\n    nn.Tanh(),\n    nn.Linear(4, 2),\n)")


def test_safetensors_layout_given_as_activation_names(tmp_path):
    """A file without ffnn's metadata (as PyTorch writes it) needs the layout."""
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(0)
    W = {i: rng.normal(size=s).astype(np.float32) for i, s in ((0, (6, 3)), (2, (4, 6)),
                                                                 (4, (1, 4)))}
    st.save_file({**{f"{i}.weight": w for i, w in W.items()},
                  **{f"{i}.bias": np.zeros(w.shape[0], np.float32) for i, w in W.items()}},
                 str(tmp_path / "torch.safetensors"))
    with pytest.raises(ExportError, match="does not say what sits between its Linear layers.*"
                                          "pass layout="):
        from_safetensors(tmp_path / "torch.safetensors")
    net = from_safetensors(tmp_path / "torch.safetensors", ["relu", "gelu"])
    assert [type(x).__name__ for x in net.layers] == ["Dense", "ReLU", "Dense", "GELU", "Dense"]
    assert np.array_equal(net[2].params["W"], W[2].T)
    # one more name: an activation after the last Linear (e.g. a sigmoid output)
    net = from_safetensors(tmp_path / "torch.safetensors", ["tanh", "tanh", "sigmoid"])
    assert type(net.layers[-1]) is ffnn.Sigmoid and len(net.layers) == 6
    # None: no module between two Linear layers (nn.Sequential(Linear, Linear) is 0, 1)
    st.save_file({"0.weight": W[0], "0.bias": np.zeros(6, np.float32),
                  "1.weight": W[2], "1.bias": np.zeros(4, np.float32)},
                 str(tmp_path / "linear.safetensors"))
    net = from_safetensors(tmp_path / "linear.safetensors", [None])
    assert [type(x).__name__ for x in net.layers] == ["Dense", "Dense"]


def _save(tmp_path, tensors, name="bad.safetensors"):
    st = pytest.importorskip("safetensors.numpy")
    st.save_file(tensors, str(tmp_path / name))
    return tmp_path / name


def test_safetensors_with_wrong_names_or_shapes_names_the_tensor(tmp_path):
    z = np.zeros
    f32 = np.float32
    good = {"0.weight": z((6, 3), f32), "0.bias": z(6, f32),
            "2.weight": z((2, 6), f32), "2.bias": z(2, f32)}
    assert from_safetensors(_save(tmp_path, good), ["relu"]).n_params() == 6 * 3 + 6 + 14
    cases = [
        ({**good, "1.weight": z((2, 6), f32)}, r"tensor '1.weight' does not fit the layout "
                                              r"\(the layout has ReLU at index 1"),
        ({k: v for k, v in good.items() if k != "2.bias"}, r"tensor '2.bias' is missing"),
        ({**good, "2.bias": z(3, f32)}, r"tensor '2.bias' has shape \(3,\); weight '2.weight' "
                                        r"\(2, 6\) needs a bias of shape \(2,\)"),
        ({**good, "2.weight": z((2, 5), f32)}, r"tensor '2.weight' has shape \(2, 5\): it "
                                               r"takes 5 inputs but the Linear layer before it "
                                               r"gives 6"),
        ({**good, "0.weight": z(18, f32)}, r"tensor '0.weight' has shape \(18,\)"),
        ({**good, "2.weight": z((2, 6), np.float16)}, r"tensor '2.weight' is F16"),
        ({**good, "2.weight": z((2, 6), np.float64)}, r"tensor '2.weight' is float64 but the "
                                                      r"tensors before it are float32"),
    ]
    for tensors, message in cases:
        with pytest.raises(ExportError, match=message):
            from_safetensors(_save(tmp_path, tensors), ["relu"])
    with pytest.raises(ExportError, match=r"tensor '2.weight' is missing; the layout puts a "
                                          r"Linear \(Dense\) layer at index 2"):
        from_safetensors(_save(tmp_path, {"0.weight": z((6, 3), f32), "0.bias": z(6, f32),
                                          "1.weight": z((2, 6), f32), "1.bias": z(2, f32)}),
                         ["relu"])
    with pytest.raises(ExportError, match="layout entry 0 is 'swish', not an activation name"):
        from_safetensors(_save(tmp_path, good), ["swish"])
    full = [{"type": "Dense", "config": {"in_features": 4}}, {"type": "ReLU", "config": {}},
            {"type": "Dense", "config": {}}]
    with pytest.raises(ExportError, match=r"tensor '0.weight' has shape \(6, 3\) but layout "
                                          r"entry 0 says in_features=4"):
        from_safetensors(_save(tmp_path, good), full)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ExportError, match="not a readable safetensors file"):
        from_safetensors(tmp_path / "junk.safetensors", ["relu"])


def test_safetensors_refuses_a_custom_layer(tmp_path):
    pytest.importorskip("safetensors")
    net = ffnn.Sequential(ffnn.Dense(2, 3), ffnn.ReLU(), ffnn.Dense(3, 3), Square(),
                          ffnn.Dense(3, 1))
    with pytest.raises(ExportError, match=r"layer 3 \(Square\) is not one of ffnn's built-in"):
        to_safetensors(net, tmp_path / "x.safetensors")
    with pytest.raises(ExportError, match=r"layer 3 \(Square\)"):
        torch_source(net)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pytorch_loads_the_file_and_predicts_the_same(tmp_path, dtype):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    import safetensors.torch
    from torch import nn

    net = every_activation(dtype, output=None)
    to_safetensors(net, tmp_path / "net.safetensors")
    model = eval(torch_source(net), {"nn": nn, "torch": torch})
    model.load_state_dict(safetensors.torch.load_file(str(tmp_path / "net.safetensors")))
    model.eval()
    X = data(1000, dtype=dtype)
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
        proba = torch.softmax(torch.from_numpy(out), dim=1).numpy()
    assert out.dtype == dtype
    assert np.max(np.abs(proba - net.predict_proba(X))) < 1e-6
    assert np.max(np.abs(out - net.predict(X))) < (1e-6 if dtype == np.float32 else 1e-12)
    # and back: PyTorch's own state dict (no ffnn metadata) with the layout spelt out
    safetensors.torch.save_file(model.state_dict(), str(tmp_path / "torch.safetensors"))
    layout = json.loads(_read_safetensors(tmp_path / "net.safetensors")[1]["ffnn.layers"])
    back = from_safetensors(tmp_path / "torch.safetensors", layout)
    assert np.array_equal(back.predict(X), net.predict(X))


# =========================================================================== scikit-learn
def _fit(estimator, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.mark.parametrize("n_classes, activation", [(3, "relu"), (2, "tanh"), (4, "logistic"),
                                                   (3, "identity")])
def test_sklearn_classifier_round_trip(n_classes, activation):
    pytest.importorskip("sklearn")
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier

    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes, random_state=0)
    y = np.array(["cat", "dog", "eel", "fox"])[y]
    mlp = _fit(MLPClassifier(hidden_layer_sizes=(10, 7), activation=activation, max_iter=40,
                             random_state=0), X, y)
    net = from_sklearn(mlp)
    assert net.dtype == np.float64
    P = net.predict_proba(X)
    if n_classes == 2:  # scikit-learn: one logistic unit, columns [1 - p, p]
        assert net.output == "sigmoid" and P.shape == (300, 1)
        P = np.hstack([1 - P, P])
    assert np.max(np.abs(P - mlp.predict_proba(X))) < 1e-6
    assert np.array_equal(mlp.classes_[net.classify(X)], mlp.predict(X))
    back = to_sklearn(net, classes=mlp.classes_)
    assert np.max(np.abs(back.predict_proba(X) - mlp.predict_proba(X))) < 1e-6
    assert np.array_equal(back.predict(X), mlp.predict(X))
    assert back.score(X, y) == mlp.score(X, y)


def test_sklearn_regressor_and_multilabel_round_trip():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    reg = _fit(MLPRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0), X,
               X @ rng.normal(size=(4, 2)))
    net = from_sklearn(reg)
    assert net.output == "identity"
    assert np.max(np.abs(net.predict(X) - reg.predict(X))) < 1e-6
    assert np.max(np.abs(to_sklearn(net).predict(X) - reg.predict(X))) < 1e-6
    Y = (rng.random((200, 3)) > 0.5).astype(int)
    multi = _fit(MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0), X, Y)
    net = from_sklearn(multi)
    assert net.output == "sigmoid" and net.n_outputs == 3
    assert np.max(np.abs(net.predict_proba(X) - multi.predict_proba(X))) < 1e-6
    back = to_sklearn(net)
    assert np.array_equal(back.predict(X), multi.predict(X))


def test_ffnn_network_to_sklearn():
    pytest.importorskip("sklearn")
    X = data(50, 4, dtype=np.float64)
    net = ffnn.Sequential(ffnn.Dense(4, 5, rng=0, dtype="float64"), ffnn.ReLU(),
                          ffnn.Dropout(0.2), ffnn.Dense(5, 3, rng=1, dtype="float64"),
                          ffnn.Softmax())
    est = to_sklearn(net, classes=["a", "b", "c"])
    assert est.activation == "relu" and est.out_activation_ == "softmax"
    assert np.max(np.abs(est.predict_proba(X) - net.predict_proba(X))) < 1e-12
    assert list(est.predict(X)) == list(np.array(["a", "b", "c"])[net.classify(X)])
    linear = ffnn.Sequential(ffnn.Dense(4, 5, dtype="float64"), ffnn.Dense(5, 1, dtype="float64"),
                             output="sigmoid")
    est = to_sklearn(linear)
    assert est.activation == "identity" and list(est.classes_) == [0, 1]
    assert np.max(np.abs(est.predict_proba(X)[:, 1:] - linear.predict_proba(X))) < 1e-12


def test_sklearn_refusals_name_the_layer():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier

    cases = [
        (ffnn.mlp([4, 8, 3], "gelu"), r"layer 1 \(GELU\) has no scikit-learn equivalent"),
        (ffnn.Sequential(ffnn.Dense(4, 5), ffnn.ReLU(), ffnn.Dense(5, 5), ffnn.Tanh(),
                         ffnn.Dense(5, 1)),
         r"layer 3 \(Tanh\) has activation tanh but layer 1 \(ReLU\) has relu"),
        (ffnn.Sequential(ffnn.Dense(4, 5), ffnn.ReLU(), ffnn.Sigmoid(), ffnn.Dense(5, 1)),
         r"layer 2 \(Sigmoid\) follows layer 1 \(ReLU\)"),
        (ffnn.Sequential(ffnn.Dense(4, 5), Square(), ffnn.Dense(5, 1)),
         r"layer 1 \(Square\) has no scikit-learn equivalent"),
        (ffnn.Sequential(ffnn.Dense(4, 5), ffnn.ReLU(), ffnn.Dense(5, 1), ffnn.Tanh()),
         r"layer 3 \(Tanh\) after the last Dense layer"),
    ]
    for net, message in cases:
        with pytest.raises(ExportError, match=message):
            to_sklearn(net)
    with pytest.raises(ExportError, match="classes has 3 distinct labels but the network has 2"):
        to_sklearn(ffnn.mlp([4, 2], output="softmax"), classes=["a", "b", "c"])
    with pytest.raises(ExportError, match="not fitted yet"):
        from_sklearn(MLPClassifier())
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        from_sklearn(net)


# =========================================================================== typed
def test_typed_parameters_and_gradients_round_trip():
    pytest.importorskip("pydantic")
    from ffnn.typed import NetworkParams

    net = ffnn.mlp([3, 5, 4, 2], "tanh", seed=0)
    X, y = data(10, 3), np.arange(10) % 2
    net.loss_and_gradients(X, y, "ce")
    p = NetworkParams.from_network(net)
    assert sorted(p.params) == [0, 2, 4] and p.dtype == "float32"
    assert p.params[2].W.shape == (5, 4) and p.grads[2].W.shape == (5, 4)
    assert p.params[2].in_features == 5 and p.params[2].out_features == 4
    for k, g in p.flat_grads().items():
        assert np.array_equal(g, net.gradients()[k])
    for arrays in ("base64", "list"):
        text = json.dumps(p.to_dict(arrays))
        q = NetworkParams.model_validate_json(text)
        for (k, a), (k2, b) in zip(p.flat().items(), q.flat().items(), strict=True):
            assert k == k2 and a.dtype == b.dtype and np.array_equal(a, b)
        assert all(np.array_equal(a, b) for a, b in zip(p.flat_grads().values(),
                                                         q.flat_grads().values(), strict=True))
    other = ffnn.mlp([3, 5, 4, 2], "tanh", seed=1)
    q.load_into(other, grads=True)
    assert np.array_equal(other.predict(X), net.predict(X))
    assert np.array_equal(other.gradients()["4.W"], net.gradients()["4.W"])
    assert {k: s.shape for k, s in p.array_specs().items()} == {
        k: list(v["shape"]) for k, v in _saved_meta(net)["arrays"].items()}
    live = NetworkParams.from_network(net, grads=False, copy=False)
    assert live.grads is None and live.params[0].W is net[0].params["W"]


def _saved_meta(net):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        ffnn.save(net, Path(d) / "m.npz")
        return ffnn.io.read_metadata(Path(d) / "m.npz")


def test_typed_errors_name_the_layer_and_array():
    pydantic = pytest.importorskip("pydantic")
    from ffnn.typed import DenseParams, NetworkParams

    net = ffnn.mlp([3, 5, 2], "relu", seed=0)
    good = NetworkParams.from_network(net).to_dict("list")

    def fails(d, *parts):
        with pytest.raises(pydantic.ValidationError) as info:
            NetworkParams.model_validate(d)
        text = str(info.value)
        for part in parts:
            assert part in text, text

    bad = json.loads(json.dumps(good))
    bad["params"]["2"]["b"] = {"dtype": "float32", "shape": [3], "data": [1, 2, 3]}
    fails(bad, "params.2", "b has shape (3,) but W (5, 2) needs (2,)")
    bad = json.loads(json.dumps(good))
    bad["params"]["2"]["W"] = {"dtype": "float32", "shape": [4, 2], "data": [[0, 0]] * 4}
    bad["grads"] = None
    fails(bad, "layer 2: W (4, 2) takes 4 inputs but layer 0 gives 5")
    bad = json.loads(json.dumps(good))
    bad["params"]["0"]["W"]["dtype"] = "int64"
    fails(bad, "params.0.W", "dtype must be float32 or float64")
    bad = json.loads(json.dumps(good))
    bad["grads"]["0"]["b"] = {"dtype": "float32", "shape": [4], "data": [0] * 4}
    fails(bad, "grads.0")
    with pytest.raises(pydantic.ValidationError, match="must be 2-D"):
        DenseParams(W=np.zeros(3), b=np.zeros(3))
    net[2].params["b"] = np.zeros(2)  # float64 in a float32 network
    with pytest.raises(pydantic.ValidationError, match="b is float64 but W is float32"):
        NetworkParams.from_network(net)
    wrong = ffnn.mlp([3, 6, 2], seed=0)
    with pytest.raises(ValueError, match=r"layer 0 \(Dense\): W is float32\(3, 5\) here but "
                                         r"float32\(3, 6\) in the network"):
        NetworkParams.model_validate(good).load_into(wrong)


def test_model_metadata_validates_saved_models_and_checkpoints(tmp_path):
    pytest.importorskip("pydantic")
    from ffnn.typed import ModelMetadata

    net = every_activation(output="softmax")
    ffnn.save(net, tmp_path / "m.npz", extra={"classes": ["a", "b", "c", "d"]})
    meta = ModelMetadata.from_file(tmp_path / "m.npz")
    assert meta.kind == "model" and len(meta.layers) == len(net.layers)
    assert meta.arrays["param/0.W"].shape == [5, 12]
    X, y = data(40), np.arange(40) % 4
    ffnn.fit(net, X, y, "ce", ffnn.Adam(1e-3), epochs=1, batch_size=16, verbose=0,
             checkpoint=tmp_path / "ck.npz")
    ck = ModelMetadata.from_file(tmp_path / "ck.npz")
    assert ck.kind == "checkpoint" and ck.optimizer.name == "adam" and ck.position.epoch == 1
    raw = ffnn.io.read_metadata(tmp_path / "m.npz")
    for change, message in [
        (lambda m: m["arrays"]["param/2.b"].update(shape=[3]), "array 'param/2.b' is float32"),
        (lambda m: m["layers"].__setitem__(1, {"type": "Swish", "config": {}}), "Swish"),
        (lambda m: m["layers"][3].update(config={"alpha": 0.1}), "layers.3"),
        (lambda m: m.update(kind="checkpoint"), "a checkpoint needs optimizer"),
        (lambda m: m["arrays"].update({"opt/0.W/m": {"shape": [5, 12], "dtype": "float32"}}),
         "neither a parameter"),
    ]:
        bad = json.loads(json.dumps(raw))
        change(bad)
        with pytest.raises(ValueError, match=message):
            ModelMetadata.model_validate(bad)


def test_published_json_schema_is_current_and_validates_model_files(tmp_path):
    pytest.importorskip("pydantic")
    jsonschema = pytest.importorskip("jsonschema")
    from ffnn.io import LAYER_TYPES
    from ffnn.typed import ModelMetadata, model_file_schema

    published = json.loads((ROOT / "docs" / "guides" / "model-file-schema.json").read_text())
    assert published == model_file_schema(), \
        "regenerate: python -m ffnn.typed > docs/guides/model-file-schema.json"
    kinds = {s["properties"]["type"].get("const") for s in published["$defs"].values()
             if "type" in s.get("properties", {})}
    kinds |= set(published["$defs"]["ActivationSpec"]["properties"]["type"]["enum"])
    assert set(LAYER_TYPES) <= kinds  # every layer type a file may hold is described
    net = every_activation()
    ffnn.save(net, tmp_path / "m.npz")
    X, y = data(20), np.arange(20) % 4
    ffnn.fit(net, X, y, "ce", ffnn.SGD(0.1), epochs=1, verbose=0,
             checkpoint=tmp_path / "ck.npz")
    for name in ("m.npz", "ck.npz"):
        jsonschema.validate(ffnn.io.read_metadata(tmp_path / name), published)
    bad = ffnn.io.read_metadata(tmp_path / "m.npz")
    bad["layers"][0]["config"]["in_features"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, published)
    assert ModelMetadata.model_json_schema()["title"].startswith("ffnn model file")


# =========================================================================== CLI
def test_cli_export(tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("safetensors")
    from ffnn.cli import main

    net = ffnn.mlp([3, 6, 2], "gelu", seed=0, output="softmax")
    mean, std = [1.0, 2.0, 3.0], [2.0, 1.0, 0.5]
    ffnn.save(net, tmp_path / "model.npz", extra={"standardize": {"mean": mean, "std": std}})
    assert main(["export", str(tmp_path / "model.npz"), "--format", "onnx", "--output", "proba",
                 "-o", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "input 'X' (N, 3) float32, standardised inside the graph; output 'proba'" in out
    X = data(30, 3)
    (got,) = _ort_session(tmp_path / "m.onnx").run(None, {"X": X})
    want = net.predict_proba((X - np.array(mean)) / np.array(std))
    assert np.max(np.abs(got - want)) < 1e-5
    assert main(["export", str(tmp_path / "model.npz"), "-o", str(tmp_path / "m.safetensors")]) \
        == 0
    captured = capsys.readouterr()
    assert 'nn.GELU(approximate="tanh")' in captured.out and "standardised" in captured.err
    back = from_safetensors(tmp_path / "m.safetensors")
    assert np.array_equal(back.predict(X), net.predict(X))
    for argv, message in [
        (["-o", str(tmp_path / "m.bin")], "--format onnx or --format safetensors"),
        (["-o", str(tmp_path / "x.safetensors"), "--output", "proba"], "applies to --format "
                                                                       "onnx only"),
    ]:
        assert main(["export", str(tmp_path / "model.npz"), *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err
    assert main(["export", str(tmp_path / "none.npz"), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "model file not found" in capsys.readouterr().err


def test_cli_export_names_the_missing_extra(tmp_path, capsys, monkeypatch):
    from ffnn.cli import main

    ffnn.save(ffnn.mlp([2, 3, 1]), tmp_path / "model.npz")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    assert main(["export", str(tmp_path / "model.npz"), "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "ffnn: error: to_onnx needs the onnx package: pip install 'ffnn[interop]'"
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    assert main(["export", str(tmp_path / "model.npz"), "-o", str(tmp_path / "m.safetensors")]) \
        == 1
    assert "needs the safetensors package: pip install 'ffnn[interop]'" in \
        capsys.readouterr().err
