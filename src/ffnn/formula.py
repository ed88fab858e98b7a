"""The equations a layer or loss carries, as text and LaTeX templates, stated once.

A class states its equations once, as a ``formula`` class attribute; ``ffnn.explain`` and
``ffnn.tracing`` read them from there instead of keeping their own tables.  Templates use
``str.format`` placeholders (so a literal LaTeX brace is doubled, ``e^{{{x}}}``):

* activations and other layers: ``{x}`` the input, ``{a}`` the output, ``{da}`` dL/d(output),
  and the layer's parameters by name (``{alpha}``, ``{p}``), filled from the instance;
* losses: ``{out}`` the network output's name, ``{N}`` the batch size, ``{NK}`` the number of
  elements averaged over (N times the K outputs) and ``{unit}`` ("row" or "column").

The text form is also valid NumPy (given ``sigmoid``, ``where``, ``exp``, ... and the
indicator ``1[cond]``), which is how ``tests/test_formulas.py`` checks it against the code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Formula", "LossFormula"]


@dataclass(frozen=True)
class Formula:
    """A layer's forward and backward equations: out = forward(x), dx = backward(da, a, x).

    ``derivative`` (optional) is f'(x) alone, for elementwise layers whose backward is
    ``da * derivative``; ``Formula.elementwise`` builds the backward from it.
    """

    forward: str
    backward: str
    forward_tex: str
    backward_tex: str
    derivative: str = ""
    derivative_tex: str = ""
    note: str = ""

    @classmethod
    def elementwise(cls, forward: str, derivative: str, forward_tex: str,
                    derivative_tex: str) -> Formula:
        """a = f(x), dx = da * f'(x): the backward is the derivative times ``{da}``."""
        return cls(forward, "{da} * " + derivative, forward_tex, r"{da} \odot " + derivative_tex,
                   derivative, derivative_tex)


@dataclass(frozen=True)
class LossFormula:
    """A loss's equations on the raw output: the prediction P (if the loss reads the output
    as a probability), the mean loss L, and dL/d(out); each with a note saying why."""

    loss: str
    loss_tex: str
    dout: str
    dout_tex: str
    prob: str = ""
    prob_tex: str = ""
    prob_note: str = ""
    dout_note: str = ""
