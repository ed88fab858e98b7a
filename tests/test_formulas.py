"""Each equation stated once: a class's ``formula`` is its code and its docstring.

The text templates are evaluated with NumPy (a small tree walk over the formula's own
arithmetic, never ``eval``) and compared with the class's forward and backward; the LaTeX
templates must appear in the class docstring the documentation is built from.
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

import ffnn
from ffnn import functional as F
from ffnn.activations import ACTIVATIONS, ELU, GELU, Activation, LeakyReLU
from ffnn.explain import explain
from ffnn.formula import Formula, LossFormula
from ffnn.losses import LOSSES, BinaryCrossEntropy, Loss, SoftmaxCrossEntropy

# --------------------------------------------------------------------------- the evaluator
FUNCTIONS = {
    "sigmoid": F.sigmoid, "softplus": F.softplus, "tanh": np.tanh, "exp": np.exp,
    "log": np.log, "where": np.where, "sum": np.sum, "relu": lambda z: np.maximum(z, 0),
    "softmax_rows": lambda z: F.softmax(z, axis=1),
    "softmax_columns": lambda z: F.softmax(z, axis=0),
}
BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide,
          ast.Pow: np.power}
COMPARE = {ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Lt: np.less,
           ast.LtE: np.less_equal}


def evaluate(text: str, names: dict[str, object]):
    """The value of a formula's text form: numbers, ``names``, + - * / **, unary -, one
    comparison, calls of FUNCTIONS (keyword arguments allowed) and the indicator ``1[cond]``;
    anything else is refused."""

    def ev(node: ast.AST):
        match node:
            case ast.Constant(value=bool() | int() | float() as v):
                return v
            case ast.Name(id=name) if name in names:
                return names[name]
            case ast.BinOp(left=left, op=op, right=right) if type(op) in BINARY:
                return BINARY[type(op)](ev(left), ev(right))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return np.negative(ev(operand))
            case ast.Compare(left=left, ops=[op], comparators=[right]) if type(op) in COMPARE:
                return COMPARE[type(op)](ev(left), ev(right))
            case ast.Subscript(value=ast.Constant(value=1), slice=cond):  # 1[cond]
                return np.asarray(ev(cond)).astype(np.float64)
            case ast.Call(func=ast.Name(id=f), args=args, keywords=kws) if f in FUNCTIONS:
                return FUNCTIONS[f](*map(ev, args), **{k.arg: ev(k.value) for k in kws})
        raise ValueError(f"not part of the formula language: {ast.unparse(node)!r} in {text!r}")

    return ev(ast.parse(text, mode="eval").body)


def test_the_evaluator_refuses_anything_but_arithmetic():
    for text in ("__import__('os')", "Z.T", "open('x')", "[Z]", "lambda: 0", "Z if Z else Z"):
        with pytest.raises(ValueError, match="not part of the formula language"):
            evaluate(text, {"Z": np.zeros(2)})
    assert evaluate("1[Z > 0] * 2 - -Z", {"Z": np.array([-1.0, 3.0])}).tolist() == [-1.0, 5.0]


# --------------------------------------------------------------------------- activations
LAYERS = [cls() for cls in dict.fromkeys(ACTIVATIONS.values()) if cls not in (LeakyReLU, ELU)]
LAYERS += [LeakyReLU(0.2), ELU(0.7)]  # parameters other than the defaults


def test_every_registered_activation_carries_a_formula():
    assert {type(layer) for layer in LAYERS} == set(ACTIVATIONS.values())
    for layer in LAYERS:
        assert isinstance(layer.formula, Formula), type(layer).__name__


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_formula_text_computes_what_forward_and_backward_compute(layer):
    if isinstance(layer, GELU):
        pytest.skip("GELU's formula is symbolic (gelu(Z), gelu'(Z)); its tanh approximation "
                    "is written out in the docstring and gradient-checked in test_gradients")
    rng = np.random.default_rng(0)
    Z = rng.normal(scale=3.0, size=(6, 5))
    Z[0, :2] = 0.0  # the kink, where 1[Z > 0] and where(Z > 0, ...) take the second branch
    dA = rng.normal(size=Z.shape)
    A = layer.forward(Z, training=True)
    dZ = layer.backward(dA)
    form = layer.formula
    fill = dict(x="Z", a="A", da="dA", unit="row", axis=1,
                **{k: repr(v) for k, v in layer.formula_params().items()})
    names = {"Z": Z, "A": A, "dA": dA}
    np.testing.assert_allclose(evaluate(form.forward.format(**fill), names), A,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(evaluate(form.backward.format(**fill), names), dZ,
                               rtol=1e-12, atol=1e-12)
    if form.derivative:  # elementwise: dZ = dA * f'(Z)
        np.testing.assert_allclose(evaluate(form.derivative.format(**fill), names) * dA, dZ,
                                   rtol=1e-12, atol=1e-12)


def _normal(tex: str) -> str:
    """LaTeX without spacing and grouping, so that A^{2} and {A}^{2} compare equal."""
    return re.sub(r"\\[,;! ]|[\s{}]", "", tex)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_formula_tex_is_the_equation_of_the_docstring(layer):
    form = layer.formula
    fill = dict(x="Z", a="A", da="dA", unit="row", axis=1,
                **{k: "\\" + k for k in layer.formula_params()})  # alpha -> \alpha
    doc = _normal(type(layer).__doc__)
    for template in (form.forward_tex, form.backward_tex):
        assert _normal(template.format(**fill)) in doc, (type(layer).__name__, template)


def test_dropout_formula_is_its_code():
    layer = ffnn.Dropout(0.25)
    rng = np.random.default_rng(1)
    X, dout = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    layer.fixed_mask = (rng.random((4, 6)) >= 0.25) / 0.75
    out, dX = layer.forward(X, training=True), layer.backward(dout)
    form = layer.formula
    fill = dict(x="X", a="out", da="dout", **layer.formula_params())
    names = {"X": X, "dout": dout, "M": layer.mask}
    forward, _, mask = form.forward.format(**fill).partition(",")  # "X * M,  M = ..."
    assert mask.strip() == "M = 1[U >= 0.25] / 0.75"
    np.testing.assert_array_equal(evaluate(forward, names), out)
    np.testing.assert_array_equal(evaluate(form.backward.format(**fill), names), dX)


def test_an_activation_without_a_formula_is_explained_generically():
    class Cube(Activation):
        name = "cube"

        def forward(self, x, *, training=False):
            self.Z = x
            return x**3

        def backward(self, dout):
            return dout * 3 * self.Z**2

    text = " ".join(explain(ffnn.Sequential(ffnn.Dense(2, 3), Cube(), ffnn.Dense(3, 1))).split())
    assert "A1 = Cube(Z1)" in text and "dZ1 = Cube.backward(dA1)" in text


# --------------------------------------------------------------------------- losses
@pytest.mark.parametrize("loss_cls", list(dict.fromkeys(LOSSES.values())),
                         ids=lambda c: c.__name__)
def test_loss_formula_text_computes_what_forward_and_backward_compute(loss_cls):
    loss = loss_cls()
    rng = np.random.default_rng(2)
    N, K = 6, 3
    Z = rng.normal(scale=3.0, size=(N, K))
    if isinstance(loss, SoftmaxCrossEntropy):
        y = rng.integers(0, K, N)
        Y = F.one_hot(y, K, dtype=np.float64)
    elif isinstance(loss, BinaryCrossEntropy):
        y = Y = rng.integers(0, 2, (N, K)).astype(np.float64)
    else:
        y = Y = rng.normal(size=(N, K))
    value = loss.forward(Z, y)
    dZ = loss.backward()
    form = loss.formula
    assert isinstance(form, LossFormula)
    fill = dict(out="Z", N="N", NK="(N*K)", unit="row")
    names: dict[str, object] = {"Z": Z, "Y": Y, "N": N, "K": K}
    if form.prob:
        names["P"] = evaluate(form.prob.format(**fill), names)
    assert evaluate(form.loss.format(**fill), names) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(evaluate(form.dout.format(**fill), names), dZ,
                               rtol=1e-12, atol=1e-15)


def test_a_loss_without_formulas_keeps_the_generic_lines():
    class Huber(Loss):
        name = "huber"

    text = " ".join(explain(ffnn.mlp([2, 3, 1], seed=0), loss=Huber()).split())
    assert "loss = Huber(Z2, Y)" in text
    assert "dZ2 = dL/dZ2 (given by the loss)" in text
