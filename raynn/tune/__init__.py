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

from raynn import hpo
from raynn.hpo import SCHEDULERS
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


_ADAPTERS: dict[type[hpo.HalvingScheduler] | None, Callable[..., Any]] = {
    None: _fifo,
    hpo.SuccessiveHalving: _successive_halving,
    hpo.HyperBand: _hyperband,
    hpo.AsyncHalving: _asha,
}


def build_scheduler(name: str, **options: Any) -> Any:
    """The Tune scheduler of ``raynn tune --scheduler NAME`` (a name of :data:`raynn.hpo.SCHEDULERS`, re-exported
    here), from keyword arguments ``budget``, ``num_configs``, ``max_resource``, ``eta``, ``metric``, ``mode``
    (each takes what it needs): FIFO, or the adapter over the halving core the name runs."""
    return _ADAPTERS[SCHEDULERS.get(name).core](**options)


__all__ = ["SCHEDULERS", "STATE_FILE", "AsyncHalving", "HalvingAdapter", "HyperBand", "SuccessiveHalving",
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
