"""The training loop: plain PyTorch, readable in one sitting, the same in one process and on N Ray workers.

Where it runs is described by an :class:`Env` (rank, world size, device, how to wrap the model and the loader
for data parallelism, where checkpoints go). :func:`raynn.training.local.local_env` runs it in this process;
:mod:`raynn.training.distributed` hands it to Ray Train's ``TorchTrainer``. The loop itself never imports Ray.

Per iteration k (counted from 0 over the whole run; one iteration is one update): set the learning rate
alpha_k = schedule(k); for each of its ``train.accumulate`` micro-batches forward (under autocast at
``train.precision``), loss (+ lambda ||theta||_p) / micro-batches, backward (DDP all-reduces on the last one
only); then unscale (fp16), clip, decoupled weight decay theta <- (1 - beta) theta, optimizer step. Nothing in
a step reads a value back to the host: losses and norms stay on the device, read once per epoch.
Per epoch: validate, report one progress line, and checkpoint (rank 0 alone writes).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from raynn.classpath import instantiate
from raynn.config_model import RunConfig
from raynn.data import build_augmentation, build_preprocessor, load_dataset, split_dataset
from raynn.early_stopping import METRICS, EarlyStopping
from raynn.losses import SmoothedCrossEntropy, distillation_loss
from raynn.nn import build_initializer, build_network
from raynn.optim import build_clipper, build_optimizer, decoupled_weight_decay_, lp_penalty
from raynn.optim.clipping import global_norm_tensor
from raynn.training.precision import Precision, compile_model, resolve_device
from raynn.scaling import build_lr_schedule
from raynn.training.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    checkpoint_candidates,
    load_checkpoint,
    load_teacher,
)
from raynn.values import check_int, value_error

__all__ = ["DataCache", "Env", "TensorBatches", "evaluate", "evaluate_batches", "fit_user_preprocessor", "run_training"]


def _identity(x: Any) -> Any:
    return x


def _warn_stderr(line: str) -> None:
    # Warnings go to stderr even where progress lines are silenced (Tune trials): Ray relays it to the driver.
    print(line, file=sys.stderr, flush=True)


class TensorBatches(Dataset):
    """In-memory tensors served a whole batch at a time (``__getitems__``), so loading costs one index op."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(indices)
        return tuple(t[idx] for t in self.tensors)


class ShuffledBatches:
    """The single-process loader: each epoch a random permutation cut into batches, each batch one index
    operation per tensor. No DataLoader machinery: on small models its per-batch cost is measurable."""

    def __init__(self, tensors: TensorBatches, batch_size: int, generator: torch.Generator) -> None:
        self.tensors, self.batch_size, self.generator = tensors.tensors, batch_size, generator

    def __len__(self) -> int:
        return -(-len(self.tensors[0]) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for idx in torch.randperm(len(self.tensors[0]), generator=self.generator).split(self.batch_size):
            yield tuple(t[idx] for t in self.tensors)


class DataCache:
    """The prepared data of the last ``maxsize`` data configs: split, fitted preprocessor, transformed tensors.

    A Ray Tune actor reused for trial after trial (``reuse_actors=True``) keeps one of these, so a trial whose
    data config (``data`` section and seed) was seen before skips loading, splitting and preprocessing. Least
    recently used entries go first; ``maxsize`` bounds the memory to that many copies of the data set.
    Entries are never mutated by the loop (it only indexes the tensors).

    Args:
        maxsize: Data configs kept at most, an integer >= 1.
    """

    def __init__(self, maxsize: int = 2) -> None:
        self.maxsize = check_int("maxsize", maxsize, 1, error=value_error)
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: str, make: Callable[[], Any]) -> Any:
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        value = make()
        self._entries[key] = value
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


def _every_epoch(epoch: int) -> bool:
    return True


@dataclass
class Env:
    """Where the loop runs. The defaults describe a single CPU process that keeps no checkpoints.

    ``make_loader(dataset, batch_size, generator)`` returns the epoch iterator; Ray Train's adapter shards it.
    ``checkpoint_at(epoch)`` says whether to write a checkpoint after ``epoch`` (1-based); the last epoch and an
    early stop are always checkpointed. ``data_cache``: prepared data kept between runs in this process.
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    prepare_model: Callable[[nn.Module], nn.Module] = _identity
    make_loader: Callable[[TensorBatches, int, torch.Generator], Iterable[Any]] = ShuffledBatches
    report: Callable[[dict[str, Any], str | None], None] = lambda metrics, checkpoint_dir: None
    latest_checkpoint: Callable[[], str | None] = lambda: None
    log: Callable[[str], None] = print
    checkpoint_at: Callable[[int], bool] = _every_epoch
    data_cache: DataCache | None = None
    warn: Callable[[str], None] = _warn_stderr
    where: str = "this machine"  # named in a device error: "node 10.0.0.5 (4bad55af)" on Ray


def _resume_state(env: Env) -> tuple[dict[str, Any] | None, str | None]:
    """The newest checkpoint that loads, and its path; (None, None) to start from scratch.

    A truncated, corrupted or refused (unsafe) latest checkpoint costs the epochs since the one before it, not
    the run: each one skipped is a warning naming the file (on every rank: each reads its own copy).
    """
    candidates = checkpoint_candidates(env.latest_checkpoint())
    for i, path in enumerate(candidates):
        try:
            return load_checkpoint(path), path
        except (CheckpointError, FileNotFoundError) as exc:
            then = f"resuming from {candidates[i + 1]}" if i + 1 < len(candidates) else "starting from epoch 0"
            env.warn(f"raynn: warning: cannot resume from checkpoint {exc}; {then}")
    return None, None


def _unwrap(model: nn.Module) -> nn.Module:
    """The model itself, under ``torch.compile`` (``_orig_mod``) and DDP (``module``)."""
    model = getattr(model, "_orig_mod", model)
    return model.module if hasattr(model, "module") else model


@torch.no_grad()
def evaluate_batches(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
                     transform: Callable[[torch.Tensor], torch.Tensor] = _identity,
                     autocast: Callable[[], Any] = contextlib.nullcontext,
                     channels_last: bool = False) -> tuple[float, float]:
    """Mean cross-entropy (hard labels) and accuracy of ``model`` over ``(x, y)`` batches, ``transform``
    applied to each ``x`` first, image batches made channels-last when the model is (``train.channels_last``),
    the forward pass under ``autocast``; the sums stay on the device and are read once at the end."""
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    for xb, yb in batches:
        xb, yb = transform(xb).to(device, non_blocking=True), yb.to(device, non_blocking=True)
        if channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast():
            logits = model(xb)
        loss += F.cross_entropy(logits.float(), yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
        n += len(yb)
    model.train()
    return loss.item() / n, correct.item() / n


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 2048) -> tuple[float, float]:
    """Mean cross-entropy (hard labels) and accuracy of ``model`` on (x, y), ``batch`` examples at a time."""
    return evaluate_batches(model, ((x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)), device)


@dataclass
class _Data:
    """The prepared data of a run: splits, the fitted preprocessor, the loader and what batches need."""

    num_classes: int
    pre: Any
    in_shape: tuple[int, ...]
    augment: Any  # None without augmentation
    dist: dict[str, Any] | None  # the distillation settings, None without a teacher
    generator: torch.Generator  # the loader's: its state goes into a checkpoint
    loader: Iterable[Any]
    val_batches: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]  # validation (x, y), preprocessed
    per_batch_pre: bool  # preprocess each training batch (after augmentation) rather than the tensors once
    teacher: Any = None  # a teacher whose logits are computed per batch (your own data), else None


@dataclass
class _Parts:
    """What trains: the model and everything that updates it, built from the config."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Callable[[int], float]
    plan: Any  # the scaling plan: global batch and the line describing it
    clipper: Any
    criterion: nn.Module
    stopper: EarlyStopping | None
    amp: Any  # raynn.training.precision.Precision: autocast and the fp16 gradient scaler
    channels_last: bool = False  # the model's weights and image batches in channels-last memory format


def _setup_data(cfg: RunConfig, env: Env, resuming: bool) -> _Data:
    """Data: the same seeded split on every rank; statistics from the training split only."""
    if cfg.data.class_path is not None:
        return _setup_user_data(cfg, env, resuming)
    dcfg = cfg.data

    def prepare() -> tuple[Any, ...]:
        data = load_dataset(dcfg.name, root=dcfg.root, subset=dcfg.subset, seed=cfg.seed)
        train, val = split_dataset(data, dcfg.val_fraction, seed=cfg.seed)
        pre = build_preprocessor(dcfg.preprocess)
        # Fitted on the training split, deterministically: a checkpoint's statistics are the same ones.
        pre.fit(train.x)
        # Without augmentation the transform is applied once; with it, per batch after the image transform.
        x_train = train.x if dcfg.augment else pre.transform(train.x)
        return data.num_classes, train, val, pre, x_train, pre.transform(val.x)

    if env.data_cache is not None:
        num_classes, train, val, pre, x_train, x_val = env.data_cache.get(_cache_key(cfg), prepare)
    else:
        num_classes, train, val, pre, x_train, x_val = prepare()
    if not resuming and env.rank == 0 and hasattr(pre, "describe"):
        env.log(f"raynn: preprocessing {pre.describe()}")
    augment = build_augmentation(dcfg.augment, seed=cfg.seed + env.rank)
    in_shape = tuple(pre.output_shape(tuple(train.x.shape[1:])))

    tensors = [x_train, train.y]
    dist = cfg.targets.distillation
    if dist is not None:
        teacher = load_teacher(dist.teacher)
        tensors.append(teacher.logits(train.x))
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = env.make_loader(TensorBatches(*tensors), cfg.train.batch_size, generator)
    y_val = val.y

    def val_batches(batch: int = 2048) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((x_val[i : i + batch], y_val[i : i + batch]) for i in range(0, len(x_val), batch))

    return _Data(num_classes, pre, in_shape, augment, dist, generator, loader, val_batches,
                 per_batch_pre=augment is not None)


def _cache_key(cfg: RunConfig) -> str:
    return json.dumps([cfg.data.to_dict(), cfg.seed], sort_keys=True, default=str)


def fit_user_preprocessor(cfg: RunConfig, plain: Dataset) -> Any:
    """The run's preprocessor fitted on the training split of your own data set (its inputs after
    ``data.transform``, without the random ``data.train_transform``), read through a DataLoader once."""
    from torch.utils.data import DataLoader

    pre = build_preprocessor(cfg.data.preprocess)
    if not pre.fitted_tensors:  # no statistics to fit (none): the input shape, from one sample
        return pre.fit(torch.as_tensor(plain[0][0]).unsqueeze(0))
    loader = DataLoader(plain, batch_size=512, num_workers=cfg.data.num_workers)
    return pre.fit(torch.cat([x for x, _ in loader]))


def _setup_user_data(cfg: RunConfig, env: Env, resuming: bool) -> _Data:
    """Your own data set (``data.class_path``): the seeded split of :mod:`raynn.data.user` read by DataLoaders,
    the training one sharded by a DistributedSampler on N workers; preprocessing fitted on the training split."""
    from torch.utils.data import DataLoader, RandomSampler
    from torch.utils.data.distributed import DistributedSampler

    from raynn.data.user import load_user_data

    dcfg, batch_size = cfg.data, cfg.train.batch_size

    def prepare() -> tuple[Any, Any]:
        data = load_user_data(dcfg, cfg.seed)
        if data.num_classes is None:
            raise ValueError("data.num_classes must be set: the data set has no `classes` or `targets` to tell it")
        return data, fit_user_preprocessor(cfg, data.plain)

    data, pre = env.data_cache.get(_cache_key(cfg), prepare) if env.data_cache is not None else prepare()
    if not resuming and env.rank == 0 and hasattr(pre, "describe"):
        env.log(f"raynn: preprocessing {pre.describe()}")
    generator = torch.Generator().manual_seed(cfg.seed)
    if env.world_size > 1:
        sampler: Any = DistributedSampler(data.train, num_replicas=env.world_size, rank=env.rank, shuffle=True,
                                          seed=cfg.seed)
    else:
        sampler = RandomSampler(data.train, generator=generator)
    workers = dcfg.num_workers
    pin = dcfg.pin_memory if dcfg.pin_memory is not None else env.device.type == "cuda"
    options = {"num_workers": workers, "pin_memory": pin, "persistent_workers": dcfg.persistent_workers}
    loader = DataLoader(data.train, batch_size=batch_size, sampler=sampler, **options)
    val_loader = DataLoader(data.val, batch_size=max(batch_size, 256), shuffle=False, **options)
    in_shape = tuple(pre.output_shape(tuple(data.plain[0][0].shape)))
    dist = cfg.targets.distillation
    teacher = load_teacher(dist.teacher) if dist is not None else None
    augment = build_augmentation(dcfg.augment, seed=cfg.seed + env.rank)

    def val_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((pre.transform(x), y.long()) for x, y in val_loader)

    return _Data(data.num_classes, pre, in_shape, augment, dist, generator, loader, val_batches,
                 per_batch_pre=True, teacher=teacher)


def _setup_parts(cfg: RunConfig, env: Env, data: _Data) -> _Parts:
    """Model, optimizer, schedule: the scaling rule needs the epoch length, known only now."""
    model = build_network(cfg, data.in_shape, data.num_classes)
    build_initializer(cfg.model.init)(model, activation=cfg.model.activation, bias=cfg.model.bias,
                                            generator=torch.Generator().manual_seed(cfg.seed))
    model.to(env.device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    ocfg = cfg.optimizer
    optimizer = build_optimizer(model.parameters(), ocfg.name, ocfg.lr, **ocfg.params)
    # An iteration of the schedule is an update: `accumulate` micro-batches (the last one of an epoch may be short).
    schedule, plan = build_lr_schedule(cfg, iters_per_epoch=updates_per_epoch(len(data.loader),
                                                                              cfg.train.accumulate))
    clipper = build_clipper(ocfg.clip) if ocfg.clip else None
    criterion = (instantiate(cfg.loss) if cfg.loss is not None
                 else SmoothedCrossEntropy(cfg.targets.label_smoothing))
    es_cfg = cfg.train.early_stopping
    stopper = (
        EarlyStopping(es_cfg.patience, es_cfg.min_delta, METRICS.get(es_cfg.metric),
                      warmup=es_cfg.warmup)
        if es_cfg else None
    )
    return _Parts(model, optimizer, schedule, plan, clipper, criterion, stopper,
                  Precision(cfg.train.precision, env.device), cfg.train.channels_last)


def updates_per_epoch(batches: int, accumulate: int) -> int:
    """Optimizer updates in an epoch of ``batches`` micro-batches, ``accumulate`` per update (the last update
    of an epoch takes what is left): ``ceil(batches / accumulate)``."""
    return -(-batches // accumulate)


def _restore(state: dict[str, Any], cfg: RunConfig, env: Env, data: _Data,
             parts: _Parts) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Load a checkpoint into the parts and the RNGs; returns (start epoch, step k, resumes, history)."""
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.clipper is not None and state.get("clipper") is not None:
        parts.clipper.load_state_dict(state["clipper"])
    if parts.stopper is not None and state.get("early_stopping") is not None:
        parts.stopper.load_state_dict(state["early_stopping"])
    if state.get("scaler") is not None:
        parts.amp.scaler.load_state_dict(state["scaler"])  # a resumed fp16 run continues at the same loss scale
    start_epoch = state["epoch"]
    data.generator.set_state(state["rng"]["loader"])
    if data.augment is not None and env.rank == 0:
        data.augment.load_state_dict(state["rng"]["augment"])
    if env.rank == 0:
        torch.set_rng_state(state["rng"]["torch"])
    else:
        torch.manual_seed(cfg.seed + env.rank + env.world_size * start_epoch)
    return start_epoch, state["step"], state["resumes"] + 1, list(state["history"])


def _train_epoch(cfg: RunConfig, env: Env, data: _Data, parts: _Parts, model: nn.Module, epoch: int,
                 k: int) -> tuple[float, int, float, int]:
    """One pass over the loader: per update k, alpha_k = schedule(k), then ``train.accumulate`` micro-batches of
    :func:`micro_step`. Returns (mean train loss, samples seen, seconds, k after)."""
    device, tcfg = env.device, cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    loader, optimizer, accumulate = data.loader, parts.optimizer, tcfg.accumulate
    channels_last = tcfg.channels_last
    if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    model.train()
    losses, sizes = [], []
    batches, batch_size = len(loader), tcfg.batch_size
    samples = _epoch_samples(loader)  # this rank's samples per epoch, when the loader tells it
    t0 = time.perf_counter()
    for i, batch in enumerate(loader):
        xb = batch[0]
        if data.teacher is not None:  # your own data: the teacher's logits of this batch's raw inputs
            batch = (xb, batch[1], data.teacher.logits(xb))
        if data.augment is not None:  # on the CPU batch, with the pipeline's own generator
            xb = data.augment(xb)
        if data.per_batch_pre:
            xb = data.pre.transform(xb)
        yb = batch[1] if batch[1].dtype is torch.int64 else batch[1].long()  # labels a data set gave as int32, ...
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        if channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        teacher = batch[2].to(device, non_blocking=True) if data.dist is not None else None
        start = i - i % accumulate
        if i == start:  # the first micro-batch of update k
            lr = parts.schedule(k)
            for group in optimizer.param_groups:
                group["lr"] = lr
        micro = min(accumulate, batches - start)  # micro-batches in this update
        last = i == start + micro - 1
        # Each micro-batch's mean loss weighted by its share of the update's samples: the update's gradient is
        # that of the mean over all of them, as one batch of batch_size x accumulate would give.
        if start + micro < batches:
            update_samples = micro * batch_size
        elif samples is not None:
            update_samples = (micro - 1) * batch_size + samples - (batches - 1) * batch_size
        else:
            update_samples = micro * len(yb)
        weight = len(yb) / update_samples
        losses.append(micro_step(cfg, parts, model, params, xb, yb, teacher, weight, last))
        sizes.append(len(yb))
        k += last
    seen = sum(sizes)
    # One reduction per epoch, not a sync per batch; .item() also waits for the device before timing.
    stacked, weights = torch.stack(losses), torch.tensor(sizes, dtype=losses[0].dtype, device=device)
    if parts.amp.scaler.is_enabled():  # fp16: a step the scaler skipped (inf/NaN) is not the run diverging
        finite = torch.isfinite(stacked)
        train_loss = (torch.where(finite, stacked, 0) @ weights / (weights @ finite.to(weights.dtype))).item()
    else:
        train_loss = (stacked @ weights).item() / seen
    return train_loss, seen, time.perf_counter() - t0, k


def _epoch_samples(loader: Any) -> int | None:
    """Samples one epoch of ``loader`` yields on this rank (a DataLoader's sampler, raynn's ShuffledBatches)."""
    if isinstance(loader, ShuffledBatches):
        return len(loader.tensors[0])
    sampler = getattr(loader, "sampler", None)
    try:
        return len(sampler) if sampler is not None else None
    except TypeError:
        return None


def micro_step(cfg: RunConfig, parts: _Parts, model: nn.Module, params: list[torch.Tensor], xb: torch.Tensor,
               yb: torch.Tensor, teacher: torch.Tensor | None, weight: float, last: bool) -> torch.Tensor:
    """One micro-batch: forward under autocast, loss (+ lambda ||theta||_p) x ``weight`` (its share of the
    update's samples), backward (DDP's all-reduce only when ``last``); when ``last``, the update: unscale,
    clip, decoupled weight decay, step.
    Returns the micro-batch's loss, detached, on the device: nothing here reads a value back to the host."""
    ocfg, dist, amp, optimizer = cfg.optimizer, cfg.targets.distillation, parts.amp, parts.optimizer
    penalty, beta = ocfg.penalty, ocfg.weight_decay
    no_sync = getattr(model, "no_sync", None)
    with (contextlib.nullcontext() if last or no_sync is None else no_sync()):
        with amp.autocast():
            logits = model(xb)
        logits = logits.float()  # the loss in float32 whatever the precision of the forward pass
        if teacher is not None:
            loss = distillation_loss(logits, teacher, yb, dist.temperature, dist.alpha,
                                     eps=cfg.targets.label_smoothing)
        else:
            loss = parts.criterion(logits, yb)
        total = loss
        if penalty is not None and penalty.lambda_ > 0:
            total = total + lp_penalty(params, penalty.p, penalty.lambda_)
        amp.scaler.scale(total * weight if weight != 1 else total).backward()
    if last:
        amp.scaler.unscale_(optimizer)  # clipping, the penalty's and the decay's rules see true gradients
        norm = parts.clipper.clip_(params) if parts.clipper is not None else None
        if beta > 0:
            finite = None
            if amp.scaler.is_enabled():  # a step the scaler will skip must not decay the weights either
                norm = global_norm_tensor([p.grad for p in params if p.grad is not None]) if norm is None else norm
                finite = torch.isfinite(norm)
            decoupled_weight_decay_(params, beta, where=finite)
        amp.scaler.step(optimizer)  # fp32 / bf16: optimizer.step(); fp16: skipped on inf/NaN gradients
        amp.scaler.update()
        optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def _epoch_metrics(env: Env, data: _Data, parts: _Parts, model: nn.Module, epoch: int, k: int, train_loss: float,
                   seen: int, elapsed: float, resumes: int) -> dict[str, Any]:
    """Validate after ``epoch`` (0-based) and return the epoch's metrics row."""
    val_loss, val_acc = evaluate_batches(model, data.val_batches(), env.device, autocast=parts.amp.autocast,
                                         channels_last=parts.channels_last)
    # Diverged: the validation loss is no longer a number (NaN weights after a NaN or inf step). Decided on
    # the validation loss, which every rank computes alike from the same weights, so all ranks stop together.
    # Reported as +inf, not NaN: a tuner ranks it worst (Tune drops NaN rows, as if the epoch never ran).
    diverged = not math.isfinite(val_loss)
    if diverged:
        train_loss = val_loss = math.inf
    return {
        "epoch": epoch + 1, "step": k, "train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_acc,
        "lr": parts.schedule(k - 1), "samples_per_s": seen * env.world_size / elapsed, "resumes": resumes,
        "global_batch": parts.plan.global_batch, "diverged": diverged,
    }


def _checkpoint(cfg: RunConfig, data: _Data, parts: _Parts, model: nn.Module, epoch: int, k: int,
                resumes: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything a resume needs after ``epoch`` (1-based): weights, optimizer, preprocessing, RNG states."""
    clipper, stopper = parts.clipper, parts.stopper
    return {
        "epoch": epoch, "step": k, "resumes": resumes, "config": cfg.to_dict(), "in_shape": list(data.in_shape),
        "num_classes": data.num_classes, "model": _unwrap(model).state_dict(),
        "optimizer": parts.optimizer.state_dict(), "preprocess": data.pre.state_dict(),
        "clipper": clipper.state_dict() if clipper is not None and hasattr(clipper, "state_dict") else None,
        "early_stopping": stopper.state_dict() if stopper else None,
        "scaler": parts.amp.scaler.state_dict() if parts.amp.scaler.is_enabled() else None,
        "rng": {"torch": torch.get_rng_state(), "loader": data.generator.get_state(),
                "augment": data.augment.state_dict() if data.augment is not None else None}, "history": history,
    }


def run_training(cfg: RunConfig | Mapping[str, Any], env: Env | None = None) -> list[dict[str, Any]]:
    """Train the model a checked config describes (the model, or its dict as it crossed to this process);
    returns every epoch's metrics, resumed epochs included."""
    cfg = RunConfig.checked(cfg)
    env = env or Env()
    tcfg = cfg.train
    env.device = resolve_device(tcfg.device, env.device, env.where)
    if tcfg.num_threads:
        torch.set_num_threads(tcfg.num_threads)
    torch.manual_seed(cfg.seed + env.rank)
    state, ckpt_path = _resume_state(env)
    data = _setup_data(cfg, env, resuming=state is not None)
    parts = _setup_parts(cfg, env, data)
    start_epoch, k, resumes, history = 0, 0, 0, []
    if state is not None:
        start_epoch, k, resumes, history = _restore(state, cfg, env, data, parts)
    if history and history[-1].get("diverged"):
        # Resumed after diverging (a tuner promoted it anyway, or the run was started again): training on from
        # NaN weights would only spend the slot.
        if env.rank == 0:
            env.warn(f"raynn: warning: {ckpt_path} is of a run that diverged at epoch {start_epoch}; not training "
                     "it further")
        return history
    model = compile_model(env.prepare_model(parts.model), tcfg.compile)
    if env.rank == 0:
        env.log(f"raynn: {parts.plan.describe()}")
        if state is not None:
            env.log(f"raynn: resumed from {ckpt_path} at epoch {start_epoch}")

    es_cfg, stopper = tcfg.early_stopping, parts.stopper
    for epoch in range(start_epoch, tcfg.epochs):
        train_loss, seen, elapsed, k = _train_epoch(cfg, env, data, parts, model, epoch, k)
        metrics = _epoch_metrics(env, data, parts, model, epoch, k, train_loss, seen, elapsed, resumes)
        diverged, val_loss, val_acc = metrics["diverged"], metrics["val_loss"], metrics["val_accuracy"]
        stop = stopper.step(val_loss if es_cfg.metric == "val_loss" else val_acc) if stopper else False
        metrics["early_stopped"] = bool(stop)
        history.append(metrics)
        if env.rank == 0:
            env.log(f"epoch {epoch + 1:>3}/{tcfg.epochs}  train_loss {metrics['train_loss']:.4f}  val_loss "
                    f"{val_loss:.4f}  val_acc {val_acc:.4f}  lr {metrics['lr']:.5g}  "
                    f"{metrics['samples_per_s']:.0f} samples/s")
        if env.rank == 0 and (stop or epoch + 1 == tcfg.epochs or env.checkpoint_at(epoch + 1)):
            with tempfile.TemporaryDirectory(prefix="raynn-ckpt-") as tmp:
                torch.save(_checkpoint(cfg, data, parts, model, epoch + 1, k, resumes, history),
                           Path(tmp) / CHECKPOINT_FILE)
                env.report(metrics, tmp)
        else:
            env.report(metrics, None)
        if diverged:
            if env.rank == 0:
                env.warn(f"raynn: warning: diverged at epoch {epoch + 1}: the loss is not finite (learning rate "
                         f"{metrics['lr']:.5g} too large?); training stopped")
            break
        if stop:
            if env.rank == 0:
                env.log(f"raynn: early stop at epoch {epoch + 1} (best {es_cfg.metric} "
                        f"{stopper.best:.4f} at epoch {stopper.best_epoch + 1})")
            break
    return history
