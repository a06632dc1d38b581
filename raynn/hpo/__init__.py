"""Dynamic resource allocation for hyperparameter search, seed §4.7.3: pure, backend-free scheduler cores.

>>> from raynn.hpo import SuccessiveHalving
>>> [(row["n"], row["r"]) for row in SuccessiveHalving(budget=64, n_configs=8).plan()]
[(8, 4), (4, 12)]

Nothing here imports Ray: an adapter subclasses Ray Tune's ``TrialScheduler`` and translates its calls into
:class:`HalvingScheduler` calls (see :mod:`raynn.hpo.base`). Every user-facing name is in :data:`SCHEDULERS`.
"""

from __future__ import annotations

from raynn.hpo.asha import AsyncHalving
from raynn.hpo.base import Decision, HalvingScheduler, Mode
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
from raynn.hpo.successive_halving import SuccessiveHalving
from raynn.registry import Registry

SCHEDULERS: Registry[type[HalvingScheduler]] = Registry("scheduler")
SCHEDULERS.add("successive_halving", SuccessiveHalving, "seed Algorithm 7.2: budget B, N configurations")
SCHEDULERS.add("hyperband", HyperBand, "Li et al. 2018: brackets s_max..0 of successive halving")
SCHEDULERS.add("asha", AsyncHalving, "Li et al. 2020: asynchronous successive halving with promotion")

__all__ = [
    "SCHEDULERS",
    "AsyncHalving",
    "BracketPlan",
    "Decision",
    "HalvingScheduler",
    "HyperBand",
    "Mode",
    "Round",
    "SuccessiveHalving",
    "ceil_log2",
    "hyperband_brackets",
    "ilog",
    "rung_resources",
    "sh_eta_rounds",
    "sh_rounds",
]
