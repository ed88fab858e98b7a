"""Properties of a whole attempt that no single output shows, for the ``seen`` rows of the
table of typical mistakes: how the random generator was used, where f was evaluated.

Each function takes the attempt (``checker.Attempt``: its ``trials``, one per case, and
``rerun(i, seed)``) and returns False, True, or a dict of values for the row's sentence.
"""

from __future__ import annotations

import numpy as np

#: a step above this is "too large" for a centred difference in float64
MAX_STEP = 1.01e-3
#: a step below this drowns in rounding
MIN_STEP = 1e-10


def _identical(a: tuple, b: tuple) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, list):
            if len(x) != len(y) or not all(np.array_equal(p, q) for p, q in zip(x, y,
                                                                                  strict=True)):
                return False
        elif not np.array_equal(x, y, equal_nan=True):
            return False
    return True


def _n_numbers(values: tuple) -> int:
    return sum(sum(b.size for b in v) if isinstance(v, list) else np.size(v) for v in values)


def _informative_trial(attempt) -> int | None:
    """The first case whose answer has enough random numbers to tell two draws apart."""
    for i, t in enumerate(attempt.trials):
        if t.values is not None and _n_numbers(t.values) >= 5:
            return i
    return None


def global_rng(attempt) -> bool:
    """The answer drew from NumPy's global generator (np.random.rand, np.random.seed, ...)."""
    return any(t.global_rng_used for t in attempt.trials)


def not_reproducible(attempt) -> bool:
    """Two calls with equally seeded generators gave different answers."""
    i = _informative_trial(attempt)
    if i is None or global_rng(attempt):
        return False
    again = attempt.rerun(i)
    return again.values is not None and not _identical(attempt.trials[i].values, again.values)


def ignores_rng(attempt) -> bool:
    """Generators with different seeds gave the same answer: the rng argument is not used."""
    i = _informative_trial(attempt)
    if i is None or global_rng(attempt):
        return False
    other = attempt.rerun(i, seed=987_654)
    return other.values is not None and _identical(attempt.trials[i].values, other.values)


def _perturbations(trial) -> tuple[list[tuple[int, float]], bool] | None:
    """([(entry, x_entry - x0_entry)] for calls of f that moved one entry, moved several?);
    None when the calls cannot be read (the answer raised, or left x moved)."""
    if trial.error is not None:
        return None
    probe, x0 = trial.args[0], np.asarray(trial.pristine[1], dtype=np.float64).ravel()
    x_after = np.asarray(trial.args[1], dtype=np.float64).ravel()
    if x_after.shape != x0.shape or np.any(np.abs(x_after - x0) > 1e-12 * np.maximum(1.0,
                                                                                     np.abs(x0))):
        return None  # x was left moved: that is the mistake to name, not the probes
    steps, several = [], False
    for xc in getattr(probe, "calls", []):
        if xc.size != x0.size:
            continue
        d = xc.ravel() - x0
        moved = np.flatnonzero(np.abs(d) > 1e-12 * np.maximum(1.0, np.abs(x0)))
        if moved.size > 1:
            several = True
        elif moved.size == 1:
            steps.append((int(moved[0]), float(d[moved[0]])))
    return steps, several


def _readable(attempt) -> list[tuple[list[tuple[int, float]], bool]]:
    return [p for t in attempt.trials if (p := _perturbations(t)) is not None]


def several_at_once(attempt) -> bool:
    """f was evaluated with more than one entry of x moved."""
    return any(p[1] for p in _readable(attempt))


def one_sided(attempt) -> bool:
    """Some entry of x was moved to one side only: (f(x + h) - f(x)) / h."""
    for steps, several in _readable(attempt):
        if several:
            continue
        signs: dict[int, set] = {}
        for entry, delta in steps:
            signs.setdefault(entry, set()).add(delta > 0)
        if any(len(s) == 1 for s in signs.values()):
            return True
    return False


def _step(attempt) -> float | None:
    deltas = [abs(d) for steps, _ in _readable(attempt) for _, d in steps]
    return float(np.median(deltas)) if deltas else None


def step_too_large(attempt) -> bool | dict:
    h = _step(attempt)
    return {"h": h} if h is not None and h > MAX_STEP else False


def step_too_small(attempt) -> bool | dict:
    h = _step(attempt)
    return {"h": h} if h is not None and h < MIN_STEP else False


def missed_entries(attempt) -> bool:
    """Some entry of x was never moved (the loop did not visit every entry)."""
    for t in attempt.trials:
        p = _perturbations(t)
        if p is None or t.values is None or p[1]:
            continue
        if len({entry for entry, _ in p[0]}) < np.size(t.pristine[1]):
            return True
    return False
