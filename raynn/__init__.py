"""raynn: training and tuning neural networks on Ray, by the textbook."""

from __future__ import annotations

from raynn.api import TrainResult, train
from raynn.errors import ConfigError

__all__ = ["ConfigError", "TrainResult", "train", "tune", "__version__"]


def __getattr__(name: str) -> object:
    # ``raynn.tune`` (callable, and the package of Tune schedulers) imports Ray: load it only when asked.
    if name == "tune":
        import importlib

        return importlib.import_module("raynn.tune")
    raise AttributeError(f"module 'raynn' has no attribute {name!r}")
__version__ = "0.1.0"
