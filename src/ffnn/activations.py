"""Activation functions as parameter-free layers, so each one-line backward is visible.

Each class caches exactly what its derivative needs: sigmoid and tanh their *output*
(sigma' = s (1 - s), tanh' = 1 - a^2), ReLU its mask, the others their input.
Notation: Z is the layer input (a pre-activation), A = f(Z) its output, dA = dL/dA, and the
backward pass returns dZ = dA * f'(Z) (elementwise product).  Every array has the shape of Z,
(N, D), except that Softmax works on whole rows.  Each class also carries its equations as
``formula`` (text and LaTeX templates, ``ffnn.formula``), which ``explain`` and ``tracing`` read;
``tests/test_formulas.py`` checks them against the code and the docstring.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from ._checks import check_nonneg_float
from .formula import Formula
from .layers import Layer


class Activation(Layer):
    """A parameter-free elementwise (or row-wise, for Softmax) layer."""

    #: registry name, e.g. "relu"
    name: str = ""
    #: True for activations with a kink (ReLU at 0, ...): their ``mask`` attribute holds the
    #: pattern of active units, which a gradient check watches for crossings.
    piecewise: bool = False
    #: the equations, as text and LaTeX templates ({x} = Z, {a} = A, {da} = dA, parameters by
    #: name), read by ``ffnn.explain`` and ``ffnn.tracing``; None for an activation without one
    formula: Formula | None = None

    def formula_params(self) -> dict:
        """The values of the formula's parameter placeholders (``{alpha}``): ``config()``."""
        return self.config()

    def clear_cache(self) -> None:
        self.__dict__.update({k: None for k in ("Z", "A", "mask") if k in self.__dict__})


class Identity(Activation):
    r"""A = Z;  dZ = dA.  (A linear output for regression.)

    $$A = Z, \qquad dZ = dA$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.
    """

    name = "identity"
    formula = Formula(forward="{x}", backward="{da}", forward_tex="{x}", backward_tex="{da}",
                      derivative="1", derivative_tex="1")

    def forward(self, x, *, training=False):
        return x

    def backward(self, dout):
        return dout


class Sigmoid(Activation):
    r"""A = sigma(Z) = 1 / (1 + exp(-Z));   dZ = dA * A * (1 - A).

    $$A = \sigma(Z) = \frac{1}{1 + e^{-Z}}, \qquad dZ = dA \odot A \odot (1 - A)$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.  ``ffnn.functional.sigmoid`` computes it
    stably.
    """

    name = "sigmoid"
    formula = Formula.elementwise(forward="sigmoid({x})", derivative="{a} * (1 - {a})",
                                  forward_tex=r"\sigma({x})",
                                  derivative_tex=r"{a} \odot (1 - {a})")

    def forward(self, x, *, training=False):
        self.A = F.sigmoid(x)
        return self.A

    def backward(self, dout):
        A = self.A
        dZ = 1 - A  # sigma' = A (1 - A), then times dA; one new array, two in-place products
        dZ *= A
        dZ *= dout
        return dZ


class Tanh(Activation):
    r"""A = tanh(Z);   dZ = dA * (1 - A^2).

    $$A = \tanh(Z), \qquad dZ = dA \odot (1 - A^2)$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.
    """

    name = "tanh"
    formula = Formula.elementwise(forward="tanh({x})", derivative="(1 - {a}**2)",
                                  forward_tex=r"\tanh({x})",
                                  derivative_tex=r"(1 - {{{a}}}^{{2}})")

    def forward(self, x, *, training=False):
        self.A = np.tanh(x)
        return self.A

    def backward(self, dout):
        A = self.A
        return dout * (1 - A * A)


class ReLU(Activation):
    r"""A = max(Z, 0);   dZ = dA * 1{Z > 0}   (the derivative at exactly 0 is taken as 0).

    $$A = \max(Z, 0), \qquad dZ = dA \odot \mathbf{1}[Z > 0]$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.
    """

    name = "relu"
    formula = Formula.elementwise(forward="relu({x})", derivative="1[{x} > 0]",
                                  forward_tex=r"\max({x}, 0)",
                                  derivative_tex=r"\mathbf{{1}}[{x} > 0]")
    piecewise = True

    def forward(self, x, *, training=False):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * self.mask


class LeakyReLU(Activation):
    r"""A = Z if Z > 0 else alpha Z;   dZ = dA * (1 if Z > 0 else alpha).

    $$A = \begin{cases} Z & Z > 0 \\ \alpha Z & Z \le 0 \end{cases}, \qquad
    dZ = dA \odot \begin{cases} 1 & Z > 0 \\ \alpha & Z \le 0 \end{cases}$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.
    """

    name = "leaky_relu"
    formula = Formula.elementwise(
        forward="where({x} > 0, {x}, {alpha} * {x})",
        derivative="where({x} > 0, 1, {alpha})",
        forward_tex=r"\begin{{cases}} {x} & {x} > 0 \\ {alpha}\,{x} & {x} \le 0 \end{{cases}}",
        derivative_tex=r"\begin{{cases}} 1 & {x} > 0 \\ {alpha} & {x} \le 0 \end{{cases}}")
    piecewise = True

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = check_nonneg_float(alpha, "alpha")

    def forward(self, x, *, training=False):
        self.mask = x > 0
        return np.where(self.mask, x, x * x.dtype.type(self.alpha))

    def backward(self, dout):
        return dout * np.where(self.mask, 1, self.alpha).astype(dout.dtype)

    def config(self):
        return {"alpha": self.alpha}


class ELU(Activation):
    r"""A = Z if Z > 0 else alpha (exp(Z) - 1);   dZ = dA * (1 if Z > 0 else A + alpha).

    $$A = \begin{cases} Z & Z > 0 \\ \alpha (e^{Z} - 1) & Z \le 0 \end{cases}, \qquad
    dZ = dA \odot \begin{cases} 1 & Z > 0 \\ A + \alpha & Z \le 0 \end{cases}$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.  exp is taken of min(Z, 0) only, so large
    positive inputs cannot overflow.
    """

    name = "elu"
    formula = Formula.elementwise(
        forward="where({x} > 0, {x}, {alpha} * (exp({x}) - 1))",
        derivative="where({x} > 0, 1, {a} + {alpha})",
        forward_tex=r"\begin{{cases}} {x} & {x} > 0 \\ {alpha}\,(e^{{{x}}} - 1) & {x} \le 0 "
                    r"\end{{cases}}",
        derivative_tex=r"\begin{{cases}} 1 & {x} > 0 \\ {a} + {alpha} & {x} \le 0 "
                       r"\end{{cases}}")
    piecewise = True

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_nonneg_float(alpha, "alpha")

    def forward(self, x, *, training=False):
        self.mask = x > 0
        alpha = x.dtype.type(self.alpha)
        self.A = np.where(self.mask, x, alpha * np.expm1(np.minimum(x, 0)))
        return self.A

    def backward(self, dout):
        alpha = dout.dtype.type(self.alpha)
        return dout * np.where(self.mask, 1, self.A + alpha).astype(dout.dtype)

    def config(self):
        return {"alpha": self.alpha}


class GELU(Activation):
    r"""GELU, tanh approximation (Hendrycks & Gimpel 2016; PyTorch's approximate="tanh"):

        A = 0.5 Z (1 + T),   T = tanh(u),   u = c (Z + 0.044715 Z^3),   c = sqrt(2 / pi)
        dZ = dA * [0.5 (1 + T) + 0.5 Z (1 - T^2) c (1 + 3 * 0.044715 Z^2)]

    $$A = \mathrm{gelu}(Z) = \tfrac12 Z (1 + T), \quad
    T = \tanh\big(c\,(Z + 0.044715\,Z^3)\big), \quad c = \sqrt{2/\pi}$$

    $$dZ = dA \odot \mathrm{gelu}'(Z)
    = dA \odot \big[\tfrac12 (1 + T) + \tfrac12 Z (1 - T^2)\, c\,(1 + 3 \cdot 0.044715\,Z^2)\big]$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.
    """

    name = "gelu"
    #: symbolic: the tanh approximation is written out in the docstring
    formula = Formula.elementwise(forward="gelu({x})", derivative="gelu'({x})",
                                  forward_tex=r"\mathrm{{gelu}}({x})",
                                  derivative_tex=r"\mathrm{{gelu}}'({x})")
    _C = float(np.sqrt(2.0 / np.pi))
    _K = 0.044715

    def forward(self, x, *, training=False):
        self.Z = x
        t = x.dtype.type
        self.T = np.tanh(t(self._C) * (x + t(self._K) * x * x * x))
        return t(0.5) * x * (1 + self.T)

    def backward(self, dout):
        Z, T, t = self.Z, self.T, dout.dtype.type
        du_dz = t(self._C) * (1 + t(3 * self._K) * Z * Z)
        return dout * (t(0.5) * (1 + T) + t(0.5) * Z * (1 - T * T) * du_dz)

    def clear_cache(self):
        self.Z = self.T = None


class Softplus(Activation):
    r"""A = log(1 + exp(Z))  (computed stably);   dZ = dA * sigma(Z).

    $$A = \log(1 + e^{Z}), \qquad dZ = dA \odot \sigma(Z)$$

    Shapes: Z, A, dA and dZ all (N, D); elementwise.  ``ffnn.functional.softplus`` computes
    it stably.
    """

    name = "softplus"
    formula = Formula.elementwise(forward="log(1 + exp({x}))", derivative="sigmoid({x})",
                                  forward_tex=r"\log(1 + e^{{{x}}})",
                                  derivative_tex=r"\sigma({x})")

    def forward(self, x, *, training=False):
        self.Z = x
        return F.softplus(x)

    def backward(self, dout):
        return dout * F.sigmoid(self.Z)


class Softmax(Activation):
    r"""Row-wise softmax as a layer, with its true Jacobian-vector product:

        A[n, j] = exp(Z[n, j]) / sum_k exp(Z[n, k])
        dZ[n, j] = sum_i dA[n, i] dA_i/dZ_j = A[n, j] (dA[n, j] - sum_i dA[n, i] A[n, i])

    $$A_{nj} = \frac{e^{Z_{nj}}}{\sum_k e^{Z_{nk}}}, \qquad
    dZ_{nj} = A_{nj} \Big(dA_{nj} - \sum_i dA_{ni} A_{ni}\Big)$$

    or, for whole matrices (the sum runs along each row):

    $$A = \mathrm{softmax}(Z), \qquad
    dZ = A \odot \big(dA - \textstyle\sum_{\text{row}}(dA \odot A)\big)$$

    Shapes: Z, A, dA and dZ all (N, C); each row is one distribution over the C classes.

    Use it when you want probabilities inside a network.  To *train* a classifier, leave the
    output as logits and use SoftmaxCrossEntropy, whose fused gradient is exact and stable.
    """

    name = "softmax"
    #: {unit} is "row" (or "column" in the column convention), {axis} its axis: 1 (or 0)
    formula = Formula(
        forward="softmax_{unit}s({x})",
        backward="{a} * ({da} - sum({da} * {a}, axis={axis}, keepdims=True))",
        forward_tex=r"\mathrm{{softmax}}({x})",
        backward_tex=r"{a} \odot \big({da} - \textstyle\sum_{{\text{{{unit}}}}}({da} \odot {a})"
                     r"\big)")

    def forward(self, x, *, training=False):
        self.A = F.softmax(x, axis=1)
        return self.A

    def backward(self, dout):
        A = self.A
        return A * (dout - np.sum(dout * A, axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, Softplus, Softmax)
}
ACTIVATIONS.update({"linear": Identity, "leakyrelu": LeakyReLU, "logistic": Sigmoid})


def get_activation(activation: str | Activation | type[Activation]) -> Activation:
    """Resolve an activation name (or class, or instance) to a fresh layer instance."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, type) and issubclass(activation, Activation):
        return activation()
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]()
    known = sorted(k for k, v in ACTIVATIONS.items() if v.name == k)
    raise ValueError(f"unknown activation {activation!r}; known activations: {', '.join(known)}")
