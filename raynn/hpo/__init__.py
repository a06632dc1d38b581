"""Hyperparameter search, seed §4.7: pure, backend-free searchers (§4.7.1 grid, §4.7.2 random,
§4.7.4 Bayesian optimization) over YAML search spaces, and scheduler cores for dynamic resource
allocation (§4.7.3).

Examples:
    >>> from raynn.hpo import SuccessiveHalving
    >>> [(row["n"], row["r"]) for row in SuccessiveHalving(budget=64, n_configs=8).plan()]
    [(8, 4), (4, 12)]

Nothing here imports Ray: adapters subclass Ray Tune's ``TrialScheduler`` / ``Searcher`` and translate
their calls into :class:`HalvingScheduler` / :class:`Searcher` calls (see :mod:`raynn.hpo.base` and
:mod:`raynn.hpo.searchers`). Every user-facing name is in :data:`SCHEDULERS`, :data:`SEARCHERS` or
:data:`DISTRIBUTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from raynn.hpo.asha import AsyncHalving
from raynn.hpo.base import Decision, HalvingScheduler, Mode, TrialStatus
from raynn.hpo.curve_stopping import LearningCurveStopping
from raynn.hpo.budget import (
    BracketPlan,
    Round,
    ceil_log2,
    hyperband_brackets,
    ilog,
    rung_resources,
    sh_eta_rounds,
    sh_rounds,
)
from raynn.hpo.hyperband import HyperBand
from raynn.hpo.searchers import (
    SEARCHERS,
    GridSearcher,
    MultiFidelityGPSearcher,
    OptunaSearcher,
    RandomSearcher,
    Searcher,
    SearcherInfo,
    build_searcher,
)
from raynn.hpo.spaces import (
    DISTRIBUTIONS,
    Categorical,
    Dimension,
    FloatRange,
    Grid,
    IntRange,
    SearchSpace,
    load_space,
)
from raynn.hpo.successive_halving import SuccessiveHalving
from raynn.registry import Registry



@dataclass(frozen=True)
class SchedulerInfo:
    """One scheduler name: the halving core it runs, or None for FIFO (every trial trains to the end).

    :mod:`raynn.tune` builds the Ray Tune scheduler of a name (``raynn.tune.build_scheduler``); the core is
    what the protocol tests and the Python API drive without Ray.
    """

    core: type[HalvingScheduler] | type[LearningCurveStopping] | None


SCHEDULERS: Registry[SchedulerInfo] = Registry("scheduler")
"""``raynn tune --scheduler NAME``: the one registry of scheduler names (``successive_halving`` is kept as
another name of ``sh``)."""
SCHEDULERS.add("fifo", SchedulerInfo(None),
               "first in, first out: every trial trains to the end (plain grid or random search)")
SCHEDULERS.add("sh", SchedulerInfo(SuccessiveHalving),
               "successive halving, seed Algorithm 7.2: budget B, N configurations", aliases=("successive_halving",))
SCHEDULERS.add("hyperband", SchedulerInfo(HyperBand),
               "HyperBand (Li et al. 2018): brackets of successive halving over R, eta")
SCHEDULERS.add("asha", SchedulerInfo(AsyncHalving),
               "asynchronous successive halving with pause and promotion (Li et al. 2020)")
SCHEDULERS.add("curve", SchedulerInfo(LearningCurveStopping),
               "learning-curve stopping (seed 4.7.3): stop trials that diverge, stall or are forecast to end worse")

__all__ = [
    "DISTRIBUTIONS",
    "SCHEDULERS",
    "SEARCHERS",
    "AsyncHalving",
    "SchedulerInfo",
    "BracketPlan",
    "Categorical",
    "Decision",
    "Dimension",
    "FloatRange",
    "Grid",
    "GridSearcher",
    "MultiFidelityGPSearcher",
    "HalvingScheduler",
    "HyperBand",
    "IntRange",
    "LearningCurveStopping",
    "Mode",
    "OptunaSearcher",
    "RandomSearcher",
    "Round",
    "SearchSpace",
    "Searcher",
    "SearcherInfo",
    "SuccessiveHalving",
    "TrialStatus",
    "build_searcher",
    "ceil_log2",
    "hyperband_brackets",
    "ilog",
    "load_space",
    "rung_resources",
    "sh_eta_rounds",
    "sh_rounds",
]
