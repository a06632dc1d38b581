from __future__ import annotations

import re

import pytest

from raynn.schedules import PiecewiseConstant, build


def _closed_form(k: int, alpha0: float, boundaries: list[int], factors: list[float]) -> float:
    # seed: alpha_k = beta_i alpha0 for k in [T_i, T_{i+1}); alpha0 before T_0
    rate = alpha0
    for boundary, factor in zip(boundaries, factors, strict=True):
        if k >= boundary:
            rate = factor * alpha0
    return rate


def test_matches_the_closed_form_at_each_boundary() -> None:
    lr = build("piecewise_constant", alpha0=0.8, boundaries=[10, 20, 35], factors=[0.5, 0.25, 0.1])
    table = {0: 0.8, 9: 0.8, 10: 0.4, 15: 0.4, 19: 0.4, 20: 0.2, 34: 0.2, 35: 0.08, 10_000: 0.08}
    for k, expected in table.items():
        assert lr(k) == pytest.approx(expected, rel=1e-12), k
        assert lr(k) == pytest.approx(_closed_form(k, 0.8, [10, 20, 35], [0.5, 0.25, 0.1]), rel=1e-12)
    for k in range(60):
        assert lr(k) == pytest.approx(_closed_form(k, 0.8, [10, 20, 35], [0.5, 0.25, 0.1]), rel=1e-12)


def test_a_boundary_at_zero_skips_alpha0() -> None:
    lr = build("piecewise_constant", alpha0=1.0, boundaries=[0, 5], factors=[0.5, 0.1])
    assert [lr(k) for k in (0, 4, 5)] == [0.5, 0.5, pytest.approx(0.1)]


def test_empty_boundaries_is_the_constant_alpha0() -> None:
    lr = build("piecewise_constant", alpha0=0.3, boundaries=[], factors=[])
    assert {lr(k) for k in range(100)} == {0.3}


def test_equal_factors_and_a_factor_of_one_are_allowed() -> None:
    lr = build("piecewise_constant", alpha0=1.0, boundaries=[1, 2, 3], factors=[1.0, 0.5, 0.5])
    assert [lr(k) for k in range(4)] == [1.0, 1.0, 0.5, 0.5]


def test_lists_are_stored_as_tuples() -> None:
    lr = PiecewiseConstant(alpha0=1.0, boundaries=[1, 2], factors=[0.5, 0.25])
    assert lr.boundaries == (1, 2) and lr.factors == (0.5, 0.25)
    assert lr == PiecewiseConstant(alpha0=1.0, boundaries=(1, 2), factors=(0.5, 0.25))


@pytest.mark.parametrize(
    ("boundaries", "factors", "message"),
    [
        ([20, 10], [0.5, 0.1], "`boundaries[0] < boundaries[1]` must hold, but got boundaries=[20, 10]"),
        ([10, 10], [0.5, 0.1], "`boundaries[0] < boundaries[1]` must hold, but got boundaries=[10, 10]"),
        ([1, 5, 5], [0.5, 0.4, 0.1], "`boundaries[1] < boundaries[2]` must hold"),
        ([-1, 10], [0.5, 0.1], "`boundaries[0] >= 0` must hold, but got boundaries=[-1, 10]"),
        ([10.0, 20], [0.5, 0.1], "`boundaries[0]` must be an int, but got boundaries[0]=10.0"),
        ([True], [0.5], "`boundaries[0]` must be an int, but got boundaries[0]=True"),
        (
            [10],
            [0.5, 0.1],
            "`len(boundaries) == len(factors)` must hold, but got (boundaries=[10], factors=[0.5, 0.1])",
        ),
        ([10, 20], [0.1, 0.5], "`factors[0] >= factors[1]` must hold, but got factors=[0.1, 0.5]"),
        ([10], [0.0], "`0 < factors[0] <= 1` must hold, but got factors=[0.0]"),
        ([10], [1.5], "`0 < factors[0] <= 1` must hold, but got factors=[1.5]"),
        ([10], ["0.5"], "`factors[0]` must be a finite real number, but got factors[0]='0.5'"),
        ("10", [0.5], "`boundaries` must be a list, but got boundaries='10'"),
        ([10], 0.5, "`factors` must be a list, but got factors=0.5"),
    ],
)
def test_rejects_bad_boundaries_and_factors(boundaries: object, factors: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"piecewise_constant: {message}")):
        build("piecewise_constant", alpha0=1.0, boundaries=boundaries, factors=factors)


@pytest.mark.parametrize("alpha0", [0, -0.1])
def test_rejects_a_non_positive_alpha0(alpha0: float) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"`alpha0 > 0` must hold, but got alpha0={float(alpha0)}")
    ):
        build("piecewise_constant", alpha0=alpha0, boundaries=[1], factors=[0.5])
