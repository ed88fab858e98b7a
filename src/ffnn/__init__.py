"""ffnn: feed-forward neural networks written by hand in NumPy.

    >>> from ffnn import mlp, fit, Adam
    >>> net = mlp([2, 16, 1], activation="relu", seed=0)

``import ffnn`` needs only NumPy.  ``ffnn.datasets``, ``ffnn.metrics``, ``ffnn.plots`` and the
other optional parts load their own dependencies when first used.
"""

from __future__ import annotations

import importlib

from . import callbacks, functional, gradcheck, init, io, schedules, steps, tracing
from ._checks import DataScaleWarning
from ._version import __version__ as __version__
from .activations import (
    ELU,
    GELU,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from .gradcheck import check_layer, check_network
from .io import load, load_checkpoint, save
from .layers import Dense, Dropout, Layer
from .losses import MSE, BinaryCrossEntropy, Loss, SoftmaxCrossEntropy, get_loss
from .network import Sequential, mlp
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSProp, get_optimizer
from .steps import ReferenceStep, StepResult
from .tracing import trace
from .training import Callback, History, TrainingDiverged, evaluate, fit, resume, train_step

# Submodules with optional dependencies, imported on first attribute access.
_LAZY = {"datasets", "metrics", "plots", "cli", "sklearn", "diagnostics", "explain", "export",
         "typed", "exercises", "playground", "course", "sweeps"}
# Functions of those submodules, the same way: ffnn.sweep(...) is ffnn.sweeps.sweep
_LAZY_FUNCTIONS = {"sweep": "sweeps"}


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(f".{_LAZY_FUNCTIONS[name]}", __name__), name)
    raise AttributeError(f"module 'ffnn' has no attribute {name!r}")


__all__ = [
    "ELU", "GELU", "MSE", "SGD", "Activation", "Adagrad", "Adam", "AdamW",
    "BinaryCrossEntropy", "Callback", "DataScaleWarning", "Dense", "Dropout", "History",
    "Identity", "Layer",
    "LeakyReLU", "Loss", "Optimizer", "RMSProp", "ReLU", "Sequential", "Sigmoid", "Softmax",
    "SoftmaxCrossEntropy", "Softplus", "Tanh", "TrainingDiverged", "check_layer",
    "check_network", "evaluate", "fit", "functional", "get_activation", "get_loss",
    "get_optimizer", "gradcheck", "init", "mlp", "train_step", "save", "load", "resume",
    "ReferenceStep", "StepResult", "steps",
    "load_checkpoint", "callbacks", "schedules", "io", "trace", "tracing",
]
