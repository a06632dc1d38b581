"""Ray Tune schedulers over the pure halving cores of :mod:`raynn.hpo` (seed §4.7.3).

>>> from ray import tune
>>> from raynn.tune import HyperBand
>>> config = tune.TuneConfig(scheduler=HyperBand(max_resource=9), metric="loss", mode="min",
...                          num_samples=17, max_concurrent_trials=2)

Each adapter is a plain ``ray.tune.schedulers.TrialScheduler``: halving stays correct with any number of
concurrent trials, paused trials resume from their checkpoints, every trial ends ``TERMINATED``, and the
state survives ``Tuner.restore`` (see :mod:`raynn.tune.schedulers`). Every user-facing name is in
:data:`SCHEDULERS`.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

from raynn.registry import Registry
from raynn.tune.schedulers import STATE_FILE, AsyncHalving, HalvingAdapter, HyperBand, SuccessiveHalving


def _fifo(**_: Any) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def _successive_halving(*, budget: int, num_configs: int, metric: str, mode: str, **_: Any) -> SuccessiveHalving:
    return SuccessiveHalving(budget=budget, num_configs=num_configs, metric=metric, mode=mode)


def _hyperband(*, max_resource: int, eta: int, metric: str, mode: str, **_: Any) -> HyperBand:
    return HyperBand(max_resource=max_resource, eta=eta, metric=metric, mode=mode)


def _asha(*, max_resource: int, eta: int, metric: str, mode: str, **_: Any) -> AsyncHalving:
    return AsyncHalving(max_resource=max_resource, eta=eta, metric=metric, mode=mode)


SCHEDULERS: Registry[Callable[..., Any]] = Registry("scheduler")
"""``raynn tune --scheduler NAME``: each entry builds a Tune scheduler from keyword arguments ``budget``,
``num_configs``, ``max_resource``, ``eta``, ``metric``, ``mode`` (each takes what it needs)."""
SCHEDULERS.add("fifo", _fifo, "first in, first out: every trial trains to the end (plain grid or random search)")
SCHEDULERS.add("sh", _successive_halving, "successive halving, seed Algorithm 7.2: budget B, N configurations")
SCHEDULERS.add("hyperband", _hyperband, "HyperBand (Li et al. 2018): brackets of successive halving over R, eta")
SCHEDULERS.add("asha", _asha, "asynchronous successive halving with pause and promotion (Li et al. 2020)")

__all__ = ["SCHEDULERS", "STATE_FILE", "AsyncHalving", "HalvingAdapter", "HyperBand", "SuccessiveHalving", "run_tune"]


def run_tune(*args: Any, **kwargs: Any) -> Any:
    """``raynn.tune(space, scheduler=..., searcher=..., ...)``: see :func:`raynn.tune.run.run_tune`."""
    from raynn.tune.run import run_tune as _run

    return _run(*args, **kwargs)


class _TuneModule(types.ModuleType):
    """Lets ``raynn.tune(...)`` run a search while ``raynn.tune.HyperBand`` stays importable."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run_tune(*args, **kwargs)


sys.modules[__name__].__class__ = _TuneModule
