"""``raynn tune``: hyperparameter search over raynn training runs on a Ray cluster (seed section 4.7).

Everything the user typed is checked before Ray starts: the search space, the scheduler and searcher names,
and the budget (a successive-halving budget too small for one round is an error, not a silent no-op). Then a
plain ``ray.tune.Tuner`` runs, with raynn's scheduler adapter and searcher adapter, and the experiment
directory receives a results table, a learning-curve plot and a rung diagram.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import secrets
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from raynn.api import check_address
from raynn.config import check_config, check_input_files, parse_config
from raynn.errors import ConfigError
from raynn.hpo.registry import SCHEDULERS
from raynn.hpo.searchers import build_searcher
from raynn.hpo.spaces import SearchSpace, load_space
from raynn import storage
from raynn.ray_logs import RAY_LOG, ray_logs_to
from raynn.tune.outputs import TuneResult
from raynn.tune.schedulers import build_scheduler
from raynn.tune.options import CHECKPOINT_EVERY, TuneOptions

__all__ = ["CHECKPOINT_EVERY", "TRIAL_MAX_FAILURES", "TuneOptions", "TuneResult", "run_tune"]

TRIAL_MAX_FAILURES = 3
"""Times Tune restarts an in-process trial from its latest checkpoint after it failed (its process killed, its
node lost, out of memory). Tune's default, 0, ended such a trial for good as ERROR, its slot and rungs lost.
Data-parallel trials get 0: Ray Train already restarts their workers (``train.max_failures``), and a trial whose
workers could not be placed within ``--pending-timeout`` must fail once, not wait that long four times."""


def run_tune(options: TuneOptions | str | os.PathLike[str] | SearchSpace | None = None, /,
             **kwargs: Any) -> TuneResult:
    """Search a space with a scheduler and a searcher on Ray Tune; see ``raynn tune --help``.

    ``options`` is a :class:`~raynn.tune.options.TuneOptions`, or the search space with the other options as
    keyword arguments (``raynn.tune(space, scheduler="asha", ...)``), which build one.

    ``resume=True`` continues the experiment ``storage/name`` after its driver stopped or was killed, with the
    settings it was started with (saved in its ``raynn_tune.json``): Tune restores its trials, raynn's
    scheduler its rungs, brackets and budget ledger, the searcher its studies.

    A trial checkpoints at the resources where the scheduler may pause or compare it (its rungs), at its last
    epoch, and every ``checkpoint_every`` epochs between (0: only those), for fault tolerance. ``verbose``
    prints raynn's view and final line; ``ray_logs`` also shows Ray's own log lines, which otherwise go to
    ``ray.log`` in the experiment directory (warnings and errors are shown either way).
    """
    if isinstance(options, TuneOptions):
        if kwargs:
            raise TypeError(f"run_tune takes TuneOptions or keyword options, not both: {sorted(kwargs)}")
        opts = options
    else:
        opts = TuneOptions(options, **kwargs)
    saved: dict[str, Any] = {}
    if opts.resume:
        saved = _resume_settings(opts.storage, opts.name)
        opts = opts.with_saved(saved)
    plan = _plan(opts)  # everything checked before anything starts
    if opts.resume:
        _say_if_code_changed(saved.get("code_digest"), plan.code_digest)
    from raynn.api import ensure_ray

    plan.exp_dir.mkdir(parents=True, exist_ok=True)
    with ray_logs_to(None if opts.ray_logs else plan.exp_dir / RAY_LOG) as ray_logs, _tune_env(opts.ray_logs):
        ensure_ray(plan.address, code=plan.code)
        from raynn.cluster import check_fits
        from raynn.code import probe_cuda, probe_nodes
        from raynn.resources import trial_demand

        check_fits(trial_demand(opts.workers_per_trial, opts.gpus_per_worker))  # a trial no node can hold: exit 2
        probe_nodes(plan.class_paths)  # every node imports the user's code, or one line names the node
        if opts.gpus_per_worker > 0 and plan.device != "cpu":
            probe_cuda()  # a GPU node whose torch has no CUDA: one line, before a trial holds a GPU
        max_concurrent = opts.max_concurrent or _slots(opts.workers_per_trial)
        overrides = {"train.epochs": plan.max_resource, "train.workers": opts.workers_per_trial,
                     "train.gpus_per_worker": opts.gpus_per_worker, "train.pending_timeout": opts.pending_timeout,
                     "storage": plan.location, "seed": opts.seed}
        settings = {**opts.settings(plan.space, plan.num_samples, max_concurrent), "code": plan.code,
                    "code_digest": plan.code_digest}
        tuner, view = _tuner(plan, opts, settings, overrides)
        with ray_logs.workers():
            grid = tuner.fit()
    from raynn.tune.outputs import collect, write_outputs

    result = collect(grid, plan.scheduler, plan.space, overrides, opts.metric, opts.mode, plan.location)
    write_outputs(result, opts.metric, plan.exp_dir)
    if plan.remote:
        upload_working_copy(plan.exp_dir, plan.location, final=True)
    if opts.verbose:
        view.final(result)
    return result


@dataclass(frozen=True)
class _Plan:
    """What a run needs once its options are checked: the space, the scheduler, the searcher, the directory."""

    space: SearchSpace
    scheduler: Any
    searcher: Any  # the raynn searcher core (None when resuming: Tune restores its own)
    rungs: list[int] | None
    max_resource: int
    num_samples: int
    name: str
    exp_dir: Path  # where raynn writes: the experiment directory, or for a URI its driver-local working copy
    address: str | None
    storage: str = ""  # Ray's storage_path: an absolute directory or a URI
    location: str = ""  # the experiment directory: storage/name, a path or a URI

    @property
    def remote(self) -> bool:
        return storage.is_uri(self.location)
    code: dict[str, Any] | None = None  # the checked code section the job ships (raynn.code)
    code_digest: str | None = None
    class_paths: dict[str, str] | None = None  # the user's classes and functions every node must import
    device: str = "auto"  # the sample config's train.device


def _plan(opts: TuneOptions) -> _Plan:
    """Load and check the space and a sample config, build the scheduler and the searcher; nothing starts."""
    from raynn.classpath import class_paths
    from raynn.code import digest

    from raynn.classpath import normalize_specs

    space = opts.space if isinstance(opts.space, SearchSpace) else load_space(opts.space)
    # Classes and functions given as objects (the Python API) travel as their import paths.
    space = SearchSpace(space.dimensions, normalize_specs(space.base))
    code = opts.code(space)  # first: the user's code on this process's import path for the checks
    space.check(check_config)  # every corner against the run config (raynn.hpo does not import it)
    sample = parse_config(space.apply({k: space.dimensions[k].corners()[0] for k in space.keys()}))
    check_input_files(sample)  # a pre-trained model or teacher, read once as the trials will (weights only)
    max_resource = sample.train.epochs
    name = opts.name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    root = storage.normalize("--storage", opts.storage)
    location = storage.join(root, name)
    exp_dir = storage.work_dir(location) if storage.is_uri(location) else Path(location)
    if not opts.resume and storage.exists(storage.join(location, SETTINGS_FILE)):
        raise ConfigError("--name", "names an experiment that exists; continue it with --resume or choose "
                          "another name", name)
    address = check_address(opts.address)
    if storage.is_uri(location) and not opts.resume:  # a working copy left by an earlier experiment of this name
        shutil.rmtree(exp_dir, ignore_errors=True)
    sched, max_resource, num_samples = _scheduler(opts, max_resource)
    rungs = sched.rungs() if hasattr(sched, "rungs") else None  # the fidelities the searcher models
    searcher = None
    if not opts.resume:
        searcher = build_searcher(opts.searcher, space, **_searcher_options(
            opts.searcher, opts.seed, exp_dir, opts.mode, rungs, num_samples))
    return _Plan(space, sched, searcher, rungs, max_resource, num_samples, name, exp_dir, address, root, location,
                 code, digest(code), class_paths(sample.to_dict()), sample.train.device)


def _say_if_code_changed(saved: str | None, now: str | None) -> None:
    """One warning line when the code a resumed experiment ships differs from what it started with (``saved``,
    from its ``raynn_tune.json``): the trials resumed from now on (and new ones) run the new code; their
    checkpoints load as long as the parameter shapes still fit."""
    if saved != now:
        print(f"raynn: warning: the code this experiment ships changed since it started (fingerprint {saved} -> "
              f"{now}); trials resume and start with the new code", file=sys.stderr)


def _slots(workers_per_trial: int) -> int:
    """Trials at once when not given: the cluster's CPUs over the workers a trial takes."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cpus // workers_per_trial)


@contextlib.contextmanager
def _tune_env(ray_logs: bool) -> Iterator[None]:
    """The switches Tune reads at ``fit()`` while ``raynn tune`` runs. Tune adds none of its default loggers:
    :func:`_tuner` gives it the CSV and JSON ones, and raynn's :class:`~raynn.tune.monitor.TensorBoardLogger` is
    each trial's one TensorBoard writer (Tune's own would write a second copy into every trial directory).
    Unless ``ray_logs``, Tune's own console output (an experiment table and result paths, printed even at
    ``verbose=0`` by its new output engine) is off, raynn's view replacing it: "0" selects its legacy output,
    which prints nothing at ``verbose=0``."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"))
        if not ray_logs:
            stack.enter_context(_environ("RAY_AIR_NEW_OUTPUT", "0"))
        yield


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` while the block runs; the previous value (or its absence) afterwards."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _tuner(plan: _Plan, opts: TuneOptions, settings: dict[str, Any], overrides: dict[str, Any]) -> tuple[Any, Any]:
    """The ``ray.tune.Tuner`` of a run (restored with ``resume``) and raynn's terminal view of it."""
    from ray import tune

    from raynn.resources import trial_resources
    from raynn.tune.search import RaynnSearcher
    from raynn.tune.trial import run_trial

    space, sched, rungs, name, exp_dir = plan.space, plan.scheduler, plan.rungs, plan.name, plan.exp_dir
    ray_logs, metric, mode = opts.ray_logs, settings["metric"], settings["mode"]
    trainable = tune.with_parameters(run_trial, space=space.to_dict(), overrides=overrides,
                                     rungs=list(rungs or []), checkpoint_every=settings["checkpoint_every"],
                                     ray_log=None if ray_logs else str(exp_dir / RAY_LOG), code=plan.code)
    trainable = tune.with_resources(trainable, trial_resources(settings["workers_per_trial"],
                                                               settings["gpus_per_worker"]))
    callbacks, view = _callbacks(plan, opts, metric, mode)
    if opts.resume:
        return _restored_tuner(plan.location, trainable, sched, callbacks), view
    _save_settings(exp_dir, settings)
    if plan.remote:  # at once, as for a directory: the name is taken, and --resume finds the settings
        storage.write_text(storage.join(plan.location, SETTINGS_FILE), json.dumps(settings, indent=1))
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=RaynnSearcher(plan.searcher, metric=metric, mode=mode), scheduler=sched,
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
        run_config=tune.RunConfig(name=name, storage_path=plan.storage, callbacks=callbacks, verbose=0,
                                  failure_config=tune.FailureConfig(
                                      max_failures=TRIAL_MAX_FAILURES if settings["workers_per_trial"] == 1 else 0)),
    )
    return tuner, view


def _callbacks(plan: _Plan, opts: TuneOptions, metric: str, mode: str) -> tuple[list[Any], Any]:
    """The Tune callbacks of a run, in the order Tune calls them, and the terminal view among them."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from raynn.tune.events import EventLog
    from raynn.tune.guard import StorageGuard
    from raynn.tune.monitor import MetricsExporter, TensorBoardLogger
    from raynn.tune.pending import PendingReport
    from raynn.tune.persistence import TrialLogsBeforeRetry
    from raynn.tune.progress import Progress
    from raynn.tune.view import ProgressView

    sched, name, exp_dir, budget = plan.scheduler, plan.name, plan.exp_dir, opts.budget
    resume_hint = f"raynn tune --resume --name {name} --storage {shlex.quote(storage.redact(plan.storage))}"
    # One progress (incumbent, spent, statuses) takes each result; the view, event log and metrics read it.
    progress = Progress(metric, mode)
    view = ProgressView(sched, metric, mode, budget=budget, enabled=opts.verbose, progress=progress)
    # The scheduler's snapshot first: Tune restores callback states by position.
    snapshot = [sched.snapshot_callback()] if hasattr(sched, "snapshot_callback") else []
    callbacks = [*snapshot, progress, view, EventLog(exp_dir, metric, mode, progress=progress),
                 MetricsExporter(sched, metric, mode, experiment=name, budget=budget, progress=progress),
                 TensorBoardLogger(exp_dir), PendingReport(opts.pending_timeout),
                 StorageGuard(exp_dir, resume_hint, mirror=WORKING_FILES if plan.remote else ()),
                 TrialLogsBeforeRetry(), CSVLoggerCallback(), JsonLoggerCallback()]
    return callbacks, view


SETTINGS_FILE = "raynn_tune.json"
"""The settings an experiment was started with, in its directory: what ``--resume`` continues with."""


def _save_settings(exp_dir: Path, settings: dict[str, Any]) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=1))


WORKING_FILES = (SETTINGS_FILE, "events.jsonl", "optuna.db", RAY_LOG, "tensorboard", ".raynn-last-state")
"""What raynn writes beside Tune's files while an experiment runs: with a storage URI, kept in the driver-local
working copy (:func:`raynn.storage.work_dir`) and put into Tune's driver staging directory at each of Tune's
experiment snapshots, so that Tune's upload carries them with the state they belong to (the Optuna study
copied through SQLite's backup, never opened on the network filesystem)."""

OUTPUT_FILES = ("results.csv", "summary.json", "curves.png", "rungs.png")
"""What ``raynn tune`` writes when the search ends (:mod:`raynn.tune.outputs`), uploaded then."""


def upload_working_copy(work: Path, location: str, final: bool = False) -> None:
    """Upload raynn's files of the experiment from its working copy ``work`` to the URI ``location``:
    :data:`WORKING_FILES`, and with ``final`` the outputs of the finished search. Each file is copied
    consistently first (:func:`raynn.storage.copy_for_upload`), then uploaded."""
    import tempfile

    names = WORKING_FILES + (OUTPUT_FILES if final else ())
    with tempfile.TemporaryDirectory(prefix="raynn-upload-") as tmp:
        for name in names:
            if (work / name).exists():
                storage.copy_for_upload(work / name, Path(tmp, name))
        storage.upload_dir(tmp, location)


def _fetch_working_copy(location: str, work: Path) -> None:
    """A fresh working copy of the experiment at the URI ``location``: its :data:`WORKING_FILES` as uploaded
    with Tune's last snapshot (what a new head node resumes from), nothing of an earlier copy kept."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    present = set(storage.listdir(location))
    for name in WORKING_FILES:
        if name in present:
            where = storage.join(location, name)
            if storage.is_dir(where):
                storage.download_dir(where, work / name)
            else:
                storage.download_file(where, work / name)


def _resume_settings(root: str | os.PathLike[str], name: str | None) -> dict[str, Any]:
    """The saved settings of ``storage/name``, checked before anything starts."""
    if not name:
        raise ConfigError("--resume", "must come with --name of the experiment to continue", name)
    location = storage.join(storage.normalize("--storage", root), name)
    if not storage.exists(storage.join(location, SETTINGS_FILE)):
        raise ConfigError("--resume",
                          f"must name the directory of an experiment started by raynn tune (it holds "
                          f"{SETTINGS_FILE})",
                          storage.redact(location))
    if storage.is_uri(location):
        work = storage.work_dir(location)
        _fetch_working_copy(location, work)
        _check_remote_tune_state(location, work)
    else:
        _check_tune_state(Path(location))
    return json.loads(storage.read_text(storage.join(location, SETTINGS_FILE)))


def _check_remote_tune_state(location: str, work: Path) -> None:
    """:func:`_check_tune_state` for an experiment at a URI: on a copy of its top-level state files and the
    guard's last whole copy (in the working copy, downloaded); what a restore changed is written back."""
    from raynn.tune.guard import TUNE_STATE

    check = work / ".tune-state"
    shutil.rmtree(check, ignore_errors=True)
    check.mkdir()
    names = [n for n in storage.listdir(location) if any(fnmatch.fnmatch(n, p) for p in TUNE_STATE)]
    for name in names:
        storage.download_file(storage.join(location, name), check / name)
    if (work / ".raynn-last-state").is_dir():
        shutil.copytree(work / ".raynn-last-state", check / ".raynn-last-state")
    if _check_tune_state(check, shown=storage.redact(location)):
        after = {p.name for p in check.iterdir() if p.is_file()}
        for name in sorted(after):
            storage.upload_file(check / name, storage.join(location, name))
        for name in sorted(set(names) - after):  # set aside in the copy: its new name is uploaded above
            storage.delete_file(storage.join(location, name))
    shutil.rmtree(check, ignore_errors=True)


def _check_tune_state(exp_dir: Path, shown: str | None = None) -> bool:
    """Tune's own state files must be whole: Tune copies them into the experiment directory non-atomically, so
    a driver killed during the copy, or a disk that filled up during it, can leave one truncated, and Tune,
    failing to read it, would silently start the experiment afresh. Tune reads the newest file of each kind;
    so does this check. An unreadable one is replaced by the last whole copy the storage guard kept."""
    from raynn.tune.guard import LAST_STATE, TUNE_STATE, restore_last_state, unreadable_tune_state

    shown = shown or str(exp_dir)
    if not any(exp_dir.glob(TUNE_STATE[0])):
        raise ConfigError("--resume",
                          "must find Tune's experiment state (experiment_state-*.json) in the experiment "
                          "directory",
                          shown)
    cut = unreadable_tune_state(exp_dir)
    if cut is None:
        return False
    if restore_last_state(exp_dir) and unreadable_tune_state(exp_dir) is None:
        print(f"raynn: warning: Tune's state file {cut.name} in {shown} is unreadable (cut short when the driver "
              f"was killed or the disk filled up); resuming from the last whole copy of Tune's state "
              f"({LAST_STATE})", file=sys.stderr)
        return True
    raise ConfigError("--resume", "Tune's state file is unreadable (truncated when the driver was killed "
                      "during Tune's copy?), and there is no whole copy of it to resume from", str(cut))


def _restored_tuner(location: str, trainable: Any, scheduler: Any, callbacks: list[Any]) -> Any:
    """``Tuner.restore`` with live parts: Tune would restore the scheduler and callbacks as they were pickled
    at the start (``tuner.pkl``). The fresh scheduler gets its state from Tune's snapshot through its
    snapshot callback, first in ``callbacks`` as when the experiment started; the other callbacks must be this
    run's (its terminal view, event log, metrics)."""
    from ray import tune

    from raynn._ray_private import local_tuner, set_live_parts

    tuner = tune.Tuner.restore(location, trainable=trainable, resume_unfinished=True, resume_errored=True)
    internal = local_tuner(tuner)  # the TunerInternal that fit() runs; None through Ray Client
    if internal is None:
        raise ConfigError("--resume", "cannot run through Ray Client (ray://); submit the driver as a Ray job "
                          "(scripts/cluster/submit.sh) or run it on the head", "ray://")
    set_live_parts(internal, scheduler, callbacks)
    return tuner


def _trial_dirname(trial: Any) -> str:
    return f"trial-{trial.trial_id}"


def _scheduler(opts: TuneOptions, epochs: int) -> tuple[Any, int, int]:
    """The scheduler the options name, the units a trial trains for at most, and how many configurations to
    try (given, or what the scheduler's registry entry says its plan or the budget pays for)."""
    info = SCHEDULERS.get(opts.scheduler)
    offered = {"budget": opts.budget, "num_configs": opts.num_samples, "max_resource": epochs, "eta": opts.eta,
               "metric": opts.metric, "mode": opts.mode}
    options = info.options.pick(offered)
    try:
        sched = build_scheduler(opts.scheduler, **options)
    except ValueError as exc:
        key = info.options.blame
        raise ConfigError("--" + key.replace("_", "-"), str(exc).splitlines()[0], getattr(opts, key)) from None
    samples = opts.num_samples
    if samples is None:
        samples = info.samples(sched, info.options(**options), opts.budget, epochs)
    return sched, info.resource(sched, epochs), samples


def _searcher_options(name: str, seed: int, exp_dir: Path, mode: str, rungs: list[int] | None,
                      num_samples: int) -> dict[str, Any]:
    if name == "grid":
        return {}
    if name == "random":
        return {"seed": seed, "num_samples": num_samples}
    exp_dir.mkdir(parents=True, exist_ok=True)
    return {"seed": seed, "storage_path": str(exp_dir / "optuna.db"), "mode": mode, "rungs": rungs}
