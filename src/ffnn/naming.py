"""The names of a network's quantities, as the equations write them: Z1, A1, Z2, ...

Used by ``ffnn.tracing`` (the recorded arrays) and ``ffnn.explain`` (the equations), so both
name the same quantity the same way.  It knows layers, not networks (no import of
``ffnn.network``): ``Sequential.explain`` can then use ``explain`` without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .activations import Activation
from .layers import Dense, Layer

if TYPE_CHECKING:
    from .network import Sequential


def layer_kind(layer: Layer) -> str:
    """A short lower-case name for a parameter-free layer: "relu", "sigmoid", "dropout"."""
    if isinstance(layer, Activation) and layer.name:
        return layer.name
    return type(layer).__name__.lower()


def layer_names(net: Sequential) -> list[tuple[str, int]]:
    """(name of the layer's output, number of the last Dense layer so far) for each layer.

    ``mlp([784, 512, 10])`` = Dense, ReLU, Dense gives [("Z1", 1), ("A1", 1), ("Z2", 2)].
    The first parameter-free layer after Dense l outputs ``A{l}``; any further one before the
    next Dense layer outputs ``A{l}_{kind}``; before the first Dense layer ``X_{kind}``.
    """
    names: list[tuple[str, int]] = []
    used: set[str] = set()
    l = 0
    previous = "X"
    for layer in net.layers:
        if isinstance(layer, Dense):
            l += 1
            name = f"Z{l}"
        elif l == 0:
            name = f"X_{layer_kind(layer)}"
        elif previous == f"Z{l}":
            name = f"A{l}"
        else:
            name = f"A{l}_{layer_kind(layer)}"
        if name in used:  # two layers of one kind in a row: A1_dropout, A1_dropout_2
            k = 2
            while f"{name}_{k}" in used:
                k += 1
            name = f"{name}_{k}"
        used.add(name)
        names.append((name, l))
        previous = name
    return names


__all__ = ["layer_kind", "layer_names"]
