from __future__ import annotations

import math
import re

import pytest

from raynn.schedules import SGDR, build


def _closed_form(k: int, alpha_min: float, alpha_max: float, decay: float) -> float:
    # t0 = 1 epoch, kappa = 2, iters_per_epoch = 4:
    # cycle m starts at iteration 4 (2^(m-1) - 1) and lasts 2^(m-1) epochs
    m = 1
    while 4 * (2**m - 1) <= k:
        m += 1
    start = 4 * (2 ** (m - 1) - 1)
    t_epoch, t_m = (k - start) / 4, 2 ** (m - 1)
    low, high = alpha_min * decay ** (m - 1), alpha_max * decay ** (m - 1)
    return low + 0.5 * (high - low) * (1 + math.cos(t_epoch / t_m * math.pi))


def test_matches_a_table_worked_out_by_hand() -> None:
    lr = build("sgdr", alpha_min=0.1, alpha_max=1.1, t0=1, kappa=2, iters_per_epoch=4, decay=0.5)
    table = {
        0: 1.1,  # step 0: alpha_max
        1: 0.1 + 0.5 * (1 + math.cos(math.pi / 4)),
        2: 0.6,  # midpoint of cycle 1 (T_epoch = 0.5 of T_1 = 1)
        3: 0.1 + 0.5 * (1 + math.cos(3 * math.pi / 4)),
        4: 0.55,  # first restart, bounds halved
        8: 0.3,  # midpoint of cycle 2 (T_epoch = 1 of T_2 = 2)
        11: 0.05 + 0.25 * (1 + math.cos(0.875 * math.pi)),  # end of cycle 2
        12: 0.275,  # second restart
        20: 0.15,  # midpoint of cycle 3
        28: 0.1375,  # third restart
    }
    for k, expected in table.items():
        assert lr(k) == pytest.approx(expected, rel=1e-12), k


def test_matches_the_closed_form() -> None:
    lr = build("sgdr", alpha_min=0.01, alpha_max=0.2, t0=1, kappa=2, iters_per_epoch=4, decay=0.8)
    for k in range(500):
        assert lr(k) == pytest.approx(_closed_form(k, 0.01, 0.2, 0.8), rel=1e-12), k


def test_cycle_reports_m_epochs_since_restart_and_period() -> None:
    lr = SGDR(alpha_min=0.0, alpha_max=1.0, t0=1.5, kappa=2.0, iters_per_epoch=2)
    # periods 3, 6, 12 iterations: restarts at 3, 9, 21
    assert lr.cycle(0) == (1, 0.0, 1.5)
    assert lr.cycle(2) == (1, 1.0, 1.5)
    assert lr.cycle(3) == (2, 0.0, 3.0)
    assert lr.cycle(8) == (2, 2.5, 3.0)
    assert lr.cycle(9) == (3, 0.0, 6.0)
    assert lr.cycle(21) == (4, 0.0, 12.0)
    with pytest.raises(ValueError, match="`k` must be an int >= 0"):
        lr.cycle(-1)


def test_fractional_t0_restarts_on_time_despite_round_off() -> None:
    # t0 = 0.1 epoch = 1 iteration, kappa = 2: restarts at 1, 3, 7, 15, 31 although 0.1 + 0.2 != 0.3 in floats
    lr = build("sgdr", alpha_min=0.0, alpha_max=1.0, t0=0.1, kappa=2, iters_per_epoch=10)
    for k in (0, 1, 3, 7, 15, 31, 63):
        assert lr(k) == 1.0, k
    assert lr(2) == pytest.approx(0.5) and lr(5) == pytest.approx(0.5) and lr(11) == pytest.approx(0.5)


def test_equal_cycles_with_kappa_one() -> None:
    # t0 = 0.1 epoch of 30 iterations = 3 iterations per cycle
    lr = build("sgdr", alpha_min=0.0, alpha_max=1.0, t0=0.1, kappa=1, iters_per_epoch=30)
    for cycle in range(200):
        assert lr(3 * cycle) == 1.0, cycle
        assert lr(3 * cycle + 1) == pytest.approx(0.75, rel=1e-9), cycle
        assert lr(3 * cycle + 2) == pytest.approx(0.25, rel=1e-9), cycle


def test_kappa_one_is_fast_far_out() -> None:
    lr = build(
        "sgdr", alpha_min=0.0, alpha_max=1.0, t0=2.5, kappa=1.0, iters_per_epoch=2
    )  # 5-iteration cycles
    assert lr(10**9) == 1.0
    assert lr(10**9 + 2) == pytest.approx(0.5 * (1 + math.cos(2 * math.pi / 5)), rel=1e-9)


def test_every_iteration_is_a_restart_when_a_cycle_is_one_iteration() -> None:
    lr = build("sgdr", alpha_min=0.0, alpha_max=1.0, t0=1, kappa=1, iters_per_epoch=1, decay=0.5)
    assert [lr(k) for k in range(5)] == [1.0, 0.5, 0.25, 0.125, 0.0625]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"alpha_min": 0.5, "alpha_max": 0.1},
            "`alpha_min <= alpha_max` must hold, but got (alpha_min=0.5, alpha_max=0.1)",
        ),
        ({"alpha_min": -1.0}, "`alpha_min >= 0` must hold, but got alpha_min=-1.0"),
        ({"alpha_max": 0}, "`alpha_max > 0` must hold, but got alpha_max=0.0"),
        ({"t0": 0}, "`t0 > 0` must hold, but got t0=0.0"),
        ({"kappa": 0.5}, "`kappa >= 1` must hold, but got kappa=0.5"),
        ({"iters_per_epoch": 0}, "`iters_per_epoch > 0` must hold, but got iters_per_epoch=0"),
        ({"iters_per_epoch": 10.0}, "`iters_per_epoch` must be an int, but got iters_per_epoch=10.0"),
        (
            {"t0": 0.05, "iters_per_epoch": 10},
            "`t0 * iters_per_epoch >= 1` must hold, but got (t0=0.05, iters_per_epoch=10)",
        ),
        ({"decay": 0}, "`0 < decay <= 1` must hold, but got decay=0.0"),
        ({"decay": 2}, "`0 < decay <= 1` must hold, but got decay=2.0"),
    ],
)
def test_rejects_bad_parameters(params: dict[str, object], message: str) -> None:
    base = {"alpha_min": 0.0, "alpha_max": 0.1, "t0": 1.0, "kappa": 2.0, "iters_per_epoch": 10}
    with pytest.raises(ValueError, match=re.escape(f"sgdr: {message}")):
        build("sgdr", **{**base, **params})
