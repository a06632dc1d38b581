"""Ray Tune schedulers over the pure halving cores of :mod:`raynn.hpo` (seed §4.7.3).

>>> from ray import tune
>>> from raynn.tune import HyperBand
>>> config = tune.TuneConfig(scheduler=HyperBand(max_resource=9), metric="loss", mode="min",
...                          num_samples=17, max_concurrent_trials=2)

Every user-facing scheduler name is in :data:`SCHEDULERS`; what the adapters work around in Ray is in the
Ray notes guide.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from raynn.hpo import SCHEDULERS
from raynn.tune.schedulers import AsyncHalving, HalvingAdapter, HyperBand, SuccessiveHalving, build_scheduler


__all__ = ["SCHEDULERS", "AsyncHalving", "HalvingAdapter", "HyperBand", "SuccessiveHalving",
           "build_scheduler", "run_tune"]


def run_tune(*args: Any, **kwargs: Any) -> Any:
    """``raynn.tune(space, scheduler=..., searcher=..., ...)``: see :func:`raynn.tune.run.run_tune`."""
    from raynn.tune.run import run_tune as _run

    return _run(*args, **kwargs)


class _TuneModule(types.ModuleType):
    """Lets ``raynn.tune(...)`` run a search while ``raynn.tune.HyperBand`` stays importable."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run_tune(*args, **kwargs)


sys.modules[__name__].__class__ = _TuneModule
