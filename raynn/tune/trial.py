"""What one Tune trial runs: a raynn training run, in the trial's process or data-parallel on Ray Train.

In-process it reports through ``ray.tune.report`` and resumes from ``ray.tune.get_checkpoint()``; it
checkpoints at its rungs, every ``checkpoint_every`` epochs and at its last epoch. With more workers it
launches a ``TorchTrainer`` named after the trial. Either way it reports ``epoch``, the resource.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["DATA_CACHE", "DATA_CACHE_SIZE", "RAY_LOGGERS", "checkpoint_policy", "route_ray_logs", "run_trial"]

DATA_CACHE_SIZE = 2
"""Data configs an actor keeps prepared: a search over one data set needs one; two leaves room for a second
(a data option searched) without holding more than two copies of a data set in one actor's memory."""

DATA_CACHE = None
"""This process's :class:`~raynn.training.loop.DataCache`, made by the first trial run in it. Module state on
purpose: a reused Tune actor runs trial after trial in one process, and this is what it keeps between them."""


def checkpoint_policy(rungs: list[int], every: int) -> Any:
    """``epoch -> bool``: checkpoint at a rung (where a halving scheduler may pause and later resume the trial)
    and every ``every`` epochs (0: never, besides the rungs), for fault tolerance."""
    at = frozenset(rungs)
    return lambda epoch: epoch in at or (every > 0 and epoch % every == 0)


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def _report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
    import ray.tune

    from raynn.faults import fault_point

    trial = ray.tune.get_context().get_trial_id()
    fault_point("epoch", metrics.get("epoch"), trial)
    if checkpoint_dir:
        fault_point("checkpoint", metrics.get("epoch"), trial)  # in a temporary directory, not yet persisted
    checkpoint = ray.tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    gpu_ids = [str(i) for i in ray.get_gpu_ids()]
    ray.tune.report({**metrics, "node_id": _node_id(), "gpu_ids": gpu_ids}, checkpoint=checkpoint)


def _latest_checkpoint() -> str | None:
    import ray.tune

    checkpoint = ray.tune.get_checkpoint()
    if checkpoint is None:
        return None
    from raynn.training.checkpoint import local_directory

    return local_directory(checkpoint)


RAY_LOGGERS = ("ray.tune", "ray.train")
"""Ray's loggers whose INFO lines a trial emits per checkpoint and restore ("Checkpoint successfully created
at ...", "Restored on ... from checkpoint ..."). A trial routes them once it starts training, so a restore in a
fresh actor (Tune retrying a failed trial) logs before that and reaches the terminal instead; the driver's
``events.jsonl`` records every retry with the epoch it restarts from (:class:`raynn.tune.events.EventLog`)."""


def route_ray_logs(path: str | Path) -> None:
    """Send this process's Ray Tune / Train log lines to the file ``path``; only warnings and errors still go
    to stderr (which Ray forwards to the driver's terminal). Done once per process and path."""
    import logging
    import sys

    path = str(Path(path).resolve())
    Path(path).parent.mkdir(parents=True, exist_ok=True)  # with a storage URI: the driver's working-copy path
    for name in RAY_LOGGERS:
        log = logging.getLogger(name)
        if any(getattr(h, "baseFilename", None) == path for h in log.handlers):
            continue
        to_file = logging.FileHandler(path)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s pid=%(process)d: %(message)s"))
        to_terminal = logging.StreamHandler(sys.stderr)
        to_terminal.setLevel(logging.WARNING)
        to_terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(to_file)
        log.addHandler(to_terminal)
        log.setLevel(logging.INFO)
        log.propagate = False


def run_trial(params: dict[str, Any], *, space: dict[str, Any], overrides: dict[str, Any],
              rungs: list[int] | None = None, checkpoint_every: int = 1, ray_log: str | None = None,
              code: dict[str, Any] | None = None) -> None:
    """The Tune function trainable (bound with ``tune.with_parameters``); checkpoints per
    :func:`checkpoint_policy` (``rungs`` None: every epoch); ``ray_log``: a file for Ray's log lines
    (:func:`route_ray_logs`; None: left as Ray has them); ``code``: the driver's code section, shipped by Ray
    already and recorded in the checkpoints (``load_model`` imports the model from it)."""
    global DATA_CACHE
    if ray_log is not None:
        route_ray_logs(ray_log)
    import ray.tune

    from raynn.config import RunConfig, apply_overrides, check_config
    from raynn.hpo.spaces import SearchSpace

    raw = SearchSpace.from_dict(space, check=False).apply(params)  # checked once, by the driver
    raw = apply_overrides(raw, [f"{k}={v}" for k, v in overrides.items()])
    raw.pop("code", None)  # shipped by Ray already: its paths are the driver's, not this node's
    cfg = check_config(raw)
    if code is not None:
        cfg["code"] = code
    trial_id = ray.tune.get_context().get_trial_id()
    cfg["name"] = f"trial-{trial_id}"
    cfg = RunConfig.checked(cfg)  # typed, with the driver's code section as it is
    if cfg.train.workers == 1:
        import torch

        from raynn.training.distributed import where
        from raynn.training.loop import DataCache, Env, run_training

        if DATA_CACHE is None:
            DATA_CACHE = DataCache(DATA_CACHE_SIZE)
        at = checkpoint_policy(rungs, checkpoint_every) if rungs is not None else (lambda epoch: True)
        # A trial given GPUs sees only its own (Ray sets CUDA_VISIBLE_DEVICES): it trains on the first of them.
        device = torch.device("cuda", 0) if ray.get_gpu_ids() else torch.device("cpu")
        # The driver's view shows every trial's progress; per-trial epoch lines would only bury it.
        run_training(cfg, Env(device=device, report=_report, latest_checkpoint=_latest_checkpoint,
                              log=lambda line: None, checkpoint_at=at, data_cache=DATA_CACHE, where=where()))
        return

    from ray.tune.integration.ray_train import TuneReportCallback

    from raynn.training.distributed import configure_ray_train_env, make_trainer

    configure_ray_train_env()
    from raynn.storage import join

    storage = join(cfg.storage, "train-runs")  # a local path or a URI
    trainer = make_trainer(cfg, cfg.name, storage, callbacks=[TuneReportCallback()])
    trainer.fit()
