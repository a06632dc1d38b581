"""Data-parallel training on Ray: the plain loop launched on N workers by Ray Train's ``TorchTrainer``.

This adapter only translates: rank, world size and device come from ``ray.train.get_context()``; the model and
loader are wrapped by ``prepare_model`` (DDP) and ``prepare_data_loader`` (DistributedSampler); each epoch every
rank calls ``ray.train.report`` and rank 0 attaches the checkpoint. A worker that dies is restarted by
``FailureConfig(max_failures)`` and the loop resumes from ``ray.train.get_checkpoint()``: at most one epoch is lost.
Backend: gloo on CPUs, NCCL on GPUs (Ray Train's default choice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from raynn.config_model import RunConfig

__all__ = ["worker_loop", "make_trainer"]


def _latest_checkpoint() -> str | None:
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    from raynn.training.checkpoint import local_directory

    return local_directory(checkpoint)


def _report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
    import ray.train

    from raynn.faults import fault_point

    fault_point("epoch", metrics.get("epoch"))
    checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    ray.train.report(metrics, checkpoint=checkpoint)


def _sharded_loader(dataset: Any, batch_size: int, generator: Any) -> Any:
    """Ray Train's data parallelism: each rank reads its DistributedSampler shard (the process group is Ray
    Train's). The loop moves batches to its device itself, so Ray's ``prepare_data_loader`` (whose device
    transfer assumes CUDA whenever the worker holds a GPU) is not needed.

    The sampler is seeded with the run's seed (``generator``'s): the one ``prepare_data_loader`` would add is
    seeded 0, so every seed of a data-parallel run would see the same example order.
    """
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    from raynn.training.loop import _identity

    sampler = DistributedSampler(dataset, shuffle=True, seed=generator.initial_seed())
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=_identity)


def _quiet_report_logs() -> None:
    """raynn prints one progress line per epoch; Ray Train's two INFO lines per report would bury it."""
    from raynn._ray_private import quiet_train_report_logs

    quiet_train_report_logs()


def where() -> str:
    """This process's node, as a device error names it: ``node 10.0.0.5 (4bad55af)``."""
    import ray

    ctx = ray.get_runtime_context()
    return f"node {ray.util.get_node_ip_address()} ({ctx.get_node_id()[:8]})"


def _gpu_ids() -> list[str]:
    import ray

    return [str(i) for i in ray.get_gpu_ids()]


def _ddp(device: Any) -> Callable[[Any], Any]:
    """DistributedDataParallel on ``device``: a GPU worker's own GPU, or the CPU (``train.device: cpu``)."""

    def wrap(model: Any) -> Any:
        from torch.nn.parallel import DistributedDataParallel

        model.to(device)
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    return wrap


def worker_loop(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What each Ray Train worker runs. Its device is the GPU Ray gave it (``CUDA_VISIBLE_DEVICES``), or the CPU
    with ``train.device: cpu``; rank 0 reports every worker's GPU ids (``worker_gpu_ids``)."""
    import ray.train
    import ray.train.torch
    import torch.distributed as dist

    from raynn.training.loop import Env, run_training
    from raynn.training.precision import resolve_device

    _quiet_report_logs()

    cfg = RunConfig.checked(cfg)  # Ray Train hands the workers the config's dict
    ctx = ray.train.get_context()
    device = resolve_device(cfg.train.device, ray.train.torch.get_device(), where())
    gpu_ids: list[Any] = [None] * ctx.get_world_size()
    dist.all_gather_object(gpu_ids, _gpu_ids())

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        _report({**metrics, "worker_gpu_ids": gpu_ids}, checkpoint_dir)

    env = Env(
        rank=ctx.get_world_rank(),
        world_size=ctx.get_world_size(),
        device=device,
        prepare_model=_ddp(device),
        make_loader=_sharded_loader,
        report=report,
        latest_checkpoint=_latest_checkpoint,
        where=where(),
    )
    return run_training(cfg, env)


def configure_ray_train_env() -> None:
    """Ray Train settings read from the environment of the process that calls ``fit()``.

    State tracking puts raynn's runs in the dashboard's Train view. Ray Train takes one report per worker per
    health check (2 s by default) and ``report()`` waits for it, so short epochs would be paced by the poll;
    0.5 s keeps it off the critical path. Without the print patch each progress line reaches the driver once.
    """
    import os

    os.environ["RAY_TRAIN_ENABLE_STATE_TRACKING"] = "1"
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")


def _fail_fast_when_pending(seconds: float) -> None:
    """Ray Train reads its worker-group start timeout (60 s by default) from this variable of the process that
    calls ``fit()`` and propagates it to its controller; raynn's ``train.pending_timeout`` sets it."""
    from raynn._ray_private import set_worker_group_start_timeout

    set_worker_group_start_timeout(seconds)


def make_trainer(cfg: RunConfig | Mapping[str, Any], name: str, storage: str | Path, callbacks: list[Any] | None = None, *,
                 loop: Callable[[Any], Any] = worker_loop, loop_config: Any = None) -> Any:
    """A ``TorchTrainer`` for a checked config (``train.workers`` workers, ``train.gpus_per_worker`` GPUs each).

    ``loop`` and ``loop_config`` replace what the workers run and are given (default: :func:`worker_loop` on
    ``cfg``); ``raynn study`` runs several configs of the same ``train`` section in one worker group this way.
    """
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, ScalingConfig
    from ray.train import RunConfig as RayRunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from raynn.storage import normalize

    cfg = RunConfig.checked(cfg)
    t = cfg.train
    gpus = t.gpus_per_worker
    # NCCL needs CUDA: workers that hold GPUs but train on the CPU (train.device: cpu) talk over gloo.
    backend = "gloo" if gpus == 0 or t.device == "cpu" else "nccl"
    scaling = ScalingConfig(
        num_workers=t.workers, use_gpu=gpus > 0,
        resources_per_worker={"CPU": 1, **({"GPU": gpus} if gpus > 0 else {})},
    )
    _fail_fast_when_pending(t.pending_timeout)
    run = RayRunConfig(
        name=name, storage_path=normalize("storage", storage),  # a URI as given: Ray's pyarrow filesystem
        # A worker group not placed within the pending timeout is a controller failure; Ray Train retries those
        # forever by default (a traceback a minute); 0 retries fails the run once, with Ray's reason.
        failure_config=FailureConfig(max_failures=t.max_failures, controller_failure_limit=0),
        checkpoint_config=CheckpointConfig(num_to_keep=2), callbacks=callbacks or None,
        # raynn prints one line per epoch; Ray Train's INFO lines (state transitions, worker placement, two per
        # report) stay in its log files under the Ray session directory, its warnings and errors on the console.
        logging_config=LoggingConfig(log_level="WARNING"),
    )
    # The workers get the plain dict (worker_loop types it again): what crosses to Ray is plain data.
    return TorchTrainer(loop, train_loop_config=cfg.to_dict() if loop_config is None else loop_config,
                        scaling_config=scaling,
                        run_config=run, torch_config=TorchConfig(backend=backend))
