"""The thin part that runs a study's runs on Ray, as many at once as the cluster allows.

* A single-process run (``train.workers: 1``) is one Ray task with ``num_cpus=1`` (and
  ``train.gpus_per_worker`` GPUs) that calls raynn's training loop in its process, so a 2-CPU machine trains
  two runs at once and a cluster many. The task can record the mini-batch loss of every iteration.
* A data-parallel run (``train.workers >= 2``) is :func:`raynn.train` (Ray Train, one worker per rank) called
  from a zero-CPU Ray task; at most ``CPUs // workers`` are in flight, so no run waits for workers that
  another holds.

A run of two phases (the constant warmup) trains the second phase in the same run directory, so it resumes
from the first phase's last checkpoint, as a second ``raynn train`` with the same name would.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from raynn.study.results import RunResult
from raynn.study.spec import RunSpec

__all__ = ["IterationLog", "run_all", "train_in_process"]


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
        device = torch.device("cuda" if spec.config["train"]["gpus_per_worker"] > 0 and torch.cuda.is_available() else "cpu")
        for cfg in spec.phases:
            env = run.env(device)
            if spec.log_iterations:
                env.make_loader = log.make_loader
                env.prepare_model = log.prepare_model
            history = run_training(cfg, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return history, log.losses, time.perf_counter() - t0


def _train_data_parallel(spec: RunSpec, storage: str) -> tuple[list[dict[str, Any]], list[float], float]:
    from raynn.api import train

    t0 = time.perf_counter()
    name = f"study-{spec.run_id}-{secrets.token_hex(3)}"  # unique: a second fit() of a name resumes it
    history: list[dict[str, Any]] = []
    for cfg in spec.phases:
        history = train({**cfg, "name": name, "storage": storage}).history
    return history, [], time.perf_counter() - t0


def run_all(runs: Sequence[RunSpec], *, address: str | None = None,
            progress: Callable[[str], None] = print) -> list[RunResult]:
    """Run every run of a study on Ray; results in the order of ``runs``. Starts Ray if not connected."""
    import ray

    from raynn.api import ensure_ray

    if not runs:
        return []
    ensure_ray(address)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    storage = tempfile.mkdtemp(prefix="raynn-study-ray-")
    local = ray.remote(train_in_process)
    parallel = ray.remote(_train_data_parallel)
    pending: dict[Any, int] = {}
    results: dict[int, RunResult] = {}
    queue = list(range(len(runs)))
    # Data-parallel runs hold `workers` CPUs each; single-process runs queue in Ray itself.
    per_run = max(r.workers for r in runs)
    limit = max(1, cpus // per_run) if per_run > 1 else len(runs)
    t0 = time.perf_counter()
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                i = queue.pop(0)
                spec = runs[i]
                gpus = float(spec.config["train"]["gpus_per_worker"])
                if spec.workers == 1:
                    ref = local.options(num_cpus=1, num_gpus=gpus).remote(spec)
                else:
                    ref = parallel.options(num_cpus=0).remote(spec, storage)
                pending[ref] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            history, iterations, seconds = ray.get(done[0])
            results[i] = RunResult(runs[i], history, iterations, seconds)
            last = history[-1] if history else {}
            progress(f"raynn study: [{len(results)}/{len(runs)}] {runs[i].label} (seed {runs[i].seed}): "
                     f"val_accuracy {last.get('val_accuracy', float('nan')):.4f} in {seconds:.1f} s "
                     f"({time.perf_counter() - t0:.0f} s so far)")
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        shutil.rmtree(storage, ignore_errors=True)
    return [results[i] for i in range(len(runs))]
