"""Activation functions a model config may name.

The chapter's Table 7.2 ties the initialization to the activation, so the names are shared by
:mod:`raynn.nn.init` (which row of the table applies) and :mod:`raynn.nn.models` (which module to build).
"""

from __future__ import annotations

from torch import nn

from raynn.registry import Registry

__all__ = ["ACTIVATIONS", "build_activation"]

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
ACTIVATIONS.add(
    "logistic", nn.Sigmoid, "logistic sigma(z) = 1 / (1 + exp(-z)); Xavier init uses 4x the range"
)
ACTIVATIONS.add("tanh", nn.Tanh, "hyperbolic tangent; Xavier init")
ACTIVATIONS.add("relu", nn.ReLU, "max(0, z); He init")


def build_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS.get(name)()
