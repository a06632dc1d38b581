"""``raynn tune``: hyperparameter search over raynn training runs on a Ray cluster (seed section 4.7).

Everything the user typed is checked before Ray starts: the search space, the scheduler and searcher names,
and the budget (a successive-halving budget too small for one round is an error, not a silent no-op). Then a
plain ``ray.tune.Tuner`` runs, with raynn's scheduler adapter and searcher adapter, and the experiment
directory receives a results table, a learning-curve plot and a rung diagram.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from raynn.api import check_address
from raynn.config import INT_MAX, SEED_MAX, check_config, check_input_files, is_finite_number, is_int
from raynn.errors import ConfigError
from raynn.hpo.searchers import SEARCHERS, build_searcher
from raynn.hpo.spaces import SearchSpace, load_space
from raynn.paths import check_name, check_storage
from raynn.tune import SCHEDULERS

__all__ = ["CHECKPOINT_EVERY", "TRIAL_MAX_FAILURES", "TuneResult", "run_tune"]

CHECKPOINT_EVERY = 10
"""Default of ``checkpoint_every``. A pause needs a checkpoint only at a rung; between rungs a checkpoint only
limits what a crash costs. Rungs grow geometrically (1, 3, 9, 27, 81 with eta = 3), so without one a crash late
in a long trial could cost most of its epochs; every 10 epochs bounds that to 9 epochs, for at most one
checkpoint write per 10 epochs (a write costs far less than an epoch for the models raynn trains)."""


TRIAL_MAX_FAILURES = 3
"""Times Tune restarts an in-process trial from its latest checkpoint after it failed (its process killed, its
node lost, out of memory). Tune's default, 0, ended such a trial for good as ERROR, its slot and rungs lost.
Data-parallel trials get 0: Ray Train already restarts their workers (``train.max_failures``), and a trial whose
workers could not be placed within ``--pending-timeout`` must fail once, not wait that long four times."""


@dataclass(frozen=True)
class TuneResult:
    """What a tuning run leaves behind.

    Attributes:
        best_trial, best_value, best_epoch: The incumbent (:mod:`raynn.tune.best`): the best value at the largest
            epoch any trial reached, its trial and that epoch.
        best_config: The best trial's raynn run config (checked), ``best_params`` its searched values.
        best_checkpoint: That trial's latest checkpoint directory.
        ledger: The scheduler's budget ledger (spent against planned, per bracket and rung).
        curves: Every trial's learning curve, ``{trial_id: [(epoch, metric), ...]}``.
        path: The experiment directory (results table, plots, Optuna study, Tune state).
        trial_rungs: Each trial's rungs, the ``r_i`` of its bracket (halving schedulers only).
    """

    best_trial: str | None
    best_params: dict[str, Any]
    best_config: dict[str, Any]
    best_value: float | None
    best_epoch: int | None
    best_checkpoint: str | None
    ledger: dict[str, Any]
    curves: dict[str, list[tuple[int, float]]]
    path: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    trial_rungs: dict[str, list[int]] = field(default_factory=dict)


def run_tune(
    space: str | os.PathLike[str] | SearchSpace | None,
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
    checkpoint_every: int = CHECKPOINT_EVERY,
    verbose: bool = True,
    ray_logs: bool = False,
    pending_timeout: float = 600.0,
) -> TuneResult:
    """Search ``space`` with ``scheduler`` and ``searcher`` on Ray Tune; see ``raynn tune --help``.

    ``budget`` is successive halving's B (resource units, epochs); for the other schedulers it caps the
    resource the experiment may spend by choosing how many configurations to try. ``num_samples`` is the
    number of configurations (for ``sh`` the N of Algorithm 7.2).

    ``resume=True`` continues the experiment ``storage/name`` after its driver stopped or was killed, with the
    settings it was started with (saved in its ``raynn_tune.json``; ``space`` may then be None): Tune restores
    its trials, raynn's scheduler its rungs, brackets and budget ledger, the searcher its studies.

    A trial checkpoints at the resources where the scheduler may pause or compare it (its rungs), at its last
    epoch, and every ``checkpoint_every`` epochs between (0: only those), for fault tolerance. ``verbose``
    prints raynn's view and final line; ``ray_logs`` also shows Ray's own log lines, which otherwise go to
    ``ray.log`` in the experiment directory (warnings and errors are shown either way).
    """
    # ---- check everything before anything starts ----------------------------------------------------------
    if name is not None:
        check_name("--name", name)
    check_storage("--storage", storage)
    if resume:
        settings = _resume_settings(storage, name)
        scheduler, searcher, budget, num_samples = (settings[k] for k in ("scheduler", "searcher", "budget",
                                                                          "num_samples"))
        workers_per_trial, gpus_per_worker, max_concurrent = (
            settings[k] for k in ("workers_per_trial", "gpus_per_worker", "max_concurrent"))
        metric, mode, eta, seed = (settings[k] for k in ("metric", "mode", "eta", "seed"))
        checkpoint_every = settings.get("checkpoint_every", CHECKPOINT_EVERY)
        space = SearchSpace.from_dict(settings["space"])
    elif space is None:
        raise ConfigError("SPACE", "a search-space YAML file is needed unless resuming", space)
    if scheduler not in SCHEDULERS:
        raise ConfigError("--scheduler", f"must be one of {', '.join(SCHEDULERS.names())}", scheduler)
    if searcher not in SEARCHERS:
        raise ConfigError("--searcher", f"must be one of {', '.join(SEARCHERS.names())}", searcher)
    if mode not in ("min", "max"):
        raise ConfigError("--mode", "must be min or max", mode)
    for key, value, low in (("--budget", budget, 1), ("--num-samples", num_samples, 1),
                            ("--workers-per-trial", workers_per_trial, 1), ("--max-concurrent", max_concurrent, 1),
                            ("--eta", eta, 2), ("--checkpoint-every", checkpoint_every, 0)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise ConfigError(key, f"must be an integer >= {low}", value)
        if value is not None and value > INT_MAX:
            raise ConfigError(key, f"must be <= {INT_MAX}", value)
    if not is_finite_number(gpus_per_worker) or gpus_per_worker < 0:
        raise ConfigError("--gpus-per-worker", "must be a finite number >= 0", gpus_per_worker)
    if not is_int(seed) or not 0 <= seed <= SEED_MAX:
        raise ConfigError("--seed", f"must be an integer in [0, {SEED_MAX}]", seed)
    if not isinstance(metric, str) or not metric:
        raise ConfigError("--metric", "must be the name of a metric the trials report (val_loss, ...)", metric)
    if not is_finite_number(pending_timeout) or not pending_timeout > 0:
        raise ConfigError("--pending-timeout", "must be a finite number > 0 (seconds)", pending_timeout)
    if scheduler == "sh" and budget is None:
        raise ConfigError("--budget", "must be given for successive halving (the B of Algorithm 7.2)", budget)
    space = space if isinstance(space, SearchSpace) else load_space(space)
    sample = check_config(space.apply({k: space.dimensions[k].corners()[0] for k in space.keys()}))
    check_input_files(sample)  # a pre-trained model or teacher, read once as the trials will (weights only)
    max_resource = sample["train"]["epochs"]
    name = name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    exp_dir = Path(storage).resolve() / name
    if not resume and (exp_dir / SETTINGS_FILE).exists():
        raise ConfigError("--name", "names an experiment that exists; continue it with --resume or choose "
                          "another name", name)

    address = check_address(address)

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
    rungs = sched.rungs() if hasattr(sched, "rungs") else None  # the fidelities the searcher models
    if not resume:
        core = build_searcher(searcher, space, **_searcher_options(searcher, seed, exp_dir, mode, rungs,
                                                                   num_samples))

    # ---- run ----------------------------------------------------------------------------------------------
    from raynn.api import ensure_ray

    exp_dir.mkdir(parents=True, exist_ok=True)
    with _ray_logs_to(None if ray_logs else exp_dir / RAY_LOG):
        ensure_ray(address)
        from raynn.cluster import check_fits
        from raynn.resources import trial_demand

        check_fits(trial_demand(workers_per_trial, gpus_per_worker))  # a trial the cluster can never hold: exit 2
        if max_concurrent is None:
            import ray

            cpus = int(ray.cluster_resources().get("CPU", 1))
            max_concurrent = max(1, cpus // workers_per_trial)
        overrides = {"train.epochs": max_resource, "train.workers": workers_per_trial,
                     "train.gpus_per_worker": gpus_per_worker, "train.pending_timeout": pending_timeout,
                     "storage": str(exp_dir), "seed": seed}
        settings = {
            "space": space.to_dict(), "scheduler": scheduler, "searcher": searcher, "budget": budget,
            "num_samples": num_samples, "workers_per_trial": workers_per_trial, "gpus_per_worker": gpus_per_worker,
            "max_concurrent": max_concurrent, "metric": metric, "mode": mode, "eta": eta, "seed": seed,
            "checkpoint_every": checkpoint_every}
        tuner, view = _tuner(space, sched, None if resume else core, settings, overrides, rungs, name, exp_dir,
                             resume=resume, budget=budget, verbose=verbose, ray_logs=ray_logs,
                             pending_timeout=pending_timeout)
        grid = tuner.fit()
    from raynn.tune.outputs import collect, write_outputs

    result = collect(grid, sched, space, overrides, metric, mode, exp_dir)
    write_outputs(result, metric)
    if verbose:
        view.final(result)
    return result


RAY_LOG = "ray.log"
"""Ray's own log lines of a run (checkpoints written, trials restored), in its experiment directory; shown on
the terminal instead with ``raynn tune --verbose``."""


@contextlib.contextmanager
def _ray_logs_to(path: Path | None) -> Iterator[None]:
    """While ``raynn tune`` runs, Ray's INFO lines in this process go to ``path`` (None: left alone); warnings and
    errors still reach the terminal. Tune's own console output (an experiment table and result paths, printed
    even at ``verbose=0`` by its new output engine) is off: raynn's view replaces it."""
    if path is None:
        yield
        return
    ray_logger = logging.getLogger("ray")
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    terminal = [h for h in ray_logger.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    levels = [h.level for h in terminal]
    for handler in terminal:
        handler.setLevel(max(handler.level, logging.WARNING))
    ray_logger.addHandler(to_file)
    # Tune reads this switch at fit(): "0" selects its legacy output, which prints nothing at verbose=0.
    saved = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = saved
        ray_logger.removeHandler(to_file)
        to_file.close()
        for handler, level in zip(terminal, levels):
            handler.setLevel(level)


def _tuner(space: SearchSpace, sched: Any, core: Any, settings: dict[str, Any], overrides: dict[str, Any],
           rungs: list[int] | None, name: str, exp_dir: Path, *, resume: bool, budget: int | None, verbose: bool,
           ray_logs: bool, pending_timeout: float) -> tuple[Any, Any]:
    """The ``ray.tune.Tuner`` of a run (restored with ``resume``) and raynn's terminal view of it."""
    from ray import tune

    from raynn.tune.events import EventLog
    from raynn.tune.guard import StorageGuard
    from raynn.resources import trial_resources
    from raynn.tune.monitor import MetricsExporter, TensorBoardLogger
    from raynn.tune.pending import PendingReport
    from raynn.tune.search import RaynnSearcher
    from raynn.tune.trial import run_trial
    from raynn.tune.view import ProgressView

    metric, mode = settings["metric"], settings["mode"]
    trainable = tune.with_parameters(run_trial, space=space.to_dict(), overrides=overrides,
                                     rungs=list(rungs or []), checkpoint_every=settings["checkpoint_every"],
                                     ray_log=None if ray_logs else str(exp_dir / RAY_LOG))
    trainable = tune.with_resources(trainable, trial_resources(settings["workers_per_trial"],
                                                               settings["gpus_per_worker"]))
    view = ProgressView(sched, metric=metric, mode=mode, budget=budget, enabled=verbose)
    # The scheduler's snapshot first: Tune restores callback states by position.
    snapshot = [sched.snapshot_callback()] if hasattr(sched, "snapshot_callback") else []
    callbacks = [*snapshot, view, EventLog(exp_dir, metric, mode),
                 MetricsExporter(sched, metric, mode, experiment=name, budget=budget),
                 TensorBoardLogger(exp_dir), PendingReport(pending_timeout),
                 StorageGuard(exp_dir, f"raynn tune --resume --name {name} --storage {exp_dir.parent}")]
    if resume:
        return _restored_tuner(exp_dir, trainable, sched, callbacks), view
    _save_settings(exp_dir, settings)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=RaynnSearcher(core, metric=metric, mode=mode), scheduler=sched,
            num_samples=settings["num_samples"], max_concurrent_trials=settings["max_concurrent"], metric=metric,
            mode=mode,
            # In-process trials: one process per slot, trial after trial, no start-up of Python, torch and the
            # data per trial (the data stays prepared in the actor, raynn.tune.trial.DATA_CACHE). Not for
            # data-parallel trials: a paused trial's TorchTrainer run must end with its actor, or its workers
            # keep their CPUs and the next trial in that actor waits for them forever.
            reuse_actors=settings["workers_per_trial"] == 1,
            trial_dirname_creator=_trial_dirname,
        ),
        # No CheckpointConfig(num_to_keep=...): it forces an experiment snapshot every num_to_keep checkpoints
        # of a trial (Ray's "snapshotting has been triggered multiple times" warning). A trial keeps its few
        # checkpoints: one per rung and one per checkpoint_every epochs.
        run_config=tune.RunConfig(name=name, storage_path=str(exp_dir.parent), callbacks=callbacks, verbose=0,
                                  failure_config=tune.FailureConfig(
                                      max_failures=TRIAL_MAX_FAILURES if settings["workers_per_trial"] == 1 else 0)),
    )
    return tuner, view


SETTINGS_FILE = "raynn_tune.json"
"""The settings an experiment was started with, in its directory: what ``--resume`` continues with."""


def _save_settings(exp_dir: Path, settings: dict[str, Any]) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=1))


def _resume_settings(storage: str | os.PathLike[str], name: str | None) -> dict[str, Any]:
    """The saved settings of ``storage/name``, checked before anything starts."""
    if not name:
        raise ConfigError("--resume", "must come with --name of the experiment to continue", name)
    exp_dir = Path(storage).resolve() / name
    if not (exp_dir / SETTINGS_FILE).is_file():
        raise ConfigError("--resume",
                          f"must name the directory of an experiment started by raynn tune (it holds "
                          f"{SETTINGS_FILE})",
                          str(exp_dir))
    _check_tune_state(exp_dir)
    return json.loads((exp_dir / SETTINGS_FILE).read_text())


_TUNE_STATE = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl",
               "callback-states-*.pkl", "tuner.pkl")


def _check_tune_state(exp_dir: Path) -> None:
    """Tune's own state files must be whole: Tune copies them into the experiment directory non-atomically,
    so a driver killed during the copy can leave one truncated, and Tune, failing to read it, would silently
    start the experiment afresh. Tune reads the newest file of each kind; so does this check."""
    import pickle

    if not any(exp_dir.glob(_TUNE_STATE[0])):
        raise ConfigError("--resume",
                          "must find Tune's experiment state (experiment_state-*.json) in the experiment "
                          "directory",
                          str(exp_dir))
    for pattern in _TUNE_STATE:
        files = sorted(exp_dir.glob(pattern))
        if not files:
            continue
        path = files[-1]
        try:
            data = path.read_bytes()
            if data.startswith(b"{"):  # Tune writes JSON and pickles, whatever the suffix
                json.loads(data)
            else:
                pickle.loads(data)
        except Exception:  # noqa: BLE001 - any failure to read it means Tune cannot resume from it
            raise ConfigError("--resume", "Tune's state file is unreadable (truncated when the driver was killed "
                              "during Tune's copy?)", str(path)) from None


def _restored_tuner(exp_dir: Path, trainable: Any, scheduler: Any, callbacks: list[Any]) -> Any:
    """``Tuner.restore`` with live parts: Tune would restore the scheduler and callbacks as they were pickled
    at the start (``tuner.pkl``). The fresh scheduler gets its state from Tune's snapshot through its
    snapshot callback, first in ``callbacks`` as when the experiment started; the other callbacks must be this
    run's (its terminal view, event log, metrics)."""
    from ray import tune

    tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=True)
    internal = tuner._local_tuner  # Ray 2.60: the TunerInternal that fit() runs; None through Ray Client
    if internal is None:
        raise ConfigError("--resume", "cannot run through Ray Client (ray://); submit the driver as a Ray job "
                          "(scripts/cluster/submit.sh) or run it on the head", "ray://")
    internal._tune_config.scheduler = scheduler
    internal._run_config.callbacks = callbacks
    return tuner


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
