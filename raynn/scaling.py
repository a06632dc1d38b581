"""The linear scaling rule and gradual warmup for large mini-batches (seed 4.4.1, 4.4.2 (2)).

When the batch grows m-fold, the learning rate grows m-fold (Goyal et al. 2017, "Accurate, Large Minibatch SGD").
A run names a base learning rate at a reference batch size; the global batch is the per-worker batch times the
number of workers times the micro-batches accumulated per update (``train.accumulate``), the samples behind one
update, and the learning rate actually used is

    linear: lr = base * global / reference
    sqrt:   lr = base * sqrt(global / reference)      (Krizhevsky 2014, for adaptive optimizers)
    none:   lr = base

Large global batches are unstable at the start of training, so by default a run whose global batch exceeds the
reference warms up linearly over 5 epochs (Goyal et al., 5 of 90), capped at a tenth of the run. The cap follows
``raynn study large-batch`` (README, "What the large-batch study says about the default warmup"): in 10-epoch
runs a warmup over half the run (the former cap) was never better than one over a tenth and, under cosine decay
at 32 times the reference batch, the worst of all (12.2% validation error against 10.4%, 3 seeds).

Everything here is pure arithmetic on the checked config; nothing imports Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from raynn import schedules
from raynn.registry import Registry

__all__ = ["SCALING_RULES", "ScalingPlan", "ScaledSchedule", "scale_lr", "plan_scaling", "build_lr_schedule",
           "GOYAL_WARMUP_EPOCHS", "WARMUP_RUN_FRACTION"]

GOYAL_WARMUP_EPOCHS = 5
WARMUP_RUN_FRACTION = 0.1
"""``warmup_epochs: auto`` warms up for ``min(GOYAL_WARMUP_EPOCHS, WARMUP_RUN_FRACTION * epochs)`` epochs."""

SCALING_RULES: Registry[Callable[[float], float]] = Registry("scaling rule")
"""``scaling.rule``: each maps the batch ratio ``m = global / reference`` to the learning-rate factor."""
SCALING_RULES.add("linear", lambda m: m, "lr x m: the linear scaling rule (Goyal et al. 2017), seed 4.4.1")
SCALING_RULES.add("sqrt", math.sqrt, "lr x sqrt(m): for adaptive optimizers (Krizhevsky 2014)")
SCALING_RULES.add("none", lambda m: 1.0, "lr as given, whatever the batch")


def scale_lr(base_lr: float, global_batch: int, reference_batch: int, rule: str) -> float:
    """The learning rate for ``global_batch`` given ``base_lr`` at ``reference_batch``."""
    if base_lr <= 0:
        raise ValueError(f"`base_lr > 0` must hold, but got {base_lr=}")
    if global_batch < 1 or reference_batch < 1:
        raise ValueError(f"batch sizes must be >= 1, but got ({global_batch=}, {reference_batch=})")
    factor = SCALING_RULES.get(rule)
    return base_lr * factor(global_batch / reference_batch)


@dataclass(frozen=True)
class ScalingPlan:
    """What the linear scaling rule chose for one run; printed at start so the user sees it."""

    base_lr: float
    reference_batch: int
    batch_size: int
    workers: int
    rule: str
    lr: float
    warmup_epochs: float
    warmup_iters: int
    iters_per_epoch: int
    accumulate: int = 1  # micro-batches per update (gradient accumulation)

    @property
    def global_batch(self) -> int:
        """Samples per update: ``batch_size x workers x accumulate``."""
        return self.batch_size * self.workers * self.accumulate

    @property
    def factor(self) -> float:
        return self.lr / self.base_lr

    def describe(self) -> str:
        accumulated = f" x {self.accumulate} accumulated micro-batches" if self.accumulate > 1 else ""
        return (
            f"global batch {self.global_batch} = {self.batch_size} x {self.workers} worker(s){accumulated}; "
            f"lr {self.lr:.6g} = {self.base_lr:.6g} x {self.factor:.4g} ({self.rule} rule, reference batch "
            f"{self.reference_batch}); warmup {self.warmup_epochs:g} epoch(s) = {self.warmup_iters} iterations"
        )


def plan_scaling(cfg: Any, iters_per_epoch: int) -> ScalingPlan:
    """Apply the scaling rule and choose the warmup for a typed run config (:class:`raynn.config_model.RunConfig`)."""
    if iters_per_epoch < 1:
        raise ValueError(f"`iters_per_epoch >= 1` must hold, but got {iters_per_epoch=}")
    train, scaling = cfg.train, cfg.scaling
    base = float(cfg.optimizer.lr)
    workers, batch, reference = train.workers, train.batch_size, scaling.reference_batch
    accumulate = train.accumulate
    global_batch = batch * workers * accumulate
    lr = scale_lr(base, global_batch, reference, scaling.rule)
    warmup = scaling.warmup_epochs
    if warmup == "auto":
        warmup = min(GOYAL_WARMUP_EPOCHS, train.epochs * WARMUP_RUN_FRACTION) if global_batch > reference else 0
    warmup = float(warmup)
    return ScalingPlan(
        base_lr=base, reference_batch=reference, batch_size=batch, workers=workers, rule=scaling.rule, lr=lr,
        warmup_epochs=warmup, warmup_iters=round(warmup * iters_per_epoch), iters_per_epoch=iters_per_epoch,
        accumulate=accumulate,
    )


@dataclass(frozen=True)
class ScaledSchedule:
    """``lr(k) = factor * inner(k)``: the scaling rule applied to a whole schedule at the reference batch."""

    inner: Callable[[int], float]
    factor: float

    def __call__(self, k: int) -> float:
        return self.factor * self.inner(k)


@dataclass(frozen=True)
class Constant:
    alpha0: float

    def __call__(self, k: int) -> float:
        if k < 0:
            raise ValueError(f"`k >= 0` must hold, but got {k=}")
        return self.alpha0


_LR_KEYS = {"alpha0", "alpha_max"}


def _fill_defaults(spec: dict[str, Any], base_lr: float, decay_iters: int, iters_per_epoch: int) -> dict[str, Any]:
    """Parameters a config may leave out: the learning rate, the run length, the epoch length."""
    spec = dict(spec)
    name = spec["name"]
    if name in ("triangular", "sgdr"):
        spec.setdefault("alpha_max", base_lr)
    elif name != "warmup":
        spec.setdefault("alpha0", base_lr)
    if name == "cosine":
        spec.setdefault("max_iter", max(1, decay_iters))
    if name == "sgdr":
        spec.setdefault("iters_per_epoch", iters_per_epoch)
    return spec


def build_lr_schedule(cfg: Any, iters_per_epoch: int) -> tuple[ScaledSchedule, ScalingPlan]:
    """The per-iteration learning rate of a run: warmup (if any), then the configured schedule, all scaled.

    The schedule's learning-rate parameters are at the reference batch (they default to ``optimizer.lr``);
    the scaling rule multiplies the whole curve, so a searched batch size changes nothing else.
    """
    plan = plan_scaling(cfg, iters_per_epoch)
    total = cfg.train.epochs * iters_per_epoch
    spec = cfg.schedule
    after = _fill_defaults(spec, plan.base_lr, total - plan.warmup_iters, iters_per_epoch) if spec else None
    if plan.warmup_iters > 0:
        inner = schedules.build("warmup", alpha0=plan.base_lr, warmup_iters=plan.warmup_iters, after=after)
    elif after is not None:
        inner = schedules.build_spec(after)
    else:
        inner = Constant(plan.base_lr)
    return ScaledSchedule(inner, plan.factor), plan
