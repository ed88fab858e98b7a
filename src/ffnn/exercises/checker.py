"""Checking an answer: run it on every case, compare with the reference, name the mistake.

The order of the judgement:

1. the rows of the table of typical mistakes, in the table's order.  Requirements (``seen``
   rows with ``always``: the rng used, f evaluated on both sides) are checked on every
   attempt; the other rows only when some case is wrong.  A variant row explains the outputs
   it changes when the student's answer equals the variant on every case;
2. the generic checks, for what no row explains: the returned values' form, inputs changed in
   place, shapes, NaN or inf where the right value is finite, NumPy warnings, dtypes;
3. otherwise the first wrong entry, with both values, its index and the shapes.

The first sentence found is the diagnosis; the others follow it in the report ("Also: ...").
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import compare
from .catalog import EXERCISES
from .result import Result
from .running import Outcome, call
from .spec import Case, Exercise, Mistake


def get(name: str) -> Exercise:
    """The exercise called ``name``; ValueError listing the names otherwise."""
    if not isinstance(name, str) or name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: "
                         f"{', '.join(EXERCISES)}")
    return EXERCISES[name]


@dataclass
class Attempt:
    """The student's function and what it did on every case (what ``seen`` rows look at)."""

    exercise: Exercise
    fn: Callable
    cases: list[Case]
    trials: list[Outcome]

    def rerun(self, i: int, seed: int | None = None) -> Outcome:
        """Call the function again on case ``i`` (with another seed for its rng, if given)."""
        return call(self.exercise, self.fn, self.cases[i], seed)


@dataclass
class _Verdict:
    """How one case went, compared with the reference."""

    wrong: list[int] = field(default_factory=list)  # outputs that disagree
    bad_dtype: dict[int, str] = field(default_factory=dict)
    ok: bool = True


# ------------------------------------------------------------------------- the answer itself


def _signature_problem(ex: Exercise, fn: Callable, case: Case) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*case.materialize())
    except TypeError:
        return (f"{ex.name} must take {len(ex.args)} arguments, {ex.name}({', '.join(ex.args)}); "
                f"yours is {ex.name}{sig}")
    return None


# ----------------------------------------------------------------------------- comparisons


def _verdict(ex: Exercise, got: Outcome, want: Outcome) -> _Verdict:
    v = _Verdict()
    if got.values is not None:
        for k, out in enumerate(ex.outputs):
            g, w = got.values[k], want.values[k]
            if not compare.agree(ex, out, g, w):
                v.wrong.append(k)
            elif (msg := compare.wrong_dtype(out, g, w)) is not None:
                v.bad_dtype[k] = msg
    v.ok = (got.error is None and got.problem is None and not v.wrong and not v.bad_dtype
            and not got.warnings and not got.mutations)
    return v


def _variant_matches(ex: Exercise, variant_runs: list[Outcome], got: list[Outcome],
                     want: list[Outcome]) -> set | None:
    """What the variant explains (outputs, "warnings", "error") if the student's answer is the
    variant's on every case; None otherwise (or when the variant is right on every case)."""
    explains: set = set()
    for v, w in zip(variant_runs, want, strict=True):
        if v.error is not None or v.problem is not None:
            explains.add("error")
            continue
        explains |= {k for k, out in enumerate(ex.outputs)
                     if not compare.agree(ex, out, v.values[k], w.values[k])}
        if v.warnings:
            explains.add("warnings")
    if not explains:
        return None
    for v, g in zip(variant_runs, got, strict=True):
        if v.problem is not None or g.problem is not None:
            return None
        if v.error is not None or g.error is not None:
            if v.error is None or g.error is None or type(v.error) is not type(g.error):
                return None
            continue
        if v.warning_kinds != g.warning_kinds:
            return None
        if any(not compare.agree(ex, ex.outputs[k], g.values[k], v.values[k])
               for k in explains if isinstance(k, int)):
            return None
    return explains


def _detected(row: Mistake, attempt: Attempt) -> str | None:
    try:
        hit = row.detect(attempt)
    except Exception:  # a detector must never turn an odd answer into a crash
        return None
    if not hit:
        return None
    return row.sentence.format(**hit) if isinstance(hit, dict) else row.sentence


@functools.cache
def _runs(name: str, row: int | None) -> tuple[Outcome, ...]:
    """The reference's (row None) or a variant's outcomes on the exercise's cases.

    Cases are fixed and seeded and variants are ours, so these never change: they are
    computed once per process rather than once per check."""
    ex = EXERCISES[name]
    fn = ex.reference if row is None else ex.variant_of(ex.mistakes[row])
    return tuple(call(ex, fn, c) for c in ex.cases())


# ------------------------------------------------------------------------------ the check


def check(name: str, student) -> Result:
    """Run ``student`` (your function) on the exercise's cases and compare it with ffnn's
    reference; see the module docstring.  Code given as text is never run: ffnn executes no
    source string (the grader runs whole notebooks in their own processes instead)."""
    ex = get(name)
    if isinstance(student, str):
        return _failed(ex, f"check takes your function itself, not its source: "
                           f"ffnn.exercises.check({name!r}, {name}) after running the cell "
                           f"that defines it")
    if not callable(student):
        msg = f"check expects your function {name}; it got {type(student).__name__}"
        return _failed(ex, msg)
    fn = student
    try:
        return _check(ex, fn)
    except Exception as exc:  # the checker must answer, whatever the student's code did
        return _failed(ex, f"The checker could not judge this answer ({type(exc).__name__}: "
                           f"{exc}); please report this to the course team")


def _failed(ex: Exercise, message: str) -> Result:
    """A failure before any case could be run (no code, no function, a checker error)."""
    return Result(ex.name, False, None, f"{ex.name}: FAILED\n{_sentence(message)}")


def _check(ex: Exercise, fn: Callable) -> Result:
    cases = ex.cases()
    labels = [c.describe(ex.args) for c in cases]
    if (problem := _signature_problem(ex, fn, cases[0])) is not None:
        return Result(ex.name, False, problem, f"{ex.name}: FAILED\nDiagnosis: {problem}.")
    want = list(_runs(ex.name, None))
    got = [call(ex, fn, c) for c in cases]
    if any(isinstance(t.error, NotImplementedError) for t in got):
        return Result(ex.name, False, None,
                      f"{ex.name}: FAILED, not written yet (it raises NotImplementedError).")
    attempt = Attempt(ex, fn, cases, got)
    verdicts = [_verdict(ex, g, w) for g, w in zip(got, want, strict=True)]

    hits = {i: s for i, row in enumerate(ex.mistakes)
            if row.detect is not None and row.always and (s := _detected(row, attempt))}
    failing = [i for i, v in enumerate(verdicts) if not v.ok]
    if not failing and not hits:
        return Result(ex.name, True, None, _report(ex, labels, verdicts, True, [], []))

    to_explain: set = {k for v in verdicts for k in v.wrong}
    if any(t.warnings for t in got):
        to_explain.add("warnings")
    if any(t.error is not None for t in got):
        to_explain.add("error")
    findings: list[str] = []
    explained: set = set()
    for i, row in enumerate(ex.mistakes):  # in the table's order: the first row is the diagnosis
        sentence = None
        if i in hits:
            sentence = hits[i]
        elif row.detect is not None:
            if failing and not row.always and (sentence := _detected(row, attempt)):
                explained |= to_explain
        elif failing and not all(t.problem for t in got):
            hit = _variant_matches(ex, list(_runs(ex.name, i)), got, want)
            if hit is not None and (hit & to_explain) - explained:
                sentence = row.sentence
                explained |= hit
        if sentence and sentence not in findings:
            findings.append(sentence)

    findings += _generic_findings(ex, cases, got, want, verdicts, explained)
    details = _details(ex, cases, got, want, verdicts, failing)
    diagnosis = findings[0] if findings else None
    return Result(ex.name, False, diagnosis,
                  _report(ex, labels, verdicts, False, findings, details))


def _sentence(s: str) -> str:
    """A clause as a sentence: a full stop at the end (the first word may be a name: dW, ...)."""
    return s if s.endswith((".", "?", "!")) else s + "."


def _generic_findings(ex, cases, got, want, verdicts, explained) -> list[str]:
    """Sentences for the failures that no row of the table explains."""
    found: list[str] = []
    for t in got:
        if t.problem is not None:
            found.append(_sentence(t.problem))
            break
    for t in got:
        if t.mutations:
            m = t.mutations[0]
            hint = ex.inplace_hints.get(
                m.arg, f"work on a copy ({m.arg}.copy()) or write expressions that make new "
                       "arrays")
            if m.index is None:
                what = "replaced or reshaped it"
            else:
                before, after = compare.fmt(m.before), compare.fmt(m.after)
                if before == after:  # a change in the last digits: show them all
                    before, after = repr(float(m.before)), repr(float(m.after))
                what = (f"{m.n_changed} of its {m.size} entries differ afterwards, "
                        f"{compare.at(m.arg, m.index)}: {before} → {after}")
            found.append(f"You changed {m.arg} in place ({what}); the caller still needs it: "
                         f"{hint}.")
            break
    for k, out in enumerate(ex.outputs):
        if k in explained:
            continue
        for case, t, w, v in zip(cases, got, want, verdicts, strict=True):
            if k not in v.wrong:
                continue
            g, r = t.values[k], w.values[k]
            if (s := compare.wrong_shape(out, g, r)) is not None:
                found.append(_sentence(s))
            elif (idx := compare.first_nonfinite(g, r)) is not None:
                value = np.asarray(g, dtype=np.float64)[idx]
                hint = ex.stable_hint or ("something overflowed, or took the log or square "
                                          "root of an invalid number")
                found.append(f"{compare.at(out.name, idx)} is {compare.fmt(value)} in case "
                             f"“{case.label}”, where the right value is "
                             f"{compare.fmt(np.asarray(r, dtype=np.float64)[idx])}: {hint}.")
            break
    # a warning names the mistake only when it is not just a side effect of wrong values
    values_wrong = any((set(v.wrong) - explained) and not t.warnings
                       for t, v in zip(got, verdicts, strict=True))
    if "warnings" not in explained and not values_wrong:
        for case, t in zip(cases, got, strict=True):
            if t.warnings:
                hint = ex.stable_hint or ("rewrite the computation so that no intermediate "
                                          "value overflows")
                found.append(f"NumPy warned “{t.warnings[0]}” in case “{case.label}”: {hint}.")
                break
    for v in verdicts:
        if v.bad_dtype:
            s = next(iter(v.bad_dtype.values()))
            found.append(_sentence(s))
            break
    return found


def _details(ex, cases, got, want, verdicts, failing) -> list[str]:
    """The evidence from the first failing case: the exception, or the first wrong entry."""
    if not failing:
        return []
    i = failing[0]
    case, t, w, v = cases[i], got[i], want[i], verdicts[i]
    where = f"In case “{case.label}”"
    if t.error is not None:
        msg = str(t.error)
        msg = msg if len(msg) <= 300 else msg[:297] + "..."
        line = f"\n    at {t.where}" if t.where else ""
        return [f"{where} your code raised {type(t.error).__name__}: {msg}{line}"]
    if v.wrong:
        k = v.wrong[0]
        out = ex.outputs[k]
        g, r = t.values[k], w.values[k]
        shape = compare.wrong_shape(out, g, r)
        return [f"{where}: {shape or compare.difference(ex, out, g, r)}."]
    if t.warnings:
        return [f"{where} NumPy warned: {'; '.join(t.warnings)}."]
    return []


def _report(ex, labels, verdicts, passed, findings, details) -> str:
    head = f"{ex.name}: {'PASSED' if passed else 'FAILED'}"
    n_bad = sum(not v.ok for v in verdicts)
    if passed:
        tried = f"Tried {len(labels)} cases, all right:"
    elif n_bad:
        tried = f"Tried {len(labels)} cases, {n_bad} wrong:"
    else:
        tried = f"Tried {len(labels)} cases; the values are right, but see the diagnosis:"
    lines = [head, tried] + [f"  {'✓' if v.ok else '✗'} {label}"
                             for label, v in zip(labels, verdicts, strict=True)]
    if findings:
        lines.append(f"Diagnosis: {findings[0]}")
        lines += [f"Also: {s}" for s in findings[1:]]
    lines += details
    return "\n".join(lines)
