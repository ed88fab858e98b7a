"""The Layer contract, the Dense layer and Dropout.

The contract (every layer, built in or written by a learner, follows it):

* ``forward(x, *, training=False) -> out`` computes the layer and caches only what
  ``backward`` needs.
* ``backward(dout) -> dx`` takes dL/d(out) and returns dL/dx, and *overwrites* (never
  accumulates) ``grads[k]`` for each parameter ``k``.
* ``params`` and ``grads`` are dicts with the same keys and shapes (empty for parameter-free
  layers).  A layer knows nothing about its neighbours, the loss or the optimiser.

Shapes use one vocabulary: ``N`` (batch), ``D_in``, ``D_out``.  Batches are rows: a textbook's
column form ``z = W a + b`` is the transpose of the row form ``Z = X W + b`` used here.
"""

from __future__ import annotations

import copy

import numpy as np

from ._checks import RESHAPE_HINT, check_dtype, check_positive_int, check_probability
from .formula import Formula
from .init import as_generator, get_initializer, initializer_name


class Layer:
    """Base class: a differentiable map ``out = f(x)`` with optional parameters.

    A subclass implements ``forward(x, *, training=False) -> out`` (x (N, D_in) -> out
    (N, D_out); cache only what ``backward`` needs) and ``backward(dout) -> dx`` (dout =
    dL/d(out), (N, D_out) -> dx = dL/dx, (N, D_in); *overwrite* ``grads[k]`` for every
    parameter ``k``).  ``ffnn.gradcheck.check_layer`` checks the pair.
    """

    #: parameters, e.g. {"W": (D_in, D_out), "b": (D_out,)}; empty for activations
    params: dict[str, np.ndarray]
    #: dL/d(param), same keys and shapes as ``params``; overwritten by every ``backward``
    grads: dict[str, np.ndarray]

    def __init__(self) -> None:
        self.params = {}
        self.grads = {}

    def forward(self, x: np.ndarray, *, training: bool = False) -> np.ndarray:
        """out = f(x) for a batch x (N, D_in) -> (N, D_out); caches only what backward needs.
        ``training`` is True inside ``fit`` (Dropout is active only then)."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout = dL/d(out) (N, D_out) -> dL/dx (N, D_in); overwrites ``grads[k]`` (the shape of
        ``params[k]``) for every parameter.  Called after ``forward`` on the same batch."""
        raise NotImplementedError

    def output_features(self, in_features: int) -> int:
        """Number of output features for a given number of input features."""
        return in_features

    def astype(self, dtype) -> Layer:
        """A copy of this layer with parameters (and gradients) in ``dtype``."""
        new = copy.deepcopy(self)
        new.clear_cache()
        for k in new.params:
            new.params[k] = new.params[k].astype(dtype)
            new.grads[k] = np.zeros_like(new.params[k])
        if hasattr(new, "dtype"):
            new.dtype = np.dtype(dtype)
        return new

    def clear_cache(self) -> None:
        """Drop arrays cached by forward (they are not part of the model)."""
        for name in ("x", "out", "mask"):
            if name in self.__dict__:
                self.__dict__[name] = None

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (parameters aside)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    r"""Fully connected affine layer.

        Forward:   Z = X W + b             X (N, D_in), W (D_in, D_out), b (D_out,), Z (N, D_out)
        Backward:  dW = X^T dZ             (D_in, D_out)
                   db = sum_n dZ[n, :]     (D_out,)
                   dX = dZ W^T             (N, D_in)

    $$Z = XW + b, \qquad dW = X^\top dZ, \qquad db = \sum_{n=1}^{N} dZ_{n,:}, \qquad
    dX = dZ\, W^\top$$

    ``b`` is added to every row of ``XW``.  In column notation (one sample per column, as in
    many textbooks) the same layer reads z = W^T x + b; ffnn keeps samples in rows so a batch
    is one matrix product.

    Parameters: ``in_features`` (D_in) and ``out_features`` (D_out); ``init`` names the weight
    initialiser (``ffnn.init``; biases start at 0); ``rng`` a Generator or seed for it;
    ``dtype`` of the parameters (float32 by default; inputs are cast to it).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init="glorot_uniform",
        rng: np.random.Generator | int | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.init = initializer_name(init)
        self.dtype = check_dtype(dtype)
        init_fn = get_initializer(init)
        W = np.ascontiguousarray(init_fn(self.in_features, self.out_features, as_generator(rng),
                                         self.dtype), dtype=self.dtype)
        self.params = {"W": W, "b": np.zeros(self.out_features, dtype=self.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, *, training: bool = False) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense({self.in_features}, {self.out_features}) expects input of shape "
                f"(N, {self.in_features}), got {x.shape}"
                + (". " + RESHAPE_HINT if x.ndim == 1 else "")
            )
        x = x.astype(self.dtype, copy=False)
        self.x = x
        Z = x @ self.params["W"]
        Z += self.params["b"]
        return Z

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.backward_params(dout)
        return dout @ self.params["W"].T  # dX = dZ W^T

    def backward_params(self, dout: np.ndarray) -> None:
        """dW and db only.  The first layer's input is data, whose gradient nobody needs, so
        Sequential skips the (N, D_out) @ (D_out, D_in) product for it."""
        if self.x is None:
            raise RuntimeError("Dense.backward called before forward")
        np.matmul(self.x.T, dout, out=self.grads["W"])  # dW = X^T dZ
        np.sum(dout, axis=0, out=self.grads["b"])  # db = sum over the batch of dZ

    def output_features(self, in_features: int) -> int:
        return self.out_features

    def config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": self.init,
            "dtype": self.dtype.name,
        }


class Dropout(Layer):
    r"""Inverted dropout: active only when ``training=True``.

        Forward (training):  M[n, j] = 1{U[n, j] >= p} / (1 - p),   U ~ Uniform(0, 1)
                             out = X * M          (E[out] = X, so inference needs no rescaling)
        Forward (inference): out = X
        Backward:            dX = dout * M

    $$M_{nj} = \frac{\mathbb{1}[U_{nj} \ge p]}{1 - p}, \quad U_{nj} \sim \mathcal{U}(0, 1),
    \qquad \text{out} = X \odot M, \qquad dX = d\text{out} \odot M$$

    Every array has X's shape (N, D); ``p`` is the probability of dropping a unit.

    Set ``fixed_mask`` (an array of X's shape, already scaled by 1/(1-p)) to make the layer
    deterministic, e.g. for a gradient check.
    """

    #: the equations as text and LaTeX templates (see ``ffnn.formula``), read by ffnn.explain
    formula = Formula(
        forward="{x} * M,  M = 1[U >= {p}] / {keep}",
        backward="{da} * M",
        forward_tex=r"{x} \odot M,\ M = \mathbf{{1}}[U \ge {p}] / {keep}",
        backward_tex=r"{da} \odot M",
        note="training only; identity at inference")

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.p = check_probability(p, "dropout probability p")
        self.rng = as_generator(rng)
        self.fixed_mask: np.ndarray | None = None
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, *, training: bool = False) -> np.ndarray:
        if not training or self.p == 0.0:
            self.mask = None
            return x
        if self.fixed_mask is not None:
            self.mask = self.fixed_mask.astype(x.dtype, copy=False)
        else:
            keep = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32
                                   else np.float64) >= self.p
            self.mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.mask is None else dout * self.mask

    def config(self) -> dict:
        return {"p": self.p}

    def formula_params(self) -> dict:
        """The values of the formula's placeholders: ``p`` and the kept fraction ``keep``."""
        return {"p": self.p, "keep": 1.0 - self.p}
