"""raynn: training and tuning neural networks on Ray, by the textbook."""

from __future__ import annotations

from raynn.api import TrainResult, train
from raynn.errors import ConfigError

__all__ = ["ConfigError", "TrainResult", "train", "__version__"]
__version__ = "0.1.0"
