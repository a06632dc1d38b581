"""The figures of a tuning run (:mod:`raynn.tune.figures`): the pure helpers that decide what is drawn."""

from __future__ import annotations

import pytest

from raynn.tune.figures import ledger_rungs, rung_path, rung_reached


def test_ledger_rungs_of_every_ledger_shape() -> None:
    hyperband = {"brackets": [{"rounds": [{"r": 1}, {"r": 3}]}, {"rounds": [{"r": 3}]}]}
    asha = {"rungs": [{"r": 1}, {"r": 3}, {"r": 9}]}
    assert ledger_rungs(hyperband) == [1, 3]
    assert ledger_rungs(asha) == [1, 3, 9]
    assert ledger_rungs({"scheduler": "FIFOScheduler", "budget": None, "budget_spent": 6}) == []


@pytest.mark.parametrize(
    ("curve", "rungs", "reached", "path"),
    [
        ([(1, 0.9)], [1, 3], 1, [(1, 0.9)]),  # stopped at rung 1
        ([(1, 0.5), (2, 0.4), (3, 0.3)], [1, 3], 3, [(1, 0.5), (3, 0.3)]),  # promoted 1 -> 3
        ([(1, 0.5), (2, 0.4)], [1, 3], 1, [(1, 0.5)]),  # failed between rungs: reached 1
        ([(1, 0.5), (2, 0.4)], [3, 9], 0, []),  # below the first rung
        ([(1, 0.5), (2, 0.4)], [], 2, [(1, 0.5), (2, 0.4)]),  # FIFO: every epoch
    ],
)
def test_rung_reached_and_rung_path(curve: list[tuple[int, float]], rungs: list[int], reached: int,
                                    path: list[tuple[int, float]]) -> None:
    assert rung_reached(curve, rungs) == reached
    assert rung_path(curve, rungs) == path
