"""What one Tune trial runs: a raynn training run, in the trial's process or data-parallel on Ray Train.

In-process (one worker per trial), the plain loop reports through ``ray.tune.report`` with a checkpoint every
epoch and resumes from ``ray.tune.get_checkpoint()``, so a paused trial continues where it stopped. With more
workers, the trial launches a Ray Train ``TorchTrainer`` (the pattern Ray 2.60 documents, with
``TuneReportCallback``); its run is named after the trial, so a resumed trial resumes that run from its own
checkpoint. Either way the trial reports ``epoch``, the resource halving schedulers measure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["run_trial"]


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def _report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
    import ray.tune

    checkpoint = ray.tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    ray.tune.report({**metrics, "node_id": _node_id()}, checkpoint=checkpoint)


def _latest_checkpoint() -> str | None:
    import ray.tune

    checkpoint = ray.tune.get_checkpoint()
    if checkpoint is None:
        return None
    from raynn.training.checkpoint import local_directory

    return local_directory(checkpoint)


def run_trial(params: dict[str, Any], *, space: dict[str, Any], overrides: dict[str, Any]) -> None:
    """The Tune function trainable (bound with ``tune.with_parameters``)."""
    import ray.tune

    from raynn.config import apply_overrides, check_config
    from raynn.hpo.spaces import SearchSpace

    raw = SearchSpace.from_dict(space, check=False).apply(params)  # checked once, by the driver
    raw = apply_overrides(raw, [f"{k}={v}" for k, v in overrides.items()])
    cfg = check_config(raw)
    trial_id = ray.tune.get_context().get_trial_id()
    cfg["name"] = f"trial-{trial_id}"
    if cfg["train"]["workers"] == 1:
        from raynn.training.loop import Env, run_training

        # The driver's view shows every trial's progress; per-trial epoch lines would only bury it.
        run_training(cfg, Env(report=_report, latest_checkpoint=_latest_checkpoint, log=lambda line: None))
        return

    from ray.tune.integration.ray_train import TuneReportCallback

    from raynn.training.distributed import configure_ray_train_env, make_trainer

    configure_ray_train_env()
    storage = Path(cfg["storage"]) / "train-runs"
    trainer = make_trainer(cfg, cfg["name"], storage, callbacks=[TuneReportCallback()])
    trainer.fit()
