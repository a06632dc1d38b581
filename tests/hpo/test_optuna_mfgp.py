"""raynn.hpo.optuna_mfgp: the searcher as an Optuna sampler in a plain study with a pruner (real Optuna)."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from raynn.hpo.optuna_mfgp import MultiFidelityGPSampler


def _objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    batch = trial.suggest_categorical("batch", [16, 64, 256])
    if lr > 0.5:
        raise RuntimeError("diverged")  # a failed trial: the study records FAIL
    value = math.inf
    for r in range(1, 10):
        value = (math.log10(lr) + 2) ** 2 + abs(math.log2(batch / 64)) * 0.1 + 1.0 / r
        trial.report(value, r)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def _study(seed: int, n: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=MultiFidelityGPSampler(max_resource=9, seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(1, 9, 3), study_name="mfgp")
    # (a fixed name: HyperbandPruner picks brackets by hashing it with the trial number)
    study.optimize(_objective, n_trials=n, catch=(RuntimeError,))
    return study


def test_study_with_hyperband_pruner_finds_the_optimum_and_repeats() -> None:
    study = _study(0, 24)
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    assert study.best_value < 0.111 + 0.03  # optimum: lr = 0.01, batch 64, 1/9
    again = _study(0, 24)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


def test_observations_read_pruned_running_and_failed_trials() -> None:
    study = optuna.create_study(sampler=MultiFidelityGPSampler(max_resource=9, seed=0))
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    pruned = study.ask(space)
    for step, v in [(1, 0.9), (2, 0.8), (3, 0.7)]:
        pruned.report(v, step)
    study.tell(pruned, state=TrialState.PRUNED)
    done = study.ask(space)
    for step in range(1, 10):
        done.report(1.0 / step, step)
    study.tell(done, 0.1)
    failed = study.ask(space)
    study.tell(failed, state=TrialState.FAIL)
    running = study.ask(space)
    obs, pending, top = study.sampler.observations(study, space)
    # pruned: steps 1 and 3 (1, eta, eta^2 ... and its last); complete: steps 1, 3 and its value at 9
    assert sorted((o.resource, o.value) for o in obs if o.value is not None) == [
        (1, 0.9), (1, 1.0), (3, 1.0 / 3), (3, 0.7), (9, 0.1)]
    assert [o.resource for o in obs if o.value is None] == [0]
    assert pending == [running.params] and top == 9


def test_sampler_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="max_resource"):
        MultiFidelityGPSampler(max_resource=0)
    with pytest.raises(ValueError, match="random_fraction"):
        MultiFidelityGPSampler(random_fraction=2.0)
    with pytest.raises(ValueError, match="eta"):
        MultiFidelityGPSampler(eta=1)
