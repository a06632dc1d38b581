"""raynn: training and tuning neural networks on Ray, by the textbook."""

from __future__ import annotations

from raynn.api import TrainResult, train
from raynn.errors import ConfigError

__all__ = ["ConfigError", "TrainResult", "study", "train", "tune", "__version__"]


def __getattr__(name: str) -> object:
    # ``raynn.tune`` (callable, and the package of Tune schedulers) imports Ray: load it only when asked.
    # ``raynn.study`` (callable, and the package of the chapter's studies) imports torch: likewise.
    if name in ("tune", "study"):
        import importlib

        return importlib.import_module(f"raynn.{name}")
    raise AttributeError(f"module 'raynn' has no attribute {name!r}")
__version__ = "0.1.0"
