"""The Python API: ``raynn.train(config)``."""

from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from raynn.config import RunConfig, check_input_files, parse_config, read_config
from raynn.errors import ConfigError, StorageError
from raynn.faults import forwarded_env
from raynn.paths import check_storage

__all__ = ["TrainResult", "check_address", "ensure_ray", "train"]


@dataclass(frozen=True)
class TrainResult:
    """What a training run leaves: its last metrics, its latest checkpoint and where it lives."""

    metrics: dict[str, Any]
    checkpoint: str | None
    run_dir: str
    history: list[dict[str, Any]] = field(default_factory=list)


def _checked(config: RunConfig | dict[str, Any] | str | os.PathLike[str] | None,
             overrides: Iterable[str]) -> RunConfig:
    if config is None or isinstance(config, (str, os.PathLike)):
        return read_config(config, overrides)
    from raynn.config import apply_overrides

    return parse_config(apply_overrides(config.to_dict() if isinstance(config, RunConfig) else config, overrides))


_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def run_name(cfg: RunConfig) -> str:
    """The configured name, or a fresh one: a second run under the same name would resume the first."""
    return cfg.name or f"raynn-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


ADDRESS_RULE = ("must be host:port of a running Ray cluster's GCS, ray://host:port (Ray Client), auto (the "
                "cluster started on this machine) or local")
PROBE_TIMEOUT_S = 5.0
"""Seconds to resolve the host, then to connect: a wrong address is reported within ~10 s."""


def _split_host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # [::1]:6379
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in host):
        return None
    return host, int(port)


def _resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` with a deadline (a resolver can stall for a minute); a daemon thread may outlive it."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["addrs"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise OSError(f"the host name did not resolve within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["addrs"]


def check_address(address: Any, key: str = "--address", timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """``address`` if a Ray cluster may answer there, checked before anything starts (None and ``local``:
    Ray starts a local instance).

    Ray itself retries an unreachable GCS for minutes, so the host is resolved and a TCP connection to the
    port is opened first, each within ``timeout`` seconds. ``auto`` is looked up the way ``ray.init`` does
    (``RAY_ADDRESS``, else the cluster last started on this machine). A port that accepts TCP but is not a
    GCS is not detected here.
    """
    if address is None or address == "local":  # "local": a new local Ray instance (train runs on Ray Train)
        return address
    if not isinstance(address, str):
        raise ConfigError(key, ADDRESS_RULE, address)
    target = address
    if address == "auto":
        from raynn._ray_private import ray_address_from_environment

        try:
            target = ray_address_from_environment()
        except ConnectionError:
            raise ConfigError(key, "auto must find a running Ray cluster on this machine (start one with `ray "
                              "start --head` or scripts/cluster/local_cluster.sh up)", address) from None
    elif address.startswith("ray://"):
        target = address[len("ray://"):]
    if "://" in target or "/" in target:  # http://...:8265 is the job API (scripts/cluster/submit.sh)
        raise ConfigError(key, ADDRESS_RULE, address)
    parsed = _split_host_port(target)
    if parsed is None:
        raise ConfigError(key, ADDRESS_RULE, address)
    host, port = parsed
    try:
        addrs = _resolve(host, port, timeout)
    except OSError as exc:
        raise ConfigError(key, f"must name a host that resolves ({exc.strerror or exc})", address) from None
    reasons = []
    for family, kind, proto, _, sockaddr in addrs[:4]:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            return address
        except OSError as exc:
            reasons.append(exc.strerror or ("timed out" if isinstance(exc, TimeoutError) else str(exc)))
    raise ConfigError(key, f"must be the address of a running Ray cluster: nothing accepts connections at "
                      f"{host}:{port} ({'; '.join(dict.fromkeys(reasons))}); start the cluster or fix the "
                      "address", address)


def ensure_ray(address: str | None = None, num_cpus: int | None = None, code: dict[str, Any] | None = None,
               num_gpus: int | None = None) -> None:
    """Connect to ``address`` or start a local Ray instance with its dashboard, unless already connected.

    The dashboard matters: without it Ray Train cannot release a stopped run's resources. ``address`` is
    probed first (:func:`check_address`): an unreachable one is a :class:`ConfigError` within seconds.
    ``code`` (a checked ``code`` section, :mod:`raynn.code`) becomes the job's ``runtime_env``, which every Tune
    actor and Ray Train worker inherits; inside ``ray job submit`` the job's own ``working_dir`` is kept.
    """
    import ray

    from raynn.code import job_runtime_env, runtime_env

    shipped = runtime_env(code or {}, job_runtime_env())
    if ray.is_initialized():
        if shipped:
            print("raynn: warning: Ray was already initialized in this process, so raynn cannot ship "
                  f"{', '.join(sorted(shipped))}; pass runtime_env to ray.init yourself", file=sys.stderr)
        return
    check_address(address)
    ray.init(address=address, num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=True, log_to_driver=True,
             runtime_env={"env_vars": {"RAY_TRAIN_ENABLE_STATE_TRACKING": "1", **forwarded_env()}, **shipped})


def train(
    config: RunConfig | dict[str, Any] | str | os.PathLike[str] | None = None,
    overrides: Iterable[str] = (),
    *,
    address: str | None = None,
) -> TrainResult:
    """Train one model.

    Args:
        config: A config ``dict`` (or a :class:`raynn.config.RunConfig`), the path of a YAML file, or None for
            the defaults (digits).
        overrides: ``key=value`` strings applied before checking (``"optimizer.lr=0.1"``).
        address: A Ray cluster address. With it, or with ``train.workers > 1``, training runs data-parallel
            on Ray Train; otherwise in this process.

    The whole config is checked before anything starts; a bad value raises :class:`raynn.errors.ConfigError`.
    """
    cfg = _checked(config, overrides)
    check_input_files(cfg)
    address = check_address(address)
    storage = check_storage("storage", cfg.storage)
    name = run_name(cfg)
    cfg.name = name
    if cfg.train.workers == 1 and address is None:
        from raynn.training.local import LocalRun
        from raynn.training.loop import run_training

        run = LocalRun(storage / name)
        try:
            history = run_training(cfg, run.env())
        except OSError as exc:
            if exc.errno not in _STORAGE_ERRNOS:
                raise
            last = run.latest_checkpoint()
            raise StorageError(exc.errno, f"cannot write {exc.filename or storage}: {exc.strerror}; the last good "
                               f"checkpoint is {last or 'none'}: make room and run again with name {name} "
                               "(--name) to resume from it") from exc
        return TrainResult(history[-1], run.latest_checkpoint(), str(run.run_dir), history)

    return _train_on_ray(cfg, name, storage, address)


def _train_on_ray(cfg: RunConfig, name: str, storage: Any, address: str | None) -> TrainResult:
    """Data-parallel on Ray Train: checked against the cluster first; Ray's own lines go to the run's
    ``ray.log`` (:mod:`raynn.ray_logs`)."""
    from raynn.classpath import class_paths
    from raynn.cluster import check_fits
    from raynn.code import probe_cuda, probe_nodes
    from raynn.ray_logs import RAY_LOG, ray_logs_to
    from raynn.resources import trial_demand
    from raynn.storage import fs_uri, is_uri, work_dir
    from raynn.training.distributed import configure_ray_train_env, make_trainer

    run_dir = work_dir(storage / name) if is_uri(storage) else Path(storage, name)
    with ray_logs_to(run_dir / RAY_LOG) as ray_logs:
        ensure_ray(address, code=cfg.code.to_dict())
        # A run the cluster can never hold fails here, with the arithmetic, before any worker group starts.
        check_fits(trial_demand(cfg.train.workers, cfg.train.gpus_per_worker, workers_flag="train.workers",
                                gpus_flag="train.gpus_per_worker"))
        probe_nodes(class_paths(cfg.to_dict()))  # every node imports the user's code, or one line names the node
        if cfg.train.gpus_per_worker > 0 and cfg.train.device != "cpu":
            probe_cuda()  # a GPU node whose torch has no CUDA: one line, before a worker holds a GPU
        configure_ray_train_env()
        with ray_logs.workers():
            result = make_trainer(cfg, name, storage).fit()  # raises TrainingFailedError once retries run out
    history = result.return_value or []
    checkpoint = fs_uri(storage, result.checkpoint.path) if result.checkpoint is not None else None
    return TrainResult(history[-1] if history else dict(result.metrics or {}), checkpoint, str(storage / name), history)
