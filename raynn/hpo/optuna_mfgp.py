"""``optuna-mfgp`` as an Optuna sampler: a plain ``optuna.create_study(sampler=..., pruner=...)`` can use it.

>>> import optuna
>>> from raynn.hpo.optuna_mfgp import MultiFidelityGPSampler
>>> study = optuna.create_study(sampler=MultiFidelityGPSampler(max_resource=27, seed=0),
...                             pruner=optuna.pruners.HyperbandPruner(1, 27, 3))

The sampler reads every trial of the study -- the intermediate values of pruned and running trials too --
and hands them to :class:`raynn.hpo.mfgp.MFGPCore` as observations at their steps (the step is the resource):
a complete trial's value at its last step, each intermediate value at steps ``1, eta, eta^2, ...`` and the
trial's last step, a failed trial as the worst value. Running trials are pending. The relative search space
is Optuna's ``IntersectionSearchSpace`` (as ``GPSampler``); parameters outside it are drawn by a seeded
``RandomSampler``. Only public Optuna API is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

from raynn.hpo.mfgp import MFGPCore, Observation
from raynn.values import check_int

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = ["MultiFidelityGPSampler"]


class MultiFidelityGPSampler(BaseSampler):
    """One GP over configuration and step (MOBSTER, Klein et al., 2020) for a study with a pruner.

    Args:
        max_resource: The step proposals are for (``max_resource`` of ``HyperbandPruner``); None: the largest
            step any trial reported (1 before any report).
        seed: Seed of the proposals and of the independent sampler; None: drawn from the OS.
        n_startup_trials: Sobol proposals before the model; None: ``max(5, d + 1)``.
        random_fraction: Share of later proposals drawn uniformly at random.
        eta: Intermediate values are modelled at steps ``1, eta, eta^2, ...`` and each trial's last step.
    """

    def __init__(
        self,
        *,
        max_resource: int | None = None,
        seed: int | None = None,
        n_startup_trials: int | None = None,
        random_fraction: float = 0.2,
        eta: int = 3,
    ) -> None:
        check_int("max_resource", max_resource, 1, optional=True)
        check_int("eta", eta, 2)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.max_resource = max_resource
        self.seed = int(seed)
        self.n_startup_trials = n_startup_trials
        self.random_fraction = random_fraction
        self.eta = eta
        # Checked now, not at the first ask: a core over a one-key space validates the arguments.
        MFGPCore({"x": optuna.distributions.FloatDistribution(0.0, 1.0)}, 1, self.seed, n_startup_trials,
                 random_fraction)
        self._independent = RandomSampler(seed=self.seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        self._core: MFGPCore | None = None

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {k: d for k, d in self._space.calculate(study).items() if not d.single()}

    def _kept(self, step: int, last: int) -> bool:
        if step == last:
            return True
        while step % self.eta == 0:
            step //= self.eta
        return step == 1

    def observations(
        self, study: Study, search_space: dict[str, BaseDistribution], exclude: int | None = None
    ) -> tuple[list[Observation], list[dict[str, Any]], int]:
        """Observations, pending parameters and the largest step, read from ``study``'s trials."""
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        obs: list[Observation] = []
        pending: list[dict[str, Any]] = []
        top = 1
        for t in study.get_trials(deepcopy=False):
            if t.number == exclude or any(
                k not in t.params or t.distributions[k] != d for k, d in search_space.items()
            ):
                continue
            params = {k: t.params[k] for k in search_space}
            steps = sorted(t.intermediate_values)
            last = steps[-1] if steps else 0
            top = max(top, last)
            if t.state == TrialState.RUNNING:
                pending.append(params)
                continue
            if t.state == TrialState.FAIL:
                obs.append(Observation(params, 0, None))
                continue
            for step in steps:
                if self._kept(step, last) and not (t.state == TrialState.COMPLETE and step == last):
                    obs.append(Observation(params, step, sign * t.intermediate_values[step]))
            if t.state == TrialState.COMPLETE and t.value is not None:
                at = last if last else (self.max_resource or 1)
                obs.append(Observation(params, at, sign * t.value))
        return obs, pending, top

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if self._core is None or self._core.encoding.distributions != search_space:
            self._core = MFGPCore(search_space, 1, self.seed, self.n_startup_trials, self.random_fraction)
        obs, pending, top = self.observations(study, search_space, exclude=trial.number)
        self._core.max_resource = self.max_resource or top
        return self._core.propose(trial.number, obs, pending)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._independent.after_trial(study, trial, state, values)
