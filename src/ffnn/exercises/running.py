"""Calling an answer safely: fresh copies of the inputs, warnings and exceptions caught,
the outputs put in a standard form, and the inputs compared with their copies afterwards."""

from __future__ import annotations

import linecache
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .spec import Case, Exercise, Output

_HERE = os.path.dirname(os.path.abspath(__file__))
_SKIP_DIRS = (os.path.dirname(os.path.abspath(np.__file__)) + os.sep,
              os.path.dirname(_HERE) + os.sep)  # numpy and ffnn: not the student's code

_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass
class Mutation:
    """An input that the call changed: which, how many entries, and the first one."""

    arg: str
    n_changed: int
    size: int
    index: tuple | None  # None: the argument was replaced or reshaped
    before: Any
    after: Any


@dataclass
class Outcome:
    """What one call did."""

    args: tuple  # the arguments as passed (after the call: they may have been changed)
    pristine: tuple  # copies of the arguments taken before the call
    values: tuple | None = None  # the outputs in standard form (one entry per Output)
    problem: str | None = None  # the outputs did not have the required form: why
    error: BaseException | None = None
    where: str | None = None  # "line 3: Z = X @ W.T + b"
    warnings: tuple[str, ...] = ()  # RuntimeWarning messages, in order, without repeats
    global_rng_used: bool = False
    mutations: list[Mutation] = field(default_factory=list)

    @property
    def warning_kinds(self) -> frozenset[str]:
        """'overflow', 'invalid value', 'divide by zero': what NumPy warned about."""
        return frozenset(w.split(" encountered")[0] for w in self.warnings)


def _global_state():
    # reading NumPy's global generator (never drawing from it) shows whether an answer used it
    return np.random.get_state()  # noqa: NPY002


def _same_state(a, b) -> bool:
    return a[0] == b[0] and a[2:] == b[2:] and np.array_equal(a[1], b[1])


def call(exercise: Exercise, fn, case: Case, seed: int | None = None) -> Outcome:
    """Run ``fn`` on fresh copies of ``case``'s inputs and record everything it did."""
    args = case.materialize(seed)
    pristine = case.materialize(seed)
    outcome = Outcome(args=args, pristine=pristine)
    before = _global_state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="warn", under="ignore"):
                raw = fn(*args)
        except (Exception, SystemExit) as exc:  # the student's code may raise anything
            outcome.error = exc
            outcome.where = _student_line(exc, fn)
            raw = None
    after = _global_state()
    if not _same_state(before, after):
        outcome.global_rng_used = True
        np.random.set_state(before)  # noqa: NPY002  (leave the caller's generator as it was)
    seen: list[str] = []
    for w in caught:
        if issubclass(w.category, RuntimeWarning) and str(w.message) not in seen:
            seen.append(str(w.message))
    outcome.warnings = tuple(seen)
    outcome.mutations = _mutations(exercise.args, pristine, args)
    if outcome.error is None:
        outcome.values, outcome.problem = normalise(exercise, raw)
    return outcome


def _mutations(names, pristine, args) -> list[Mutation]:
    found = []
    for name, p, a in zip(names, pristine, args, strict=True):
        if not isinstance(p, np.ndarray):
            continue
        if not isinstance(a, np.ndarray) or a.shape != p.shape:
            found.append(Mutation(name, p.size, p.size, None, p, a))
            continue
        same = (a == p) | (np.isnan(a) & np.isnan(p)) if p.dtype.kind == "f" else a == p
        if not np.all(same):
            idx = tuple(int(i) for i in np.argwhere(~same)[0])
            found.append(Mutation(name, int(np.sum(~same)), p.size, idx, p[idx], a[idx]))
    return found


def _student_line(exc: BaseException, fn) -> str | None:
    """``line 3: Z = X @ W.T + b`` for the deepest frame of the student's own code."""
    own = getattr(getattr(fn, "__code__", None), "co_filename", None)
    tb, best = exc.__traceback__, None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        path = filename if filename.startswith("<") else os.path.abspath(filename)
        if filename == own or not path.startswith(_SKIP_DIRS):
            best = (filename, tb.tb_lineno)
        tb = tb.tb_next
    if best is None:
        return None
    filename, lineno = best
    text = linecache.getline(filename, lineno).strip()
    return f"line {lineno}: {text}" if text else f"line {lineno}"


def _plural(n: int, word: str) -> str:
    return f"{_WORDS.get(n, n)} {word}{'s' if n != 1 else ''}"


def _what(raw) -> str:
    if raw is None:
        return "None"
    if isinstance(raw, np.ndarray):
        return f"an array of shape {raw.shape}"
    if isinstance(raw, (tuple, list)):
        return f"a {type(raw).__name__} of {_plural(len(raw), 'item')}"
    return f"a {type(raw).__name__}"


def normalise(exercise: Exercise, raw) -> tuple[tuple | None, str | None]:
    """(values, None) in standard form, or (None, the sentence saying what is wrong)."""
    outs = exercise.outputs
    name = exercise.name
    if len(outs) == 1:
        if raw is None:
            return None, (f"{name} returned None: did you forget the `return {outs[0].name}` "
                          "line?")
        if outs[0].kind != "batches" and isinstance(raw, (tuple, list)) and len(raw) >= 1 and \
                any(isinstance(r, np.ndarray) for r in raw):
            return None, (f"{name} must return one array, {outs[0].name}; it returned "
                          f"{_what(raw)} (in this course a function returns only its result, "
                          "no cache)")
        parts = [raw]
    else:
        names = ", ".join(o.name for o in outs)
        noun = "array" if all(o.kind in ("array", "sample") for o in outs) else "value"
        if raw is None:
            return None, (f"{name} returned None: it must return {_plural(len(outs), noun)}"
                          f" ({names}); did you forget the `return` line?")
        if not isinstance(raw, (tuple, list)):
            return None, (f"{name} must return {_plural(len(outs), noun)} ({names}) as a "
                          f"tuple; it returned {_what(raw)}")
        if len(raw) != len(outs):
            return None, (f"{name} must return {_plural(len(outs), noun)} ({names}); it "
                          f"returned {len(raw)}")
        parts = list(raw)
    values = []
    for out, value in zip(outs, parts, strict=True):
        v, problem = _normalise_one(out, value, name)
        if problem:
            return None, problem
        values.append(v)
    return tuple(values), None


def _normalise_one(out: Output, value, name: str):
    if value is None:
        return None, f"{out.name} is None: return the computed value"
    if out.kind == "batches":
        return _normalise_batches(out, value, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(value)
    except Exception:  # ragged nested lists and the like
        arr = None
    if arr is None or arr.dtype == object or arr.dtype.kind not in "biuf":
        return None, (f"{out.name} must be {'a number' if out.kind == 'scalar' else 'an array'}"
                      f" of numbers; it is {_what(value)}"
                      + (f" of dtype {arr.dtype}" if arr is not None else ""))
    return arr, None


def _normalise_batches(out: Output, value, name: str):
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return None, (f"{name} returned one flat array of {value.size} indices; cut it into "
                      "batches: [order[i:i + batch_size] for i in range(0, n, batch_size)]")
    try:
        items = list(value)
    except TypeError:
        return None, f"{name} must return a list of index arrays; it returned {_what(value)}"
    batches = []
    for i, item in enumerate(items):
        try:
            arr = np.asarray(item)
        except Exception:
            arr = None
        if arr is None or arr.ndim != 1 or arr.dtype.kind not in "biuf":
            what = _what(item) if arr is None or arr.ndim != 0 else f"the number {item!r}"
            return None, (f"each batch must be a 1-D array of indices; batch {i} is {what}"
                          + (" (did you return one flat array instead of a list of batches?)"
                             if arr is not None and arr.ndim == 0 else ""))
        batches.append(arr)
    return batches, None
