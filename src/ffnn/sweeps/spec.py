"""The sweep file: ``[train]`` settings plus the ``[sweep]`` lists or distributions, expanded
into trials.

    [train]                      # exactly the keys of `ffnn train --config`
    dataset = "moons"
    epochs = 50

    [sweep]
    mode = "grid"                # or "random" (then n_trials and sample_seed)
    lr = [0.1, 1.0]              # grid: every combination of the lists
    seed = {range = [0, 3]}      # 0, 1, 2 (Python's range)

Settings that only make sense together go in ``variants``, a list of tables; each is one
value of a single axis (so a grid multiplies the variants with the other lists):

    variants = [{optimizer = "sgd", lr = 1.0},
                {optimizer = "sgd", lr = 0.5, momentum = 0.9},
                {optimizer = "adam", lr = 0.01}]

Random mode draws ``n_trials`` settings with ``np.random.default_rng(sample_seed)``, the keys
in file order; each value is a list (a uniform choice) or one of the distributions
``{uniform = [a, b]}``, ``{log_uniform = [a, b]}``, ``{int_uniform = [a, b]}`` (a and b
included), ``{choice = [...]}``, ``{range = [start, stop]}``; ``variants`` are chosen
uniformly.

A trial's id is derived from its complete training configuration, so the same settings give
the same id (and run directory) in every run of the sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: keys of [sweep] that describe the search, not a training setting
RESERVED = ("mode", "n_trials", "sample_seed", "metric")
#: the [sweep] key of settings swept together (a list of tables)
VARIANTS = "variants"
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice", "range")
#: settings that decide the data (loaded once per distinct combination, sent once)
DATA_KEYS = ("dataset", "target", "task", "n_samples", "test_size", "seed")


class SweepError(ValueError):
    """A sweep file or its settings are wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep.

    ``settings`` are the swept values (key -> value, in the file's order), ``config`` the
    complete validated training configuration (a dict, as in ``manifest.json``).
    """

    index: int
    id: str
    settings: dict
    config: dict

    @property
    def data_key(self) -> str:
        """Trials with the same data key use the same loaded data."""
        return json.dumps({k: self.config.get(k) for k in DATA_KEYS}, sort_keys=True)


@dataclass
class SweepSpec:
    """A parsed sweep file: the trials in order, and where they came from."""

    path: Path | None
    train: dict
    swept: list[str]
    mode: str
    trials: list[Trial]
    metric: str | None = None
    text: str = ""
    notes: list[str] = field(default_factory=list)


def read_toml(path: Path) -> tuple[dict, str]:
    """The TOML file as a dict (tomllib, or tomli on Python 3.10, as ``ffnn train``)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    if not path.is_file():
        raise SweepError(f"sweep file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path} is not valid TOML: {exc}") from None


def load_spec(source: str | Path | dict) -> SweepSpec:
    """Parse and validate a sweep file (a path, or the same structure as a dict)."""
    if isinstance(source, dict):
        path, values, text = None, source, json.dumps(source)
    else:
        path = Path(source)
        values, text = read_toml(path)
    where = str(path) if path is not None else "sweep"
    unknown = [k for k in values if k not in ("train", "sweep")]
    if unknown:
        raise SweepError(f"{where}: unknown table or key {unknown[0]!r}; a sweep file has "
                         "[train] (the settings of `ffnn train --config`) and [sweep]")
    train, sweep = values.get("train", {}), values.get("sweep")
    if not isinstance(train, dict) or not isinstance(sweep, dict):
        raise SweepError(f"{where}: needs a [sweep] table (and usually [train]); got "
                         f"{sorted(values)}")
    known = _known_settings()
    for key in train:
        if key not in known:
            raise SweepError(f"{where}: [train] {key}: unknown setting; known settings: "
                             + ", ".join(known))
    _validate(train, where, "[train]")
    mode = sweep.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise SweepError(f"{where}: [sweep] mode: must be \"grid\" or \"random\", got {mode!r}")
    metric = sweep.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise SweepError(f"{where}: [sweep] metric: a results column name, got {metric!r}")
    axes: dict[str, object] = {}
    swept: list[str] = []
    for key, value in sweep.items():
        if key in RESERVED:
            continue
        if key == VARIANTS:
            axes[key] = _variants(value, known, mode, where)
            in_variants = list(dict.fromkeys(k for v in value for k in v))
            swept += in_variants
            continue
        swept.append(key)
        if key not in known:
            raise SweepError(f"{where}: [sweep] {key}: unknown setting; known settings: "
                             + ", ".join(known))
        axes[key] = _axis(key, value, mode, where)
    if not axes:
        raise SweepError(f"{where}: [sweep] names no setting to sweep (e.g. lr = [0.1, 1.0])")
    if mode == "grid":
        for key in ("n_trials", "sample_seed"):
            if key in sweep:
                raise SweepError(f"{where}: [sweep] {key}: only for mode = \"random\"")
        combos = _grid(axes)
    else:
        n = sweep.get("n_trials")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise SweepError(f"{where}: [sweep] n_trials: random mode needs a positive "
                             f"integer, got {n!r}")
        seed = sweep.get("sample_seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise SweepError(f"{where}: [sweep] sample_seed: a non-negative integer, got "
                             f"{seed!r}")
        combos = _random(axes, n, seed)
    clash = [k for k in swept if swept.count(k) > 1]
    if clash:
        raise SweepError(f"{where}: [sweep] {clash[0]}: swept twice (as a key and in "
                         f"{VARIANTS}); name it in one place")
    trials, seen, notes = [], set(), []
    for settings in combos:
        config = _validate({**train, **settings}, where, "[sweep]", swept=settings)
        # every swept column gets a value (a variant without the key: the [train] setting)
        settings = {k: settings[k] if k in settings else config[k] for k in swept}
        trial_id = trial_id_for(settings, config)
        if trial_id in seen:
            notes.append(f"settings drawn twice, run once: {settings}")
            continue
        seen.add(trial_id)
        trials.append(Trial(len(trials), trial_id, settings, config))
    return SweepSpec(path, dict(train), swept, mode, trials, metric, text, notes)


def trial_id_for(settings: dict, config: dict) -> str:
    """``<swept settings>-<hash of the whole configuration>``: readable and unique."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    parts = []
    for key, value in settings.items():
        text = json.dumps(value) if isinstance(value, (list, bool)) else str(value)
        parts.append(f"{key}={text}")
    readable = re.sub(r"[^A-Za-z0-9=.,_+-]+", "", "_".join(parts))[:80]
    return f"{readable}-{digest}" if readable else digest


# --------------------------------------------------------------------------- internals
def _known_settings() -> list[str]:
    from ..cli import load_config

    return list(type(load_config(None, {})).model_fields)


def _validate(values: dict, where: str, table: str, swept: dict | None = None) -> dict:
    """The complete configuration as a dict, or a SweepError naming the key and value."""
    from ..cli import CLIError, load_config

    try:
        return load_config(None, values).model_dump()
    except CLIError as exc:
        message = str(exc).removeprefix("invalid run configuration: ")
        if swept:  # say which swept value is the bad one
            bad = [k for k in swept if message.startswith(f"{k}:") or f"; {k}:" in message]
            if bad:
                return _raise(f"{where}: [sweep] {bad[0]} = {swept[bad[0]]!r}: {message}")
        return _raise(f"{where}: {table} {message}")


def _raise(message: str):
    raise SweepError(message)


def _axis(key: str, value, mode: str, where: str):
    """A grid axis (a list of values) or, in random mode, a sampler ``rng -> value``."""
    if isinstance(value, list):
        if not value:
            raise SweepError(f"{where}: [sweep] {key}: the list is empty")
        return value if mode == "grid" else ("choice", value)
    if not isinstance(value, dict) or len(value) != 1:
        raise SweepError(f"{where}: [sweep] {key}: give a list of values or one distribution "
                         f"({', '.join(DISTRIBUTIONS)}), e.g. {key} = [1, 2] or "
                         f"{key} = {{choice = [1, 2]}}; got {value!r}")
    kind, args = next(iter(value.items()))
    if kind not in DISTRIBUTIONS:
        raise SweepError(f"{where}: [sweep] {key}: unknown distribution {kind!r}; one of "
                         + ", ".join(DISTRIBUTIONS))
    if not isinstance(args, list) or (kind != "choice" and len(args) != 2) or not args:
        raise SweepError(f"{where}: [sweep] {key}: {kind} takes "
                         + ("a list of values" if kind == "choice" else "[low, high]")
                         + f", got {args!r}")
    if kind == "range":
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in args) \
                or args[1] <= args[0]:
            raise SweepError(f"{where}: [sweep] {key}: range takes integers [start, stop] "
                             f"with stop > start, got {args!r}")
        values = list(range(args[0], args[1]))
        return values if mode == "grid" else ("choice", values)
    if kind == "choice":
        return args if mode == "grid" else ("choice", args)
    if mode == "grid":
        raise SweepError(f"{where}: [sweep] {key}: {kind} is a distribution for mode = "
                         "\"random\"; a grid takes a list of values")
    low, high = args
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args) \
            or not high > low:
        raise SweepError(f"{where}: [sweep] {key}: {kind} takes numbers [low, high] with "
                         f"high > low, got {args!r}")
    if kind == "log_uniform" and low <= 0:
        raise SweepError(f"{where}: [sweep] {key}: log_uniform needs low > 0, got {args!r}")
    if kind == "int_uniform" and not all(isinstance(a, int) for a in args):
        raise SweepError(f"{where}: [sweep] {key}: int_uniform takes integers, got {args!r}")
    return (kind, args)


def _variants(value, known: list[str], mode: str, where: str):
    if not isinstance(value, list) or not value or \
            not all(isinstance(v, dict) and v for v in value):
        raise SweepError(f"{where}: [sweep] {VARIANTS}: a list of tables of settings, e.g. "
                         f"{VARIANTS} = [{{optimizer = \"sgd\", lr = 1.0}}, "
                         f"{{optimizer = \"adam\", lr = 0.01}}]; got {value!r}")
    for variant in value:
        for key in variant:
            if key not in known:
                raise SweepError(f"{where}: [sweep] {VARIANTS}: {key}: unknown setting; "
                                 "known settings: " + ", ".join(known))
    return value if mode == "grid" else ("choice", value)


def _grid(axes: dict) -> list[dict]:
    combos: list[dict] = [{}]
    for key, values in axes.items():
        combos = [_merge(c, key, v) for c in combos for v in values]
    return combos


def _merge(settings: dict, key: str, value) -> dict:
    return {**settings, **value} if key == VARIANTS else {**settings, key: value}


def _random(axes: dict, n: int, seed: int) -> list[dict]:
    """``n`` draws; each trial draws its keys in file order from one generator."""
    rng = np.random.default_rng(seed)
    combos = []
    for _ in range(n):
        settings = {}
        for key, (kind, args) in axes.items():
            settings = _merge(settings, key, _draw(rng, kind, args))
        combos.append(settings)
    return combos


def _draw(rng: np.random.Generator, kind: str, args: list):
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    if kind == "int_uniform":
        return int(rng.integers(args[0], args[1], endpoint=True))
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    # log-uniform: uniform in log space, so each decade gets the same share of draws
    return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
