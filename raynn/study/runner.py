"""The thin part that runs a study's runs on Ray, as many at once as the cluster allows.

* A single-process run (``train.workers: 1``) is one Ray task with ``num_cpus=1`` (and
  ``train.gpus_per_worker`` GPUs) that calls raynn's training loop in its process, so a 2-CPU machine trains
  two runs at once and a cluster many. The task can record the mini-batch loss of every iteration.
* Data-parallel runs (``train.workers >= 2``) go to Ray Train in groups: one ``TorchTrainer`` (one worker
  group of ``workers`` ranks, started from a zero-CPU Ray task) trains the runs of a group one after the
  other, each data-parallel on all its ranks (DDP, each rank its DistributedSampler shard) with its own fresh
  model, optimizer, seed and sampler, exactly as its own ``raynn train`` would. A worker group takes ~12 s to
  start; 93 runs of the large-batch study paid it 93 times. At most ``CPUs // workers`` groups are in flight
  (so none waits for workers that another holds), as many groups as that (a cluster stays busy), and no group
  holds more than :data:`RUNS_PER_GROUP` runs (a group that fails loses no more than that).

A run of two phases (the constant warmup) trains the second phase in the same run directory, so it resumes
from the first phase's last checkpoint, as a second ``raynn train`` with the same name would; in a worker
group rank 0 sends that checkpoint to the other ranks first.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from raynn.study.results import RunResult
from raynn.study.spec import RunSpec

__all__ = ["RUNS_PER_GROUP", "IterationLog", "group_loop", "group_sizes", "run_all", "train_in_process"]

RUNS_PER_GROUP = 16
"""The most data-parallel runs one worker group trains (one Ray Train run): its start (~12 s) is paid once per
group, and a group that fails for good loses at most this many runs."""


class IterationLog:
    """Records the mini-batch cross-entropy of every training iteration without changing the loop.

    The loop's :class:`~raynn.training.loop.Env` lets us wrap the loader (to see each batch's labels) and
    prepare the model (a forward hook sees the logits of the same batch). The loss is taken from the logits of
    the forward pass the update uses, before the update: the curve of Fig. 7.3 (a).
    """

    def __init__(self) -> None:
        self.losses: list[float] = []
        self._labels: Any = None

    def make_loader(self, dataset: Any, batch_size: int, generator: Any) -> Any:
        from raynn.training.loop import ShuffledBatches

        inner = ShuffledBatches(dataset, batch_size, generator)
        log = self

        class Batches:
            def __len__(self) -> int:
                return len(inner)

            def __iter__(self) -> Iterator[Any]:
                for batch in inner:
                    log._labels = batch[1]
                    yield batch

        return Batches()

    def prepare_model(self, model: Any) -> Any:
        model.register_forward_hook(self._hook)
        return model

    def _hook(self, module: Any, inputs: Any, output: Any) -> None:
        import torch.nn.functional as F

        if module.training and self._labels is not None and len(self._labels) == len(output):
            self.losses.append(float(F.cross_entropy(output.detach(), self._labels.to(output.device))))


def train_in_process(spec: RunSpec, quiet: bool = True) -> tuple[list[dict[str, Any]], list[float], float]:
    """Train ``spec`` in this process (every phase in one run directory): (history, iteration losses, seconds)."""
    import torch

    from raynn.training.local import LocalRun
    from raynn.training.loop import run_training

    t0 = time.perf_counter()
    log = IterationLog()
    history: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="raynn-study-")
    try:
        run = LocalRun(tmp, keep=1, log=(lambda _m: None) if quiet else print)
        device = torch.device("cuda" if spec.typed.train.gpus_per_worker > 0 and torch.cuda.is_available() else "cpu")
        for cfg in spec.phases:
            env = run.env(device)
            if spec.log_iterations:
                env.make_loader = log.make_loader
                env.prepare_model = log.prepare_model
            history = run_training(cfg, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return history, log.losses, time.perf_counter() - t0


def group_sizes(n: int, slots: int, most: int = RUNS_PER_GROUP) -> list[int]:
    """How ``n`` runs split into worker groups: at least ``slots`` groups (as many as run at once, so a cluster
    is kept busy), none larger than ``most``, sizes as even as possible (largest first). Pure arithmetic.

    >>> group_sizes(93, 1)
    [16, 16, 16, 15, 15, 15]
    """
    if n < 0 or slots < 1 or most < 1:
        raise ValueError(f"`n >= 0, slots >= 1, most >= 1` must hold, but got ({n=}, {slots=}, {most=})")
    groups = min(n, max(slots, -(-n // most)))
    return [n // groups + (1 if i < n % groups else 0) for i in range(groups)] if groups else []


def _share_checkpoint(run: Any, rank: int) -> None:
    """Rank 0's newest checkpoint of ``run`` (a LocalRun), written into every other rank's run directory."""
    import torch.distributed as dist

    from raynn.training.checkpoint import CHECKPOINT_FILE

    payload: list[Any] = [None]
    if rank == 0:
        latest = run.latest_checkpoint()
        if latest is not None:
            payload = [(Path(latest).name, (Path(latest) / CHECKPOINT_FILE).read_bytes())]
    dist.broadcast_object_list(payload, src=0)
    if rank != 0 and payload[0] is not None:
        name, data = payload[0]
        (run.run_dir / name).mkdir()
        (run.run_dir / name / CHECKPOINT_FILE).write_bytes(data)


def group_loop(config: dict[str, Any]) -> list[tuple[list[dict[str, Any]], float]]:
    """What each Ray Train worker of a group runs: every run of ``config["runs"]`` (a list of phase lists, each a
    checked run config), one after the other; rank 0 returns (history, seconds) for each.

    Each run is :func:`raynn.training.loop.run_training` with the same :class:`~raynn.training.loop.Env` as
    ``raynn train``'s workers (DDP model, seeded DistributedSampler shard) and a run directory of its own, so
    nothing but the prepared data (a :class:`~raynn.training.loop.DataCache`) carries from one run to the next.
    """
    import ray.train
    import ray.train.torch
    import torch.distributed as dist

    from raynn.training.distributed import _quiet_report_logs, _sharded_loader
    from raynn.training.local import LocalRun
    from raynn.training.loop import DataCache, Env, run_training

    _quiet_report_logs()
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    cache = DataCache(4)
    out: list[tuple[list[dict[str, Any]], float]] = []
    for phases in config["runs"]:
        t0 = time.perf_counter()
        history: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="raynn-study-run-") as tmp:
            run = LocalRun(tmp, keep=1, log=lambda _m: None)
            for i, cfg in enumerate(phases):
                if i > 0 and world > 1:
                    _share_checkpoint(run, rank)
                env = Env(rank=rank, world_size=world, device=ray.train.torch.get_device(),
                          prepare_model=ray.train.torch.prepare_model, make_loader=_sharded_loader,
                          report=run.report, latest_checkpoint=run.latest_checkpoint, log=lambda _m: None,
                          checkpoint_at=lambda _epoch: False, data_cache=cache)  # only the last epoch's
                history = run_training(cfg, env)
        if world > 1:
            dist.barrier()  # every rank done with this run before the next one's model is broadcast
        out.append((history, time.perf_counter() - t0))
        if rank == 0:
            last = history[-1] if history else {}
            print(f"raynn study: group run {len(out)}/{len(config['runs'])}: val_accuracy "
                  f"{last.get('val_accuracy', float('nan')):.4f} in {out[-1][1]:.1f} s", flush=True)
    return out


def _train_group(specs: Sequence[RunSpec], storage: str) -> list[tuple[list[dict[str, Any]], list[float], float]]:
    """Train ``specs`` (same ``train.workers`` and GPUs) in one Ray Train worker group, from a Ray task."""
    from raynn.training.distributed import configure_ray_train_env, make_trainer

    configure_ray_train_env()
    first = specs[0].phases[0]
    name = f"study-group-{specs[0].run_id}-{secrets.token_hex(3)}"  # unique: a second fit() of a name resumes it
    # A worker group restarted after a failure trains its runs again from the start (each is fresh anyway).
    loop_config = {"runs": [list(s.phases) for s in specs]}
    result = make_trainer(first, name, storage, loop=group_loop, loop_config=loop_config).fit()
    return [(history, [], seconds) for history, seconds in result.return_value]


def _remove(scratch: str) -> None:
    """Delete the data-parallel runs' Ray Train directories (checkpoints a study never reads again)."""
    from raynn import storage

    if not storage.is_uri(scratch):
        shutil.rmtree(scratch, ignore_errors=True)
    elif storage.exists(scratch):
        storage.delete_dir(scratch)


def _join_ray(runs: Sequence[RunSpec], address: str | None, code: dict[str, Any] | None) -> int:
    """Start or join Ray (shipping ``code``), check that every node imports the runs' classes and that the
    cluster can hold every run; returns the cluster's CPUs."""
    import ray

    from raynn.api import ensure_ray
    from raynn.classpath import class_paths
    from raynn.cluster import check_fits
    from raynn.code import probe_nodes
    from raynn.resources import trial_demand

    ensure_ray(address, code=code)
    probe_nodes({k: v for r in runs for k, v in class_paths(r.config).items()})
    # A run the cluster can never hold fails here, with the arithmetic (as `raynn train` does), not after Ray
    # Train's pending timeout.
    for w, g in sorted({(r.workers, float(r.typed.train.gpus_per_worker)) for r in runs}):
        check_fits(trial_demand(w, g, workers_flag="--workers", gpus_flag="--gpus-per-worker"))
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _scratch(storage: str | None) -> str:
    """Where the data-parallel runs' Ray Train checkpoints go while the study runs: a temporary directory of
    the driver, or below ``storage`` (a shared path or a bucket URI, which every node of a cluster reaches)."""
    if storage is None:
        return tempfile.mkdtemp(prefix="raynn-study-ray-")
    from raynn import storage as stored

    return stored.join(stored.normalize("--storage", storage), f"raynn-study-{secrets.token_hex(4)}")


def _jobs(runs: Sequence[RunSpec], slots: int) -> list[list[int]]:
    """The runs' indices as jobs: each single-process run alone, the data-parallel ones in groups (one Ray
    Train worker group each, see :func:`group_sizes`) that fill ``slots``."""
    parallel = [i for i, r in enumerate(runs) if r.workers > 1]
    jobs: list[list[int]] = [[i] for i, r in enumerate(runs) if r.workers == 1]
    start = 0
    for size in group_sizes(len(parallel), slots):
        jobs.append(parallel[start:start + size])
        start += size
    return jobs


def run_all(runs: Sequence[RunSpec], *, address: str | None = None, storage: str | None = None,
            progress: Callable[[str], None] = print, code: dict[str, Any] | None = None) -> list[RunResult]:
    """Run every run of a study on Ray; results in the order of ``runs``. Starts Ray if not connected, shipping
    ``code`` (a checked code section) to every node.

    ``storage`` (a directory or a bucket URI, checked by the caller) is where the data-parallel runs' Ray Train
    checkpoints go while the study runs, removed at the end; default a temporary directory of the driver,
    which a multi-node cluster's other nodes cannot reach."""
    import ray

    if not runs:
        return []
    cpus = _join_ray(runs, address, code)
    scratch = _scratch(storage)
    local = ray.remote(train_in_process)
    group = ray.remote(_train_group)
    # Data-parallel runs hold `workers` CPUs per group; single-process runs queue in Ray itself.
    per_run = max((r.workers for r in runs if r.workers > 1), default=1)
    slots = max(1, cpus // per_run)
    jobs = _jobs(runs, slots)
    pending: dict[Any, list[int]] = {}
    results: dict[int, RunResult] = {}
    in_flight_groups = 0
    t0 = time.perf_counter()
    try:
        while jobs or pending:
            while jobs and (runs[jobs[0][0]].workers == 1 or in_flight_groups < slots):
                job = jobs.pop(0)
                spec = runs[job[0]]
                if spec.workers == 1:
                    gpus = float(spec.typed.train.gpus_per_worker)
                    ref = local.options(num_cpus=1, num_gpus=gpus).remote(spec)
                else:
                    ref = group.options(num_cpus=0).remote([runs[i] for i in job], scratch)
                    in_flight_groups += 1
                pending[ref] = job
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            out = ray.get(done[0])
            if runs[job[0]].workers == 1:
                out = [out]
            else:
                in_flight_groups -= 1
            for i, (history, iterations, seconds) in zip(job, out):
                results[i] = RunResult(runs[i], history, iterations, seconds)
                last = history[-1] if history else {}
                progress(f"raynn study: [{len(results)}/{len(runs)}] {runs[i].label} (seed {runs[i].seed}): "
                         f"val_accuracy {last.get('val_accuracy', float('nan')):.4f} in {seconds:.1f} s "
                         f"({time.perf_counter() - t0:.0f} s so far)")
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        _remove(scratch)
    return [results[i] for i in range(len(runs))]
