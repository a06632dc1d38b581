from __future__ import annotations

import math
import re

import pytest

from raynn.schedules import build


def _closed_form(k: int, alpha_min: float, alpha_max: float, delta_t: int, decay: float) -> float:
    # seed: m = floor(1 + k / (2 dT)), b_k = |k / dT - 2m + 1| (absolute value, Smith 2017)
    m = math.floor(1 + k / (2 * delta_t))
    b = abs(k / delta_t - 2 * m + 1)
    low, high = alpha_min * decay ** (m - 1), alpha_max * decay ** (m - 1)
    return low + (high - low) * max(0.0, 1 - b)


def test_matches_a_table_worked_out_by_hand() -> None:
    lr = build("triangular", alpha_min=0.1, alpha_max=1.1, delta_t=4, decay=0.5)
    table = {
        0: 0.1,  # step 0: bottom of cycle 1
        1: 0.35,
        2: 0.6,  # midpoint of the rise
        4: 1.1,  # peak of cycle 1
        6: 0.6,
        7: 0.35,
        8: 0.05,  # cycle boundary: bottom of cycle 2, bounds halved
        10: 0.3,
        12: 0.55,  # peak of cycle 2
        14: 0.3,
        16: 0.025,  # cycle 3
        20: 0.275,
    }
    for k, expected in table.items():
        assert lr(k) == pytest.approx(expected, rel=1e-12), k


@pytest.mark.parametrize(("delta_t", "decay"), [(1, 1.0), (3, 0.9), (7, 0.5), (50, 1.0)])
def test_matches_the_closed_form(delta_t: int, decay: float) -> None:
    lr = build("triangular", alpha_min=0.01, alpha_max=0.2, delta_t=delta_t, decay=decay)
    for k in range(300):
        assert lr(k) == pytest.approx(_closed_form(k, 0.01, 0.2, delta_t, decay), rel=1e-12, abs=1e-300), k


def test_stays_within_the_bounds_of_each_cycle() -> None:
    # the floor brackets the chapter prints would leave [alpha_min, alpha_max]; the absolute value does not
    lr = build("triangular", alpha_min=0.1, alpha_max=1.0, delta_t=5)
    values = [lr(k) for k in range(200)]
    assert min(values) == pytest.approx(0.1) and max(values) == pytest.approx(1.0)
    assert all(0.1 - 1e-12 <= v <= 1.0 + 1e-12 for v in values)


def test_without_decay_is_periodic() -> None:
    lr = build("triangular", alpha_min=0.1, alpha_max=1.0, delta_t=5)
    assert (
        [lr(k) for k in range(10)] == [lr(k + 10) for k in range(10)] == [lr(k + 10_000) for k in range(10)]
    )


def test_alpha_min_zero_and_equal_bounds_are_allowed() -> None:
    assert build("triangular", alpha_min=0.0, alpha_max=1.0, delta_t=2)(0) == 0.0
    flat = build("triangular", alpha_min=0.5, alpha_max=0.5, delta_t=2)
    assert {flat(k) for k in range(20)} == {0.5}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"alpha_min": 0.5, "alpha_max": 0.1},
            "`alpha_min <= alpha_max` must hold, but got (alpha_min=0.5, alpha_max=0.1)",
        ),
        ({"alpha_min": -0.1}, "`alpha_min >= 0` must hold, but got alpha_min=-0.1"),
        ({"alpha_min": 0.0, "alpha_max": 0.0}, "`alpha_max > 0` must hold, but got alpha_max=0.0"),
        ({"delta_t": 0}, "`delta_t > 0` must hold, but got delta_t=0"),
        ({"delta_t": 2.5}, "`delta_t` must be an int, but got delta_t=2.5"),
        ({"decay": 0.0}, "`0 < decay <= 1` must hold, but got decay=0.0"),
        ({"decay": 1.1}, "`0 < decay <= 1` must hold, but got decay=1.1"),
    ],
)
def test_rejects_bad_parameters(params: dict[str, object], message: str) -> None:
    base = {"alpha_min": 0.01, "alpha_max": 0.1, "delta_t": 4}
    with pytest.raises(ValueError, match=re.escape(f"triangular: {message}")):
        build("triangular", **{**base, **params})
