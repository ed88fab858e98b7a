"""ffnn.explain: the printed equations are this network's computation, shapes included."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ffnn
from ffnn.explain import Explanation, equations, explain
from ffnn.tracing import trace

N = 7


def _traced(net, loss, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, net.n_features)).astype(np.float32)
    if loss == "ce":
        y = rng.integers(0, n_out, N)
    elif loss == "bce":
        y = rng.integers(0, 2, (N, n_out)).astype(np.float32)
    else:
        y = rng.normal(size=(N, n_out)).astype(np.float32)
    with trace(net) as t:
        net.loss_and_gradients(X, y, loss)
    return t[0]


def _namespace(step, loss):
    """Traced arrays plus the few functions the text form uses, to evaluate its right sides."""
    ns = {k: np.asarray(v, dtype=np.float64) for k, v in step.items() if k != "y"}
    out = ns["out"]
    y = np.asarray(step["y"])
    ns["Y"] = np.eye(out.shape[1])[y] if loss == "ce" else y.reshape(out.shape).astype(float)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    ns.update(N=N, sigmoid=sig, relu=lambda z: np.maximum(z, 0), tanh=np.tanh, exp=np.exp,
              log=np.log, where=np.where, sum=np.sum, softplus=lambda z: np.logaddexp(0, z),
              sum_rows=lambda a: a.sum(axis=0),
              softmax_rows=lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    ns["P"] = ns["softmax_rows"](out) if loss == "ce" else sig(out)
    return ns


def _python(text: str) -> str:
    return re.sub(r"1\[([^\]]+)\]", r"(\1)", text)  # indicator 1[Z > 0] -> (Z > 0)


def test_every_equation_of_a_784_512_256_128_10_network_has_the_real_shapes():
    net = ffnn.mlp([784, 512, 256, 128, 10], seed=0)
    step = _traced(net, "ce", 10)
    eqs = equations(net, "ce", batch=N)
    lhs = [e.lhs for e in eqs]
    # every traced quantity (but the data, weights and aliases) has its equation
    for name in step:
        if name not in ("X", "y", "out") and not re.fullmatch(r"[Wb]\d", name):
            assert name in lhs, name
    for e in eqs:
        if e.lhs in step:
            assert e.shape == step[e.lhs].shape, e
    # operands are the real arrays: Z_l = A_{l-1} @ W_l + b_l, dW_l = A_{l-1}.T @ dZ_l
    for l in range(1, 5):
        fwd = next(e for e in eqs if e.lhs == f"Z{l}")
        a_in = "X" if l == 1 else f"A{l - 1}"
        assert fwd.operands == (step[a_in].shape, step[f"W{l}"].shape, step[f"b{l}"].shape)
        dw = next(e for e in eqs if e.lhs == f"dW{l}")
        assert dw.operands == (step[a_in].T.shape, step[f"dZ{l}"].shape)


def test_text_lists_the_equations_with_shapes():
    text = explain(ffnn.mlp([784, 512, 256, 128, 10], seed=0), loss="ce")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for expected in (
        "Z1 = X @ W1 + b1 (N,784) @ (784,512) + (512,) -> (N,512)",
        "A1 = relu(Z1) (N,512)",
        "Z4 = A3 @ W4 + b4 (N,128) @ (128,10) + (10,) -> (N,10)",
        "P = softmax_rows(Z4) (N,10)",
        "loss = -sum(Y * log(P)) / N scalar",
        "dZ4 = (P - Y) / N (N,10)",
        "dW4 = A3.T @ dZ4 (128,N) @ (N,10) -> (128,10)",
        "db4 = sum_rows(dZ4) (N,10) -> (10,)",
        "dA3 = dZ4 @ W4.T (N,10) @ (10,128) -> (N,128)",
        "dZ3 = dA3 * 1[Z3 > 0] (N,128)",
        "dW1 = X.T @ dZ1 (784,N) @ (N,512) -> (784,512)",
        "db1 = sum_rows(dZ1) (N,512) -> (512,)",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    assert not any(line.startswith("dX") for line in lines)  # training never computes it
    assert lines.index("Z1 = X @ W1 + b1 (N,784) @ (784,512) + (512,) -> (N,512)") < \
        next(i for i, l in enumerate(lines) if l.startswith("dZ4"))


@pytest.mark.parametrize("sizes, activation, loss", [
    ([784, 512, 256, 128, 10], "relu", "ce"),
    ([3, 10, 4], "sigmoid", "ce"),
    ([5, 6, 6, 2], "tanh", "bce"),
    ([4, 8, 1], "softplus", "mse"),
    ([4, 8, 3], "leaky_relu", "mse"),
    ([4, 8, 3], "elu", "ce"),
])
def test_text_equations_evaluate_to_the_traced_arrays(sizes, activation, loss):
    """Each right-hand side, run as NumPy on the traced inputs, gives the traced left side."""
    net = ffnn.mlp(sizes, activation=activation, seed=0).astype(np.float64)
    step = _traced(net, loss, sizes[-1])
    ns = _namespace(step, loss)
    if activation == "leaky_relu":
        ns["alpha"] = 0.01
    checked = 0
    for e in equations(net, loss):
        value = eval(_python(e.text), ns)  # noqa: S307 - our own generated expressions
        if e.lhs in step or e.lhs == "P":
            want = ns["P"] if e.lhs == "P" else step[e.lhs]
            np.testing.assert_allclose(value, want, rtol=1e-9, atol=1e-12, err_msg=str(e))
            checked += 1
    L = len(sizes) - 1
    assert checked == 6 * L - 1 + (loss != "mse")  # Z, A, loss, P, dZ, dW, db, dA


def test_column_convention_transposes_every_shape():
    net = ffnn.mlp([784, 512, 256, 128, 10], seed=0)
    step = _traced(net, "ce", 10)
    eqs = equations(net, "ce", convention="column", batch=N)
    for e in eqs:
        if e.lhs in step and step[e.lhs].ndim == 2:
            assert e.shape == step[e.lhs].T.shape, e
        elif e.lhs.startswith("db"):
            assert e.shape == (step[e.lhs].shape[0], 1)
    text = explain(net, loss="ce", convention="column")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Z1 = W1 @ X + b1 1^T (512,784) @ (784,N) + (512,1) @ (1,N) -> (512,N)" in lines
    assert "dW1 = dZ1 @ X.T (512,N) @ (N,784) -> (512,784)" in lines
    assert any(line.startswith("dA1 = W2.T @ dZ2 (512,256) @ (256,N) -> (512,N)")
               for line in lines)
    assert "ffnn's W.T" in text


def test_activation_derivatives_are_written_out():
    net = ffnn.Sequential(ffnn.Dense(2, 3), ffnn.Sigmoid(), ffnn.Dense(3, 3), ffnn.Tanh(),
                          ffnn.Dense(3, 3), ffnn.ReLU(), ffnn.Dropout(0.25), ffnn.Dense(3, 2))
    text = " ".join(explain(net).split())
    for piece in ("A1 = sigmoid(Z1)", "dZ1 = dA1 * A1 * (1 - A1)", "A2 = tanh(Z2)",
                  "dZ2 = dA2 * (1 - A2**2)", "dZ3 = dA3 * 1[Z3 > 0]",
                  "A3_dropout = A3 * M, M = 1[U >= 0.25] / 0.75", "dA3 = dA3_dropout * M",
                  "dZ4 = dL/dZ4 (given by the loss)"):
        assert piece in text, piece


def test_markdown_and_latex_render_as_display_math():
    net = ffnn.mlp([784, 512, 10], seed=0)
    n_eq = len(equations(net, "ce"))
    md = explain(net, loss="ce", format="markdown")
    assert isinstance(md, Explanation) and md._repr_markdown_() == md
    assert md.count("$$") == 2 * 3  # forward, loss, backward blocks
    assert md.count("\\begin{aligned}") == 3
    assert md.count("&=") == n_eq
    assert r"Z_{1} &= X\,W_{1} + b_{1}" in md
    assert r"(N \times 784) \, (784 \times 512) + (512) \to (N \times 512)" in md
    assert r"dW_{1} &= X^\top dZ_{1}" in md
    tex = net.explain(loss="ce", format="latex")
    assert tex.startswith("$$\n\\begin{aligned}") and tex.endswith("\\end{aligned}\n$$")
    assert tex._repr_latex_() == tex and tex._repr_markdown_() is None
    for s in (md, tex):
        assert s.count("{") == s.count("}")


def test_superscripted_names_are_braced_before_a_transpose():
    net = ffnn.Sequential(ffnn.Dense(2, 3), ffnn.ReLU(), ffnn.Dropout(0.5), ffnn.Dense(3, 2))
    tex = explain(net, format="latex")
    assert r"{A_{1}^{\mathrm{dropout}}}^\top" in tex


def test_method_delegates_and_bad_options_are_refused():
    net = ffnn.mlp([3, 10, 4], activation="sigmoid", seed=0)
    assert net.explain(loss="ce", batch=32) == explain(net, loss="ce", batch=32)
    assert "(32,3) @ (3,10) + (10,) -> (32,10)" in net.explain(batch=32)
    with pytest.raises(ValueError, match="format"):
        explain(net, format="html")
    with pytest.raises(ValueError, match="convention"):
        explain(net, convention="diagonal")
