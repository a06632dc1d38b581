"""Models and their initialization.

The seed's sections 4.3 (initialization), 4.5 (layer-wise normalization) and 4.6.4 (dropout).
"""

from __future__ import annotations

from raynn.nn.activations import ACTIVATIONS, build_activation
from raynn.nn.init import (
    INITIALIZERS,
    RELU_BIAS,
    Gaussian,
    He,
    Initializer,
    Orthogonal,
    Pretrained,
    RandomInitializer,
    Uniform,
    Xavier,
    build_initializer,
    default_initializer,
    fans,
    gaussian_,
    he_,
    he_scale,
    init_lstm_forget_bias,
    load_pretrained_,
    orthogonal_,
    uniform_,
    xavier_,
    xavier_scale,
)
from raynn.nn.models import CNN, MLP, MODELS, NORMS, build_model, cnn, mlp, model_spec

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "INITIALIZERS",
    "MLP",
    "MODELS",
    "NORMS",
    "RELU_BIAS",
    "Gaussian",
    "He",
    "Initializer",
    "Orthogonal",
    "Pretrained",
    "RandomInitializer",
    "Uniform",
    "Xavier",
    "build_activation",
    "build_initializer",
    "build_model",
    "cnn",
    "default_initializer",
    "fans",
    "gaussian_",
    "he_",
    "he_scale",
    "init_lstm_forget_bias",
    "load_pretrained_",
    "mlp",
    "model_spec",
    "orthogonal_",
    "uniform_",
    "xavier_",
    "xavier_scale",
]
