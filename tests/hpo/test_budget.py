from __future__ import annotations

import math

import pytest

from raynn.hpo.budget import (
    BracketPlan,
    Round,
    ceil_log2,
    hyperband_brackets,
    ilog,
    rung_resources,
    sh_eta_rounds,
    sh_rounds,
)


def test_ceil_log2_table() -> None:
    table = {1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 16: 4, 17: 5, 2**40: 40, 2**40 + 1: 41}
    assert {n: ceil_log2(n) for n in table} == table


def test_ilog_is_exact_where_math_log_is_not() -> None:
    assert math.log(243, 3) < 5  # the float trap this function exists for
    assert ilog(243, 3) == 5
    assert ilog(242, 3) == 4
    assert ilog(81, 3) == 4
    assert ilog(1, 3) == 0
    assert ilog(2, 3) == 0
    assert ilog(1000, 10) == 3
    assert ilog(3**40, 3) == 40
    assert ilog(3**40 - 1, 3) == 39


@pytest.mark.parametrize("args", [(0, 3), (-1, 2), (9, 1), (9, 0), (9.0, 3), (True, 3)])
def test_ilog_rejects_bad_arguments(args: tuple[object, object]) -> None:
    with pytest.raises(ValueError, match="must be an integer"):
        ilog(*args)  # type: ignore[arg-type]


def test_ceil_log2_rejects_zero() -> None:
    with pytest.raises(ValueError, match=r"`n` must be an integer >= 1, but got n=0"):
        ceil_log2(0)


# Algorithm 7.2 by hand: T = ceil(log2 N) - 1, |S_{t+1}| = max(1, |S_t| // 2), r_t = B // (|S_t| T).
SH_TABLES = [
    # (B, N): (sizes, increments r_t, cumulative R_t, spent)
    ((64, 8), ([8, 4], [4, 8], [4, 12], 8 * 4 + 4 * 8)),  # T = 2, spent 64
    ((100, 5), ([5, 2], [10, 25], [10, 35], 5 * 10 + 2 * 25)),  # T = 2, spent 100
    ((100, 16), ([16, 8, 4], [2, 4, 8], [2, 6, 14], 16 * 2 + 8 * 4 + 4 * 8)),  # T = 3, spent 96
    ((50, 6), ([6, 3], [4, 8], [4, 12], 6 * 4 + 3 * 8)),  # T = 2, spent 48
    ((27, 3), ([3], [9], [9], 27)),  # T = 1
    ((4, 4), ([4], [1], [1], 4)),  # T = 1, the smallest budget for N = 4
    (
        (1000, 33),
        ([33, 16, 8, 4, 2], [6, 12, 25, 50, 100], [6, 18, 43, 93, 193], 198 + 192 + 200 + 200 + 200),
    ),
]


@pytest.mark.parametrize(("args", "expected"), SH_TABLES, ids=[f"B{b}_N{n}" for (b, n), _ in SH_TABLES])
def test_sh_rounds_against_hand_tables(args: tuple[int, int], expected: tuple[list[int], ...]) -> None:
    budget, n_configs = args
    sizes, increments, cumulative, spent = expected
    rounds = sh_rounds(budget, n_configs)
    assert len(rounds) == ceil_log2(n_configs) - 1
    assert [rnd.n for rnd in rounds] == sizes
    assert [rnd.r for rnd in rounds] == cumulative
    assert [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)] == increments
    assert sum(n * r for n, r in zip(sizes, increments, strict=True)) == spent <= budget


def test_sh_rounds_never_exceed_the_budget() -> None:
    for n_configs in range(3, 70):
        for budget in range(n_configs * (ceil_log2(n_configs) - 1), 600, 7):
            rounds = sh_rounds(budget, n_configs)
            held = [0, *(rnd.r for rnd in rounds)]
            assert sum(rnd.n * (held[t + 1] - held[t]) for t, rnd in enumerate(rounds)) <= budget
            assert all(held[t + 1] > held[t] for t in range(len(rounds)))


def test_sh_rounds_budget_too_small_names_b_and_n() -> None:
    # B = 30, N = 16: T = 3 and r_1 = floor(30 / 48) = 0.
    with pytest.raises(ValueError, match=r"budget too small for one round.*budget=30, n_configs=16, T=3"):
        sh_rounds(30, 16)
    with pytest.raises(ValueError, match="budget too small"):
        sh_rounds(3, 4)  # T = 1, r_1 = floor(3 / 4) = 0


@pytest.mark.parametrize("n_configs", [2, 1, 0, -3, 3.0, True])
def test_sh_rounds_needs_three_configurations(n_configs: object) -> None:
    with pytest.raises(ValueError, match=r"`n_configs >= 3` must hold \(N = 2 gives no round\)"):
        sh_rounds(100, n_configs)  # type: ignore[arg-type]


@pytest.mark.parametrize("budget", [0, -1, 10.5, None])
def test_sh_rounds_rejects_bad_budget(budget: object) -> None:
    with pytest.raises(ValueError, match="`budget` must be an integer >= 1"):
        sh_rounds(budget, 8)  # type: ignore[arg-type]


def test_rung_resources() -> None:
    assert rung_resources(1, 9, 3) == [1, 3, 9]
    assert rung_resources(1, 10, 3) == [1, 3, 9, 10]
    assert rung_resources(2, 16, 2) == [2, 4, 8, 16]
    assert rung_resources(5, 5, 3) == [5]
    with pytest.raises(ValueError, match=r"`r_min <= r_max` must hold, but got \(r_min=10, r_max=9\)"):
        rung_resources(10, 9, 3)
    with pytest.raises(ValueError, match="`eta` must be an integer >= 2"):
        rung_resources(1, 9, 1)


def test_sh_eta_rounds() -> None:
    assert sh_eta_rounds(27, 1, 27, 3) == [Round(27, 1), Round(9, 3), Round(3, 9), Round(1, 27)]
    assert sh_eta_rounds(27, 1, 10, 3) == [Round(27, 1), Round(9, 3), Round(3, 9), Round(1, 10)]  # capped
    assert sh_eta_rounds(10, 1, 81, 3) == [Round(10, 1), Round(3, 3), Round(1, 9)]  # n runs out first
    assert sh_eta_rounds(8, 2, 16, 2) == [Round(8, 2), Round(4, 4), Round(2, 8), Round(1, 16)]
    with pytest.raises(ValueError, match="`n` must be an integer >= 1"):
        sh_eta_rounds(0, 1, 9, 3)


def _table(brackets: list[BracketPlan]) -> dict[int, list[tuple[int, int]]]:
    return {b.s: [(rnd.n, rnd.r) for rnd in b.rounds] for b in brackets}


def test_hyperband_li_et_al_table_1() -> None:
    # Li et al. (2018), Table 1: R = 81, eta = 3.
    assert _table(hyperband_brackets(81, 3)) == {
        4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        3: [(34, 3), (11, 9), (3, 27), (1, 81)],
        2: [(15, 9), (5, 27), (1, 81)],
        1: [(8, 27), (2, 81)],
        0: [(5, 81)],
    }
    assert [b.s for b in hyperband_brackets(81, 3)] == [4, 3, 2, 1, 0]


def test_hyperband_r243_eta3_has_s_max_5() -> None:
    # s_max = 5 (math.log(243, 3) would give 4); n = ceil(6 * 3**s / (s + 1)), r_i = 243 // 3**(s - i).
    assert _table(hyperband_brackets(243, 3)) == {
        5: [(243, 1), (81, 3), (27, 9), (9, 27), (3, 81), (1, 243)],
        4: [(98, 3), (32, 9), (10, 27), (3, 81), (1, 243)],  # ceil(486 / 5) = 98
        3: [(41, 9), (13, 27), (4, 81), (1, 243)],  # ceil(162 / 4) = 41
        2: [(18, 27), (6, 81), (2, 243)],
        1: [(9, 81), (3, 243)],
        0: [(6, 243)],
    }


def test_hyperband_with_min_resource() -> None:
    # R = 12, eta = 2, r_min = 3: s_max = 2 (3 * 2**2 <= 12 < 3 * 2**3).
    assert _table(hyperband_brackets(12, 2, 3)) == {
        2: [(4, 3), (2, 6), (1, 12)],
        1: [(3, 6), (1, 12)],
        0: [(3, 12)],
    }
    # R = 100, eta = 3: s_max = 4, targets are R // 3**(s - i).
    assert _table(hyperband_brackets(100, 3))[4] == [(81, 1), (27, 3), (9, 11), (3, 33), (1, 100)]


def test_hyperband_brackets_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="`eta` must be an integer >= 2, but got eta=1"):
        hyperband_brackets(81, 1)
    with pytest.raises(ValueError, match="`max_resource` must be an integer >= 1"):
        hyperband_brackets(0, 3)
    with pytest.raises(
        ValueError, match=r"`r_min <= max_resource` must hold, but got \(r_min=10, max_resource=9\)"
    ):
        hyperband_brackets(9, 3, 10)
    with pytest.raises(ValueError, match="`eta` must be an integer >= 2"):
        hyperband_brackets(81, 2.5)  # type: ignore[arg-type]
