"""raynn: training and tuning neural networks on Ray, by the textbook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raynn.errors import ConfigError

if TYPE_CHECKING:
    from raynn.api import TrainResult, train

__all__ = ["ConfigError", "TrainResult", "study", "train", "tune", "__version__"]


def __getattr__(name: str) -> object:
    # ``raynn.train`` loads the run config and its checks: importing ``raynn.hpo`` (pure) must not.
    if name in ("train", "TrainResult"):
        from raynn import api

        return getattr(api, name)
    # ``raynn.tune`` (callable, and the package of Tune schedulers) imports Ray: load it only when asked.
    # ``raynn.study`` (callable, and the package of the chapter's studies) imports torch: likewise.
    if name in ("tune", "study"):
        import importlib

        return importlib.import_module(f"raynn.{name}")
    raise AttributeError(f"module 'raynn' has no attribute {name!r}")
__version__ = "0.1.0"
