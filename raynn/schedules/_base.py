"""The schedule base class, the registry of schedule names, and the parameter checks they share.

Every schedule is a frozen dataclass whose ``__call__(k)`` is a pure function of the iteration ``k``
(0-based): no hidden step counter, so a schedule can be evaluated at any step, in any order, on any
worker, and checked against its closed form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, TypeVar

from raynn.registry import Registry
from raynn.values import check_int, check_number, is_integral, value_error_of

__all__ = ["SCHEDULES", "CyclicSchedule", "RateDecay", "Schedule", "register"]


class Schedule:
    """A learning rate as a pure function of the iteration ``k = 0, 1, 2, ...``.

    Subclasses are frozen dataclasses that check their parameters in ``__post_init__`` and implement
    :meth:`_lr`; :meth:`__call__` checks ``k`` once for all of them.
    """

    name: ClassVar[str] = "schedule"

    def __call__(self, k: int) -> float:
        """The learning rate at iteration ``k`` (0-based); a negative or non-int ``k`` is a ``ValueError``."""
        return float(self._lr(check_iteration(self, k)))

    def _lr(self, k: int) -> float:
        raise NotImplementedError


def check_iteration(schedule: Schedule, k: Any) -> int:
    """``k`` as an int >= 0; bools, floats and negative values are a ``ValueError``."""
    if not is_integral(k) or k < 0:
        raise ValueError(f"{schedule.name}: the iteration `k` must be an int >= 0, but got k={k!r}")
    return int(k)


SCHEDULES: Registry[type[Schedule]] = Registry("schedule", word="parameter", strict=True)

S = TypeVar("S", bound=type[Schedule])


def register(name: str, summary: str) -> Callable[[S], S]:
    """Register a schedule class under ``name`` (the name a user writes in YAML) and stamp the name on it."""

    def decorate(cls: S) -> S:
        cls.name = name
        SCHEDULES.add(name, cls, summary)
        return cls

    return decorate


# ---- parameter checks: each reads a field of a frozen dataclass, checks it, and stores it normalized ----


def fail(schedule: Schedule, rule: str, **values: Any) -> NoReturn:
    got = ", ".join(f"{key}={value!r}" for key, value in values.items())
    if len(values) > 1:
        got = f"({got})"
    raise ValueError(f"{schedule.name}: `{rule}` must hold, but got {got}")


def require(schedule: Schedule, ok: bool, rule: str, **values: Any) -> None:
    if not ok:
        fail(schedule, rule, **values)


def real_value(schedule: Schedule, label: str, value: Any) -> float:
    """``value`` as a finite float; bools, strings (``"1e-3"`` from YAML) and inf/nan are rejected."""
    return float(check_number(label, value, "must be a finite real number", real=True,
                              error=value_error_of(schedule.name)))


def int_value(schedule: Schedule, label: str, value: Any) -> int:
    """``value`` as an int; bools and floats (even ``10.0``) are rejected."""
    return int(check_int(label, value, integral=True, rule="must be an int", error=value_error_of(schedule.name)))


def store(schedule: Schedule, param: str, value: Any) -> None:
    object.__setattr__(schedule, param, value)


def as_real(schedule: Schedule, param: str) -> float:
    value = real_value(schedule, param, getattr(schedule, param))
    store(schedule, param, value)
    return value


def positive_real(schedule: Schedule, param: str) -> float:
    value = as_real(schedule, param)
    require(schedule, value > 0, f"{param} > 0", **{param: value})
    return value


def positive_int(schedule: Schedule, param: str) -> int:
    value = int_value(schedule, param, getattr(schedule, param))
    require(schedule, value > 0, f"{param} > 0", **{param: value})
    store(schedule, param, value)
    return value


def decay_factor(schedule: Schedule, param: str = "decay") -> float:
    value = as_real(schedule, param)
    require(schedule, 0 < value <= 1, f"0 < {param} <= 1", **{param: value})
    return value


def cycle_bounds(schedule: Schedule) -> tuple[float, float]:
    """Check the bounds of a cyclic schedule: ``0 <= alpha_min <= alpha_max`` and ``alpha_max > 0``."""
    alpha_min = as_real(schedule, "alpha_min")
    alpha_max = positive_real(schedule, "alpha_max")
    require(schedule, alpha_min >= 0, "alpha_min >= 0", alpha_min=alpha_min)
    require(
        schedule, alpha_min <= alpha_max, "alpha_min <= alpha_max", alpha_min=alpha_min, alpha_max=alpha_max
    )
    return alpha_min, alpha_max


# ---- families: schedules that share their parameters and checks, and differ only in the formula ----


@dataclass(frozen=True)
class RateDecay(Schedule):
    r"""A decay of :math:`\alpha_0` at rate :math:`\beta` (seed §4.4.2 (1) ② and ③, second form).

    The inverse-time and natural-exponential decays take the same two parameters under the same rules;
    a subclass only writes :meth:`_lr`.

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        beta: Decay rate :math:`\beta > 0`.
    """

    alpha0: float
    beta: float

    def __post_init__(self) -> None:
        positive_real(self, "alpha0")
        positive_real(self, "beta")


@dataclass(frozen=True)
class CyclicSchedule(Schedule):
    r"""A cyclic schedule between its bounds (seed §4.4.2 (3)).

    Both bounds shrink by ``decay`` once per cycle: the bounds of cycle :math:`m = 1, 2, \dots` are
    :math:`\alpha_{\min}\,\text{decay}^{m-1}` and :math:`\alpha_{\max}\,\text{decay}^{m-1}` (:meth:`bounds`).
    A subclass declares its cycle-length fields and then ``decay: float = 1.0`` (so the positional order
    stays ``alpha_min, alpha_max, <cycle>, decay``), checks the cycle-length fields in :meth:`_check_cycle`
    and writes :meth:`_lr`. The checks run in that order: bounds, cycle, decay.
    """

    alpha_min: float
    alpha_max: float

    def __post_init__(self) -> None:
        cycle_bounds(self)
        self._check_cycle()
        decay_factor(self)

    def _check_cycle(self) -> None:
        raise NotImplementedError

    def bounds(self, m: int) -> tuple[float, float]:
        """``(alpha_min^(m), alpha_max^(m))``, the bounds of the 1-based cycle ``m``."""
        scale = self.decay ** (m - 1)  # type: ignore[attr-defined]  # declared last by the subclass
        return self.alpha_min * scale, self.alpha_max * scale
