"""Searchers and stopping rules at equal epoch budget on real training (issue 19); a script, not a timed test.

Problems (all real learning curves of raynn's own loop, :func:`raynn.training.loop.run_training`):

* ``p3``: the table ``scripts/data/search_table_digits.json.gz`` (``scripts/record_search_table.py``): 324
  configurations of a 5-key factorial space on 80% of digits, every epoch's validation loss to R = 27. A
  trial's result at ``r`` epochs is its row's ``r``-th loss, so many seeds cost seconds. Budget: one HyperBand
  band (357 epochs). Each row also holds the configuration retrained with 3 fresh seeds and scored on the other
  20% of digits, which no method sees: the report's "held-out" column, for the configuration a method picked.
* ``p1``: the same 80% of digits, 7 keys (lr, momentum, weight decay, dropout, widths, batch size, optimizer),
  R = 9, budget three HyperBand bands (3 x 69 epochs); trained in this process, no Ray. A method's pick is
  retrained with 3 fresh seeds and scored on the held-out 20% (the "held-out" column).
* ``p2``: ``search_spaces/mnist.yaml`` (the CNN on a 5,000-image MNIST subset), R = 9, three bands.

Every method runs one trial at a time (one slot) until the epoch budget is spent; a promoted trial continues
from where it paused (only its new epochs are charged). A trial's seed is the run's seed, so for one seed all
methods see the same data split and initialisation for a configuration. The score of a run is the best
validation loss at R among trials that reached R (inf when none did).

    python scripts/bench_search.py --problem p3 --seeds 30 --out /tmp/p3.json
    python scripts/bench_search.py --report /tmp/p3.json          # tables and Wilcoxon tests
    python scripts/bench_search.py --cost                           # suggestion cost at 300 observations
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TABLE = ROOT / "scripts" / "data" / "search_table_digits.json.gz"
ETA = 3
NEW = "hb+mfgp"
RETRAIN_SEEDS = (1001, 1002, 1003)  # P1's picks retrained; runs use seeds 0, 1, ...


# -- problems ------------------------------------------------------------------------------------------------


class Problem:
    """A search space, R, and the validation loss of a configuration after each epoch."""

    name: str
    R: int
    bands: int
    space: Any
    has_held_out = False

    def curve(self, params: dict[str, Any], r: int, seed: int) -> list[float]:
        """Losses of epochs 1..r (shorter when the run diverged: its last value is non-finite)."""
        raise NotImplementedError

    def held_out(self, params: dict[str, Any]) -> float | None:
        """The configuration retrained to R with fresh seeds, its mean loss on data no method saw (inf when a
        retrain diverged); only where ``has_held_out``."""
        raise NotImplementedError

    @property
    def budget(self) -> int:
        from raynn.hpo import HyperBand

        return self.bands * HyperBand(self.R, ETA).planned_budget


class TableProblem(Problem):
    has_held_out = True

    def __init__(self) -> None:
        from raynn.hpo.spaces import SearchSpace

        doc = json.load(gzip.open(TABLE, "rt"))
        self.name, self.R, self.bands = "p3", int(doc["R"]), 1
        self.space = SearchSpace.from_dict(doc["space"], check=False)
        self.rows = {json.dumps(self.space.normalize(r["params"]), sort_keys=True): r for r in doc["rows"]}

    def _row(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.rows[json.dumps(self.space.normalize(params), sort_keys=True)]

    def curve(self, params: dict[str, Any], r: int, seed: int) -> list[float]:
        return [math.inf if v is None else float(v) for v in self._row(params)["val_loss"][:r]]

    def held_out(self, params: dict[str, Any]) -> float | None:
        losses = self._row(params)["held_out_loss"]
        return math.inf if None in losses else statistics.fmean(losses)


class _Enough(Exception):
    pass


class TrainedProblem(Problem):
    """Trains in this process and keeps each configuration's curve. Asked for epoch ``r`` beyond what is kept,
    it trains from scratch to the next rung ``eta^k >= r`` (capped at R): the loop is deterministic for a seed
    and its schedule is R's, so the first epochs of a longer run are the shorter run's. A run is charged only
    the epochs it asks for (a promoted trial continues where it paused); retraining costs wall time only."""

    def __init__(self, name: str, space: Any, R: int, bands: int, has_held_out: bool = False) -> None:
        self.name, self.space, self.R, self.bands = name, space, R, bands
        self.has_held_out = has_held_out  # the space's data is _digits_holdout.search_part
        self._held: dict[str, float] = {}
        self._cache: dict[str, list[float]] = {}
        self._done: set[str] = set()  # curves that ended (R reached, or diverged)
        self.epochs_trained = 0
        self._data: Any = None

    def curve(self, params: dict[str, Any], r: int, seed: int) -> list[float]:
        from raynn.training.loop import DataCache, Env, run_training

        if self._data is None:
            self._data = DataCache()  # the split and preprocessing of a seed, once
        key = json.dumps([seed, self.space.normalize(params)], sort_keys=True)
        have = self._cache.get(key, [])
        if len(have) >= r or key in self._done:
            return have[:r]
        target = 1
        while target < r:
            target *= ETA
        target = min(target, self.R)
        cfg = self._config(params, seed)
        losses: list[float] = []

        def report(metrics: dict[str, Any], ckpt: Any) -> None:
            losses.append(float(metrics["val_loss"]))
            self.epochs_trained += 1
            if len(losses) >= target and target < self.R:
                raise _Enough

        try:
            env = Env(report=report, log=lambda line: None, checkpoint_at=lambda e: False,
                      warn=lambda line: None, data_cache=self._data)
            history = run_training(cfg, env)
            self._done.add(key)
            if history and history[-1].get("diverged") and losses and math.isfinite(losses[-1]):
                losses[-1] = math.inf
        except _Enough:
            pass
        self._cache[key] = losses
        return losses[:r]

    def _config(self, params: dict[str, Any], seed: int) -> Any:
        """The checked run config of a configuration at ``seed``."""
        from raynn.config import apply_overrides, check_config

        return check_config(apply_overrides(self.space.apply(params), [f"seed={seed}"]))

    def held_out(self, params: dict[str, Any]) -> float:
        """Retrained to R with the fresh seeds ``RETRAIN_SEEDS`` (no run uses them), scored on digits' held-out
        part; the mean loss, inf when a retrain diverged. Kept per configuration."""
        from _digits_holdout import held_out_score

        key = json.dumps(self.space.normalize(params), sort_keys=True)
        if key not in self._held:
            scores = [held_out_score(self._config(params, seed)) for seed in RETRAIN_SEEDS]
            self._held[key] = math.inf if None in scores else statistics.fmean(s[0] for s in scores)
        return self._held[key]


def p1_space() -> Any:
    from raynn.hpo.spaces import SearchSpace

    return SearchSpace.from_dict({
        "base": {
            "data": {"class_path": "_digits_holdout.search_part", "preprocess": "standardize"},
            "model": {"name": "mlp", "activation": "relu"},
            "train": {"epochs": 9, "batch_size": 64, "num_threads": 1},
        },
        "space": {
            "optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
            "optimizer.params.momentum": {"type": "float", "low": 0.5, "high": 0.99},
            "optimizer.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            "model.dropout": {"type": "float", "low": 0.0, "high": 0.5},
            "model.params.hidden": {"type": "categorical", "choices": [[32], [64], [128, 64], [256, 128]]},
            "train.batch_size": {"type": "categorical", "choices": [16, 32, 64, 128, 256]},
            "optimizer.name": {"type": "categorical", "choices": ["momentum", "nesterov"]},
        },
    }, check=False)


def make_problem(name: str) -> Problem:
    from raynn.hpo.spaces import load_space

    if name == "p3":
        return TableProblem()
    if name == "p1":
        return TrainedProblem("p1", p1_space(), 9, 3, has_held_out=True)
    if name == "p2":
        return TrainedProblem("p2", load_space(ROOT / "search_spaces" / "mnist.yaml"), 9, 3)
    raise SystemExit(f"unknown problem {name!r}")


# -- one run -------------------------------------------------------------------------------------------------


class Run:
    """Budget accounting and the score, shared by every method."""

    def __init__(self, problem: Problem, seed: int) -> None:
        self.problem, self.seed = problem, seed
        self.spent = 0
        self.best = math.inf
        self.best_params: dict[str, Any] | None = None
        self.trials = 0

    @property
    def held_out(self) -> float | None:
        """The picked configuration's held-out score (inf when nothing reached R; None: no held-out data)."""
        if not self.problem.has_held_out:
            return None
        return math.inf if self.best_params is None else self.problem.held_out(self.best_params)

    @property
    def left(self) -> int:
        return self.problem.budget - self.spent

    def value(self, params: dict[str, Any], r: int) -> float | None:
        """Train one more epoch (to ``r``): its loss, or None when the run had diverged before ``r``."""
        curve = self.problem.curve(params, r, self.seed)
        if len(curve) < r:
            return None
        self.spent += 1
        v = curve[r - 1]
        if r == self.problem.R and math.isfinite(v) and v < self.best:
            self.best, self.best_params = v, dict(params)
        return v


def run_halving(problem: Problem, seed: int, scheduler: str, searcher: Any,
                stopper: Any = None) -> Run:
    """A raynn core (or none: FIFO) and a raynn searcher, one slot."""
    from raynn.hpo import AsyncHalving, Decision, HyperBand

    run = Run(problem, seed)
    core = {"hb": lambda: HyperBand(problem.R, ETA), "asha": lambda: AsyncHalving(problem.R, ETA),
            "fifo": lambda: None}[scheduler]()
    params: dict[str, dict[str, Any]] = {}
    done: dict[str, int] = {}
    n = 0
    while run.left > 0:
        tid = core.choose_paused() if core is not None else None
        if tid is None:
            if core is not None and not core.has_room():
                break
            tid, n = f"t{n}", n + 1
            p = searcher.suggest(tid)
            if p is None:
                break
            params[tid], done[tid] = p, 0
            run.trials += 1
            if core is not None:
                core.on_trial_add(tid)
        ended = False
        while run.left > 0:
            r = done[tid] + 1
            v = run.value(params[tid], r)
            if v is None:  # diverged before: raynn's loop ended the run
                ended = True
                break
            done[tid] = r
            searcher.on_result(tid, r, v)
            decision = Decision.STOP if r >= problem.R else Decision.CONTINUE
            if core is not None:
                decision = core.on_result(tid, r, v)
            if stopper is not None and decision is Decision.CONTINUE:
                decision = stopper.on_result(tid, r, v)
            if not math.isfinite(v) or decision is Decision.STOP:
                ended = True
                break
            if decision is Decision.PAUSE:
                break
        if ended:
            searcher.on_complete(tid)
            if core is not None:
                core.on_trial_remove(tid)
            if stopper is not None:
                stopper.on_trial_remove(tid)
        if core is not None:
            for s in core.pop_stops():
                searcher.on_complete(s)
    return run


def run_optuna(problem: Problem, seed: int, sampler: str, pruner: str) -> Run:
    import optuna

    from raynn.hpo.optuna_mfgp import MultiFidelityGPSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "mfgp": lambda: MultiFidelityGPSampler(max_resource=problem.R, seed=seed),
    }
    pruners = {
        "hyperband": lambda: optuna.pruners.HyperbandPruner(1, problem.R, ETA),
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    }
    run = Run(problem, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=samplers[sampler](), pruner=pruners[pruner](),
                                    study_name=f"bench-{seed}")
    dists = problem.space.to_optuna()

    def objective(trial: optuna.Trial) -> float:
        run.trials += 1
        p = {k: _suggest(trial, k, d) for k, d in dists.items()}
        v = math.inf
        for r in range(1, problem.R + 1):
            if run.left <= 0:
                study.stop()
                raise optuna.TrialPruned()
            got = run.value(p, r)
            if got is None or not math.isfinite(got):
                return math.inf if got is None else got
            v = got
            trial.report(v, r)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return v

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while run.left > 0:
            study.optimize(objective, n_trials=1)
    return run


def _suggest(trial: Any, key: str, d: Any) -> Any:
    if hasattr(d, "choices"):
        return trial.suggest_categorical(key, d.choices)
    if type(d).__name__ == "IntDistribution":
        return trial.suggest_int(key, d.low, d.high, log=d.log, step=d.step)
    return trial.suggest_float(key, d.low, d.high, log=d.log, step=d.step)


class _RayTrial:
    """What Ray Tune's schedulers read of a trial: its id (and, as a dict key, its identity)."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


def _drive_ray(problem: Problem, seed: int, sched: Any, suggest: Callable[[str], dict[str, Any]],
               observe: Callable[[str, dict[str, Any]], None],
               complete: Callable[[str, Any, dict[str, Any]], None]) -> Run:
    """A Ray Tune scheduler driven one trial at a time without a Ray cluster: it reads only trial ids and
    results; with one slot there is never another trial waiting, so the controller answers no live trials."""
    from ray.tune.schedulers import TrialScheduler

    run = Run(problem, seed)
    controller = SimpleNamespace(get_live_trials=lambda: [])
    n = 0
    while run.left > 0:
        tid, n = f"t{n}", n + 1
        trial, p = _RayTrial(tid), suggest(tid)
        run.trials += 1
        sched.on_trial_add(controller, trial)
        last: dict[str, Any] = {}
        for r in range(1, problem.R + 1):
            if run.left <= 0:
                break
            v = run.value(p, r)
            if v is None:
                break
            last = {"epoch": r, "training_iteration": r, "val_loss": v if math.isfinite(v) else 1e9}
            observe(tid, last)
            if sched.on_trial_result(controller, trial, last) == TrialScheduler.STOP or not math.isfinite(v):
                break
        complete(tid, trial, last)
    return run


def run_ray_asha(problem: Problem, seed: int) -> Run:
    """Ray Tune's own ``ASHAScheduler`` (stops only) and ``OptunaSearch`` (TPE, seeded)."""
    import optuna
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sched = ASHAScheduler(time_attr="epoch", metric="val_loss", mode="min", max_t=problem.R, grace_period=1,
                          reduction_factor=ETA)
    searcher = OptunaSearch(space=problem.space.to_optuna(), metric="val_loss", mode="min",
                            sampler=optuna.samplers.TPESampler(seed=seed))

    def complete(tid: str, trial: Any, last: dict[str, Any]) -> None:
        searcher.on_trial_complete(tid, last or None, error=not last)
        sched.on_trial_complete(None, trial, last or {"epoch": 0, "val_loss": 1e9})

    return _drive_ray(problem, seed, sched, searcher.suggest, searcher.on_trial_result, complete)


def run_ray_median(problem: Problem, seed: int) -> Run:
    """Ray Tune's ``MedianStoppingRule`` (Vizier's rule: stop a trial whose best value is worse than the median
    of the other trials' running means at the same epoch), with raynn's random search (the same stream as
    ``random``)."""
    from ray.tune.schedulers import MedianStoppingRule

    from raynn.hpo import build_searcher

    sched = MedianStoppingRule(time_attr="epoch", metric="val_loss", mode="min", grace_period=1,
                               min_samples_required=3)
    searcher = build_searcher("random", problem.space, seed=seed)

    def complete(tid: str, trial: Any, last: dict[str, Any]) -> None:
        searcher.on_complete(tid)
        if last:
            sched.on_trial_complete(None, trial, last)

    return _drive_ray(problem, seed, sched, searcher.suggest, lambda tid, result: None, complete)


def run_dehb(problem: Problem, seed: int) -> Run:
    """DEHB (Awad, Mallik & Hutter, 2021) with its ask/tell interface; an evaluation at fidelity r trains r
    epochs from scratch (DEHB does not continue runs), charged r epochs."""
    from dehb import DEHB

    run = Run(problem, seed)
    cs, dists = _configspace(problem, seed)
    opt = DEHB(cs=cs, dimensions=len(dists), min_fidelity=1, max_fidelity=problem.R, eta=ETA, n_workers=1,
               seed=seed, output_path=str(Path("/tmp") / f"dehb-{seed}"), log_level="ERROR")
    while run.left > 0:
        job = opt.ask()
        cfg = job["config"]
        p = {k: (d.choices[int(cfg[k])] if hasattr(d, "choices") else cfg[k]) for k, d in dists.items()}
        r = int(round(job["fidelity"]))
        run.trials += 1
        v = _from_scratch(run, p, r)
        opt.tell(job, {"fitness": v if math.isfinite(v) else 1e9, "cost": r})
    return run


def _configspace(problem: Problem, seed: int) -> tuple[Any, dict[str, Any]]:
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    dists = problem.space.to_optuna()
    for k, d in dists.items():
        if hasattr(d, "choices"):
            cs.add(CS.CategoricalHyperparameter(k, [str(i) for i in range(len(d.choices))]))
        elif type(d).__name__ == "IntDistribution":
            cs.add(CS.UniformIntegerHyperparameter(k, d.low, d.high, log=d.log))
        else:
            cs.add(CS.UniformFloatHyperparameter(k, d.low, d.high, log=d.log))
    return cs, dists


def _from_scratch(run: Run, p: dict[str, Any], r: int) -> float:
    """An evaluation at fidelity r that trains r epochs from scratch, each charged: its loss at r (inf: diverged
    or out of budget)."""
    v = math.inf
    for e in range(1, r + 1):
        if run.left <= 0:
            return math.inf
        got = run.value(p, e) if e == r else _charge(run, p, e)
        if got is None or not math.isfinite(got):
            return math.inf
        v = got
    return v


def run_smac(problem: Problem, seed: int) -> Run:
    """SMAC3's multi-fidelity facade (random forest + HyperBand intensifier; Lindauer et al., 2022, JMLR) with
    ask/tell; like DEHB it evaluates a budget from scratch, charged in full."""
    import logging

    from smac import MultiFidelityFacade, Scenario
    from smac.intensifier.hyperband import Hyperband
    from smac.runhistory.dataclasses import TrialValue

    logging.getLogger("smac").setLevel(logging.ERROR)
    run = Run(problem, seed)
    cs, dists = _configspace(problem, seed)
    scenario = Scenario(cs, deterministic=True, n_trials=100000, min_budget=1, max_budget=problem.R,
                        seed=seed, output_directory=Path("/tmp") / f"smac-{problem.name}-{seed}")
    intensifier = Hyperband(scenario, eta=ETA, incumbent_selection="highest_budget")
    smac = MultiFidelityFacade(scenario, lambda config, seed=0, budget=1: 0.0, intensifier=intensifier,
                               overwrite=True, logging_level=40)
    while run.left > 0:
        info = smac.ask()
        p = {k: (d.choices[int(info.config[k])] if hasattr(d, "choices") else info.config[k])
             for k, d in dists.items()}
        run.trials += 1
        v = _from_scratch(run, p, int(round(info.budget)))
        smac.tell(info, TrialValue(cost=v if math.isfinite(v) else 1e9))
    return run


def _charge(run: Run, params: dict[str, Any], r: int) -> float | None:
    curve = run.problem.curve(params, r, run.seed)
    if len(curve) < r:
        return None
    run.spent += 1
    return curve[r - 1]


def methods(problem: Problem, seed: int) -> dict[str, Callable[[], Run]]:
    from raynn.hpo import build_searcher
    from raynn.hpo.curve_stopping import LearningCurveStopping

    space, R = problem.space, problem.R
    hb_rungs = [1, 3, 9, 27][: {9: 3, 27: 4}[R]]

    def s(name: str, **kw: Any) -> Any:
        return build_searcher(name, space, seed=seed, **kw)

    return {
        "random": lambda: run_halving(problem, seed, "fifo", s("random")),
        "hb+random": lambda: run_halving(problem, seed, "hb", s("random")),
        "hb+gp (per rung)": lambda: run_halving(problem, seed, "hb", s("optuna-gp", rungs=hb_rungs)),
        "hb+tpe (per rung)": lambda: run_halving(problem, seed, "hb", s("optuna-tpe", rungs=hb_rungs)),
        NEW: lambda: run_halving(problem, seed, "hb", s("optuna-mfgp", rungs=hb_rungs)),
        "asha+mfgp": lambda: run_halving(problem, seed, "asha", s("optuna-mfgp", rungs=hb_rungs)),
        "curve+random": lambda: run_halving(problem, seed, "fifo", s("random"),
                                            stopper=LearningCurveStopping(R)),
        "curve+mfgp": lambda: run_halving(problem, seed, "fifo", s("optuna-mfgp"),
                                          stopper=LearningCurveStopping(R)),
        "optuna random+median": lambda: run_optuna(problem, seed, "random", "median"),
        "optuna tpe+hb-pruner": lambda: run_optuna(problem, seed, "tpe", "hyperband"),
        "optuna gp+hb-pruner": lambda: run_optuna(problem, seed, "gp", "hyperband"),
        "optuna mfgp+hb-pruner": lambda: run_optuna(problem, seed, "mfgp", "hyperband"),
        "ray asha+optuna-tpe": lambda: run_ray_asha(problem, seed),
        "ray median-stop+random": lambda: run_ray_median(problem, seed),
        "dehb": lambda: run_dehb(problem, seed),
        "smac3 mf-facade": lambda: run_smac(problem, seed),
    }


# -- the report ----------------------------------------------------------------------------------------------


def iqm(xs: list[float]) -> float:
    v = np.sort(np.asarray(xs))
    n = len(v)
    lo, hi = int(math.floor(n * 0.25)), int(math.ceil(n * 0.75))
    return float(np.mean(v[lo:hi]))


def _paired(new: list[float], other: list[float]) -> str:
    """The paired Wilcoxon signed-rank p of ``new`` against ``other`` and the seeds where ``new`` is better /
    worse."""
    from scipy.stats import wilcoxon

    diff = np.asarray(new) - np.asarray(other)
    p = "-" if np.all(diff == 0) else f"{wilcoxon(new, other).pvalue:.3g}"
    return f"{p} ({int((diff < 0).sum())} better, {int((diff > 0).sum())} worse)"


def report(results: dict[str, dict[str, Any]], problem: str, new: str = NEW) -> str:
    """Per method: median, IQM, worst seed, share of seeds worse than random search's median, and the paired
    Wilcoxon signed-rank test of ``new`` against it (seeds every method finished); where the problem has
    held-out data, the median held-out loss of the methods' picks and the same test on it."""
    names = list(results)
    seeds = sorted(set.intersection(*(set(results[m]["scores"]) for m in names)), key=int)
    scores = {m: [results[m]["scores"][s] for s in seeds] for m in names}
    rand_med = statistics.median(scores["random"]) if "random" in scores else math.nan
    held = {m: [results[m].get("held_out", {}).get(s) for s in seeds] for m in names}
    with_held = all(v is not None for xs in held.values() for v in xs)
    lines = [f"{problem}: {len(seeds)} seeds; best validation loss at R (lower is better)"
             + ("; held-out: the pick retrained with 3 fresh seeds, median loss on data no method saw"
                if with_held else ""), "",
             "| method | median | IQM | worst | worse than random's median | trials | "
             f"Wilcoxon p ({new} vs) |" + (f" held-out | held-out p ({new} vs) |" if with_held else ""),
             "| --- " * (9 if with_held else 7) + "|"]
    peers = [m for m in names if m != new]
    for m in sorted(names, key=lambda m: statistics.median(scores[m])):
        xs = scores[m]
        p = _paired(scores[new], xs) if m != new and new in scores else ""
        share = sum(x > rand_med for x in xs) / len(xs)
        trials = statistics.median(results[m]["trials"][s] for s in seeds)
        line = (f"| {m} | {statistics.median(xs):.4f} | {iqm(xs):.4f} | {max(xs):.4f} | {share:.0%} | "
                f"{trials:.0f} | {p} |")
        if with_held:
            hp = _paired(held[new], held[m]) if m != new and new in held else ""
            line += f" {statistics.median(held[m]):.4f} | {hp} |"
        lines.append(line)
    if new in scores and peers:
        best_peer = min(peers, key=lambda m: statistics.median(scores[m]))
        ratio = statistics.median(scores[new]) / statistics.median(scores[best_peer])
        lines += ["", f"{new} / best other ({best_peer}) median: {ratio:.2f}; "
                  f"{new} worst {max(scores[new]):.4f} vs random median {rand_med:.4f}"]
    seconds = {m: statistics.median(results[m]["seconds"][s] for s in seeds) for m in names}
    lines += ["", "median seconds per run: " + ", ".join(f"{m} {v:.1f}" for m, v in seconds.items())]
    return "\n".join(lines)


# -- the suggestion cost -------------------------------------------------------------------------------------


def suggestion_cost(n_obs: int = 300, repeats: int = 30) -> str:
    """Cost of one ``suggest`` of ``optuna-mfgp`` with ``n_obs`` observations on one thread (P1's space, 7
    keys): wall seconds and CPU seconds of this process (the CPU time is what one free core would take)."""
    from threadpoolctl import threadpool_limits

    from raynn.hpo import build_searcher

    space = p1_space()
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        searcher = build_searcher("optuna-mfgp", space, seed=0, rungs=[1, 3, 9])
        i = 0
        while len(searcher._observations()) < n_obs:
            tid = f"t{i}"
            searcher.suggest(tid)
            for r in (1, 3, 9)[: 1 + i % 3]:
                searcher.on_result(tid, r, float(rng.random() + 1.0 / r))
            searcher.on_complete(tid)
            i += 1
        rows = []
        for k in range(repeats):
            tid = f"c{k}"
            fit_n = searcher.core._fit_n
            t0, c0 = time.perf_counter(), time.process_time()
            searcher.suggest(tid)
            rows.append((time.perf_counter() - t0, time.process_time() - c0, searcher.core.last_kind,
                         searcher.core._fit_n != fit_n))
            searcher.on_result(tid, 1, float(rng.random() + 1.0))
            searcher.on_complete(tid)
    model = [r for r in rows if r[2] == "model"]
    plain = [r for r in model if not r[3]]
    refit = [r for r in model if r[3]]

    def ms(xs: list[float]) -> str:
        return f"median {statistics.median(xs) * 1e3:.0f} ms, max {max(xs) * 1e3:.0f} ms" if xs else "none"

    return (f"optuna-mfgp suggest, {n_obs}+ observations, one thread, {repeats} suggestions "
            f"({len(model)} from the model, {len(refit)} of them refitting the kernel):\n"
            f"  all:              wall {ms([r[0] for r in rows])}; CPU {ms([r[1] for r in rows])}\n"
            f"  model, no refit:  wall {ms([r[0] for r in plain])}; CPU {ms([r[1] for r in plain])}\n"
            f"  model, refit:     wall {ms([r[0] for r in refit])}; CPU {ms([r[1] for r in refit])}\n"
            f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", choices=["p1", "p2", "p3"])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--methods", default=None, help="comma-separated subset")
    ap.add_argument("--out", default=None, help="JSON results (merged into an existing file)")
    ap.add_argument("--report", nargs="*", default=None, help="print the tables of these result files")
    ap.add_argument("--new", default=NEW, help="the method the Wilcoxon tests compare with every other")
    ap.add_argument("--cost", action="store_true", help="measure the suggestion cost")
    args = ap.parse_args()
    if args.cost:
        print(suggestion_cost())
        return
    if args.report is not None:  # files of one problem are merged (runs split over processes)
        merged: dict[str, dict[str, Any]] = {}
        for path in args.report:
            doc = json.loads(Path(path).read_text())
            for m, entry in doc["results"].items():
                into = merged.setdefault(doc["problem"], {}).setdefault(m, {k: {} for k in entry})
                for k, v in entry.items():
                    into[k].update(v)
        for problem, results in merged.items():
            print(report(results, problem, args.new))
            print()
        return
    problem = make_problem(args.problem)
    out = Path(args.out) if args.out else None
    doc = json.loads(out.read_text()) if out and out.exists() else {"problem": problem.name, "results": {}}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        table = methods(problem, seed)
        names = args.methods.split(",") if args.methods else list(table)
        for m in names:
            entry = doc["results"].setdefault(m, {"scores": {}, "trials": {}, "seconds": {}, "best": {},
                                                  "held_out": {}})
            if str(seed) in entry["scores"]:
                continue
            t0 = time.perf_counter()
            run = table[m]()
            entry["scores"][str(seed)] = run.best
            entry["trials"][str(seed)] = run.trials
            entry["seconds"][str(seed)] = time.perf_counter() - t0
            entry["best"][str(seed)] = run.best_params
            entry.setdefault("held_out", {})[str(seed)] = run.held_out
            print(f"{problem.name} seed {seed} {m}: {run.best:.4f} ({run.trials} trials, {run.spent} epochs, "
                  f"{time.perf_counter() - t0:.1f}s)", flush=True)
            if out:
                out.write_text(json.dumps(doc))


if __name__ == "__main__":
    main()
