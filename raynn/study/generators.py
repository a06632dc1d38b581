"""Run grids too regular to list by hand: the large-batch grid of Goyal et al. (2017), Table 1 and Fig. 2.

A generator takes the study's ``base`` run config and its own parameters and returns run points
``(label, params, settings, phases)`` (see :func:`raynn.study.spec.expand_runs`). Everything it writes is an
ordinary raynn config key, so each run can be copied and trained with ``raynn train``.

Pure arithmetic; nothing imports Ray.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from raynn.errors import ConfigError
from raynn.scaling import SCALING_RULES
from raynn.study.registries import GENERATORS
from raynn.values import check_int, check_number

__all__ = ["GENERATORS", "iters_per_epoch", "large_batch", "train_size"]

WARMUPS = ("none", "constant", "gradual", "auto")


def train_size(n: int, val_fraction: float) -> int:
    """Examples left for training by :func:`raynn.data.split_dataset`: ``N - floor(N * val_fraction + 1/2)``."""
    return n - int(n * float(val_fraction) + 0.5)


def iters_per_epoch(n_train: int, batch_size: int, workers: int) -> int:
    """Iterations per epoch of the training loop.

    One process: ``ceil(n / b)``. Ray Train's ``DistributedSampler`` pads the data to a multiple of the world
    size, so each of ``w`` ranks sees ``ceil(n / w)`` examples in ``ceil(ceil(n / w) / b)`` batches.
    """
    if n_train < 1 or batch_size < 1 or workers < 1:
        raise ValueError(f"`n_train, batch_size, workers >= 1` must hold, but got ({n_train=}, {batch_size=}, {workers=})")
    per_rank = -(-n_train // workers)
    return -(-per_rank // batch_size)


def _dataset_size(base: Mapping[str, Any]) -> int:
    from raynn.config import parse_config
    from raynn.data import load_dataset

    cfg = parse_config(copy.deepcopy(dict(base)))
    data = load_dataset(cfg.data.name, root=cfg.data.root, subset=cfg.data.subset, seed=cfg.seed)
    return train_size(len(data), cfg.data.val_fraction)


@GENERATORS.register("large_batch", "global batch k x reference for each k; scaling rule x warmup (Goyal et al. 2017)")
def large_batch(
    base: Mapping[str, Any],
    *,
    k: Sequence[int],
    combos: Sequence[Sequence[str]],
    warmup_epochs: float,
    decay_epochs: Sequence[float] = (),
    decay_factors: Sequence[float] = (),
    accumulate: int = 1,
    workers: int = 1,
) -> list[Any]:
    """Runs at global batch ``k * reference_batch`` for each ``k``, with each ``[rule, warmup]`` of ``combos``.

    ``k = 1`` is the reference run (one run: the rule does nothing there). The learning rate is
    ``optimizer.lr`` scaled by the rule (:mod:`raynn.scaling`), then step decay by ``decay_factors`` at
    ``decay_epochs`` (Goyal et al. divide by 10 at epochs 30, 60 and 80 of 90). Warmups:

    ``none``, the scaled rate from the first iteration; ``gradual``, ``scaling.warmup_epochs = warmup_epochs``,
    raynn's linear ramp from ``lr/W`` (seed 4.4.2 (2)); ``constant``, the reference rate for ``warmup_epochs``
    epochs, then the scaled rate (two phases, the second resumed from the first's checkpoint); ``auto``,
    raynn's default ``scaling.warmup_epochs: auto``.

    Args:
        base: The study's base run config (its ``scaling.reference_batch`` is the reference batch).
        k: Batch multipliers, ints >= 1.
        combos: ``[rule, warmup]`` pairs, rule in ``none, sqrt, linear``, warmup in ``none, constant,
            gradual, auto``.
        warmup_epochs: Length of the constant and gradual warmups, in epochs.
        decay_epochs: Epochs at which the rate is multiplied by the matching ``decay_factors`` entry.
        decay_factors: Cumulative factors, non-increasing in (0, 1] (``[0.1, 0.01]``).
        accumulate: Micro-batches per update (``train.accumulate``, ``raynn study large-batch --accumulate``):
            the global batch ``k x reference`` is ``workers x accumulate`` micro-batches, so a small cluster
            reaches a large ``k``; iterations (warmup, decay) count updates.
        workers: Ray Train workers per run (``runs.workers`` or ``--workers``; not a key of ``generate``):
            the per-worker batch is the global batch over ``workers``, so ``k`` means the same on any number.
    """
    from raynn.config import parse_config

    ks, pairs = _check_large_batch(k, combos, warmup_epochs, decay_epochs, decay_factors, accumulate)
    probe = parse_config(copy.deepcopy(dict(base)))
    ref, epochs = probe.scaling.reference_batch, probe.train.epochs
    n_train = _dataset_size(base)
    points = []
    for kk in ks:
        global_batch = kk * ref
        w, a, per_worker, ipe = _split_batch(global_batch, workers, accumulate, n_train)
        decay = [round(e * ipe) for e in decay_epochs]
        for rule, warmup in [("linear", "none")] if kk == 1 else pairs:
            params = {"k": kk, "global_batch": global_batch, "rule": rule if kk > 1 else "reference",
                      "warmup": warmup if kk > 1 else "none", "iters_per_epoch": ipe}
            label = "k=1 (reference)" if kk == 1 else f"k={kk}, {rule}, warmup {warmup}"
            common = {"train.batch_size": per_worker, "train.workers": w, "train.accumulate": a,
                      "scaling.rule": rule}
            if warmup == "constant":
                points.append(_constant_warmup_point(label, params, common, warmup_epochs, epochs, ipe, decay,
                                                     decay_factors))
            else:
                points.append(_warmup_point(base, label, params, common, warmup, warmup_epochs, ipe, decay,
                                            decay_factors))
    return points


def _split_batch(global_batch: int, workers: int, accumulate: int, n_train: int) -> tuple[int, int, int, int]:
    """``(workers, accumulate, per-worker batch, updates per epoch)`` for one global batch: the same global
    batch on any number of workers; fewer workers (or no accumulation) when it is too small to split."""
    w = workers if global_batch % workers == 0 else 1
    a = accumulate if (global_batch // w) % accumulate == 0 else 1
    per_worker = global_batch // (w * a)
    return w, a, per_worker, -(-iters_per_epoch(n_train, per_worker, w) // a)


def _check_large_batch(k: Sequence[int], combos: Sequence[Sequence[str]], warmup_epochs: float,
                       decay_epochs: Sequence[float], decay_factors: Sequence[float],
                       accumulate: int = 1) -> tuple[list[int], list[Any]]:
    """The multipliers and ``(rule, warmup)`` pairs of :func:`large_batch`, checked where they enter."""
    check_int("study.runs.generate.accumulate", accumulate, 1, error=ConfigError)
    ks = [int(v) for v in k]
    if not ks or any(v < 1 for v in ks) or len(set(ks)) != len(ks):
        raise ConfigError("study.runs.generate.k", "must be distinct integers >= 1", list(k))
    pairs = []
    for pair in combos:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or pair[0] not in SCALING_RULES or pair[1] not in WARMUPS:
            raise ConfigError("study.runs.generate.combos", f"must be [rule, warmup] pairs, rule in {', '.join(SCALING_RULES.names())}, "
                              f"warmup in {', '.join(WARMUPS)}", pair)
        pairs.append((str(pair[0]), str(pair[1])))
    check_number("study.runs.generate.warmup_epochs", warmup_epochs, "must be a number > 0", lambda v: v > 0,
                 error=ConfigError)
    if len(decay_epochs) != len(decay_factors):
        raise ConfigError("study.runs.generate.decay_factors", "must have one factor per decay epoch", list(decay_factors))
    return ks, pairs


def _constant_warmup_point(label: str, params: dict[str, Any], common: dict[str, Any], warmup_epochs: float,
                           epochs: int, ipe: int, decay: list[int], decay_factors: Sequence[float]) -> Any:
    """The reference rate for ``warmup_epochs`` epochs, then the scaled rate: two phases, the second continuing
    the first from its checkpoint."""
    w_iters = round(float(warmup_epochs) * ipe)
    if int(warmup_epochs) != warmup_epochs:
        raise ConfigError("study.runs.generate.warmup_epochs",
                          "must be a whole number of epochs for the constant warmup", warmup_epochs)
    sched = _step_schedule(decay, decay_factors, shift=0)
    first = {**common, "scaling.rule": "none", "scaling.warmup_epochs": 0, "schedule": sched,
             "train.epochs": int(warmup_epochs)}
    second = {**common, "scaling.warmup_epochs": 0, "schedule": sched}
    if w_iters >= epochs * ipe:
        raise ConfigError("study.runs.generate.warmup_epochs", "must be shorter than the run", warmup_epochs)
    return (label, params, second, [first, second])


def _warmup_point(base: Mapping[str, Any], label: str, params: dict[str, Any], common: dict[str, Any], warmup: str,
                  warmup_epochs: float, ipe: int, decay: list[int], decay_factors: Sequence[float]) -> Any:
    """One run with raynn's own warmup (``none``, ``gradual`` or ``auto``); the step decay starts where the
    warmup ends."""
    from raynn.config import parse_config
    from raynn.scaling import plan_scaling
    from raynn.study.spec import set_dotted

    wcfg: Any = {"none": 0, "gradual": warmup_epochs, "auto": "auto"}[warmup]
    cfg = copy.deepcopy(dict(base))
    for key, value in {**common, "scaling.warmup_epochs": wcfg}.items():
        set_dotted(cfg, key, value)
    plan = plan_scaling(parse_config(cfg), ipe)
    # raynn's warmup starts the following schedule at its own step 0 when warmup ends (k - W).
    sched = _step_schedule(decay, decay_factors, shift=plan.warmup_iters)
    params["warmup_iters"] = plan.warmup_iters
    return (label, params, {**common, "scaling.warmup_epochs": wcfg, "schedule": sched}, None)


def _step_schedule(boundaries: Sequence[int], factors: Sequence[float], shift: int) -> dict[str, Any] | None:
    """Step decay at absolute iterations ``boundaries``, for a schedule that starts at iteration ``shift``."""
    kept = [(b - shift, f) for b, f in zip(boundaries, factors) if b - shift > 0]
    if not kept:
        return None
    return {"name": "piecewise_constant", "boundaries": [b for b, _ in kept], "factors": [float(f) for _, f in kept]}
