"""What an exercise is made of: its inputs, its outputs and its table of typical mistakes.

An exercise is data.  It has a reference answer (ffnn's own code), a few test cases, the
outputs it must return, and a table of typical mistakes.  One row of that table is one wrong
variant of the answer and the sentence that explains it; the checker compares the student's
answer with every variant, so adding a diagnosis is adding a row (like scikit-learn's
name -> function tables).  A row is one of:

* ``wrong(variant, sentence)``: a whole wrong implementation, called like the student's function
  on the same inputs (softmax without the max shift, Adam without bias correction, ...);
* ``changed(output, change, sentence)``: a transformation of one output of the reference, e.g.
  ``changed("dW", lambda dW: dW.T, ...)``.  ``change`` receives the output, and the inputs too
  when it takes more than one parameter (``lambda dZ, Z, y: dZ * len(y)``);
* ``seen(detect, sentence)``: a property of the whole attempt that no single output shows
  (the global RNG was used, f was evaluated on one side only).  ``detect`` returns False, True,
  or a dict of values to fill into the sentence's ``{fields}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Seed:
    """An argument slot that becomes a fresh ``np.random.default_rng(seed)`` on every call."""

    seed: int


@dataclass(frozen=True)
class Fresh:
    """An argument built anew for every call (e.g. a function that records how it is called)."""

    make: Callable[[], Any]
    label: str = "f"


@dataclass(frozen=True)
class Case:
    """One set of inputs the answer is tried on, with a short description ("a batch of one")."""

    label: str
    args: tuple

    def materialize(self, seed: int | None = None) -> tuple:
        """Fresh arguments for one call: arrays copied, Seed -> new Generator, Fresh -> new object.

        ``seed`` replaces the seed of every Seed slot (to ask: does the answer use its rng?).
        """
        out = []
        for a in self.args:
            if isinstance(a, np.ndarray):
                out.append(a.copy())
            elif isinstance(a, Seed):
                out.append(np.random.default_rng(a.seed if seed is None else seed))
            elif isinstance(a, Fresh):
                out.append(a.make())
            else:
                out.append(a)
        return tuple(out)

    def describe(self, arg_names: Sequence[str]) -> str:
        """``label: X (4, 3), W (3, 5)``: the label and what was passed."""
        parts = []
        for name, a in zip(arg_names, self.args, strict=True):
            if isinstance(a, np.ndarray):
                parts.append(f"{name} {a.shape}")
            elif isinstance(a, Seed):
                parts.append(f"{name}=default_rng({a.seed})")
            elif isinstance(a, Fresh):
                parts.append(f"{name} = {a.label}")
            else:
                parts.append(f"{name}={a!r}")
        return f"{self.label}: {', '.join(parts)}"


@dataclass(frozen=True)
class Output:
    """One returned value.

    ``kind`` says how it is compared with the reference: ``"array"`` entry by entry,
    ``"scalar"`` as one number, ``"sample"`` (random weights) by shape and, for large draws,
    by statistics, ``"batches"`` (a list of index arrays) by the sizes and coverage of the
    batches.  ``shape`` is the symbolic shape and ``like`` the input it matches, for messages.
    """

    name: str
    kind: str = "array"
    shape: str = ""
    like: str | None = None


@dataclass(frozen=True)
class Mistake:
    """One row of the table of typical mistakes: a wrong variant and the sentence for it."""

    sentence: str
    variant: Callable[..., Any] | None = None
    output: str | None = None
    change: Callable[..., Any] | None = None
    detect: Callable[[Any], bool | dict] | None = None
    #: for ``detect`` rows: True = a requirement checked on every attempt, even when all the
    #: values are right; False = only consulted to explain wrong values
    always: bool = True


def wrong(variant: Callable[..., Any], sentence: str) -> Mistake:
    """A row whose variant is a whole wrong implementation with the exercise's signature."""
    return Mistake(sentence=sentence, variant=variant)


def changed(output: str, change: Callable[..., Any], sentence: str) -> Mistake:
    """A row whose variant is the reference with one output transformed, e.g. ``dW -> dW.T``."""
    return Mistake(sentence=sentence, output=output, change=change)


def seen(detect: Callable[[Any], bool | dict], sentence: str, *, always: bool = True) -> Mistake:
    """A row recognised from the whole attempt (how the rng or f was used) by ``detect``."""
    return Mistake(sentence=sentence, detect=detect, always=always)


def _n_params(fn: Callable) -> int:
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return 1


@dataclass(frozen=True)
class Exercise:
    """One exercise: what the student writes, the reference, the inputs and the mistakes."""

    name: str
    args: tuple[str, ...]
    outputs: tuple[Output, ...]
    summary: str
    equations: tuple[str, ...]
    notes: tuple[str, ...]
    reference: Callable[..., Any]
    cases: Callable[[], list[Case]]
    mistakes: tuple[Mistake, ...] = ()
    #: how to avoid overflow / NaN, named in the sentence when the answer is not finite
    stable_hint: str | None = None
    #: per argument: how to avoid changing it in place
    inplace_hints: dict[str, str] = field(default_factory=dict)
    #: tolerances for "array" and "scalar" outputs: |got - want| <= rtol |want| + atol max|want|
    rtol: float = 1e-6
    atol: float = 1e-9

    @property
    def signature(self) -> str:
        outs = [o.name for o in self.outputs]
        ret = outs[0] if len(outs) == 1 else f"({', '.join(outs)})"
        return f"{self.name}({', '.join(self.args)}) -> {ret}"

    def variant_of(self, row: Mistake) -> Callable[..., Any] | None:
        """The function that computes a row's wrong answer (None for ``seen`` rows)."""
        if row.variant is not None:
            return row.variant
        if row.change is None:
            return None
        k = [o.name for o in self.outputs].index(row.output)
        change, many, single = row.change, _n_params(row.change) > 1, len(self.outputs) == 1

        def variant(*args):
            out = self.reference(*args)
            outs = [out] if single else list(out)
            outs[k] = change(outs[k], *args) if many else change(outs[k])
            return outs[0] if single else tuple(outs)

        return variant

    def describe(self) -> str:
        """The text of ``ffnn.exercises.describe``: signature, equations, conventions."""
        lines = [self.signature, "", self.summary, ""]
        lines += [f"    {eq}" for eq in self.equations]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        lines += ["", "Checked on: " + "; ".join(c.label for c in self.cases()) + "."]
        return "\n".join(lines)
