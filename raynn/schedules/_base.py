"""The schedule base class, the registry of schedule names, and the parameter checks they share.

Every schedule is a frozen dataclass whose ``__call__(k)`` is a pure function of the iteration ``k``
(0-based): no hidden step counter, so a schedule can be evaluated at any step, in any order, on any
worker, and checked against its closed form.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, TypeVar

from raynn.registry import Registry

__all__ = ["SCHEDULES", "Schedule", "register"]


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
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
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
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(
            f"{schedule.name}: `{label}` must be a finite real number, but got {label}={value!r}"
        )
    return float(value)


def int_value(schedule: Schedule, label: str, value: Any) -> int:
    """``value`` as an int; bools and floats (even ``10.0``) are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{schedule.name}: `{label}` must be an int, but got {label}={value!r}")
    return int(value)


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
