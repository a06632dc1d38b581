"""The schedule base classes and shared checks (:mod:`raynn.schedules._base`).

``Schedule.__call__`` and its iteration check; the parameter checks every schedule uses (messages name the
schedule, the rule and the value); the two families, :class:`RateDecay` (seed 4.4.2 (1) ② and ③, second
form) and :class:`CyclicSchedule` (4.4.2 (3)), against the seed's closed forms. The per-schedule formulas are
tested in their own files; these tests hold for any schedule built on the base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from raynn.schedules import SGDR, InverseTime, NaturalExponential, Schedule, Triangular
from raynn.schedules._base import (
    CyclicSchedule,
    RateDecay,
    check_iteration,
    cycle_bounds,
    decay_factor,
    fail,
    int_value,
    positive_int,
    real_value,
    require,
)

# ---- Schedule and the iteration


@dataclass(frozen=True)
class _Steps(Schedule):
    """A schedule of the test's own (not registered): the rate is k + 1, an int before __call__."""

    def _lr(self, k: int) -> float:
        return k + 1


def test_call_returns_a_float_of_the_subclass_formula() -> None:
    lr = _Steps()
    assert [lr(k) for k in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert all(type(lr(k)) is float for k in range(4))


def test_a_schedule_without_a_formula_says_so() -> None:
    with pytest.raises(NotImplementedError):
        Schedule()(0)


@pytest.mark.parametrize("k", [0, 7, np.int64(7), np.uint8(3)])
def test_check_iteration_returns_a_plain_int(k: Any) -> None:
    value = check_iteration(_Steps(), k)
    assert type(value) is int and value == int(k)


@pytest.mark.parametrize("k", [-1, True, False, 1.0, "1", None, np.float64(2.0)])
def test_check_iteration_names_the_schedule_and_the_value(k: Any) -> None:
    with pytest.raises(ValueError) as exc:
        check_iteration(InverseTime(0.1, 0.5), k)
    assert str(exc.value) == f"inverse_time: the iteration `k` must be an int >= 0, but got k={k!r}"


# ---- the shared checks


def test_fail_names_one_value_bare_and_several_in_parentheses() -> None:
    lr = InverseTime(0.1, 0.5)
    with pytest.raises(ValueError, match=r"^inverse_time: `beta > 0` must hold, but got beta=-1$"):
        fail(lr, "beta > 0", beta=-1)
    with pytest.raises(ValueError, match=r"^inverse_time: `a <= b` must hold, but got \(a=2, b=1\)$"):
        fail(lr, "a <= b", a=2, b=1)
    require(lr, True, "never shown", a=1)  # holds: nothing raised


@pytest.mark.parametrize("value", [True, "1e-3", math.inf, -math.inf, math.nan, None, [1.0]])
def test_real_value_rejects_what_is_not_a_finite_real(value: Any) -> None:
    rule = r"^mine: `alpha0` must be a finite real number, but got alpha0="
    with pytest.raises(ValueError, match=rule):
        real_value(_named("mine"), "alpha0", value)


def test_real_value_accepts_ints_and_numpy_reals_as_floats() -> None:
    for value in (3, np.float32(0.5), np.int64(2), 1e-3):
        out = real_value(_Steps(), "x", value)
        assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [True, 10.0, np.float64(10.0), "10", None])
def test_int_value_rejects_bools_floats_and_strings(value: Any) -> None:
    with pytest.raises(ValueError, match=r"`max_iter` must be an int, but got max_iter="):
        int_value(_Steps(), "max_iter", value)


def test_checks_store_the_normalized_value_on_the_frozen_schedule() -> None:
    lr = InverseTime(1, np.float32(0.5))  # type: ignore[arg-type]
    assert type(lr.alpha0) is float and type(lr.beta) is float
    tri = Triangular(0, 1, np.int64(5))
    assert type(tri.delta_t) is int and type(tri.alpha_min) is float and type(tri.decay) is float
    assert positive_int(tri, "delta_t") == 5


@pytest.mark.parametrize(
    ("decay", "ok"), [(1.0, True), (0.5, True), (1e-12, True), (0.0, False), (-0.5, False), (1.0000001, False)]
)
def test_decay_factor_is_in_zero_one(decay: float, ok: bool) -> None:
    tri = Triangular(0.0, 1.0, 1)
    object.__setattr__(tri, "decay", decay)
    if ok:
        assert decay_factor(tri) == decay
    else:
        rule = rf"^triangular: `0 < decay <= 1` must hold, but got decay={decay!r}$"
        with pytest.raises(ValueError, match=rule):
            decay_factor(tri)


@pytest.mark.parametrize(
    ("alpha_min", "alpha_max", "message"),
    [
        (-0.1, 1.0, r"`alpha_min >= 0` must hold, but got alpha_min=-0.1$"),
        (0.2, 0.1, r"`alpha_min <= alpha_max` must hold, but got \(alpha_min=0.2, alpha_max=0.1\)$"),
        (0.0, 0.0, r"`alpha_max > 0` must hold, but got alpha_max=0.0$"),
    ],
)
def test_cycle_bounds_rules(alpha_min: float, alpha_max: float, message: str) -> None:
    tri = Triangular(0.0, 1.0, 1)
    object.__setattr__(tri, "alpha_min", alpha_min)
    object.__setattr__(tri, "alpha_max", alpha_max)
    with pytest.raises(ValueError, match=message):
        cycle_bounds(tri)


def test_equal_bounds_are_a_constant_cycle() -> None:
    assert cycle_bounds(Triangular(0.05, 0.05, 3)) == (0.05, 0.05)
    assert {Triangular(0.05, 0.05, 3)(k) for k in range(20)} == {0.05}


# ---- RateDecay: alpha0 > 0 and beta > 0, the formula in the subclass


@pytest.mark.parametrize(
    ("cls", "closed_form"),
    [
        (InverseTime, lambda a0, b, k: a0 * 1 / (1 + b * k)),  # seed 4.4.2 (1) ②
        (NaturalExponential, lambda a0, b, k: a0 * math.exp(-b * k)),  # seed 4.4.2 (1) ③, second form
    ],
)
def test_rate_decays_follow_the_seed(cls: type[RateDecay], closed_form: Any) -> None:
    for alpha0, beta in [(0.1, 0.01), (1.0, 0.5), (0.3, 2.0)]:
        lr = cls(alpha0, beta)
        for k in (0, 1, 10, 1000):
            assert lr(k) == pytest.approx(closed_form(alpha0, beta, k), rel=1e-12, abs=0.0)
        assert lr(0) == alpha0


@pytest.mark.parametrize("cls", [InverseTime, NaturalExponential])
@pytest.mark.parametrize(("alpha0", "beta", "rule"), [(0.0, 0.1, "alpha0 > 0"), (0.1, 0.0, "beta > 0"),
                                                      (-1.0, -1.0, "alpha0 > 0")])
def test_rate_decays_check_both_parameters_in_order(cls: type[RateDecay], alpha0: float, beta: float,
                                                    rule: str) -> None:
    with pytest.raises(ValueError, match=rf"^{cls.name}: `{rule}` must hold"):
        cls(alpha0, beta)


def test_rate_decays_are_distinct_schedules() -> None:
    assert InverseTime(0.1, 0.5) != NaturalExponential(0.1, 0.5)
    assert repr(NaturalExponential(0.1, 0.5)) == "NaturalExponential(alpha0=0.1, beta=0.5)"


# ---- CyclicSchedule: the bounds of cycle m, and the order of the checks


@pytest.mark.parametrize(
    "lr",
    [Triangular(0.01, 0.1, 5, decay=0.5), SGDR(0.01, 0.1, t0=1.0, kappa=2.0, iters_per_epoch=4, decay=0.5)],
    ids=["triangular", "sgdr"],
)
def test_bounds_of_cycle_m_shrink_by_decay_each_cycle(lr: CyclicSchedule) -> None:
    # Seed 4.4.2 (3): alpha_min^(m), alpha_max^(m) "may decrease as m grows"; here by decay^(m-1).
    for m in (1, 2, 3, 7):
        low, high = lr.bounds(m)
        assert low == pytest.approx(0.01 * 0.5 ** (m - 1), rel=1e-15)
        assert high == pytest.approx(0.1 * 0.5 ** (m - 1), rel=1e-15)


def test_triangular_reaches_the_bounds_of_each_cycle() -> None:
    # m = floor(1 + k / (2 dT)); alpha_k = alpha_min^(m) at k = 2 (m-1) dT and alpha_max^(m) at k = (2m-1) dT.
    lr, dt = Triangular(0.01, 0.1, 5, decay=0.5), 5
    for m in (1, 2, 3):
        low, high = lr.bounds(m)
        assert lr(2 * (m - 1) * dt) == pytest.approx(low, rel=1e-12)
        assert lr((2 * m - 1) * dt) == pytest.approx(high, rel=1e-12)


def test_sgdr_restarts_at_the_upper_bound_of_the_next_cycle() -> None:
    # T_1 = t0 = 1 epoch, T_2 = 2: restarts at epochs 1 and 3, i.e. iterations 4 and 12 with 4 per epoch.
    lr = SGDR(0.01, 0.1, t0=1.0, kappa=2.0, iters_per_epoch=4, decay=0.5)
    assert [lr(k) for k in (0, 4, 12)] == pytest.approx([lr.bounds(1)[1], lr.bounds(2)[1], lr.bounds(3)[1]])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Triangular(0.5, 0.1, 0, decay=2.0), "triangular: `alpha_min <= alpha_max`"),  # bounds first
        (lambda: Triangular(0.0, 0.1, 0, decay=2.0), "triangular: `delta_t > 0`"),  # then the cycle
        (lambda: Triangular(0.0, 0.1, 1, decay=2.0), "triangular: `0 < decay <= 1`"),  # then decay
        (lambda: SGDR(0.5, 0.1, -1.0, 0.5, 0, decay=0.0), "sgdr: `alpha_min <= alpha_max`"),
        (lambda: SGDR(0.0, 0.1, -1.0, 0.5, 0, decay=0.0), "sgdr: `t0 > 0`"),
        (lambda: SGDR(0.0, 0.1, 1.0, 0.5, 0, decay=0.0), "sgdr: `kappa >= 1`"),
        (lambda: SGDR(0.0, 0.1, 1.0, 1.0, 4, decay=0.0), "sgdr: `0 < decay <= 1`"),
    ],
)
def test_cyclic_checks_run_bounds_then_cycle_then_decay(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        make()


def test_a_cyclic_schedule_must_check_its_cycle() -> None:
    @dataclass(frozen=True)
    class NoCycle(CyclicSchedule):
        decay: float = 1.0

    with pytest.raises(NotImplementedError):
        NoCycle(0.0, 1.0)


def _named(name: str) -> Schedule:
    lr = _Steps()
    object.__setattr__(lr, "name", name)  # an instance attribute shadows the ClassVar for the message
    return lr
