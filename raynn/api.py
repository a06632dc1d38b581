"""The Python API: ``raynn.train(config)``."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from raynn.config import check_config, load_config

__all__ = ["TrainResult", "train", "ensure_ray"]


@dataclass(frozen=True)
class TrainResult:
    """What a training run leaves: its last metrics, its latest checkpoint and where it lives."""

    metrics: dict[str, Any]
    checkpoint: str | None
    run_dir: str
    history: list[dict[str, Any]] = field(default_factory=list)


def _checked(config: dict[str, Any] | str | os.PathLike[str] | None, overrides: Iterable[str]) -> dict[str, Any]:
    if config is None or isinstance(config, (str, os.PathLike)):
        return load_config(config, overrides)
    from raynn.config import apply_overrides

    return check_config(apply_overrides(config, overrides))


def run_name(cfg: dict[str, Any]) -> str:
    """The configured name, or a fresh one: a second run under the same name would resume the first."""
    return cfg["name"] or f"raynn-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` or start a local Ray instance with its dashboard, unless already connected.

    The dashboard matters: without it Ray Train cannot release a stopped run's resources.
    """
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, num_cpus=num_cpus, include_dashboard=True, log_to_driver=True,
             runtime_env={"env_vars": {"RAY_TRAIN_ENABLE_STATE_TRACKING": "1"}})


def train(
    config: dict[str, Any] | str | os.PathLike[str] | None = None,
    overrides: Iterable[str] = (),
    *,
    address: str | None = None,
) -> TrainResult:
    """Train one model.

    Args:
        config: A config ``dict``, the path of a YAML file, or None for the defaults (digits).
        overrides: ``key=value`` strings applied before checking (``"optimizer.lr=0.1"``).
        address: A Ray cluster address. With it, or with ``train.workers > 1``, training runs data-parallel
            on Ray Train; otherwise in this process.

    The whole config is checked before anything starts; a bad value raises :class:`raynn.errors.ConfigError`.
    """
    cfg = _checked(config, overrides)
    name = run_name(cfg)
    cfg["name"] = name
    storage = Path(cfg["storage"]).resolve()
    if cfg["train"]["workers"] == 1 and address is None:
        from raynn.training.local import LocalRun
        from raynn.training.loop import run_training

        run = LocalRun(storage / name)
        history = run_training(cfg, run.env())
        return TrainResult(history[-1], run.latest_checkpoint(), str(run.run_dir), history)

    from raynn.cluster import check_fits
    from raynn.resources import trial_demand
    from raynn.training.distributed import configure_ray_train_env, make_trainer

    ensure_ray(address)
    # A run the cluster can never hold fails here, with the arithmetic, before any worker group starts.
    check_fits(trial_demand(cfg["train"]["workers"], cfg["train"]["gpus_per_worker"], workers_flag="train.workers",
                            gpus_flag="train.gpus_per_worker"))
    configure_ray_train_env()
    result = make_trainer(cfg, name, storage).fit()  # raises TrainingFailedError once retries run out
    history = result.return_value or []
    checkpoint = result.checkpoint.path if result.checkpoint is not None else None
    return TrainResult(history[-1] if history else dict(result.metrics or {}), checkpoint, str(storage / name), history)
