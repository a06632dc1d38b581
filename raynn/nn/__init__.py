"""Models and their initialization.

The seed's sections 4.3 (initialization), 4.5 (layer-wise normalization) and 4.6.4 (dropout).
"""

from __future__ import annotations

from raynn.nn import init
from raynn.nn.activations import ACTIVATIONS, build_activation
from raynn.nn.init import *  # noqa: F403 -- re-exported whole: init.__all__ is the one list of its names
from raynn.nn.models import CNN, MLP, MODELS, NORMS, build_model, build_network, cnn, mlp, model_spec

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "MLP",
    "MODELS",
    "NORMS",
    "build_activation",
    "build_model",
    "build_network",
    "cnn",
    "mlp",
    "model_spec",
    *init.__all__,
]
