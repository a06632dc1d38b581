"""The one definition of best (raynn/tune/best.py): the best value at the largest epoch reached."""

from __future__ import annotations

import pytest

from raynn.tune.best import Best, Incumbent, best_of_curves


def test_the_incumbent_is_the_best_value_at_the_largest_epoch_reached() -> None:
    incumbent = Incumbent("min")
    steps = [  # (trial, epoch, value) -> incumbent after it, worked out by hand
        (("a", 1, 0.9), Best(0.9, "a", 1)),
        (("b", 1, 0.5), Best(0.5, "b", 1)),  # better at the same epoch
        (("c", 1, 0.7), Best(0.5, "b", 1)),  # worse at the same epoch
        (("a", 2, 0.8), Best(0.8, "a", 2)),  # a larger epoch: taken even though b's 0.5 is lower
        (("b", 1, 0.1), Best(0.8, "a", 2)),  # a smaller epoch never counts
        (("c", 2, float("nan")), Best(0.8, "a", 2)),  # not finite: ignored
        (("c", 3, float("inf")), Best(0.8, "a", 2)),  # not finite: does not move the largest epoch either
        (("c", 2, 0.6), Best(0.6, "c", 2)),
    ]
    for (trial, epoch, value), expected in steps:
        incumbent.update(trial, epoch, value)
        assert incumbent.best == expected, (trial, epoch, value)


def test_max_mode_and_the_batch_form_agree() -> None:
    curves = {"a": [(1, 0.2), (2, 0.4), (3, 0.5)], "b": [(1, 0.9)], "c": [(1, 0.3), (2, 0.6), (3, 0.45)]}
    assert best_of_curves(curves, "max") == Best(0.5, "a", 3)
    assert best_of_curves(curves, "min") == Best(0.45, "c", 3)
    assert best_of_curves({}, "min") is None
    assert best_of_curves(curves, "max").describe("acc") == "acc 0.5 (trial a, epoch 3)"


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        Incumbent("lowest")
