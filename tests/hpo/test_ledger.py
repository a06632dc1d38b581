"""The core's ledger (raynn/hpo/ledger.py): planned against spent, per bracket and round, by hand."""

from __future__ import annotations

import random

import numpy as np
import pytest

from raynn.hpo import AsyncHalving, HyperBand, SuccessiveHalving
from raynn.hpo.ledger import BracketLedger, Furthest, Ledger, RoundLedger, as_resource, planned_units
from raynn.tune.best import best_of_curves


def test_planned_units_is_the_sum_of_n_i_times_the_step_in_r() -> None:
    # HyperBand R=9, eta=3, bracket s=2: (9, 1), (3, 3), (1, 9): 9*1 + 3*2 + 1*6 = 21
    assert planned_units([(9, 1), (3, 3), (1, 9)]) == 21
    assert planned_units([(8, 4), (4, 12)]) == 8 * 4 + 4 * 8 == 64  # seed Algorithm 7.2, B = 64, N = 8
    assert planned_units([]) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (3.0, 3), (np.int64(3), 3), (np.float32(2.0), 2), (True, None), (2.5, None), ("3", None), (None, None)],
)
def test_as_resource_is_the_one_rule_for_a_reported_epoch(value: object, expected: int | None) -> None:
    assert as_resource(value) == expected


def test_furthest_charges_each_trial_its_furthest_resource_once() -> None:
    furthest = Furthest()
    for trial, r in [("a", 1), ("a", 2), ("b", 1), ("a", 1), ("a", 2), ("a", 3), ("b", 1)]:
        furthest.reach(trial, r)
    assert furthest.spent == 3 + 1 and furthest.get("a") == 3 and furthest.get("c") == 0


def test_hyperband_ledger_worked_by_hand() -> None:
    sched = HyperBand(9, 3, max_bands=1)  # bracket s=2: (9, 1), (3, 3), (1, 9)
    for i in range(9):
        sched.on_trial_add(f"t{i}")
    for i in range(9):
        sched.on_result(f"t{i}", 1, float(i))  # t0..t2 best; the round is decided on the last result
    ledger = sched.ledger()
    assert ledger.planned == 21 and ledger.spent == 9
    (bracket,) = ledger.brackets
    assert bracket == BracketLedger(
        band=0, bracket=2, planned=21, spent=9, sealed=True,
        rounds=(
            RoundLedger(0, 1, 9, entered=9, reached=9, promoted=3, decided=True),
            RoundLedger(1, 3, 3, entered=3, reached=0, promoted=0, decided=False),
            RoundLedger(2, 9, 1, entered=0, reached=0, promoted=0, decided=False),
        ),
    )  # fmt: skip
    with pytest.raises(AttributeError):
        ledger.spent = 0  # type: ignore[misc]  # frozen: a reader cannot change the core's books


def test_planned_budget_and_trials_of_one_band() -> None:
    sched = HyperBand(9, 3)  # brackets (9,1)(3,3)(1,9) | (5,3)(1,9) | (3,9): n_0 = 9 + 5 + 3
    assert sched.planned_trials == 17
    assert sched.planned_budget == 21 + (5 * 3 + 1 * 6) + 3 * 9 == 69
    sh = SuccessiveHalving(budget=64, n_configs=8)
    assert (sh.planned_trials, sh.planned_budget) == (8, 64)
    asha = AsyncHalving(9, 3, max_trials=10)
    assert (asha.planned_trials, asha.planned_budget) == (10, None)


def test_asha_ledger_counts_reached_and_promoted() -> None:
    sched = AsyncHalving(9, 3)
    for i in range(3):
        sched.on_trial_add(f"t{i}")
        sched.on_result(f"t{i}", 1, float(i))
    assert sched.choose_paused() == "t0"  # top 1/3 of rung 0
    ledger = sched.ledger()
    assert ledger == Ledger(None, 3, (BracketLedger(0, 0, None, 3, True, (
        RoundLedger(0, 1, None, 3, 3, 1, False),
        RoundLedger(1, 3, None, 0, 0, 0, False),
        RoundLedger(2, 9, None, 0, 0, 0, False),
    )),))  # fmt: skip


@pytest.mark.parametrize("make", [lambda: HyperBand(9, 3, max_bands=1), lambda: AsyncHalving(9, 3, max_trials=20)])
def test_core_best_agrees_with_the_one_definition_of_best(make) -> None:  # noqa: ANN001
    """The core's best() and raynn.tune.best over the same (rung) results name the same trial."""
    rng = random.Random(7)
    sched = make()
    curves: dict[str, list[tuple[int, float]]] = {}
    running: list[str] = []
    n = 0
    for _ in range(400):
        while sched.has_room() and len(running) < 4:
            sched.on_trial_add(tid := f"t{n:03d}")
            n += 1
            running.append(tid)
        if not running:
            sched.on_search_exhausted()
            resumed = sched.choose_paused()
            if resumed is None:
                break
            running.append(resumed)
            continue
        tid = running.pop(0)
        r = sched.target(tid)
        value = rng.random()
        curves.setdefault(tid, []).append((r, value))
        decision = sched.on_result(tid, r, value)
        if decision.value == "CONTINUE":
            running.append(tid)
        resumed = sched.choose_paused()
        if resumed is not None:
            running.append(resumed)
        sched.pop_stops()
        best = best_of_curves(curves, sched.mode.value)
        assert best is not None and sched.best() == best.trial_id
