"""The Tune adapters inside a real ``ray.tune.Tuner`` (shared Ray session, about ten seconds per run).

Every run uses :func:`raynn_testing.trainables.curve_trainable` (``tests/raynn_testing``): ``loss = x + 1 / epoch``, so the best trials at
every rung are those with the smallest ``x``; it appends each epoch it trains to a log, with the checkpointed
epoch it resumed from. ``reuse_actors=True`` only saves process start-ups: a paused trial is still saved,
stopped and restored from its checkpoint by Tune (the log shows where each run of the function started).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from ray import tune

from raynn.tune import AsyncHalving, HyperBand, SuccessiveHalving
from raynn_testing.trainables import curve_trainable

pytestmark = pytest.mark.ray

XS9 = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]


def _fit(
    storage: str, name: str, scheduler: Any, xs: list[float], slots: int, max_epoch: int
) -> dict[float, Any]:
    """Run a Tuner; return ``{x: [(epoch, resumed_from), ...]}`` per trial, after the common checks."""
    import ray

    logs = Path(storage) / f"{name}-logs"
    logs.mkdir()
    tuner = tune.Tuner(
        curve_trainable,
        param_space={"x": tune.grid_search(xs), "log_dir": str(logs), "max_epoch": max_epoch, "sleep": 0.01},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric="loss", mode="min", max_concurrent_trials=slots, reuse_actors=True
        ),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    )
    grid = tuner.fit()
    assert len(grid) == len(xs)
    assert grid.num_errors == 0 and grid.num_terminated == len(xs)  # no paused trial left stranded
    deadline = time.monotonic() + 15
    while ray.available_resources().get("CPU") != ray.cluster_resources().get("CPU"):
        assert time.monotonic() < deadline, (ray.available_resources(), ray.cluster_resources())
        time.sleep(0.2)
    runs = {}
    for result in grid:
        lines = (logs / f"{result.metrics['trial_id']}.log").read_text().split("\n")
        runs[result.config["x"]] = [tuple(int(v) for v in line.split()) for line in lines if line]
    return runs


def _epochs(runs: dict[float, Any]) -> dict[float, list[int]]:
    return {x: [epoch for epoch, _ in seq] for x, seq in runs.items()}


def _check_resumed_from_checkpoints(runs: dict[float, Any]) -> None:
    for x, seq in runs.items():
        epochs = [epoch for epoch, _ in seq]
        assert epochs == list(range(1, len(epochs) + 1)), (x, epochs)  # never repeated, never from 1 again


def test_successive_halving_with_one_slot(ray_session: None, storage: str) -> None:
    """One trial at a time: the rung still waits for all 8, then the best 4 resume from their checkpoints."""
    scheduler = SuccessiveHalving(budget=48, num_configs=8)  # targets 3, 9
    xs = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]
    runs = _fit(storage, "sh1", scheduler, xs, slots=1, max_epoch=20)
    _check_resumed_from_checkpoints(runs)
    assert {x: len(e) for x, e in _epochs(runs).items()} == {x: 9 if x < 0.45 else 3 for x in xs}
    for x in (0.1, 0.2, 0.3):  # paused at epoch 3, restarted by Tune from the epoch-3 checkpoint
        assert (4, 3) in runs[x], runs[x]
    assert (4, 0) in runs[0.4], runs[0.4]  # the last to arrive completes the rung: promoted without a pause
    ledger = scheduler.ledger()
    assert ledger.spent == scheduler.budget_spent == 48
    assert [(r.entered, r.reached) for r in ledger.brackets[0].rounds] == [(8, 8), (4, 4)]


def test_successive_halving_opens_a_second_band_and_halves_a_short_one(
    ray_session: None, storage: str
) -> None:
    """7 trials, bands of 5 (targets 2, 7): band 1 keeps its best 2, band 2 (2 trials) its best 1."""
    scheduler = SuccessiveHalving(budget=20, num_configs=5)
    xs = [0.5, 0.1, 0.9, 0.3, 0.7, 0.6, 0.2]
    runs = _fit(storage, "sh2", scheduler, xs, slots=2, max_epoch=20)
    _check_resumed_from_checkpoints(runs)
    assert {x: len(e) for x, e in _epochs(runs).items()} == {
        0.5: 2, 0.1: 7, 0.9: 2, 0.3: 7, 0.7: 2, 0.6: 2, 0.2: 7
    }
    ledger = scheduler.ledger()
    assert [[(r.entered, r.reached) for r in b.rounds] for b in ledger.brackets] == [
        [(5, 5), (2, 2)],
        [(2, 2), (1, 1)],
    ]
    assert ledger.planned == 40 and ledger.spent == 5 * 2 + 2 * 5 + 2 * 2 + 5


def test_hyperband_with_two_slots_halves(ray_session: None, storage: str) -> None:
    """9 trials fill bracket s=2 (9 x 1, 3 x 3, 1 x 9) with 2 slots. (Ray's own HyperBandScheduler does not halve
    under max_concurrent_trials, ray-project/ray#12536: scripts/bench_hpo.py measures it beside ours, so a fix
    in Ray shows there as a number rather than failing a test.)"""
    ours = HyperBand(max_resource=9, eta=3)
    runs = _fit(storage, "hb", ours, XS9, slots=2, max_epoch=9)
    _check_resumed_from_checkpoints(runs)
    finals = {x: len(e) for x, e in _epochs(runs).items()}
    assert finals == {x: 9 if x == 0.1 else 3 if x <= 0.3 else 1 for x in XS9}
    assert ours.budget_spent == sum(finals.values()) == 21


def test_async_halving_pauses_and_promotes(ray_session: None, storage: str) -> None:
    scheduler = AsyncHalving(max_resource=9, eta=3)  # rungs 1, 3, 9
    runs = _fit(storage, "asha", scheduler, XS9, slots=2, max_epoch=9)
    _check_resumed_from_checkpoints(runs)
    finals = {x: len(e) for x, e in _epochs(runs).items()}
    assert set(finals.values()) <= {1, 3, 9} and finals[0.1] == 9
    promoted = [x for x, seq in runs.items() if any(start > 0 for _, start in seq)]
    assert 0.1 in promoted and all(finals[x] > 1 for x in promoted)  # paused at a rung, resumed later
    rungs = scheduler.ledger().brackets[0].rounds
    assert [r.reached for r in rungs] == [sum(f >= r for f in finals.values()) for r in (1, 3, 9)]
    assert rungs[0].promoted <= 3 and rungs[1].promoted <= 1
