"""``raynn tune``: hyperparameter search over raynn training runs on a Ray cluster (seed section 4.7).

Everything the user typed is checked before Ray starts: the search space, the scheduler and searcher names,
and the budget (a successive-halving budget too small for one round is an error, not a silent no-op). Then a
plain ``ray.tune.Tuner`` runs, with raynn's scheduler adapter and searcher adapter, and the experiment
directory receives a results table, a learning-curve plot and a rung diagram.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raynn.config import check_config
from raynn.errors import ConfigError
from raynn.hpo.searchers import SEARCHERS, build_searcher
from raynn.hpo.spaces import SearchSpace, load_space
from raynn.tune import SCHEDULERS

__all__ = ["TuneResult", "run_tune"]


@dataclass(frozen=True)
class TuneResult:
    """What a tuning run leaves behind.

    Attributes:
        best_config: The best trial's raynn run config (checked), ``best_params`` its searched values.
        best_checkpoint: That trial's latest checkpoint directory.
        ledger: The scheduler's budget ledger (spent against planned, per bracket and rung).
        curves: Every trial's learning curve, ``{trial_id: [(epoch, metric), ...]}``.
        path: The experiment directory (results table, plots, Optuna study, Tune state).
    """

    best_trial: str | None
    best_params: dict[str, Any]
    best_config: dict[str, Any]
    best_value: float | None
    best_checkpoint: str | None
    ledger: dict[str, Any]
    curves: dict[str, list[tuple[int, float]]]
    path: str
    trials: list[dict[str, Any]] = field(default_factory=list)


def _rungs(scheduler: Any) -> list[int] | None:
    """The resource levels at which the scheduler compares trials: the fidelities the searcher models."""
    if not hasattr(scheduler, "plan"):
        return None
    return sorted({int(row["r"]) for row in scheduler.plan()}) or None


def run_tune(
    space: str | os.PathLike[str] | SearchSpace,
    *,
    scheduler: str = "hyperband",
    searcher: str = "optuna-gp",
    budget: int | None = None,
    num_samples: int | None = None,
    workers_per_trial: int = 1,
    gpus_per_worker: float = 0,
    max_concurrent: int | None = None,
    resume: bool = False,
    address: str | None = None,
    name: str | None = None,
    storage: str | os.PathLike[str] = "experiments",
    metric: str = "val_loss",
    mode: str = "min",
    eta: int = 3,
    seed: int = 0,
    verbose: bool = True,
) -> TuneResult:
    """Search ``space`` with ``scheduler`` and ``searcher`` on Ray Tune; see ``raynn tune --help``.

    ``budget`` is successive halving's B (resource units, epochs); for the other schedulers it caps the
    resource the experiment may spend by choosing how many configurations to try. ``num_samples`` is the
    number of configurations (for ``sh`` the N of Algorithm 7.2).
    """
    # ---- check everything before anything starts ----------------------------------------------------------
    if scheduler not in SCHEDULERS:
        raise ConfigError("--scheduler", f"must be one of {', '.join(SCHEDULERS.names())}", scheduler)
    if searcher not in SEARCHERS:
        raise ConfigError("--searcher", f"must be one of {', '.join(SEARCHERS.names())}", searcher)
    if mode not in ("min", "max"):
        raise ConfigError("--mode", "must be min or max", mode)
    for key, value, low in (("--budget", budget, 1), ("--num-samples", num_samples, 1),
                            ("--workers-per-trial", workers_per_trial, 1), ("--max-concurrent", max_concurrent, 1),
                            ("--eta", eta, 2)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise ConfigError(key, f"must be an integer >= {low}", value)
    if gpus_per_worker < 0:
        raise ConfigError("--gpus-per-worker", "must be >= 0", gpus_per_worker)
    if scheduler == "sh" and budget is None:
        raise ConfigError("--budget", "must be given for successive halving (the B of Algorithm 7.2)", budget)
    space = space if isinstance(space, SearchSpace) else load_space(space)
    sample = check_config(space.apply({k: space.dimensions[k].corners()[0] for k in space.keys()}))
    max_resource = sample["train"]["epochs"]
    name = name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    exp_dir = Path(storage).resolve() / name
    if resume and not exp_dir.is_dir():
        raise ConfigError("--resume", "needs an existing experiment; none at", str(exp_dir))

    num_configs = num_samples or 8
    try:
        sched = SCHEDULERS.get(scheduler)(max_resource=max_resource, budget=budget, num_configs=num_configs,
                                          eta=eta, metric=metric, mode=mode)
    except ValueError as exc:
        key = "--budget" if scheduler == "sh" else "--eta"
        raise ConfigError(key, str(exc).splitlines()[0], budget if scheduler == "sh" else eta) from None
    if scheduler == "sh":
        # Algorithm 7.2's cumulative resource after the last round is what a survivor trains for.
        max_resource = max(int(row["r"]) for row in sched.plan())
    num_samples = _num_samples(scheduler, sched, budget, num_samples, max_resource)
    rungs = _rungs(sched)
    core = build_searcher(searcher, space, **_searcher_options(searcher, seed, exp_dir, mode, rungs, num_samples))

    # ---- run ----------------------------------------------------------------------------------------------
    import ray
    from ray import tune

    from raynn.api import ensure_ray
    from raynn.tune.search import RaynnSearcher
    from raynn.tune.trial import run_trial
    from raynn.tune.view import ProgressView

    ensure_ray(address)
    overrides = {"train.epochs": max_resource, "train.workers": workers_per_trial,
                 "train.gpus_per_worker": gpus_per_worker, "storage": str(exp_dir), "seed": seed}
    trainable = tune.with_parameters(run_trial, space=space.to_dict(), overrides=overrides)
    if workers_per_trial == 1:
        resources = {"CPU": 1, **({"GPU": gpus_per_worker} if gpus_per_worker else {})}
    else:
        # The trial only drives a TorchTrainer, which reserves its own workers; Tune needs a non-empty request.
        resources = {"CPU": 0.1}
    trainable = tune.with_resources(trainable, resources)
    if max_concurrent is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        max_concurrent = max(1, cpus // workers_per_trial)
    view = ProgressView(sched, metric=metric, mode=mode, budget=budget, enabled=verbose)
    if resume:
        tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=RaynnSearcher(core, metric=metric, mode=mode), scheduler=sched, num_samples=num_samples,
                max_concurrent_trials=max_concurrent, metric=metric, mode=mode,
                # Not reused: with reuse_actors=True, Tune's per-trial results of a paused and resumed trial
                # lost rows (a curve read [2, 3] after a correct resume from epoch 1), and curves are outputs here.
                reuse_actors=False,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(name=name, storage_path=str(exp_dir.parent), callbacks=[view], verbose=0,
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
        )
    grid = tuner.fit()
    from raynn.tune.outputs import collect, write_outputs

    result = collect(grid, sched, space, overrides, metric, mode, exp_dir)
    write_outputs(result, metric)
    if verbose:
        view.final(result)
    return result


def _trial_dirname(trial: Any) -> str:
    return f"trial-{trial.trial_id}"


def _band(plan: list[dict[str, Any]]) -> tuple[int, int]:
    """(configurations, resource) of one band of a plan: sum over brackets of n_0 and of n_i (r_i - r_(i-1))."""
    trials, spend, last = 0, 0, {}
    for row in sorted(plan, key=lambda r: (r["bracket"], r["round"])):
        previous = last.get(row["bracket"], 0)
        trials += row["n"] if row["round"] == 0 else 0
        spend += row["n"] * (row["r"] - previous)
        last[row["bracket"]] = row["r"]
    return trials, spend


def _num_samples(scheduler: str, sched: Any, budget: int | None, num_samples: int | None, r_max: int) -> int:
    """How many configurations to try: given, or what one band (or the budget) pays for."""
    if num_samples is not None:
        return num_samples
    if scheduler == "sh":
        return 8
    if scheduler == "hyperband":
        trials, spend = _band(sched.plan())
        return trials * (1 if budget is None else max(1, budget // spend))
    # fifo / asha: as many configurations as the budget pays for at full resource.
    return max(2, budget // r_max) if budget is not None else 16


def _searcher_options(name: str, seed: int, exp_dir: Path, mode: str, rungs: list[int] | None,
                      num_samples: int) -> dict[str, Any]:
    if name == "grid":
        return {}
    if name == "random":
        return {"seed": seed, "num_samples": num_samples}
    exp_dir.mkdir(parents=True, exist_ok=True)
    return {"seed": seed, "storage_path": str(exp_dir / "optuna.db"), "mode": mode, "rungs": rungs}
