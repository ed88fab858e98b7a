"""The playground's settings: their defaults, allowed values and limits, and their validation.

``normalize(changes, current)`` takes what the page sent (any subset of the settings) and
returns the full settings in force, or raises ``SettingsError`` naming the setting and what is
wrong with it.  Values the page may legitimately send out of step (a batch larger than the
training set, three classes for xor) are adjusted and the adjustment is reported as a notice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from .data import CLASSIFICATION, FEATURES, MAX_CLASSES, MULTICLASS, REGRESSION

#: caps on what one session may ask for (the page shows the same limits)
LIMITS = {
    "max_layers": 8,
    "max_neurons": 16,
    "max_samples": 2000,
    "min_samples": 10,
    "max_points": 5000,  # uploaded or clicked points
    "max_upload_bytes": 1_000_000,
    "max_batch": 2000,
    "max_speed": 20,
    "max_lr": 10.0,
}

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "leaky_relu", "elu", "gelu", "softplus")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
REGULARIZATIONS = ("none", "l1", "l2")
LEARNING_RATES = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REG_RATES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)

#: settings that change only how training continues: no new weights when they change
LIVE = ("lr", "speed")
#: settings that change the points (and so everything after them)
DATA = ("problem", "dataset", "classes", "noise", "train_ratio", "n_samples", "seed")


class SettingsError(ValueError):
    """A setting the playground cannot take; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything that defines a playground run (TF Playground's names where it has them)."""

    problem: str = "classification"
    dataset: str = "circle"
    classes: int = 2
    noise: int = 0  # percent, 0..50
    train_ratio: int = 50  # percent of the points used for training, 10..90
    n_samples: int = 500
    batch_size: int = 10
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    lr: float = 0.03
    optimizer: str = "sgd"
    regularization: str = "none"
    reg_rate: float = 0.0
    seed: int = 0
    speed: int = 1  # epochs per frame
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        d["features"] = list(self.features)
        d["hidden"] = list(self.hidden)
        return d


def options() -> dict:
    """The allowed values of every choice, for the page's controls."""
    return {
        "problem": ["classification", "regression"],
        "dataset": {"classification": list(CLASSIFICATION), "regression": list(REGRESSION),
                    "multiclass": list(MULTICLASS)},
        "classes": list(range(2, MAX_CLASSES + 1)),
        "activation": list(ACTIVATIONS),
        "optimizer": list(OPTIMIZERS),
        "regularization": list(REGULARIZATIONS),
        "lr": list(LEARNING_RATES),
        "reg_rate": list(REG_RATES),
        "features": [{"id": k, "label": v[0]} for k, v in FEATURES.items()],
    }


def _int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise SettingsError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must lie in [{lo}, {hi}], got {value}")
    return value


def _float(name: str, value, lo: float, hi: float, *, open_low: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < lo or value > hi or (open_low and value <= lo):
        low = f"({lo}" if open_low else f"[{lo}"
        raise SettingsError(f"{name} must lie in {low}, {hi}], got {value:g}")
    return value


def _choice(name: str, value, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _list(name: str, value) -> list:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise SettingsError(f"{name} must be a list, got {type(value).__name__}")
    return list(value)


def normalize(changes: dict, current: Settings | None = None,
              custom_problem: str | None = None) -> tuple[Settings, list[str]]:
    """The settings after applying ``changes`` to ``current`` (default: the defaults).

    ``custom_problem`` is the problem of the session's custom points, if it has any.
    Returns (settings, notices).  Raises SettingsError for an unknown setting or a bad value.
    """
    if not isinstance(changes, dict):
        raise SettingsError(f"settings must be an object, got {type(changes).__name__}")
    current = current or Settings()
    known = set(Settings.__dataclass_fields__) - {"extra"}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise SettingsError(f"unknown setting{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    L = LIMITS
    v: dict = {}
    for key, value in changes.items():
        if key == "problem":
            v[key] = _choice(key, value, ("classification", "regression"))
        elif key == "dataset":
            v[key] = _choice(key, value, (*CLASSIFICATION, *REGRESSION, "custom"))
        elif key == "classes":
            v[key] = _int(key, value, 2, MAX_CLASSES)
        elif key == "noise":
            v[key] = _int(key, round(_float(key, value, 0, 50)), 0, 50)
        elif key == "train_ratio":
            v[key] = _int(key, round(_float(key, value, 10, 90)), 10, 90)
        elif key == "n_samples":
            v[key] = _int(key, value, L["min_samples"], L["max_samples"])
        elif key == "batch_size":
            v[key] = _int(key, value, 1, L["max_batch"])
        elif key == "features":
            feats = _list(key, value)
            bad = [f for f in feats if f not in FEATURES]
            if bad:
                raise SettingsError(f"unknown feature{'s' if len(bad) > 1 else ''} "
                                    f"{', '.join(map(repr, bad))}; known: {', '.join(FEATURES)}")
            if not feats:
                raise SettingsError("features: choose at least one input feature")
            v[key] = tuple(f for f in FEATURES if f in feats)  # canonical order, no repeats
        elif key == "hidden":
            sizes = _list(key, value)
            if len(sizes) > L["max_layers"]:
                raise SettingsError(f"hidden: at most {L['max_layers']} hidden layers, "
                                    f"got {len(sizes)}")
            v[key] = tuple(_int(f"hidden layer {i + 1}", s, 1, L["max_neurons"])
                           for i, s in enumerate(sizes))
        elif key == "activation":
            v[key] = _choice(key, value, ACTIVATIONS)
        elif key == "lr":
            v[key] = _float(key, value, 0.0, L["max_lr"], open_low=True)
        elif key == "optimizer":
            v[key] = _choice(key, value, OPTIMIZERS)
        elif key == "regularization":
            v[key] = _choice(key, value, REGULARIZATIONS)
        elif key == "reg_rate":
            v[key] = _float(key, value, 0.0, 10.0)
        elif key == "seed":
            v[key] = _int(key, value, 0, 2**31 - 1)
        elif key == "speed":
            v[key] = _int(key, value, 1, L["max_speed"])
    new = replace(current, **v)
    notices: list[str] = []
    # the data set and the problem type follow each other (as in TF Playground)
    if "dataset" in v and "problem" not in v:
        if new.dataset in REGRESSION:
            new = replace(new, problem="regression")
        elif new.dataset in CLASSIFICATION:
            new = replace(new, problem="classification")
        elif new.dataset == "custom" and custom_problem:
            new = replace(new, problem=custom_problem)
    if new.dataset == "custom" and custom_problem is None:
        raise SettingsError("dataset 'custom' needs points: upload a CSV or place points first")
    if new.dataset == "custom" and new.problem != custom_problem:
        new = replace(new, problem=custom_problem)
        notices.append(f"your points are a {custom_problem} problem: problem set to "
                       f"{custom_problem}")
    if new.problem == "regression" and new.dataset in CLASSIFICATION:
        new = replace(new, dataset=REGRESSION[0] if current.dataset not in REGRESSION
                      else current.dataset)
    if new.problem == "classification" and new.dataset in REGRESSION:
        new = replace(new, dataset=current.dataset if current.dataset in CLASSIFICATION
                      else CLASSIFICATION[0])
    if new.problem == "classification" and new.dataset not in MULTICLASS \
            and new.dataset != "custom" and new.classes != 2:
        if "classes" in v:
            notices.append(f"{new.dataset} has two classes: classes set to 2")
        new = replace(new, classes=2)
    return new, notices
