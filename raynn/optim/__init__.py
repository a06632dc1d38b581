"""Optimization: optimizers (4.4), gradient clipping (4.4.3) and explicit regularization (4.6.1, 4.6.2)."""

from __future__ import annotations

from raynn.optim.clipping import (
    CLIPPERS,
    AdaptiveNormClipper,
    Clipper,
    NormClipper,
    ValueClipper,
    build_clipper,
    global_norm,
)
from raynn.optim.optimizers import OPTIMIZERS, OptimizerInfo, build_optimizer, hyperparameters
from raynn.optim.regularization import decoupled_weight_decay_, lp_penalty

__all__ = [
    "CLIPPERS",
    "OPTIMIZERS",
    "AdaptiveNormClipper",
    "Clipper",
    "NormClipper",
    "OptimizerInfo",
    "ValueClipper",
    "build_clipper",
    "build_optimizer",
    "decoupled_weight_decay_",
    "global_norm",
    "hyperparameters",
    "lp_penalty",
]
