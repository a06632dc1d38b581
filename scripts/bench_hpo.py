"""Hyperparameter search: raynn's halving schedulers against random search, Ray's own schedulers and Optuna.

One run, one Ray session, side by side on the same problem, seeds and budget:

* raynn: successive halving (seed Algorithm 7.2, in bands), HyperBand, ASHA with promotion, and HyperBand with
  Optuna's GP sampler (``RaynnSearcher(OptunaSearcher(sampler="gp", rungs=<the scheduler's rungs>))``);
* baselines: random search with FIFO (``num_samples = budget // R`` full-fidelity trials), Ray's
  ``HyperBandScheduler`` and ``ASHAScheduler`` (random search), and pure Optuna (TPE + ``HyperbandPruner``,
  in-process, no Ray: ``study.optimize`` with ``trial.report`` / ``should_prune``).

Every Ray method but HyperBand + GP draws its configurations from the same seeded ``RandomSearcher``
stream, so per seed the comparison is paired. Resource is the number of epochs actually trained: each reported
result is one epoch (a paused trial resumes from its checkpoint and is not charged again). The quality of a
method after ``u`` units is the *true error* ``f(x) - f_min`` of its incumbent: the trial with the best loss
at the highest epoch any trial has reached so far (what :meth:`raynn.hpo.HalvingScheduler.best` returns),
rebuilt from Tune's per-trial results in the order the driver received them. Methods that do not end by
themselves (ASHA, Ray's schedulers) are stopped when the budget is spent; results past the budget are ignored.

Parts: (1) the synthetic multi-fidelity problem of ``scripts/_hpo_problems.py`` (Hartmann-3 plus a biased
``c(x) / r`` fidelity term), (2) real training on an MNIST subset (``search_spaces/mnist.yaml``, ``--full`` or
``--part mnist``), (3) scheduler overhead: time per ``on_trial_result`` / ``choose_trial_to_run`` call and
results per second, against ``FIFOScheduler``; (4) ``--part overhead``: the same cost at 100, 1,000 and
10,000 trials, without Ray running: the pure cores and the adapters (against Ray's ``ASHAScheduler`` and
``FIFOScheduler``) driven by a fake trial stream (``scripts/_hpo_scale.py``), optionally side by side with an
older commit of raynn (``--before REV``: its ``raynn/`` is taken with ``git archive`` into a temporary
directory and imported instead of this checkout's, in a subprocess).

    flock /tmp/raynn-ray.lock .venv/bin/python scripts/bench_hpo.py              # --quick: 3 seeds, 2 slots
    flock /tmp/raynn-ray.lock .venv/bin/python scripts/bench_hpo.py --full       # 5 seeds, slots 1, 2, MNIST
    flock /tmp/raynn-ray.lock .venv/bin/python scripts/bench_hpo.py --part mnist # MNIST only
    .venv/bin/python scripts/bench_hpo.py --part overhead --before f4184a7       # no Ray session

On 2 shared cores: --quick 4-7 min, --part mnist ~6 min, --full ~25 min, --part overhead ~2 min (~30 min
with --before f4184a7, whose cores and adapters cost O(n) per call).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard files per trial
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1000")
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "30")  # experiment snapshots: the runs are never restored

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _hpo_problems as problems
import numpy as np

from raynn.hpo import HyperBand as HyperBandCore
from raynn.hpo.budget import sh_rounds
from raynn.hpo.searchers import OptunaSearcher, RandomSearcher

ROOT = Path(__file__).resolve().parents[1]
FRACTIONS = (0.25, 0.5, 1.0)
RAYNN = ("raynn-sh", "raynn-hb", "raynn-asha", "raynn-hb-gp")
RAY = ("ray-hb", "ray-asha")
ALL_METHODS = ("random", *RAYNN, *RAY, "optuna-tpe-hb")
LABEL = {
    "random": "random search + FIFO (baseline)",
    "raynn-sh": "raynn SuccessiveHalving (Alg. 7.2)",
    "raynn-hb": "raynn HyperBand",
    "raynn-asha": "raynn AsyncHalving (ASHA, promotion)",
    "raynn-hb-gp": "raynn HyperBand + Optuna GP",
    "ray-hb": "Ray HyperBandScheduler",
    "ray-asha": "Ray ASHAScheduler",
    "optuna-tpe-hb": "Optuna TPE + HyperbandPruner (no Ray)",
}


# ------------------------------------------------------------------------------------------------------------
# What one experiment leaves: the results in the order the driver saw them.


@dataclass
class Event:
    trial: str
    epoch: int
    value: float
    extra: tuple[float, ...]  # synthetic: the configuration x; MNIST: (val_accuracy,)
    time: float = 0.0  # perf_counter() when the driver received it


@dataclass
class Run:
    method: str
    seed: int
    slots: int
    budget: int
    top: int  # the largest resource the method trains a trial to (R; the last round's r for raynn-sh)
    events: list[Event]
    wall: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    timing: dict[str, list[float]] = field(default_factory=dict)  # scheduler method -> [calls, seconds]
    notes: list[str] = field(default_factory=list)
    stalled: float = 0.0  # seconds without a result, summed over gaps longer than Setting.stall_s

    @property
    def used(self) -> list[Event]:
        return self.events[: self.budget]

    @property
    def spent(self) -> int:
        return len(self.used)

    @property
    def trials(self) -> int:
        return len({e.trial for e in self.used})

    @property
    def at_top(self) -> int:
        return len({e.trial for e in self.used if e.epoch >= self.top})


def incumbent_curve(
    events: list[Event], score: Callable[[Event], float], length: int, min_epoch: int = 1
) -> list[float]:
    """``curve[u - 1]``: ``score`` of the incumbent after ``u`` results (inf before there is one).

    The incumbent is the trial with the lowest value at the highest epoch any trial has reached so far,
    counting only results at ``min_epoch`` or later; after the last result the curve stays flat up to
    ``length``.
    """
    curve, level, best = [], 0, None
    for event in events[:length]:
        if event.epoch >= min_epoch and (
            event.epoch > level or (event.epoch == level and event.value < best.value)
        ):
            level, best = event.epoch, event
        curve.append(math.inf if best is None else score(best))
    last = curve[-1] if curve else math.inf
    return curve + [last] * (length - len(curve))


def median_curve(
    runs: list[Run], score: Callable[[Event], float], fully_trained: bool = False
) -> list[float]:
    length = max(r.budget for r in runs)
    curves = [incumbent_curve(r.events, score, length, r.top if fully_trained else 1) for r in runs]
    return [statistics.median(c[u] for c in curves) for u in range(length)]


def units_to_reach(curve: list[float], target: float) -> int | None:
    for u, value in enumerate(curve, start=1):
        if value <= target:
            return u
    return None


# ------------------------------------------------------------------------------------------------------------
# Ray Tune glue.


def _recorder(metric: str, extra_keys: tuple[str, ...], from_config: bool) -> Any:
    from ray import tune

    class Recorder(tune.Callback):
        def __init__(self) -> None:
            self.events: list[Event] = []

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            source = trial.config if from_config else result
            extra = tuple(float(source[k]) for k in extra_keys)
            self.events.append(
                Event(trial.trial_id, int(result["epoch"]), float(result[metric]), extra, time.perf_counter())
            )

    return Recorder()


def _budget_stopper(recorder: Any, budget: int) -> Any:
    from ray import tune

    class BudgetStopper(tune.Stopper):
        """Ends the experiment once ``budget`` results (epochs) were received."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return len(recorder.events) >= budget

    return BudgetStopper()


def _timed(scheduler: Any) -> dict[str, list[float]]:
    """Wrap the scheduler's decision methods (on the instance) to count calls and time spent in them."""
    stats: dict[str, list[float]] = {}
    for name in ("on_trial_add", "on_trial_result", "choose_trial_to_run", "on_trial_complete"):
        original = getattr(scheduler, name)
        stats[name] = [0, 0.0]

        def wrapper(
            *args: Any, _original: Callable = original, _cell: list = stats[name], **kwargs: Any
        ) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                _cell[0] += 1
                _cell[1] += time.perf_counter() - start

        setattr(scheduler, name, wrapper)
    return stats


@dataclass
class Spec:
    """How one method runs on Tune."""

    scheduler: Any
    searcher: Any
    num_samples: int
    note: str = ""
    top: int | None = None


@dataclass
class Setting:
    """A problem as Tune sees it."""

    name: str
    trainable: Any
    space: Any
    metric: str
    max_resource: int
    eta: int
    extra_keys: tuple[str, ...]
    extra_from_config: bool
    min_points: int | None = None
    time_limit: float = 240.0
    stall_s: float | None = 1.0  # report gaps between results longer than this (None: epochs are slow anyway)


def sh_shape(budget: int, max_resource: int) -> tuple[int, int, int, int]:
    """(bands, N, B per band, last round's cumulative r) for raynn's SuccessiveHalving (Algorithm 7.2).

    Algorithm 7.2 (halving by 2) is set by (B, N) and has no ``R``; of the plans in 1-4 bands whose last round
    ends in ``[ceil(0.85 R), R]`` and that spend at least 80% of ``budget`` (its floors waste some), take the
    one with the most configurations, then the one that spends most.
    """
    best = None
    low = math.ceil(0.85 * max_resource)
    for bands in (1, 2, 3, 4):
        per_band = budget // bands
        for n in range(3, 257):
            try:
                rounds = sh_rounds(per_band, n)
            except ValueError:
                continue
            r_final = rounds[-1].r
            spend = bands * sum(rd.n * (rd.r - (rounds[i - 1].r if i else 0)) for i, rd in enumerate(rounds))
            if not low <= r_final <= max_resource or spend < 0.8 * budget:
                continue
            key = (-n * bands, -spend)
            if best is None or key < best[0]:
                best = (key, (bands, n, per_band, r_final))
    if best is None:
        raise ValueError(
            f"no successive-halving plan fits {budget=} with its last round in [{low}, {max_resource}]"
        )
    return best[1]


def hb_band(max_resource: int, eta: int) -> tuple[int, int]:
    """(trials, epochs) of one HyperBand band."""
    core = HyperBandCore(max_resource, eta)
    trials = sum(row["n"] for row in core.plan() if row["round"] == 0)
    return trials, core.planned_budget


def rung_levels(max_resource: int, eta: int) -> list[int]:
    return sorted({int(row["r"]) for row in HyperBandCore(max_resource, eta).plan()})


def make_spec(method: str, setting: Setting, seed: int, budget: int, bands: int, tmp: Path) -> Spec:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    from raynn.tune.schedulers import AsyncHalving, HyperBand, SuccessiveHalving
    from raynn.tune.search import RaynnSearcher

    R, eta, metric = setting.max_resource, setting.eta, setting.metric
    hb_trials, _ = hb_band(R, eta)

    def random(n: int | None) -> Any:
        return RaynnSearcher(
            RandomSearcher(setting.space, seed=seed, num_samples=n), metric=metric, mode="min"
        )

    if method == "random":
        n = budget // R
        return Spec(FIFOScheduler(), random(n), n, f"{n} trials x {R} epochs")
    if method == "raynn-sh":
        sh_bands, n, per_band, r_final = sh_shape(budget, R)
        sched = SuccessiveHalving(budget=per_band, num_configs=n, max_bands=sh_bands)
        return Spec(
            sched,
            random(n * sh_bands),
            n * sh_bands,
            f"{sh_bands} band(s) of B={per_band}, N={n}, last round at r={r_final}",
            top=r_final,
        )
    if method == "raynn-hb":
        return Spec(HyperBand(R, eta, max_bands=bands), random(hb_trials * bands), hb_trials * bands)
    if method == "raynn-asha":
        return Spec(AsyncHalving(R, eta), random(None), -1, "stopped at the budget")
    if method == "raynn-hb-gp":
        core = OptunaSearcher(
            setting.space,
            sampler="gp",
            seed=seed,
            storage_path=tmp / f"optuna-{seed}.db",
            mode="min",
            rungs=rung_levels(R, eta),
            min_points=setting.min_points,
            study_name=f"gp-{time.monotonic_ns()}",
        )
        return Spec(
            HyperBand(R, eta, max_bands=bands),
            RaynnSearcher(core, metric=metric, mode="min"),
            hb_trials * bands,
            f"rungs {core.rungs}, min_points {core.min_points}",
        )
    if method == "ray-hb":
        return Spec(
            HyperBandScheduler(time_attr="epoch", max_t=R, reduction_factor=eta),
            random(hb_trials * bands),
            hb_trials * bands,
            "same trials as raynn-hb, capped at the budget",
        )
    if method == "ray-asha":
        return Spec(
            ASHAScheduler(time_attr="epoch", max_t=R, grace_period=1, reduction_factor=eta),
            random(None),
            -1,
            "stopped at the budget",
        )
    raise ValueError(f"unknown method {method!r}")


def run_tune(method: str, setting: Setting, seed: int, slots: int, budget: int, bands: int, tmp: Path) -> Run:
    from ray import tune

    spec = make_spec(method, setting, seed, budget, bands, tmp)
    timing = _timed(spec.scheduler)
    recorder = _recorder(setting.metric, setting.extra_keys, setting.extra_from_config)
    name = f"{setting.name}-{method}-s{seed}-c{slots}-{time.monotonic_ns()}"
    tuner = tune.Tuner(
        setting.trainable,
        tune_config=tune.TuneConfig(
            metric=setting.metric,
            mode="min",
            scheduler=spec.scheduler,
            search_alg=spec.searcher,
            num_samples=spec.num_samples,
            max_concurrent_trials=slots,
            reuse_actors=True,
            time_budget_s=setting.time_limit,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(tmp),
            verbose=0,
            # As raynn tune runs them: the adapters' state rides in Tune's own snapshots.
            callbacks=[recorder, *_snapshot(spec.scheduler)],
            stop=_budget_stopper(recorder, budget),
            # No num_to_keep: with it, Tune 2.60 snapshots the whole experiment state whenever a trial has
            # checkpointed num_to_keep times since the last snapshot, i.e. on almost every result here.
        ),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    trials = grid._experiment_analysis.trials
    run = Run(
        method,
        seed,
        slots,
        budget,
        spec.top or setting.max_resource,
        recorder.events,
        wall,
        statuses=dict(Counter(t.status for t in trials)),
        errors=len(grid.errors),
        timing=timing,
        notes=[spec.note] if spec.note else [],
    )
    if wall >= setting.time_limit - 1:
        run.notes.append(f"hit the {setting.time_limit:.0f} s time limit")
    _check_accounting(run, spec.scheduler, setting.stall_s)
    shutil.rmtree(tmp / name, ignore_errors=True)
    return run


def _snapshot(scheduler: Any) -> list[Any]:
    return [scheduler.snapshot_callback()] if hasattr(scheduler, "snapshot_callback") else []


def _check_accounting(run: Run, scheduler: Any, stall_s: float | None) -> None:
    """Each trial should report every epoch once: results == sum over trials of the furthest epoch."""
    furthest: dict[str, int] = defaultdict(int)
    seen: dict[str, set[int]] = defaultdict(set)
    repeats = 0
    for e in run.events:
        repeats += e.epoch in seen[e.trial]
        seen[e.trial].add(e.epoch)
        furthest[e.trial] = max(furthest[e.trial], e.epoch)
    gaps = [(b.time - a.time, i + 1) for i, (a, b) in enumerate(zip(run.events, run.events[1:]))]
    run.stalled = sum(g for g, _ in gaps if stall_s is not None and g > stall_s)
    if repeats:
        run.notes.append(f"{repeats} epoch(s) trained twice (a trial restarted without its checkpoint)")
    spent = getattr(scheduler, "budget_spent", None)
    if spent is not None and spent != sum(furthest.values()):
        run.notes.append(f"scheduler ledger budget_spent={spent} != furthest epochs {sum(furthest.values())}")


# ------------------------------------------------------------------------------------------------------------
# Pure Optuna: TPE + HyperbandPruner, in this process.


def run_optuna(seed: int, slots: int, budget: int, R: int, eta: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=R, reduction_factor=eta),
    )
    events: list[Event] = []
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        x = [trial.suggest_float(k, 0.0, 1.0) for k in problems.KEYS]
        loss = math.nan
        for r in range(1, R + 1):
            with lock:
                if len(events) >= budget:
                    study.stop()
                    raise optuna.TrialPruned()
                loss = problems.synthetic_loss(x, r, seed)
                events.append(Event(f"o{trial.number}", r, loss, tuple(x)))
            trial.report(loss, r)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    start = time.perf_counter()
    study.optimize(objective, n_jobs=slots, timeout=120)
    return Run(
        "optuna-tpe-hb",
        seed,
        slots,
        budget,
        R,
        events,
        time.perf_counter() - start,
        notes=["in-process threads" if slots > 1 else "in-process"],
    )


# ------------------------------------------------------------------------------------------------------------
# Printing.


def fmt(value: float | None, width: int = 7, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}"


def table(title: str, header: list[str], rows: list[list[str]], widths: list[int]) -> str:
    lines = [title]
    lines.append(
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
    )
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        )
    return "\n".join(lines)


def quality_table(
    runs: list[Run],
    methods: list[str],
    slots: int,
    score: Callable[[Event], float],
    what: str,
    seeds: list[int],
) -> tuple[str, dict[str, list[float]], dict[str, list[float]]]:
    """The table, and per method the median curve of the incumbent at any fidelity and of the fully trained "
    "one."""
    curves: dict[str, list[float]] = {}
    full: dict[str, list[float]] = {}
    rows = []
    for m in methods:
        rs = [r for r in runs if r.method == m and r.slots == slots]
        if not rs:
            continue
        curves[m] = median_curve(rs, score)
        full[m] = median_curve(rs, score, fully_trained=True)
        budget = rs[0].budget
        at = [curves[m][max(1, round(f * budget)) - 1] for f in FRACTIONS]
        finals = [incumbent_curve(r.events, score, r.budget)[-1] for r in sorted(rs, key=lambda r: r.seed)]
        rows.append(
            [
                LABEL[m],
                *(fmt(v) for v in at),
                " ".join(f"{v:.3f}" for v in finals),
                f"{statistics.median(r.spent for r in rs):.0f}",
                f"{statistics.median(r.trials for r in rs):.0f}",
                f"{statistics.median(r.at_top for r in rs):.0f}",
                f"{statistics.median(r.wall for r in rs):.1f}",
            ]
        )
    header = [
        "method",
        *(f"{int(f * 100)}%" for f in FRACTIONS),
        "final, per seed",
        "spent",
        "trials",
        "at R",
        "wall s",
    ]
    title = (
        f"{what}, slots={slots}: median over seeds {seeds} at 25/50/100% of the budget; spent = epochs "
        f"trained, at R = trials trained to the end"
    )
    return table(title, header, rows, [38, 7, 7, 7, max(15, 6 * len(seeds)), 5, 6, 4, 6]), curves, full


def reach_rows(curves: dict[str, list[float]], reference: str, ref_resource: int) -> dict[str, str]:
    """Resource each method's median curve needs to match ``reference``'s final median, / ``ref_resource``."""
    if reference not in curves:
        return {}
    target = curves[reference][-1]
    out = {}
    for m, curve in curves.items():
        u = units_to_reach(curve, target)
        out[m] = f"> {len(curve) / ref_resource:.2f}" if u is None else f"{u / ref_resource:.2f}"
    return out


# ------------------------------------------------------------------------------------------------------------
# The parts.


def synthetic(args: argparse.Namespace, tmp: Path, out: Callable[[str], None]) -> list[Run]:
    R, eta = 27, 3
    hb_trials, hb_units = hb_band(R, eta)
    budget = hb_units * args.bands
    setting = Setting(
        "synth",
        None,
        problems.space(),
        "loss",
        R,
        eta,
        problems.KEYS,
        True,
        time_limit=args.time_limit,
    )
    runs: list[Run] = []
    seeds = list(range(args.seeds))
    methods = [m for m in ALL_METHODS if m in args.methods]
    out(
        f"Part 1. Synthetic problem: {len(seeds)} seeds {seeds}, R={R}, eta={eta}, slots {args.slots}, "
        f"budget {budget} epochs per method ({args.bands} HyperBand band(s): {hb_trials * args.bands} "
        "trials); "
        f"random search {budget // R} trials x {R} epochs."
    )
    bands, n, per_band, r_final = sh_shape(budget, R)
    out(
        f"  raynn-sh: {bands} band(s) of Algorithm 7.2 with B={per_band}, N={n} (last round at r={r_final}); "
        f"raynn-hb-gp: rungs {rung_levels(R, eta)}; ASHA (both) and Ray HyperBand stop at the budget."
    )
    out(
        "  All Ray methods but raynn-hb-gp draw configurations from one seeded random stream per seed "
        "(paired), so equal final errors mean the same configuration was returned."
    )
    out(
        f"  Problem: Hartmann-3 f on [0,1]^3 (f_min={problems.F_MIN:.5f}) + ({problems.C0} + {problems.C1} "
        "x1)/r"
        f"^{problems.POWER:g} + {problems.SIGMA} N(0,1); {_fidelity_line(R, eta)}"
    )
    for slots in args.slots:
        for seed in seeds:
            for m in methods:
                t0 = time.perf_counter()
                if m == "optuna-tpe-hb":
                    run = run_optuna(seed, slots, budget, R, eta)
                else:
                    setting.trainable = _synthetic_trainable(seed, R)
                    run = run_tune(m, setting, seed, slots, budget, args.bands, tmp)
                runs.append(run)
                err = incumbent_curve(run.events, lambda e: problems.true_error(e.extra), budget)[-1]
                print(
                    f"  [{time.perf_counter() - t0:6.1f} s] slots={slots} seed={seed} {m:14s} "
                    f"spent={run.spent:4d} "
                    f"trials={run.trials:3d} final true error={err:.4f} statuses={run.statuses} "
                    f"stalled={run.stalled:.0f}s {'; '.join(run.notes)}",
                    file=sys.stderr,
                    flush=True,
                )
    return runs


def _synthetic_trainable(seed: int, R: int) -> Any:
    from ray import tune

    return tune.with_parameters(problems.synthetic_trainable, seed=seed, max_epoch=R)


def _fidelity_line(R: int, eta: int) -> str:
    """Spearman rank correlation of loss(x, r) with f(x) over 4000 random x, per rung."""
    rng = np.random.default_rng(12345)
    xs = rng.uniform(size=(4000, 3))
    f = np.array([problems.hartmann3(x) for x in xs])

    def ranks(v: np.ndarray) -> np.ndarray:
        return np.argsort(np.argsort(v)).astype(float)

    parts = []
    for r in rung_levels(R, eta):
        loss = np.array([problems.synthetic_loss(x, r, 0) for x in xs])
        parts.append(f"r={r}: {np.corrcoef(ranks(loss), ranks(f))[0, 1]:.2f}")
    return "rank correlation of loss(x, r) with f(x): " + ", ".join(parts)


def report_synthetic(runs: list[Run], args: argparse.Namespace, out: Callable[[str], None]) -> None:
    seeds = sorted({r.seed for r in runs})
    methods = [m for m in ALL_METHODS if any(r.method == m for r in runs)]

    def score(e: Event) -> float:
        return problems.true_error(e.extra)

    reach: dict[int, dict[str, str]] = {}
    reach_full: dict[int, dict[str, str]] = {}
    vs_ray: dict[int, dict[str, tuple[str, str]]] = {}
    for slots in args.slots:
        text, curves, full = quality_table(runs, methods, slots, score, "True error f(x_inc) - f_min", seeds)
        out("")
        out(text)
        rand = [r for r in runs if r.method == "random" and r.slots == slots]
        ref_resource = rand[0].spent if rand else max(r.budget for r in runs)
        reach[slots] = reach_rows(curves, "random", ref_resource)
        reach_full[slots] = reach_rows(full, "random", ref_resource)
        vs_ray[slots] = {}
        for mine, theirs in (
            ("raynn-hb", "ray-hb"),
            ("raynn-hb-gp", "ray-hb"),
            ("raynn-sh", "ray-hb"),
            ("raynn-asha", "ray-asha"),
            ("raynn-hb-gp", "ray-asha"),
        ):
            if mine in curves and theirs in curves:
                a, b = curves[mine][-1], curves[theirs][-1]
                ratio = "-" if b == 0 or math.isinf(a) or math.isinf(b) else f"{a / b:.2f}"
                need = reach_rows({mine: curves[mine], theirs: curves[theirs]}, theirs, len(curves[theirs]))
                vs_ray[slots][f"{mine} vs {theirs}"] = (ratio, need.get(mine, "-"))
    out("")
    rows = [
        [LABEL[m], *(v for s in args.slots for v in (reach[s].get(m, "-"), reach_full[s].get(m, "-")))]
        for m in methods
    ]
    out(
        table(
            "Resource to reach random search's final median true error, / random search's resource (median "
            "curves; target <= 0.2; '> x': not within the budget). 'any': the incumbent at the highest "
            "fidelity "
            "reached so far; 'at R': only trials trained to the end count",
            ["method", *(f"{k} s={s}" for s in args.slots for k in ("any", "at R"))],
            rows,
            [38, *(9 for _ in args.slots for _ in "ab")],
        )
    )
    out("")
    pairs = list(dict.fromkeys(k for v in vs_ray.values() for k in v))
    rows = [
        [p, *(f"{vs_ray[s].get(p, ('-', '-'))[0]} / {vs_ray[s].get(p, ('-', '-'))[1]}" for s in args.slots)]
        for p in pairs
    ]
    out(
        table(
            "Against Ray's built-in schedulers at equal budget: final median true error ratio raynn / Ray "
            "(< 1: raynn better) / resource raynn needs to reach Ray's final median, as a fraction of the "
            "budget",
            ["pair", *(f"slots={s}" for s in args.slots)],
            rows,
            [26, *(15 for _ in args.slots)],
        )
    )
    out("")
    out("Checks and observations:")
    accounting = sorted(
        {
            f"{r.method} slots={r.slots} seed={r.seed}: {n}"
            for r in runs
            for n in r.notes
            if "twice" in n or "ledger" in n or "limit" in n
        }
    )
    unfinished = sorted(
        {
            f"{r.method} slots={r.slots} seed={r.seed}: final trial states {r.statuses}"
            for r in runs
            if r.method in ("raynn-sh", "raynn-hb", "raynn-hb-gp", "random")
            and set(r.statuses) - {"TERMINATED"}
        }
    )
    errors = sorted(
        {f"{r.method} slots={r.slots} seed={r.seed}: {r.errors} errored trial(s)" for r in runs if r.errors}
    )
    for line in accounting + unfinished + errors:
        out(f"  {line}")
    if not accounting:
        out(
            "  Every epoch was charged once: no trial reported an epoch twice, and each raynn adapter's "
            "budget_spent "
            "equals the sum over trials of the furthest epoch reported."
        )
    if not unfinished and not errors:
        out("  No errored trials; FIFO and raynn SH/HB runs ended with every trial TERMINATED.")
    for slots in args.slots:
        stalls = {
            m: statistics.median(r.stalled for r in runs if r.method == m and r.slots == slots)
            for m in methods
            if m != "optuna-tpe-hb"
        }
        stalls = {m: v for m, v in stalls.items() if v > 5}
        if stalls:
            out(
                f"  slots={slots}: seconds without any result (gaps > 1 s, median): "
                + ", ".join(f"{m} {v:.0f}" for m, v in stalls.items())
                + ". Causes seen in this benchmark: a trial resumed after the searcher has handed out its "
                "last configuration starts a new worker process (Tune stops caching actors once the search "
                "algorithm is finished, TuneController._cleanup_cached_actors); the GP searcher's suggest() "
                "runs in Tune's driver loop (the gaps of raynn-hb-gp come before new trials)."
            )
        hb = [r for r in runs if r.method == "ray-hb" and r.slots == slots]
        if hb and statistics.median(r.at_top / max(1, r.trials) for r in hb) < 0.8:
            out(
                f"  slots={slots}: Ray's HyperBandScheduler trained "
                f"{statistics.median(r.at_top for r in hb):.0f} of {statistics.median(r.trials for r in hb):.0f} "
                "trials to R: it halves under max_concurrent_trials now (ray-project/ray#12536 fixed?)."
            )
        if hb and statistics.median(r.at_top / max(1, r.trials) for r in hb) >= 0.8:
            out(
                f"  slots={slots}: Ray's HyperBandScheduler trained "
                f"{statistics.median(r.at_top for r in hb):.0f} of "
                f"{statistics.median(r.trials for r in hb):.0f} trials to R, i.e. it halved almost nothing: "
                "its "
                "bracket only holds the trials alive at once, and under max_concurrent_trials a paused "
                "trial keeps "
                "its slot, so no new trial joins the rung (ray-project/ray#12536); it degenerates to random "
                "search."
            )


def report_overhead(runs: list[Run], out: Callable[[str], None]) -> None:
    """Scheduler decision cost (from the timing wrappers) and results per second, vs FIFO (random search)."""
    rows = []
    base: dict[str, float] = {}
    stats = {}
    for m in [m for m in ALL_METHODS if m != "optuna-tpe-hb"]:
        rs = [r for r in runs if r.method == m and r.timing]
        if not rs:
            continue
        res = [r.timing["on_trial_result"] for r in rs]
        cho = [r.timing["choose_trial_to_run"] for r in rs]
        per_result = sum(c[1] for c in res) / max(1, sum(c[0] for c in res)) * 1e6
        per_choose = sum(c[1] for c in cho) / max(1, sum(c[0] for c in cho)) * 1e6
        sched_s = statistics.median(sum(c[1] for c in r.timing.values()) for r in rs)
        share = statistics.median(sum(c[1] for c in r.timing.values()) / r.wall for r in rs) * 100
        rate = statistics.median(len(r.events) / r.wall for r in rs)
        trials_rate = statistics.median(len({e.trial for e in r.events}) / r.wall for r in rs)
        stats[m] = (per_result, per_choose, rate)
        if m == "random":
            base = {"result": per_result, "choose": per_choose, "rate": rate}
        rows.append(
            [
                LABEL[m],
                f"{per_result:.0f}",
                f"{per_choose:.0f}",
                f"{sched_s:.2f}",
                f"{share:.1f}",
                f"{rate:.1f}",
                f"{trials_rate:.2f}",
            ]
        )
    out("")
    out(
        table(
            "Overhead: scheduler time per call (us), per experiment (s, % of wall), results/s and trials/s "
            "(the synthetic trainable does no work; all slot counts; results/s also pays for Tune's "
            "save/stop/"
            "restore of every paused trial, which FIFO and Ray's ASHA never do)",
            ["scheduler", "us/result", "us/choose", "sched s", "% wall", "results/s", "trials/s"],
            rows,
            [40, 9, 9, 8, 7, 9, 8],
        )
    )
    if base:
        parts = []
        for m in RAYNN + RAY:
            if m in stats:
                per_result, per_choose, rate = stats[m]
                parts.append(
                    f"{m}: x{per_result / base['result']:.0f} per result, "
                    f"x{per_choose / base['choose']:.0f} per choose, results/s x{rate / base['rate']:.2f}"
                )
        out("  Ratios to FIFOScheduler (random search): " + "; ".join(parts))


def _scale_run(raynn_root: Path, sizes: list[int]) -> dict[str, Any]:
    """Run scripts/_hpo_scale.py in a fresh interpreter that imports raynn from ``raynn_root``."""
    env = {**os.environ, "PYTHONPATH": str(raynn_root)}
    cmd = [sys.executable, str(ROOT / "scripts" / "_hpo_scale.py"), "--sizes", *map(str, sizes)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(data["raynn"]).resolve().is_relative_to(raynn_root.resolve()):
        raise RuntimeError(f"expected raynn from {raynn_root}, but the subprocess imported {data['raynn']}")
    return data


def overhead_scale(args: argparse.Namespace, out: Callable[[str], None]) -> None:
    """Part 4: cores and adapters at 100 / 1,000 / 10,000 trials on a fake stream (see _hpo_scale.py)."""
    sizes = args.sizes
    after = _scale_run(ROOT, sizes)
    before: dict[str, Any] | None = None
    if args.before:
        with tempfile.TemporaryDirectory(prefix="raynn-before-") as old:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.before, "raynn"], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            before = _scale_run(Path(old), sizes)

    def cell(part: str, name: str, n: int, key: str, digits: int = 1) -> str:
        pair = [after] if before is None else [before, after]
        vals = [d[part].get(name, {}).get(str(n), {}).get(key) for d in pair]
        return " -> ".join("?" if v is None else f"{v:.{digits}f}" for v in vals)

    when = "" if before is None else f" ({args.before} -> this checkout)"
    out("")
    out(f"Scheduler cores, pure raynn.hpo on a fake stream, 8 slots, R = 27, eta = 3: mean us per call{when}")
    out(f"{'core':42s} {'trials':>6}  {'on_result us':>18}  {'choose_paused us':>18}  {'state_dict() ms':>18}")
    for name in after["cores"]:
        for n in sizes:
            out(
                f"{name:42s} {n:>6}  {cell('cores', name, n, 'us_result'):>18}  "
                f"{cell('cores', name, n, 'us_choose'):>18}  {cell('cores', name, n, 'ms_state_dict', 2):>18}"
            )
    out("")
    out(f"Ray Tune adapters, Tune's calls made by a fake TuneController, max_concurrent_trials = 8{when}")
    ray_asha = next(name for name in after["adapters"] if name.startswith("Ray ASHA"))
    out(f"{'scheduler':42s} {'trials':>6}  {'us/result':>18}  {'us/choose':>18}  {'result / Ray ASHA':>18}")
    for name in after["adapters"]:
        for n in sizes:
            ratio = after["adapters"][name][str(n)]["us_result"] / after["adapters"][ray_asha][str(n)]["us_result"]
            out(
                f"{name:42s} {n:>6}  {cell('adapters', name, n, 'us_result'):>18}  "
                f"{cell('adapters', name, n, 'us_choose'):>18}  {ratio:>18.2f}"
            )
    left = [f"{k} {n}" for k, v in after["adapters"].items() for n, r in v.items() if r["left"]]
    out("  Every trial ended TERMINATED." if not left else f"  Trials left unfinished: {', '.join(left)}")


def mnist(args: argparse.Namespace, tmp: Path, out: Callable[[str], None]) -> None:
    import yaml
    from ray import tune

    from raynn.hpo.spaces import SearchSpace
    from raynn.tune.trial import run_trial

    raw = yaml.safe_load((ROOT / "search_spaces" / "mnist.yaml").read_text())
    space = SearchSpace.from_dict(raw)
    R, eta = int(raw["base"]["train"]["epochs"]), 3
    hb_trials, hb_units = hb_band(R, eta)
    budget = hb_units
    overrides = {"train.epochs": R, "train.workers": 1, "storage": str(tmp / "mnist-runs"), "seed": 0}
    trainable = tune.with_parameters(run_trial, space=space.to_dict(), overrides=overrides)
    setting = Setting(
        "mnist",
        trainable,
        space,
        "val_loss",
        R,
        eta,
        ("val_accuracy",),
        False,
        time_limit=args.mnist_time_limit,
        stall_s=None,
    )
    methods = [m for m in ALL_METHODS if m in args.mnist_methods and m != "optuna-tpe-hb"]
    seeds = list(range(args.mnist_seeds))
    out("")
    out(
        "Part 2. Real training: search_spaces/mnist.yaml (CNN, 4,000 train / 1,000 val MNIST images, 1 "
        "thread), "
        f"R={R} epochs, eta={eta}, slots={args.mnist_slots}, seeds {seeds}, budget {budget} epochs "
        f"(one HyperBand band, {hb_trials} trials; random search {budget // R} x {R}). Pure Optuna is left "
        "out "
        f"(it would train in this process, outside Ray)."
    )
    runs = []
    for seed in seeds:
        for m in methods:
            t0 = time.perf_counter()
            run = run_tune(m, setting, seed, args.mnist_slots, budget, 1, tmp)
            runs.append(run)
            print(
                f"  [{time.perf_counter() - t0:6.1f} s] mnist seed={seed} {m:14s} spent={run.spent} "
                f"statuses={run.statuses} {'; '.join(run.notes)}",
                file=sys.stderr,
                flush=True,
            )
    rows = []
    curves = {}
    for m in methods:
        rs = [r for r in runs if r.method == m]
        curves[m] = median_curve(rs, lambda e: e.value)
        acc = median_curve(rs, lambda e: e.extra[0])
        at = [curves[m][max(1, round(f * budget)) - 1] for f in FRACTIONS]
        rows.append(
            [
                LABEL[m],
                *(fmt(v) for v in at),
                fmt(acc[-1] * 100, 5, 1),
                f"{statistics.median(r.spent for r in rs):.0f}",
                f"{statistics.median(r.trials for r in rs):.0f}",
                f"{statistics.median(r.at_top for r in rs):.0f}",
                f"{statistics.median(r.wall for r in rs):.0f}",
                "; ".join(
                    sorted({n for r in rs for n in r.notes if "limit" in n or "twice" in n or "ledger" in n})
                ),
            ]
        )
    out(
        table(
            "Incumbent validation loss (best at the highest epoch reached) at 25/50/100% of the budget and "
            "its "
            "val accuracy (%) at the end; medians over seeds",
            ["method", "25%", "50%", "100%", "acc %", "spent", "trials", "at R", "wall s", "note"],
            rows,
            [38, 7, 7, 7, 5, 5, 6, 4, 6, 4],
        )
    )
    bad = sorted(
        {
            f"{r.method} seed={r.seed}: {r.statuses}, {r.errors} error(s)"
            for r in runs
            if r.errors
            or (
                r.method in ("random", "raynn-sh", "raynn-hb", "raynn-hb-gp")
                and set(r.statuses) - {"TERMINATED"}
            )
        }
    )
    out(
        "  Checks: "
        + (
            "; ".join(bad)
            if bad
            else "no errors; FIFO and raynn SH/HB runs ended with every trial TERMINATED."
        )
    )
    rand = [r.spent for r in runs if r.method == "random"]
    reach = reach_rows(curves, "random", rand[0] if rand else budget)
    out(
        "  Resource to reach random search's final val loss / random's resource: "
        + ", ".join(f"{m} {v}" for m, v in reach.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="the default: 3 seeds, 2 slots, 1 band, no MNIST (4-7 min on 2 cores)",
    )
    mode.add_argument(
        "--full", action="store_true", help="5 seeds, slots 1 and 2, 1 band, then MNIST (~25 min on 2 cores)"
    )
    parser.add_argument("--part", choices=("all", "synthetic", "mnist", "overhead"), default="all")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100, 1000, 10000], help="--part overhead: trial counts"
    )
    parser.add_argument("--before", help="--part overhead: also measure raynn at this git revision")
    parser.add_argument("--seeds", type=int, help="synthetic seeds 0..n-1")
    parser.add_argument("--slots", type=int, nargs="+", help="concurrent trials (max_concurrent_trials)")
    parser.add_argument("--bands", type=int, help="budget in HyperBand bands (357 epochs each at R=27)")
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    parser.add_argument(
        "--mnist-methods",
        nargs="+",
        choices=ALL_METHODS,
        default=["random", "raynn-sh", "raynn-hb", "raynn-asha", "raynn-hb-gp", "ray-hb", "ray-asha"],
    )
    parser.add_argument("--mnist-seeds", type=int, default=1)
    parser.add_argument("--mnist-slots", type=int, default=2)
    parser.add_argument(
        "--dump", type=Path, help="also pickle the synthetic runs (every result) to this file"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=240.0,
        help="guard against a hang: seconds per synthetic experiment",
    )
    parser.add_argument("--mnist-time-limit", type=float, default=600.0)
    args = parser.parse_args()
    full = args.full
    args.seeds = args.seeds or (5 if full else 3)
    args.slots = args.slots or ([1, 2] if full else [2])
    args.bands = args.bands or 1
    do_synth = args.part in ("all", "synthetic")
    do_mnist = args.part == "mnist" or (args.part == "all" and full)
    if args.part == "overhead":  # no Ray session: the fake stream calls the schedulers directly
        t_start = time.perf_counter()
        print(f"raynn HPO benchmark: scripts/bench_hpo.py {' '.join(sys.argv[1:])}", flush=True)
        print(f"  {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores (shared)", flush=True)
        overhead_scale(args, lambda line: print(line, flush=True))
        print(f"\nTotal wall time {time.perf_counter() - t_start:.0f} s.")
        return

    import optuna
    import ray

    from raynn.api import ensure_ray

    warnings.filterwarnings("ignore")
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    flag = "--full" if full else "--quick"
    t_start = time.perf_counter()
    ensure_ray(num_cpus=4)
    out(f"raynn HPO benchmark: scripts/bench_hpo.py {flag} {' '.join(sys.argv[1:])}".rstrip())
    out(
        f"  {time.strftime('%Y-%m-%d %H:%M')}, ray {ray.__version__}, optuna {optuna.__version__}, "
        f"{os.cpu_count()} cores (shared), one Ray session ray.init(num_cpus=4, include_dashboard=True); "
        f"Tune: reuse_actors, checkpoint every epoch, verbose=0"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-hpo-"))
    try:
        if do_synth:
            runs = synthetic(args, tmp, out)
            if args.dump:
                import pickle

                args.dump.write_bytes(pickle.dumps(runs))
            report_synthetic(runs, args, out)
            report_overhead(runs, out)
        if do_mnist:
            mnist(args, tmp, out)
        elif args.part == "all":
            out("")
            out("Part 2 (real training on MNIST) is not in --quick: run --full or --part mnist.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        ray.shutdown()
    out("")
    out(f"Total wall time {time.perf_counter() - t_start:.0f} s.")


if __name__ == "__main__":
    main()
