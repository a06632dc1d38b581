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

from raynn.hpo.asha import AsyncHalving
from raynn.hpo.base import Decision, HalvingProtocol, HalvingQueries, HalvingScheduler, Mode, TrialStatus
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
from raynn.hpo.registry import SCHEDULERS, SchedulerInfo, SchedulerOptions
from raynn.hpo.successive_halving import SuccessiveHalving

__all__ = [
    "DISTRIBUTIONS",
    "SCHEDULERS",
    "SEARCHERS",
    "AsyncHalving",
    "SchedulerInfo",
    "SchedulerOptions",
    "BracketPlan",
    "Categorical",
    "Decision",
    "Dimension",
    "FloatRange",
    "Grid",
    "GridSearcher",
    "MultiFidelityGPSearcher",
    "HalvingProtocol",
    "HalvingQueries",
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
