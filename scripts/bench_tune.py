"""raynn tune against the tuners a user would otherwise pick, on the same work, whole process timed.

Every variant trains raynn's own loop (:func:`raynn.training.loop.run_training`) on the same search space
(``search_spaces/digits.yaml``: digits, R = 9 epochs, eta = 3; ``--full``: ``search_spaces/mnist.yaml``, the CNN
on a 5,000-image MNIST subset), with the same number of trials and slots, for each seed:

* ``raynn tune`` (the CLI, as a user runs it): HyperBand + GP, HyperBand + random, ASHA + GP;
* Ray Tune: ``ASHAScheduler(time_attr="epoch", max_t=R, grace_period=1, reduction_factor=eta)`` with
  ``OptunaSearch`` (TPE seeded, and ``GPSampler``, which ``OptunaSearch`` accepts as any Optuna sampler),
  ``reuse_actors=True``, ``max_concurrent_trials`` = the slots, a function trainable around ``run_training``
  reporting ``epoch`` and ``val_loss`` each epoch, no checkpoints (ASHA only stops trials);
* Optuna in one process: ``GPSampler`` + ``HyperbandPruner(1, R, eta)``, ``trial.report`` / ``should_prune``
  per epoch, trials one after another.

Each run is its own Python process (``subprocess``), timed from launch to exit: Ray's start-up and shutdown
count, as they do for a user. Printed per variant: the median wall time, epochs trained, the best validation
loss among trials trained to R (at R), with min-max over seeds, and the ratios of the medians to Ray Tune
ASHA + OptunaSearch (TPE).

    python scripts/bench_tune.py                 # digits, 17 trials, 2 slots, seeds 0 1 2
    python scripts/bench_tune.py --quick         # one seed
    python scripts/bench_tune.py --full          # MNIST CNN subset, seeds 0..4, equal epoch budget

``--budget B`` (the default with ``--full``: one HyperBand band's budget, 69 epochs for R = 9, eta = 3) gives
every variant the same number of epochs instead of the same number of trials: raynn's HyperBand spends its
band, Ray Tune's ASHA draws trials until a ``Stopper`` sees B epochs reported (then stops them all), Optuna
until its objective has reported B epochs (the trial in flight is pruned there). raynn's ASHA has no hard
epoch cap (its ``--budget`` chooses how many configurations to try), so it is not in the equal-budget runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent

RAYNN = {  # variant -> (scheduler, searcher) of `raynn tune`
    "raynn hyperband+gp": ("hyperband", "optuna-gp"),
    "raynn hyperband+random": ("hyperband", "random"),
    "raynn asha+gp": ("asha", "optuna-gp"),
}
OTHERS = ["ray asha+optuna-tpe", "ray asha+optuna-gp", "optuna hyperband-pruner+gp"]
BASELINE = "ray asha+optuna-tpe"


# -- the runs, each in its own process ---------------------------------------------------------------------


def _space(path: str) -> Any:
    from raynn.hpo.spaces import load_space

    return load_space(ROOT / path)


def _config(space: Any, params: dict[str, Any], seed: int) -> dict[str, Any]:
    from raynn.config import apply_overrides, check_config

    raw = space.apply(params)
    root = raw.get("data", {}).get("root")
    if root and not os.path.isabs(root):  # Tune runs a trial in its own working directory
        raw["data"]["root"] = str((ROOT / root).resolve())
    return check_config(apply_overrides(raw, [f"seed={seed}"]))


def _never(epoch: int) -> bool:
    return False


def band_budget(r_max: int, eta: int) -> int:
    """Epochs one HyperBand band spends (Li et al. 2018, Algorithm 1): the core's own planned budget."""
    from raynn.hpo import HyperBand

    return HyperBand(r_max, eta).planned_budget


class _EpochBudget:
    """Counts epochs reported across every trial; ``spent()`` once ``budget`` of them are in."""

    def __init__(self, budget: int | None) -> None:
        self.budget, self.epochs = budget, 0

    def count(self) -> None:
        self.epochs += 1

    def spent(self) -> bool:
        return self.budget is not None and self.epochs >= self.budget


def _ray_trainable(config: dict[str, Any], space: dict[str, Any], seed: int) -> None:
    """What a Ray Tune user writes around raynn's loop: report each epoch, no checkpoint (ASHA only stops)."""
    from ray import tune

    from raynn.hpo.spaces import SearchSpace
    from raynn.training.loop import Env, run_training

    cfg = _config(SearchSpace.from_dict(space, check=False), config, seed)
    run_training(cfg, Env(report=lambda metrics, ckpt: tune.report(metrics), log=lambda line: None,
                          checkpoint_at=_never))


def run_ray(space_path: str, sampler_name: str, seed: int, trials: int, slots: int, eta: int,
            budget: int | None = None) -> dict[str, Any]:
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from raynn.api import ensure_ray

    space = _space(space_path)
    r_max = _config(space, {k: space.dimensions[k].corners()[0] for k in space.keys()}, seed)["train"]["epochs"]
    sampler = (optuna.samplers.GPSampler(seed=seed) if sampler_name == "gp"
               else optuna.samplers.TPESampler(seed=seed))
    dists = {k: space.dimensions[k].to_optuna() for k in space.keys()}
    counter = _EpochBudget(budget)

    class BudgetStopper(tune.Stopper):  # the equal epoch budget: stop everything once B epochs are in
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            counter.count()
            return False

        def stop_all(self) -> bool:
            return counter.spent()

    ensure_ray()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as storage:
        grid = tune.Tuner(
            tune.with_parameters(_ray_trainable, space=space.to_dict(), seed=seed),
            tune_config=tune.TuneConfig(
                search_alg=OptunaSearch(space=dists, metric="val_loss", mode="min", sampler=sampler),
                scheduler=ASHAScheduler(time_attr="epoch", max_t=r_max, grace_period=1, reduction_factor=eta),
                num_samples=trials if budget is None else 100_000, max_concurrent_trials=slots,
                reuse_actors=True, metric="val_loss", mode="min"),
            run_config=tune.RunConfig(storage_path=storage, verbose=0,
                                      stop=BudgetStopper() if budget is not None else None),
        ).fit()
        curves = {}
        for i, result in enumerate(grid):
            df = result.metrics_dataframe
            if df is None or "epoch" not in df:  # started as the budget ran out, stopped before a report
                continue
            curves[str(i)] = [(int(e), float(v)) for e, v in zip(df["epoch"], df["val_loss"])]
    return {"inside_s": time.perf_counter() - start, **_summarise(curves, r_max)}


def run_optuna(space_path: str, seed: int, trials: int, eta: int, budget: int | None = None) -> dict[str, Any]:
    import optuna

    from raynn.training.loop import Env, run_training

    space = _space(space_path)
    r_max = _config(space, {k: space.dimensions[k].corners()[0] for k in space.keys()}, seed)["train"]["epochs"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(1, r_max, eta), direction="minimize")
    dists = {k: space.dimensions[k].to_optuna() for k in space.keys()}
    curves: dict[str, list[tuple[int, float]]] = {}
    counter = _EpochBudget(budget)

    def objective(trial: optuna.Trial) -> float:
        params = {k: _suggest(trial, k, d) for k, d in dists.items()}
        curve = curves.setdefault(str(trial.number), [])

        def report(metrics: dict[str, Any], ckpt: str | None) -> None:
            curve.append((int(metrics["epoch"]), float(metrics["val_loss"])))
            trial.report(metrics["val_loss"], metrics["epoch"])
            counter.count()
            if counter.spent():  # the equal epoch budget: no more trials, this one ends here
                study.stop()
                raise optuna.TrialPruned()
            if trial.should_prune():
                raise optuna.TrialPruned()

        run_training(_config(space, params, seed), Env(report=report, log=lambda line: None, checkpoint_at=_never))
        return curve[-1][1]

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials if budget is None else None)
    return {"inside_s": time.perf_counter() - start, **_summarise(curves, r_max)}


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution

    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    return trial.suggest_categorical(name, dist.choices)


def _summarise(curves: dict[str, list[tuple[int, float]]], r_max: int) -> dict[str, Any]:
    at_r = [v for curve in curves.values() for e, v in curve if e == r_max]
    return {"epochs": sum(len(c) for c in curves.values()), "trials": len(curves),
            "best_at_r": min(at_r) if at_r else None}


def raynn_command(variant: str, space_path: str, seed: int, trials: int, slots: int, storage: str) -> list[str]:
    scheduler, searcher = RAYNN[variant]
    command = [sys.executable, "-m", "raynn.cli", "tune", space_path, "--scheduler", scheduler, "--searcher",
               searcher, "--seed", str(seed), "--max-concurrent", str(slots), "--storage", storage, "--name", "b"]
    if scheduler != "hyperband":  # HyperBand's band decides its trial count (17 for R = 9, eta = 3)
        command += ["--num-samples", str(trials)]
    return command


def raynn_outcome(storage: str, r_max: int) -> dict[str, Any]:
    summary = json.loads((Path(storage) / "b" / "summary.json").read_text())
    curves = {t: [(int(e), float(v)) for e, v in c] for t, c in summary["curves"].items()}
    return {"best_epoch": summary.get("best_epoch"), **_summarise(curves, r_max)}


# -- the driver --------------------------------------------------------------------------------------------


def one_run(variant: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Run one variant for one seed in a fresh process; whole-process wall time and its outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        if variant in RAYNN:
            command = raynn_command(variant, args.space, seed, args.trials, args.slots, tmp)
        else:
            out = str(Path(tmp) / "out.json")
            command = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--seed", str(seed),
                       "--out", out, "--space", args.space, "--trials", str(args.trials), "--slots",
                       str(args.slots)]
            if args.budget is not None:
                command += ["--budget", str(args.budget)]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{variant} seed {seed} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        outcome = raynn_outcome(tmp, args.r_max) if variant in RAYNN else json.loads(Path(out).read_text())
        lines = len((proc.stdout + proc.stderr).splitlines())
    return {"variant": variant, "seed": seed, "wall_s": wall, "terminal_lines": lines, **outcome}


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def _span(rows: list[dict[str, Any]], key: str, fmt: Callable[[float], str]) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def table(rows: list[dict[str, Any]], variants: list[str]) -> str:
    base = [r for r in rows if r["variant"] == BASELINE]
    base_wall, base_epochs = _median(base, "wall_s"), _median(base, "epochs")
    out = [f"{'variant':<28}{'wall s':>22}{'epochs':>16}{'best val_loss at R':>28}{'wall/ray':>10}"
           f"{'epochs/ray':>12}{'lines':>7}"]
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        wall, epochs = _median(mine, "wall_s"), _median(mine, "epochs")
        ratio = f"{wall / base_wall:.2f}x" if base_wall else "-"
        eratio = f"{epochs / base_epochs:.2f}x" if base_epochs else "-"
        out.append(f"{variant:<28}{_span(mine, 'wall_s', lambda v: f'{v:.1f}'):>22}"
                   f"{_span(mine, 'epochs', lambda v: f'{v:.0f}'):>16}"
                   f"{_span(mine, 'best_at_r', lambda v: f'{v:.4f}'):>28}{ratio:>10}{eratio:>12}"
                   f"{_median(mine, 'terminal_lines') or 0:>7.0f}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; --full 0..4; --quick 0)")
    parser.add_argument("--quick", action="store_true", help="one seed, to iterate")
    parser.add_argument("--full", action="store_true", help="MNIST CNN on a subset (search_spaces/mnist.yaml)")
    parser.add_argument("--space", help="search space (default search_spaces/digits.yaml, --full mnist.yaml)")
    parser.add_argument("--trials", type=int, default=17, help="trials per run (HyperBand R=9, eta=3: 17)")
    parser.add_argument("--slots", type=int, default=2, help="trials at once")
    parser.add_argument("--variants", nargs="+", help="a subset of the variants, by name")
    parser.add_argument("--budget", type=int, help="epochs every variant may spend instead of a trial count "
                        "(default with --full: one HyperBand band's budget)")
    parser.add_argument("--json", help="also write every run's row to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.space = args.space or ("search_spaces/mnist.yaml" if args.full else "search_spaces/digits.yaml")
    eta = 3

    if args.child:  # one run of a peer, in this process
        if args.child == "optuna hyperband-pruner+gp":
            outcome = run_optuna(args.space, args.seed, args.trials, eta, args.budget)
        else:
            outcome = run_ray(args.space, args.child.rsplit("-", 1)[1], args.seed, args.trials, args.slots, eta,
                              args.budget)
        Path(args.out).write_text(json.dumps(outcome))
        return

    os.chdir(ROOT)
    space = _space(args.space)
    args.r_max = _config(space, {k: space.dimensions[k].corners()[0] for k in space.keys()}, 0)["train"]["epochs"]
    seeds = args.seeds or ([0] if args.quick else list(range(5)) if args.full else [0, 1, 2])
    if args.full and args.budget is None:
        args.budget = band_budget(args.r_max, eta)
    equal = [v for v in RAYNN if RAYNN[v][0] == "hyperband"] if args.budget is not None else list(RAYNN)
    variants = args.variants or [*equal, *OTHERS]
    if args.budget is not None and any(v in RAYNN and RAYNN[v][0] != "hyperband" for v in variants):
        raise SystemExit("--budget: raynn's ASHA has no hard epoch cap; leave it out of an equal-budget run")
    if args.budget is not None and args.budget != band_budget(args.r_max, eta) and any(v in RAYNN for v in variants):
        raise SystemExit(f"--budget: raynn's HyperBand spends one band, {band_budget(args.r_max, eta)} epochs; "
                         f"use that budget or leave raynn out")
    if BASELINE not in variants:
        variants.append(BASELINE)
    rows = []
    for seed in seeds:  # seeds outermost: a drift in the machine's load spreads over every variant alike
        for variant in variants:
            row = one_run(variant, args, seed)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    work = (f"{args.budget} epochs per variant (equal budget)" if args.budget is not None
            else f"{args.trials} trials (raynn HyperBand: its band)")
    print(f"\n{args.space}: {work}, {args.slots} slots, R = {args.r_max}, "
          f"eta = {eta}, seeds {seeds}; medians [min-max]; whole process per run, Ray start-up included")
    print(table(rows, variants))


if __name__ == "__main__":
    main()
