"""ffnn.exercises: the checker of the course's exercises.

    >>> from ffnn import exercises
    >>> exercises.names()[:3]
    ['dense_forward', 'dense_backward', 'sigmoid_forward']
    >>> print(exercises.describe("dense_backward"))      # signature, equations, conventions
    >>> result = exercises.check("dense_backward", dense_backward)
    >>> result.passed, result.diagnosis
    (False, 'dW is transposed: dW = Xᵀ·dZ has shape (D_in, D_out) like W; you returned ...')

``check`` runs the student's function on small fixed inputs and edge cases (a batch of one,
non-square shapes, logits of ±1000), compares it with ffnn's own code, and when the answer is
one of the typical mistakes of ``mistakes.MISTAKES`` says which, in one sentence with the right
equation.  Otherwise the report shows the first wrong entry.  Needs only NumPy.

Modules, one job each: ``spec`` (what an exercise is), ``reference`` (the right answers, by
ffnn), ``mistakes`` (the table of typical mistakes), ``detect`` (properties of an attempt),
``catalog`` (the exercises and their inputs), ``running`` (calling an answer safely),
``compare`` (one output against the right one), ``checker`` (the judgement), ``result``.
"""

from __future__ import annotations

from .catalog import EXERCISES
from .checker import check, get
from .result import Result

__all__ = ["Result", "check", "describe", "names"]


def names() -> list[str]:
    """Every exercise, in course order."""
    return list(EXERCISES)


def describe(name: str) -> str:
    """The signature, what it must compute (the equations, with shapes) and the conventions."""
    return get(name).describe()
