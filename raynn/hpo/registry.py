"""The one registry of scheduler names (``raynn tune --scheduler NAME``): each entry is a whole scheduler.

An entry names its pure core, the Ray Tune adapter that runs it (by import path: nothing here imports Ray),
the options it takes (a frozen Pydantic model that refuses any other), how many configurations it tries when
none is given, and the resource a surviving trial trains for. Adding a scheduler is a core and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raynn.hpo.asha import AsyncHalving
from raynn.hpo.base import HalvingScheduler, Mode
from raynn.hpo.curve_stopping import LearningCurveStopping
from raynn.hpo.hyperband import HyperBand
from raynn.hpo.successive_halving import SuccessiveHalving
from raynn.registry import Registry
from raynn.validation import config_error, unknown_key

__all__ = ["SCHEDULERS", "CurveOptions", "FifoOptions", "HalvingOptions", "SchedulerInfo", "SchedulerOptions",
           "SuccessiveHalvingOptions"]


class SchedulerOptions(BaseModel):
    """The options of one scheduler, given to its adapter as keyword arguments; any other option is refused.

    ``blame`` is the user option a refusal of the core (a ``ValueError`` of its arithmetic) is reported
    against on the command line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    blame: ClassVar[str] = "eta"

    @classmethod
    def pick(cls, offered: Mapping[str, Any]) -> dict[str, Any]:
        """The options of this scheduler among those a run ``offered`` (None: not given, the default holds)."""
        return {key: value for key, value in offered.items() if key in cls.model_fields and value is not None}

    @classmethod
    def check(cls, scheduler: str, options: Mapping[str, Any]) -> SchedulerOptions:
        """The checked options; a one-line ``ConfigError`` naming the option, the rule and the value."""
        try:
            return cls(**options)
        except ValidationError as exc:
            where = f"scheduler {scheduler!r}"  # an option is named alone, not by a union member it failed
            raise config_error(exc, key=lambda loc: loc[0] if loc else where, scope=f" for {where}",
                               unknown=unknown_key(cls.model_fields, "option", where)) from None


class FifoOptions(SchedulerOptions):
    """FIFO takes no options: every trial trains to the end."""


class CurveOptions(SchedulerOptions):
    """The learning-curve stopping rule's options (see :class:`raynn.hpo.LearningCurveStopping`)."""

    max_resource: int
    metric: str | None = None
    mode: Mode | str | None = None


class HalvingOptions(CurveOptions):
    """HyperBand's and ASHA's options: ``R`` (``max_resource``) and the reduction factor ``eta``."""

    eta: int = 3


class SuccessiveHalvingOptions(SchedulerOptions):
    """Successive halving's options (seed Algorithm 7.2): the budget ``B`` and ``N`` configurations."""

    blame: ClassVar[str] = "budget"
    budget: int = Field(description="successive halving (the B of Algorithm 7.2)")
    num_configs: int = 8
    metric: str | None = None
    mode: Mode | str | None = None


def _at_full_resource(scheduler: Any, options: SchedulerOptions, budget: int | None, r_max: int) -> int:
    """As many configurations as the budget pays for at full resource (16 without a budget)."""
    return max(2, budget // r_max) if budget is not None else 16


def _per_band(scheduler: Any, options: SchedulerOptions, budget: int | None, r_max: int) -> int:
    """One band of the plan, or as many bands as the budget pays for (the core's planned trials and budget)."""
    trials, spend = scheduler.planned_trials, scheduler.planned_budget
    return trials * (1 if budget is None else max(1, budget // spend))


def _configs(scheduler: Any, options: SchedulerOptions, budget: int | None, r_max: int) -> int:
    """The ``N`` configurations of the bracket."""
    return options.num_configs  # type: ignore[attr-defined,no-any-return]


def _epochs(scheduler: Any, r_max: int) -> int:
    return r_max


def _last_round(scheduler: Any, r_max: int) -> int:
    """Algorithm 7.2's cumulative resource after the last round: what a survivor trains for."""
    return max(int(row["r"]) for row in scheduler.plan())


@dataclass(frozen=True)
class SchedulerInfo:
    """One scheduler name: its core, its adapter, its options and how much it runs.

    Args:
        core: the pure core the protocol tests and the Python API drive without Ray (None: FIFO).
        adapter: import path (``module.attribute``) of the Ray Tune scheduler that runs the core; called with
            the checked options.
        options: the options the adapter takes (:class:`SchedulerOptions`).
        samples: ``(scheduler, options, budget, r_max) -> int``: configurations to try when not given.
        resource: ``(scheduler, r_max) -> int``: the units a trial that is never stopped trains for
            (``r_max``: the config's epochs).
    """

    core: type[HalvingScheduler] | type[LearningCurveStopping] | None
    adapter: str
    options: type[SchedulerOptions]
    samples: Callable[[Any, Any, int | None, int], int] = _at_full_resource
    resource: Callable[[Any, int], int] = _epochs


SCHEDULERS: Registry[SchedulerInfo] = Registry("scheduler")
"""``raynn tune --scheduler NAME``: the one registry of scheduler names (``successive_halving`` is kept as
another name of ``sh``)."""
SCHEDULERS.add("fifo", SchedulerInfo(None, "ray.tune.schedulers.FIFOScheduler", FifoOptions),
               "first in, first out: every trial trains to the end (plain grid or random search)")
SCHEDULERS.add("sh", SchedulerInfo(SuccessiveHalving, "raynn.tune.schedulers.SuccessiveHalving",
                                   SuccessiveHalvingOptions, _configs, _last_round),
               "successive halving, seed Algorithm 7.2: budget B, N configurations", aliases=("successive_halving",))
SCHEDULERS.add("hyperband", SchedulerInfo(HyperBand, "raynn.tune.schedulers.HyperBand", HalvingOptions, _per_band),
               "HyperBand (Li et al. 2018): brackets of successive halving over R, eta")
SCHEDULERS.add("asha", SchedulerInfo(AsyncHalving, "raynn.tune.schedulers.AsyncHalving", HalvingOptions),
               "asynchronous successive halving with pause and promotion (Li et al. 2020)")
SCHEDULERS.add("curve", SchedulerInfo(LearningCurveStopping, "raynn.tune.schedulers.LearningCurveStopping",
                                      CurveOptions),
               "learning-curve stopping (seed 4.7.3): stop trials that diverge, stall or are forecast to end worse")
