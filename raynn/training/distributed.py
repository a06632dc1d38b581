"""Data-parallel training on Ray: the plain loop launched on N workers by Ray Train's ``TorchTrainer``.

This adapter only translates: rank, world size and device come from ``ray.train.get_context()``; the model and
loader are wrapped by ``prepare_model`` (DDP) and ``prepare_data_loader`` (DistributedSampler); each epoch every
rank calls ``ray.train.report`` and rank 0 attaches the checkpoint. A worker that dies is restarted by
``FailureConfig(max_failures)`` and the loop resumes from ``ray.train.get_checkpoint()``: at most one epoch is lost.
Backend: gloo on CPUs, NCCL on GPUs (Ray Train's default choice).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

__all__ = ["worker_loop", "make_trainer"]


def _latest_checkpoint() -> str | None:
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    return checkpoint.to_directory(tempfile.mkdtemp(prefix="raynn-restore-"))


def _report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
    import ray.train

    checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    ray.train.report(metrics, checkpoint=checkpoint)


def worker_loop(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """What each Ray Train worker runs."""
    import ray.train
    import ray.train.torch

    from raynn.training.loop import Env, run_training

    ctx = ray.train.get_context()
    env = Env(
        rank=ctx.get_world_rank(),
        world_size=ctx.get_world_size(),
        device=ray.train.torch.get_device(),
        prepare_model=ray.train.torch.prepare_model,
        prepare_loader=ray.train.torch.prepare_data_loader,
        report=_report,
        latest_checkpoint=_latest_checkpoint,
    )
    return run_training(cfg, env)


def make_trainer(cfg: dict[str, Any], name: str, storage: str | Path) -> Any:
    """A ``TorchTrainer`` for a checked config (``train.workers`` workers, ``train.gpus_per_worker`` GPUs each)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    t = cfg["train"]
    gpus = t["gpus_per_worker"]
    scaling = ScalingConfig(
        num_workers=t["workers"], use_gpu=gpus > 0,
        resources_per_worker={"CPU": 1, **({"GPU": gpus} if gpus > 0 else {})},
    )
    run = RunConfig(
        name=name, storage_path=str(Path(storage).resolve()),
        failure_config=FailureConfig(max_failures=t["max_failures"]),
        checkpoint_config=CheckpointConfig(num_to_keep=2),
    )
    return TorchTrainer(worker_loop, train_loop_config=cfg, scaling_config=scaling, run_config=run)
